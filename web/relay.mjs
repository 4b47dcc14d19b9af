/*
 * relay.mjs: relay.js as an ES module (docs/clients/relay-js.md); types in relay.d.mts.
 *
 *   import { RelayClient } from "/relay.mjs";
 *
 * The client's code is relay.js, loaded from next to this file: this module only exports what
 * that script defines (it also stays available as the global `RelayClient`), so there is one
 * copy of the code and no build step.
 */
import "./relay.js";

export const RelayClient = globalThis.RelayClient;
export default RelayClient;
