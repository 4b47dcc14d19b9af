/* Recording room device page (recording-rooms plugin) on the official Socket.IO client
 * (/vendor/socket.io.min.js, socket.io-client 4.8.1) with its default options: long-polling
 * first, then the upgrade to WebSocket, on the relay's /socket.io/ endpoint. It joins a session,
 * keeps its clock offset to the server (time_sync acknowledgements), and starts/stops on the
 * server's start_recording/stop_recording. Start happens at startAt converted to this device's
 * clock (docs/plugins/recording-rooms.md#clock-sync).
 * URL: ?session=ID&device=desktop|mobile&view=front&camera=1&skew=<ms added to this page's clock, for demos>. */
(function () {
  "use strict";
  const { $, log } = Demo;
  const sessionId = Demo.param("session", "demo");
  const deviceType = Demo.param("device", "mobile");
  const viewType = Demo.param("view", deviceType === "desktop" ? "front" : "side");
  const skew = Number(Demo.param("skew", "0")) || 0;
  const useCamera = Demo.param("camera") === "1";
  const now = () => performance.timeOrigin + performance.now() + skew;
  Demo.tokenControls(`${deviceType}-operator`);
  const logEl = $("#log");
  const statusEl = $("#status");
  if (typeof io !== "function") {
    statusEl.textContent = "no client";
    log(logEl, "the Socket.IO client (/vendor/socket.io.min.js) did not load");
    return;
  }
  const token = Demo.token();
  const socket = io(token ? { auth: { token } } : {});
  // transports: every Engine.IO transport this page used, in order (polling, then websocket).
  const state = { starts: [], stops: [], offset: null, rtt: null, offsetTransport: null, recording: false, take: null,
    status: null, devices: [], transports: [], recovered: [] };
  window.demo = { socket, state };
  let cancelStart = null, recorder = null, chunks = [], stream = null, syncing = null;

  $("#session-id").textContent = sessionId;
  $("#device").textContent = `${deviceType} / ${viewType}` + (skew ? ` (clock skewed ${skew} ms)` : "");
  $("#controls").hidden = deviceType !== "desktop";

  function showConnection(kind, text) {
    statusEl.className = "badge " + kind;
    statusEl.textContent = text;
  }
  function transportName() {
    return socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : "?";
  }
  function showStatus(status) {
    if (!status) return;
    state.status = status;
    $("#session-status").textContent = status;
  }
  function showDevices(devices) {
    state.devices = devices;
    $("#devices").innerHTML = "<tr><th>device</th><th>type</th><th>view</th></tr>" + devices.map((d) =>
      `<tr><td>${Demo.escape(d.deviceId)}${d.deviceId === socket.id ? " (this)" : ""}</td><td>${Demo.escape(d.deviceType)}</td><td>${Demo.escape(d.viewType || "")}</td></tr>`).join("");
  }

  /** Server clock minus ours from the time_sync sample with the lowest round trip. */
  async function syncClock(samples = 12, interval = 10) {
    let best = null;
    for (let i = 0; i < samples; i++) {
      const t0 = now();
      const { t1, t2 } = await socket.timeout(2000).emitWithAck("time_sync", { t0 });
      const t3 = now();
      const rtt = (t3 - t0) - (t2 - t1);
      if (!best || rtt < best.rtt) best = { rtt, offset: ((t1 - t0) + (t2 - t3)) / 2 };
      if (i + 1 < samples) await new Promise((resolve) => setTimeout(resolve, interval));
    }
    return best;
  }

  async function sync() {
    if (state.recording || !socket.connected) return;
    if (syncing) return syncing;
    const transport = transportName();
    syncing = syncClock().then(({ offset, rtt }) => {
      state.offset = offset; state.rtt = rtt; state.offsetTransport = transport;
      $("#offset").textContent = `${offset >= 0 ? "+" : ""}${offset.toFixed(1)} ms`;
      $("#rtt").textContent = `${rtt.toFixed(2)} ms (${transport})`;
    }).catch((error) => log(logEl, `clock sync failed: ${error.message}`)).finally(() => { syncing = null; });
    return syncing;
  }

  const toLocalTime = (serverTime) => serverTime - (state.offset || 0);

  /** Runs fn at the server-clock instant `serverTime`: a timer until shortly before, then a short
   * busy wait for sub-millisecond precision. Returns a cancel function; fn gets our clock then. */
  function atServerTime(serverTime, fn, spin = 12) {
    const target = toLocalTime(serverTime);
    let cancelled = false;
    const timer = setTimeout(() => {
      if (cancelled) return;
      while (now() < target) { /* spin the last few ms */ }
      fn(now());
    }, Math.max(0, target - now() - spin));
    return () => { cancelled = true; clearTimeout(timer); };
  }

  async function join() {
    try {
      const joined = await socket.timeout(5000).emitWithAck("join_session", { sessionId, deviceType, viewType });
      if (!joined.success) throw joined.error;
      showStatus(joined.session.status);
      showDevices(joined.session.devices);
      log(logEl, `joined ${sessionId} as ${joined.deviceId}`);
      if (useCamera && !stream) {
        stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false }).catch((e) => { log(logEl, `camera: ${e.message}`); return null; });
        if (stream) { $("#preview").srcObject = stream; $("#preview").hidden = false; }
      }
      await sync();
    } catch (error) {
      log(logEl, `join failed: ${error.code || error.message}`);
    }
  }

  function startNow(message, ownClock) {
    state.recording = true;
    state.take = message.take;
    state.starts.push({ take: message.take, startedAt: ownClock, startAt: message.startAt, offset: state.offset, received: message.receivedAt });
    $("#rec").classList.add("on");
    $("#rec-state").textContent = `RECORDING take ${message.take}`;
    $("#rec-info").textContent = `${message.postureLabel}, ${message.duration} ms`;
    $("#last-start").textContent = `${new Date(message.startAt).toISOString()} (late by ${(ownClock - toLocalTime(message.startAt)).toFixed(2)} ms)`;
    if (stream && window.MediaRecorder) {
      chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (event) => chunks.push(event.data);
      recorder.start();
    }
  }

  async function stopNow(message) {
    if (cancelStart) { cancelStart(); cancelStart = null; }
    const wasRecording = state.recording;
    state.recording = false;
    state.stops.push({ take: message.take, stoppedAt: now(), reason: message.reason });
    $("#rec").classList.remove("on");
    $("#rec-state").textContent = `stopped (${message.reason})`;
    if (!wasRecording) return;
    let size = 0;
    if (recorder && recorder.state !== "inactive") {
      await new Promise((resolve) => { recorder.onstop = resolve; recorder.stop(); });
      size = chunks.reduce((total, chunk) => total + chunk.size, 0);
    }
    socket.emit("upload_completed", { recordingId: `${socket.id}-take${message.take}`, fileSizeBytes: size, take: message.take });
    sync();
  }

  // Connection: Engine.IO opens over long-polling, then upgrades to WebSocket; the clock is
  // synced again once on WebSocket (its round trips are shorter and steadier).
  socket.io.on("open", () => {
    const engine = socket.io.engine;
    state.transports.push(engine.transport.name);
    engine.on("upgrade", (transport) => {
      state.transports.push(transport.name);
      log(logEl, `upgraded to ${transport.name}`);
      showConnection("open", `open (${transport.name})`);
      (syncing || Promise.resolve()).then(sync);  // after a sync begun over polling, if any
    });
  });
  socket.io.on("reconnect_attempt", (attempt) => showConnection("reconnecting", `reconnecting (${attempt})`));
  socket.on("connect", () => {
    state.recovered.push(socket.recovered);
    showConnection("open", `open (${transportName()})${socket.recovered ? " (recovered)" : ""}`);
    if (!socket.recovered) join();  // a recovered socket is still in its session
  });
  socket.on("disconnect", (reason) => { showConnection(socket.active ? "reconnecting" : "closed", reason); });
  socket.on("connect_error", (error) => { showConnection(socket.active ? "reconnecting" : "closed", `error: ${error.message}`); });

  socket.on("start_recording", (message) => {
    message.receivedAt = now();
    log(logEl, `start_recording take ${message.take}: start in ${(toLocalTime(message.startAt) - now()).toFixed(1)} ms`);
    showStatus("RECORDING");
    if (cancelStart) cancelStart();
    cancelStart = atServerTime(message.startAt, (ownClock) => { cancelStart = null; startNow(message, ownClock); });
  });
  socket.on("stop_recording", (message) => { log(logEl, `stop_recording take ${message.take} (${message.reason})`); stopNow(message); });
  socket.on("device_joined", (m) => { showStatus(m.status); log(logEl, `device joined: ${m.deviceId} (${m.deviceType})`);
    if (!state.devices.some((d) => d.deviceId === m.deviceId)) showDevices(state.devices.concat([m])); });
  socket.on("device_disconnected", (m) => { showStatus(m.status); log(logEl, `device left: ${m.deviceId}`); showDevices(state.devices.filter((d) => d.deviceId !== m.deviceId)); });
  socket.on("session_completed", (m) => { showStatus(m.status); log(logEl, `take ${m.take} completed`); });
  socket.on("error", (error) => log(logEl, `error ${error.code} (${error.ref}): ${error.message}`));

  $("#start-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      const answer = await socket.timeout(5000).emitWithAck("start_recording", { postureLabel: $("#posture").value, duration: Number($("#duration").value) });
      if (!answer.success) throw answer.error;
    } catch (error) { Demo.toast(`start refused: ${error.code || error.message}`, "medium"); }
  };
  $("#stop").onclick = () => socket.emit("stop_recording", {});
  setInterval(sync, 30000);
  window.addEventListener("pagehide", () => socket.disconnect());
})();
