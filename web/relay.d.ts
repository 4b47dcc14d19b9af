/**
 * Types of relay.js, the browser client the relay serves at /relay.js (docs/clients/relay-js.md): a
 * classic script that defines the global `RelayClient`. For the ES module (/relay.mjs) see
 * relay.d.mts, which exports the same class.
 *
 *   /// <reference path="relay.d.ts" />
 *   const relay = new RelayClient("/ws", { token });
 *   relay.on("state", ({ state }) => console.log(state));
 *   relay.connect();
 */

declare namespace RelayClient {
    /** Connection states, in `RelayClient.STATES` order. */
    type State = "idle" | "connecting" | "open" | "reconnecting" | "closed";

    /**
     * A message from the relay: a JSON object with a string `type`. A binary frame arrives as its
     * header's fields plus `binary`, the payload bytes.
     */
    interface Message {
        type: string;
        /** The payload of a binary frame. */
        binary?: Uint8Array;
        [field: string]: unknown;
    }

    /** A message to send: a JSON object with a string `type` (the relay routes on it). */
    interface OutboundMessage {
        type: string;
        [field: string]: unknown;
    }

    /** What `send` accepts: a message object, or a binary frame built by `encodeBinary`. */
    type Sendable = OutboundMessage | Uint8Array | ArrayBuffer;

    /** What waits in `queue` while disconnected: JSON text or a binary frame. */
    type Queued = string | Uint8Array | ArrayBuffer;

    /** Constructor options; every one is optional (defaults in docs/clients/relay-js.md). */
    interface Options {
        /** JWT sent as `?token=` on every connect and reconnect. Default `null`. */
        token?: string | null;
        /**
         * Called before every connect and reconnect (its token is sent as `?token=`, replacing
         * `token`) and when the relay sends `token_expiring` (its token is sent as `refresh`).
         * A connection closed with 1008 `token expired` then reconnects and resumes. Default `null`.
         */
        getToken?: (() => string | Promise<string>) | null;
        /** Extra query parameters of the upgrade URL. Default `{}`. */
        params?: Record<string, string>;
        /** Reconnect after a drop. Default `true`. */
        reconnect?: boolean;
        /** Milliseconds; retry n waits random(0, min(backoffMax, backoffInitial · backoffFactorⁿ)). Default 250. */
        backoffInitial?: number;
        /** Milliseconds; the cap of the backoff window. Default 10000. */
        backoffMax?: number;
        /** Growth of the backoff window per failed attempt. Default 2. */
        backoffFactor?: number;
        /** Consecutive failed attempts before giving up (`closed` with `gaveUp`). Default `Infinity`. */
        maxAttempts?: number;
        /** Messages kept while disconnected. Default 256. */
        queueLimit?: number;
        /** A full queue rejects (`send` returns `false`) or drops its oldest message. Default `"reject"`. */
        queueOverflow?: "reject" | "drop-oldest";
        /** Milliseconds; default time-out of `request`. Default 5000. */
        requestTimeout?: number;
        /** The socket's `binaryType`. Default `"arraybuffer"`. */
        binaryType?: BinaryType;
        /** Close codes after which it does not reconnect. Default `[1008]` (auth failures). */
        stopOnCloseCodes?: number[];
        /** The clock `syncClock` measures against (ms). Default `performance.timeOrigin + performance.now()`. */
        now?: (() => number) | null;
        /** The WebSocket constructor (tests). Default the global `WebSocket`. */
        WebSocket?: (new (url: string) => WebSocket) | null;
    }

    /** `options` after defaults were applied. */
    type ResolvedOptions = { [K in keyof Options]-?: Exclude<Options[K], undefined> };

