/* Recording room device page (recording-rooms plugin, json codec): joins a session, keeps its clock
 * offset to the server, and starts/stops on the server's start_recording/stop_recording. Start happens
 * at startAt converted to this device's clock (docs/plugins/recording-rooms.md#clock-sync).
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
  const relay = new RelayClient("/ws/recording", { now, token: Demo.token() });
  const state = { starts: [], stops: [], offset: null, rtt: null, recording: false, take: null, status: null, devices: [] };
  window.demo = { relay, state };
  Demo.bindStatus(relay, $("#status"));
  const logEl = $("#log");
  let cancelStart = null, recorder = null, chunks = [], stream = null, syncing = null;

  $("#session-id").textContent = sessionId;
  $("#device").textContent = `${deviceType} / ${viewType}` + (skew ? ` (clock skewed ${skew} ms)` : "");
  $("#controls").hidden = deviceType !== "desktop";

  function showStatus(status) {
    if (!status) return;
    state.status = status;
    $("#session-status").textContent = status;
  }
  function showDevices(devices) {
    state.devices = devices;
    $("#devices").innerHTML = "<tr><th>device</th><th>type</th><th>view</th></tr>" + devices.map((d) =>
      `<tr><td>${Demo.escape(d.deviceId)}${d.deviceId === relay.clientId ? " (this)" : ""}</td><td>${Demo.escape(d.deviceType)}</td><td>${Demo.escape(d.viewType || "")}</td></tr>`).join("");
  }

  async function sync() {
    if (state.recording) return;
    if (syncing) return syncing;
    syncing = relay.syncClock({ samples: 12, interval: 10 }).then(({ offset, rtt }) => {
      state.offset = offset; state.rtt = rtt;
      $("#offset").textContent = `${offset >= 0 ? "+" : ""}${offset.toFixed(1)} ms`;
      $("#rtt").textContent = `${rtt.toFixed(2)} ms`;
    }).catch((error) => log(logEl, `clock sync failed: ${error.message}`)).finally(() => { syncing = null; });
    return syncing;
  }

  async function join() {
    try {
      const joined = await relay.request({ type: "join_session", sessionId, deviceType, viewType }, { reply: "joined_session" });
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
    $("#last-start").textContent = `${new Date(message.startAt).toISOString()} (late by ${(ownClock - relay.toLocalTime(message.startAt)).toFixed(2)} ms)`;
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
    relay.send({ type: "upload_completed", recordingId: `${relay.clientId}-take${message.take}`, fileSizeBytes: size, take: message.take });
    sync();
  }

  relay.on("session", join);
  relay.on("start_recording", (message) => {
    message.receivedAt = now();
    log(logEl, `start_recording take ${message.take}: start in ${(relay.toLocalTime(message.startAt) - now()).toFixed(1)} ms`);
    showStatus("RECORDING");
    if (cancelStart) cancelStart();
    cancelStart = relay.atServerTime(message.startAt, (ownClock) => { cancelStart = null; startNow(message, ownClock); });
  });
  relay.on("stop_recording", (message) => { log(logEl, `stop_recording take ${message.take} (${message.reason})`); stopNow(message); });
  relay.on("device_joined", (m) => { showStatus(m.status); log(logEl, `device joined: ${m.deviceId} (${m.deviceType})`);
    if (!state.devices.some((d) => d.deviceId === m.deviceId)) showDevices(state.devices.concat([m])); });
  relay.on("device_disconnected", (m) => { showStatus(m.status); log(logEl, `device left: ${m.deviceId}`); showDevices(state.devices.filter((d) => d.deviceId !== m.deviceId)); });
  relay.on("session_completed", (m) => { showStatus(m.status); log(logEl, `take ${m.take} completed`); });
  relay.on("error", (error) => log(logEl, `error ${error.code} (${error.ref}): ${error.message}`));

  $("#start-form").onsubmit = async (event) => {
    event.preventDefault();
    try {
      await relay.request({ type: "start_recording", postureLabel: $("#posture").value, duration: Number($("#duration").value) }, { reply: "start_recording" });
    } catch (error) { Demo.toast(`start refused: ${error.code || error.message}`, "medium"); }
  };
  $("#stop").onclick = () => relay.send({ type: "stop_recording" });
  setInterval(sync, 30000);
  relay.connect();
})();
