// relay.js as a classic script (<script src="/relay.js">): the global RelayClient, typed by
// web/relay.d.ts. Type-checked in strict mode by CI (tsc -p tests/typescript); never run.

interface CamCode extends RelayClient.Message {
    type: "cam-code";
    code: string;
    expiresAt: number;
}

async function pairCamera(token: string): Promise<string> {
    const relay = new RelayClient("/ws", {
        token,
        backoffInitial: 250,
        backoffMax: 10000,
        queueOverflow: "drop-oldest",
        stopOnCloseCodes: [1008, 4001],
    });
    const offState = relay.on("state", ({ state, previous, delay, resumed, gaveUp }) => {
        const known: RelayClient.State[] = RelayClient.STATES;
        console.log(known.includes(state), previous, delay ?? 0, resumed === true, gaveUp ?? false);
    });
    relay.on("session", ({ clientId, fresh }) => console.log("new identity", clientId, fresh));
    relay.on("disconnected", ({ code, reason, wasClean }) => console.log(code, reason, wasClean));
    relay.on("queue-overflow", (overflow) => console.log("rejected" in overflow ? "rejected" : "dropped"));
    const refreshing = new RelayClient("/ws", { getToken: async () => token });
    refreshing.on("token-refreshed", ({ expiresAt }) => console.log(expiresAt ?? "no exp"));
    refreshing.on("token-error", ({ error }) => console.log(error));
    relay.once<CamCode>("cam-code", (message) => console.log(message.code.toUpperCase()));
    relay.on("*", (message) => console.log(message.type, message.binary?.byteLength ?? 0));
    relay.connect().send({ type: "cam-create" });
    const reply = await relay.request<CamCode>({ type: "cam-create" }, { reply: "cam-code", timeout: 2000 });
    offState();
    try {
        await relay.request({ type: "cam-join", code: reply.code }, { reply: ["cam-paired"], match: (m) => m["code"] === reply.code });
    } catch (error) {
        const failure = error as RelayClient.RequestError;
        console.log(failure.code, failure.reply?.type);
    }
    const sent: boolean = relay.sendBinary({ type: "video-frame", seq: 1 }, new Uint8Array([1, 2, 3]));
    const frame = RelayClient.encodeBinary({ type: "video-frame" }, new Uint8Array(4));
    const { header, payload } = RelayClient.decodeBinary(frame);
    console.log(sent, header.type, payload.length, relay.send(frame), relay.queue.length, relay.isOpen);
    const clock = await relay.syncClock({ samples: 5 });
    const cancel = relay.atServerTime(relay.serverNow() + 500, (localNow) => console.log(localNow - relay.now()));
    cancel();
    console.log(clock.offset, clock.samples.length, relay.clockOffset, relay.toLocalTime(clock.rtt));
    console.log(relay.clientId, relay.resumeToken, relay.lastSeen, relay.attempt, relay.backoffDelay(3));
    relay.options.requestTimeout = 1000;
    relay.drop(4000);
    relay.close();
    return reply.code;
}

void pairCamera("token");
