// relay.mjs as an ES module: import { RelayClient } from "/relay.mjs", typed by web/relay.d.mts.
// Type-checked in strict mode by CI (tsc -p tests/typescript); never run.

import DefaultClient, { RelayClient } from "../../web/relay.mjs";

interface Pong extends RelayClient.Message {
    type: "pong";
    timestamp: number;
}

export async function ping(url: string): Promise<number> {
    const relay: RelayClient = new RelayClient(url, { reconnect: true, maxAttempts: 5 });
    const same: typeof DefaultClient = RelayClient;
    relay.on("state", (event: RelayClient.StateEvent) => console.log(event.state, same.STATES.length));
    relay.connect();
    const pong = await relay.request<Pong>({ type: "ping" }, { reply: "pong" });
    relay.close();
    return pong.timestamp;
}
