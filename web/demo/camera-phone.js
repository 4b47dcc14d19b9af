/* Phone side of camera pairing: joins the code from the URL, opens the camera and sends its video
 * to the desktop over WebRTC (the phone makes the offer). */
(function () {
  "use strict";
  const { $, log } = Demo;
  Demo.tokenControls("phone-user");
  const relay = new RelayClient(Demo.param("ws", "/ws"), { token: Demo.token() });
  const state = { code: null, paired: false, pc: null, pendingIce: [], stream: null, facing: "environment", received: [] };
  window.demo = { relay, state };
  Demo.bindStatus(relay, $("#status"));
  const logEl = $("#log");
  const iceServers = Demo.param("stun") ? [{ urls: Demo.param("stun") }] : [];

  async function join(code) {
    state.code = code.trim().toUpperCase();
    $("#code").value = state.code;
    try {
      await relay.request({ type: "cam-join", code: state.code }, { reply: "cam-paired" });
      state.paired = true;
      $("#pair-state").textContent = `paired with ${state.code}`;
      log(logEl, `paired with ${state.code}`);
      await startVideo();
    } catch (error) {
      state.paired = false;
      $("#pair-state").textContent = `could not join ${state.code}: ${error.code || error.message}`;
      log(logEl, `join failed: ${error.code || error.message}`);
    }
  }

  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("no camera access: open this page over HTTPS (or on localhost)");
    }
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: state.facing }, audio: false });
    $("#preview").srcObject = state.stream;
    const settings = state.stream.getVideoTracks()[0].getSettings();
    $("#cam-info").textContent = `${settings.width || "?"}×${settings.height || "?"}`;
    return state.stream;
  }

  async function startVideo() {
    let stream;
    try {
      stream = await openCamera();
    } catch (error) {
      log(logEl, `camera: ${error.message}`);
      return;
    }
    if (state.pc) state.pc.close();
    const pc = new RTCPeerConnection({ iceServers });
    state.pc = pc;
    state.pendingIce = [];
    stream.getTracks().forEach((track) => pc.addTrack(track, stream));
    pc.onicecandidate = (event) => {
      if (event.candidate) relay.send({ type: "cam-ice", code: state.code, payload: event.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      log(logEl, `WebRTC ${pc.connectionState}`);
      if (pc.connectionState === "failed") offer({ iceRestart: true });
    };
    await offer();
  }

  async function offer(options = {}) {
    const pc = state.pc;
    await pc.setLocalDescription(await pc.createOffer(options));
    relay.send({ type: "cam-offer", code: state.code, payload: pc.localDescription.toJSON() });
  }

  relay.on("session", ({ fresh }) => {
    // A fresh identity after the first one means the relay forgot us: the pairing is over.
    if (state.paired) { state.paired = false; $("#pair-state").textContent = "connection lost for too long: rescan the code"; return; }
    const code = Demo.param("code");
    if (code && !state.code) join(code);
  });
  relay.on("cam-answer", async ({ payload }) => {
    if (!state.pc) return;
    await state.pc.setRemoteDescription(payload);
    for (const candidate of state.pendingIce.splice(0)) await state.pc.addIceCandidate(candidate).catch(() => {});
  });
  relay.on("cam-ice", ({ payload }) => {
    if (state.pc && state.pc.remoteDescription) state.pc.addIceCandidate(payload).catch(() => {});
    else state.pendingIce.push(payload);
  });
  relay.on("cam-data", ({ payload }) => { state.received.push(payload); log(logEl, `desktop says: ${JSON.stringify(payload)}`); });
  relay.on("cam-peer-left", ({ reason }) => {
    state.paired = false;
    if (state.pc) state.pc.close();
    state.pc = null;
    $("#pair-state").textContent = `desktop left (${reason})`;
  });
  relay.on("state", ({ state: s, resumed, replayed }) => {
    if (s === "open" && resumed) log(logEl, `reconnected, resumed (${replayed} replayed)`);
  });

  $("#join-form").onsubmit = (event) => { event.preventDefault(); if ($("#code").value) join($("#code").value); };
  $("#flip").onclick = async () => {
    state.facing = state.facing === "environment" ? "user" : "environment";
    if (!state.pc) return;
    const stream = await openCamera();
    const sender = state.pc.getSenders().find((s) => s.track && s.track.kind === "video");
    if (sender) await sender.replaceTrack(stream.getVideoTracks()[0]);
  };
  $("#data-form").onsubmit = (event) => {
    event.preventDefault();
    if (!state.code) return;
    relay.send({ type: "cam-data", code: state.code, payload: { text: $("#data-text").value } });
    $("#data-text").value = "";
  };

  relay.connect();
})();