    /** The `state` event: every state change. */
    interface StateEvent {
        state: State;
        previous: State;
        attempt: number;
        /** `reconnecting`: milliseconds until the next attempt. */
        delay?: number;
        /** `reconnecting`/`closed`: the close code of the socket that ended. */
        code?: number;
        reason?: string;
        wasClean?: boolean;
        /** `open`: whether the relay resumed the earlier identity. */
        resumed?: boolean;
        /** `open`: how many missed messages the relay replays. */
        replayed?: number;
        /** `open`: the relay's id for this client. */
        clientId?: string;
        /** `closed`: `maxAttempts` was reached. */
        gaveUp?: boolean;
    }

    /** The `session` event: a new identity (first connect, or a resume the relay refused: rejoin rooms). */
    interface SessionEvent {
        clientId: string;
        fresh: true;
    }

    /** The `disconnected` event: every socket close. */
    interface DisconnectedEvent {
        code: number;
        reason: string;
        wasClean: boolean;
    }

    /** The `queue-overflow` event. */
    type QueueOverflowEvent = { rejected: Queued } | { dropped: Queued | undefined };

    /** The `clock` event, after `syncClock`. */
    interface ClockEvent {
        offset: number;
        rtt: number;
    }

    /** The `bad-frame` event: a binary frame that could not be decoded. */
    interface BadFrameEvent {
        error: unknown;
    }

    /** The `token-refreshed` event: the relay took the token from `getToken` (`refreshed`). */
    interface TokenRefreshedEvent {
        /** The new token's `exp` in milliseconds, or `null` when it has none. */
        expiresAt: number | null;
    }

    /** The `token-error` event: `getToken` failed, or the relay refused the refresh. */
    interface TokenErrorEvent {
        error: unknown;
    }

    /** Lifecycle events by name, with the value their handlers get. */
    interface Events {
        state: StateEvent;
        session: SessionEvent;
        disconnected: DisconnectedEvent;
        "queue-overflow": QueueOverflowEvent;
        clock: ClockEvent;
        "bad-frame": BadFrameEvent;
        "token-refreshed": TokenRefreshedEvent;
        "token-error": TokenErrorEvent;
    }

    /** Options of `request`. */
    interface RequestOptions<M extends Message = Message> {
        /** The reply's type, or a list of types. Default: the type sent. */
        reply?: string | string[];
        /** Accepts the reply meant for this request. Default: the first of its type. */
        match?: (reply: M) => boolean;
        /** Milliseconds. Default: `options.requestTimeout`. */
        timeout?: number;
    }

    /** How `request` rejects: `code` is the relay's error code, `"timeout"` or `"queue_full"`. */
    interface RequestError extends Error {
        code: string;
        /** The relay's `error` message, when one answered the request. */
        reply?: Message;
    }

    /** Options of `syncClock`. */
    interface SyncClockOptions {
        /** Round trips. Default 10. */
        samples?: number;
        /** Milliseconds between them. Default 10. */
        interval?: number;
        /** The message type. Default `"time_sync"`. */
        type?: string;
        /** Milliseconds per round trip. Default 2000. */
        timeout?: number;
    }

    /** One clock sample (ms). */
    interface ClockSample {
        offset: number;
        rtt: number;
    }

    /** What `syncClock` resolves: the best sample and all of them. */
    interface SyncClockResult extends ClockSample {
        samples: ClockSample[];
    }

    /** A decoded binary frame. */
    interface DecodedFrame {
        header: { type: string; [field: string]: unknown };
        payload: Uint8Array;
    }
}

/** The relay client (docs/clients/relay-js.md). */
declare class RelayClient {
    /**
     * @param url a WebSocket endpoint path (`/ws`, resolved against the page) or a full
     *   `ws://`/`wss://` URL.
     */
    constructor(url: string, options?: RelayClient.Options);

    /** Connection states. */
    static readonly STATES: RelayClient.State[];
    /** Builds a binary frame: uint32 big-endian header length + JSON header + payload. */
    static encodeBinary(header: RelayClient.OutboundMessage, payload?: ArrayBuffer | ArrayBufferView | null): Uint8Array;
    /** Parses a binary frame; throws on a malformed one. */
    static decodeBinary(buffer: ArrayBuffer | Uint8Array): RelayClient.DecodedFrame;

