/**
 * Types of relay.mjs, the ES module form of relay.js (docs/clients/relay-js.md). The declarations are
 * those of relay.d.ts; the module exports its `RelayClient` (also as the default export).
 *
 *   import { RelayClient } from "./relay.mjs";
 */
/// <reference path="./relay.d.ts" />

import Client = RelayClient;

export { Client as RelayClient };
export default Client;
