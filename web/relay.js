/*
 * relay.js: browser client for Relay (plain JavaScript, no build step).
 * API reference: docs/clients/relay-js.md. Wire protocol: docs/protocol.md.
 *
 *   const relay = new RelayClient("/ws", { getToken: () => fetchTokenFromMyBackend() });
 *   relay.on("cam-code", (msg) => …);
 *   relay.on("state", ({ state }) => …);
 *   relay.connect();
 *   const reply = await relay.request({ type: "cam-create" }, { reply: "cam-code" });
 */
(function (global) {
  "use strict";

  const STATES = ["idle", "connecting", "open", "reconnecting", "closed"];
  const NOT_COUNTED = new Set(["connected", "authenticated"]);
  const DEFAULTS = {
    token: null,              // JWT, sent as ?token= on every (re)connect
    getToken: null,           // () => token | Promise<token>: called before every (re)connect and on token_expiring (then sent as refresh)
    params: {},               // extra query parameters of the upgrade URL
    reconnect: true,          // reconnect after a drop
    backoffInitial: 250,      // ms: first retry waits random(0, backoffInitial)
    backoffMax: 10000,        // ms: cap of the exponential window
    backoffFactor: 2,
    maxAttempts: Infinity,    // consecutive failed attempts before giving up (state "closed")
    queueLimit: 256,          // messages kept while disconnected
    queueOverflow: "reject",  // "reject" (send returns false) | "drop-oldest"
    requestTimeout: 5000,     // ms, default of request()
    binaryType: "arraybuffer",
    stopOnCloseCodes: [1008], // auth failures: do not retry
    leaveOnPageHide: true,    // close() (send `leave`) when the page goes away, so the server frees the client at once
    now: null,                // clock used by syncClock (default: performance.timeOrigin + performance.now())
    WebSocket: null,          // WebSocket constructor (tests)
  };

  function defaultNow() {
    return performance.timeOrigin + performance.now();
  }

  function resolveURL(url) {
    if (/^wss?:\/\//.test(url)) return new URL(url);
    const base = new URL(url, global.location ? global.location.href : "http://localhost/");
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    return base;
  }

  /** Encodes a binary frame: uint32 BE header length + JSON header + payload (docs/protocol.md). */
  function encodeBinary(header, payload) {
    const head = new TextEncoder().encode(JSON.stringify(header));
    const body = payload instanceof ArrayBuffer ? new Uint8Array(payload)
      : ArrayBuffer.isView(payload) ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)
      : new Uint8Array(0);
    const frame = new Uint8Array(4 + head.length + body.length);
    new DataView(frame.buffer).setUint32(0, head.length);
    frame.set(head, 4);
    frame.set(body, 4 + head.length);
    return frame;
  }

  /** Decodes a binary frame into {header, payload: Uint8Array}; throws on a malformed frame. */
  function decodeBinary(buffer) {
    const bytes = new Uint8Array(buffer);
    if (bytes.length < 4) throw new Error("binary frame shorter than its length prefix");
    const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
    if (4 + length > bytes.length) throw new Error("binary header length past the end");
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
    return { header, payload: bytes.subarray(4 + length) };
  }

  class RelayClient {
    constructor(url, options = {}) {
      this.url = url;
      this.options = Object.assign({}, DEFAULTS, options);
      this.state = "idle";
      this.ws = null;
      this.clientId = null;
      this.resumeToken = null;
      this.lastSeen = 0;          // messages received since the first `connected`, except connected/authenticated
      this.attempt = 0;
      this.queue = [];
      this.clockOffset = null;    // server clock minus ours (ms), after syncClock()
      this.clockRTT = null;
      this._handlers = new Map();
      this._pending = [];         // open requests
      this._timer = null;
      this._userClosed = false;
      this._token = this.options.token; // the token of the next connect (getToken's latest answer)
      this._opening = 0;      // bumped by every attempt, so a late getToken answer is ignored
      this._now = this.options.now || defaultNow;
      if (this.options.leaveOnPageHide && global.addEventListener) {
        global.addEventListener("pagehide", () => { if (this.ws) this.close(); });
      }
    }

    // ---- events --------------------------------------------------------------------------

    /** Calls fn(message) for every message of `type` ("*" for all, or a lifecycle event). Returns an unsubscribe function. */
    on(type, fn) {
      if (!this._handlers.has(type)) this._handlers.set(type, new Set());
      this._handlers.get(type).add(fn);
      return () => this.off(type, fn);
    }

    off(type, fn) {
      const set = this._handlers.get(type);
      if (set) set.delete(fn);
    }

    once(type, fn) {
      const off = this.on(type, (value) => { off(); fn(value); });
      return off;
    }

    _emit(type, value) {
      for (const key of [type, "*"]) {
        if (key === "*" && !(value && value.type === type)) continue; // "*" sees messages only
        const set = this._handlers.get(key);
        if (!set) continue;
        for (const fn of Array.from(set)) {
          try { fn(value); } catch (error) { console.error("relay.js handler for", type, "failed:", error); }
        }
      }
    }

    _setState(state, detail = {}) {
      const previous = this.state;
      if (previous === state && !detail.force) return;
      this.state = state;
      this._emit("state", Object.assign({ state, previous, attempt: this.attempt }, detail));
    }

    // ---- connection ----------------------------------------------------------------------

    /** Opens the connection (and keeps it open until close()). */
    connect() {
      this._userClosed = false;
      if (this.ws && (this.ws.readyState === 0 || this.ws.readyState === 1)) return this;
      this._open();
      return this;
    }

    _upgradeURL() {
      const url = resolveURL(this.url);
      const params = Object.assign({}, this.options.params);
      if (this._token) params.token = this._token;
      if (this.resumeToken) {
        params.resume = this.resumeToken;
        params.lastSeen = String(this.lastSeen);
      }
      for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
      return url.toString();
    }

    _open() {
      clearTimeout(this._timer);
      this._setState(this.resumeToken || this.attempt > 0 ? "reconnecting" : "connecting");
      if (!this.options.getToken) { this._openSocket(); return; }
      const opening = ++this._opening;
      Promise.resolve().then(() => this.options.getToken()).then((token) => {
        if (opening !== this._opening || this._userClosed) return;
        this._token = token;
        this._openSocket();
      }, (error) => {
        if (opening !== this._opening || this._userClosed) return;
        this._emit("token-error", { error });
        this._scheduleReconnect({ code: 0, reason: `getToken failed: ${error}` });
      });
    }

    _openSocket() {
      const Socket = this.options.WebSocket || global.WebSocket;
      let ws;
      try {
        ws = new Socket(this._upgradeURL());
      } catch (error) {
        this._scheduleReconnect({ code: 0, reason: String(error) });
        return;
      }
      ws.binaryType = this.options.binaryType;
      this.ws = ws;
      ws.onmessage = (event) => { if (this.ws === ws) this._receive(event.data); };
      ws.onclose = (event) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this._closed({ code: event.code, reason: event.reason, wasClean: event.wasClean });
      };
      ws.onerror = () => { /* followed by close */ };
    }

    _closed(info) {
      this._emit("disconnected", info);
      if (this._userClosed) {
        this._setState("closed", info);
        return;
      }
      // An expired token (docs/protocol.md): reconnect with a fresh one from getToken and resume.
      const expired = info.code === 1008 && info.reason === "token expired" && this.options.getToken;
      if (!this.options.reconnect || (this.options.stopOnCloseCodes.includes(info.code) && !expired)) {
        this._failPending(new Error(`connection closed (${info.code})`));
        this._setState("closed", info);
        return;
      }
      this._scheduleReconnect(info);
    }

    /** Delay before the next attempt: full jitter over a capped exponential window. */
    backoffDelay(attempt) {
      const o = this.options;
      const window = Math.min(o.backoffMax, o.backoffInitial * Math.pow(o.backoffFactor, attempt));
      return Math.random() * window;
    }

    _scheduleReconnect(info) {
      if (this.attempt >= this.options.maxAttempts) {
        this._failPending(new Error("gave up reconnecting"));
        this._setState("closed", Object.assign({ gaveUp: true }, info));
        return;
      }
      const delay = this.backoffDelay(this.attempt);
      this.attempt += 1;
      this._setState("reconnecting", Object.assign({ delay, force: true }, info));
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this._open(), delay);
    }

    /** Leaves for good: {"type":"leave"} then close 1000. No reconnect. */
    close() {
      this._userClosed = true;
      clearTimeout(this._timer);
      this.queue = [];
      const ws = this.ws;
      if (ws && ws.readyState === 1) {
        try { ws.send(JSON.stringify({ type: "leave" })); } catch (_) { /* closing anyway */ }
        ws.close(1000, "leave");
      } else if (ws) {
        ws.close();
      } else {
        this._setState("closed", { code: 1000 });
      }
      this.resumeToken = null;
      this._failPending(new Error("client closed"));
    }

    /** Drops the socket without leaving (as a network failure would); the client resumes. For tests and demos. */
    drop(code = 4000) {
      if (this.ws) this.ws.close(code, "dropped by client");
    }

    // ---- receiving -----------------------------------------------------------------------

    _receive(data) {
      let message;
      if (typeof data === "string") {
        try { message = JSON.parse(data); } catch (_) { return; }
      } else {
        try {
          const { header, payload } = decodeBinary(data);
          message = Object.assign({}, header, { binary: payload });
        } catch (error) {
          this.lastSeen += 1;
          this._emit("bad-frame", { error });
          return;
        }
      }
      if (!message || typeof message.type !== "string") { this.lastSeen += 1; return; }
      if (message.type === "connected") {
        this._connected(message);
      } else if (!NOT_COUNTED.has(message.type)) {
        this.lastSeen += 1;
      }
      if (message.type === "token_expiring") this._refreshToken();
      this._settle(message);
      this._emit(message.type, message);
    }

    _connected(message) {
      const resumed = message.resumed === true && this.clientId === message.clientId;
      if (!resumed) this.lastSeen = 0;
      this.clientId = message.clientId;
      this.resumeToken = message.resumeToken;
      this.attempt = 0;
      this._setState("open", { resumed, replayed: message.replayed || 0, clientId: message.clientId });
      if (!resumed) this._emit("session", { clientId: message.clientId, fresh: true });
      this._flush();
    }

    /**
     * Answers token_expiring: a token from getToken goes out as {"type":"refresh"}; `refreshed`
     * or an error (ref "refresh") is emitted as "token-refreshed" / "token-error". Without
     * getToken nothing happens: the relay closes at the token's exp (1008 "token expired").
     */
    _refreshToken() {
      if (!this.options.getToken) return;
      Promise.resolve().then(() => this.options.getToken())
        .then((token) => {
          this._token = token;
          return this.request({ type: "refresh", token }, { reply: "refreshed" });
        })
        .then((answer) => this._emit("token-refreshed", { expiresAt: answer.expiresAt }),
              (error) => this._emit("token-error", { error }));
    }

    // ---- sending -------------------------------------------------------------------------

    /** True when messages go out at once (connected and open). */
    get isOpen() {
      return this.state === "open" && this.ws && this.ws.readyState === 1;
    }

    /**
     * Sends a message object (or a binary frame built by encodeBinary). While disconnected it is
     * queued (bounded by queueLimit) and sent, in order, once connected. Returns false when the
     * queue was full and the message was not kept.
     */
    send(message) {
      const data = message instanceof Uint8Array || message instanceof ArrayBuffer ? message : JSON.stringify(message);
      if (this.isOpen) {
        this._flush();
        this.ws.send(data);
        return true;
      }
      if (this.queue.length >= this.options.queueLimit) {
        if (this.options.queueOverflow === "drop-oldest") {
          const dropped = this.queue.shift();
          this._emit("queue-overflow", { dropped });
        } else {
          this._emit("queue-overflow", { rejected: data });
          return false;
        }
      }
      this.queue.push(data);
      return true;
    }

    /** Sends a binary frame: header object (with `type`) + payload bytes. */
    sendBinary(header, payload) {
      return this.send(encodeBinary(header, payload));
    }

    _flush() {
      while (this.queue.length && this.ws && this.ws.readyState === 1) {
        this.ws.send(this.queue.shift());
      }
    }

    // ---- request / response ----------------------------------------------------------------

    /**
     * Sends `message` and resolves with the first message whose type is `reply` (a type or a list)
     * and that `match(reply)` accepts; rejects on an `error` whose `ref` is the type sent, or after
     * `timeout` ms.
     */
    request(message, { reply, match = () => true, timeout = this.options.requestTimeout } = {}) {
      const replies = Array.isArray(reply) ? reply : [reply || message.type];
      return new Promise((resolve, reject) => {
        const entry = { replies, match, ref: message.type, resolve, reject, timer: null };
        entry.timer = setTimeout(() => {
          this._pending = this._pending.filter((p) => p !== entry);
          const error = new Error(`no ${replies.join("/")} within ${timeout} ms`);
          error.code = "timeout";
          reject(error);
        }, timeout);
        this._pending.push(entry);
        if (!this.send(message)) {
          clearTimeout(entry.timer);
          this._pending = this._pending.filter((p) => p !== entry);
          const error = new Error("send queue full");
          error.code = "queue_full";
          reject(error);
        }
      });
    }

    _settle(message) {
      if (!this._pending.length) return;
      let index;
      if (message.type === "error") {
        index = this._pending.findIndex((p) => p.ref === message.ref && !p.replies.includes("error"));
        if (index < 0) return;
        const [entry] = this._pending.splice(index, 1);
        clearTimeout(entry.timer);
        const error = new Error(message.message || message.code);
        error.code = message.code;
        error.reply = message;
        entry.reject(error);
        return;
      }
      index = this._pending.findIndex((p) => p.replies.includes(message.type) && p.match(message));
      if (index < 0) return;
      const [entry] = this._pending.splice(index, 1);
      clearTimeout(entry.timer);
      entry.resolve(message);
    }

    _failPending(error) {
      for (const entry of this._pending) { clearTimeout(entry.timer); entry.reject(error); }
      this._pending = [];
    }

    // ---- clock sync (docs/plugins/recording-rooms.md) ---------------------------------------

    /**
     * Estimates the server clock minus ours: `samples` time_sync round trips `interval` ms apart,
     * keeps the one with the lowest RTT, offset = ((t1 − t0) + (t2 − t3)) / 2.
     * Resolves {offset, rtt, samples}; also sets clockOffset/clockRTT.
     */
    async syncClock({ samples = 10, interval = 10, type = "time_sync", timeout = 2000 } = {}) {
      let best = null;
      const all = [];
      for (let i = 0; i < samples; i++) {
        const t0 = this._now();
        const answer = await this.request({ type, t0 }, { reply: type, match: (m) => m.t0 === t0, timeout });
        const t3 = this._now();
        const rtt = (t3 - t0) - (answer.t2 - answer.t1);
        const offset = ((answer.t1 - t0) + (answer.t2 - t3)) / 2;
        all.push({ rtt, offset });
        if (!best || rtt < best.rtt) best = { rtt, offset };
        if (i + 1 < samples) await new Promise((resolve) => setTimeout(resolve, interval));
      }
      this.clockOffset = best.offset;
      this.clockRTT = best.rtt;
      this._emit("clock", { offset: best.offset, rtt: best.rtt });
      return { offset: best.offset, rtt: best.rtt, samples: all };
    }

    /** Our clock now (ms), as used by syncClock. */
    now() { return this._now(); }

    /** The server's clock now (ms), from the last syncClock. */
    serverNow() { return this._now() + (this.clockOffset || 0); }

    /** A server-clock instant converted to our clock. */
    toLocalTime(serverTime) { return serverTime - (this.clockOffset || 0); }

    /**
     * Runs fn at the server-clock instant `serverTime` (setTimeout until shortly before, then a
     * short busy wait for sub-millisecond precision). Returns a cancel function. fn gets our clock
     * at the moment it ran.
     */
    atServerTime(serverTime, fn, { spin = 12 } = {}) {
      const target = this.toLocalTime(serverTime);
      let cancelled = false;
      const fire = () => {
        if (cancelled) return;
        while (this._now() < target) { /* spin the last few ms */ }
        fn(this._now());
      };
      const delay = target - this._now() - spin;
      const timer = setTimeout(fire, Math.max(0, delay));
      return () => { cancelled = true; clearTimeout(timer); };
    }
  }

  RelayClient.STATES = STATES;
  RelayClient.encodeBinary = encodeBinary;
  RelayClient.decodeBinary = decodeBinary;
  global.RelayClient = RelayClient;
  if (typeof module !== "undefined" && module.exports) module.exports = RelayClient;
})(typeof window !== "undefined" ? window : globalThis);