    /** The endpoint as given. */
    readonly url: string;
    /** The options, defaults applied. */
    options: RelayClient.ResolvedOptions;
    /** The current state. */
    readonly state: RelayClient.State;
    /** The current socket, if any. */
    readonly ws: WebSocket | null;
    /** The relay's id for this client, after `connected`. */
    readonly clientId: string | null;
    /** The single-use token of the next resume. */
    readonly resumeToken: string | null;
    /** Messages received since the first `connected`, except `connected` and `authenticated`. */
    readonly lastSeen: number;
    /** Consecutive failed attempts. */
    readonly attempt: number;
    /** Messages waiting for a connection. */
    readonly queue: RelayClient.Queued[];
    /** Server clock minus ours (ms), after `syncClock`. */
    readonly clockOffset: number | null;
    /** Round trip of the best `syncClock` sample (ms). */
    readonly clockRTT: number | null;
    /** Whether messages go out at once. */
    readonly isOpen: boolean;

    /** Calls `fn` on a lifecycle event; returns a function that removes the handler. */
    on<K extends keyof RelayClient.Events>(type: K, fn: (value: RelayClient.Events[K]) => void): () => void;
    /** Calls `fn` for every message of `type` (`"*"`: every message); returns a function that removes it. */
    on<M extends RelayClient.Message = RelayClient.Message>(type: string, fn: (message: M) => void): () => void;
    /** Removes a handler added with `on`. */
    off<K extends keyof RelayClient.Events>(type: K, fn: (value: RelayClient.Events[K]) => void): void;
    off<M extends RelayClient.Message = RelayClient.Message>(type: string, fn: (message: M) => void): void;
    /** `on` for one call only. */
    once<K extends keyof RelayClient.Events>(type: K, fn: (value: RelayClient.Events[K]) => void): () => void;
    once<M extends RelayClient.Message = RelayClient.Message>(type: string, fn: (message: M) => void): () => void;

    /** Opens the connection and keeps it open until `close()`. */
    connect(): this;
    /** The delay (ms) before retry `attempt`: full jitter over the capped exponential window. */
    backoffDelay(attempt: number): number;
    /** Leaves for good: `{"type":"leave"}`, close 1000, no reconnect; pending requests reject. */
    close(): void;
    /** Closes the socket without leaving, as a network failure would; the client resumes. */
    drop(code?: number): void;

    /** Sends a message (or queues it while disconnected); `false` when the full queue rejected it. */
    send(message: RelayClient.Sendable): boolean;
    /** Sends a binary frame: `header.type` routes it. */
    sendBinary(header: RelayClient.OutboundMessage, payload: ArrayBuffer | ArrayBufferView): boolean;
    /**
     * Sends `message` and resolves with the first message of type `reply` that `match` accepts;
     * rejects with a `RequestError` (relay error code, `"timeout"`, `"queue_full"`).
     */
    request<M extends RelayClient.Message = RelayClient.Message>(
        message: RelayClient.OutboundMessage,
        options?: RelayClient.RequestOptions<M>,
    ): Promise<M>;

    /** Estimates the server clock minus ours from `time_sync` round trips (recording-rooms). */
    syncClock(options?: RelayClient.SyncClockOptions): Promise<RelayClient.SyncClockResult>;
    /** Our clock now (ms). */
    now(): number;
    /** The server's clock now (ms), from the last `syncClock`. */
    serverNow(): number;
    /** A server-clock instant converted to our clock. */
    toLocalTime(serverTime: number): number;
    /** Runs `fn` at the server-clock instant `serverTime`; returns a cancel function. */
    atServerTime(serverTime: number, fn: (localNow: number) => void, options?: { spin?: number }): () => void;
}
