/* Desktop side of camera pairing: creates a code, shows it as a QR code of the phone page's URL,
 * answers the phone's WebRTC offer and shows its video. Signaling: cam-offer / cam-answer / cam-ice. */
(function () {
  "use strict";
  const { $, log } = Demo;
  Demo.tokenControls("desktop-user");
  const relay = new RelayClient(Demo.param("ws", "/ws"), { token: Demo.token() });
  const state = { code: null, pc: null, pendingIce: [], peer: false, received: [], tracks: 0 };
  window.demo = { relay, state };
  Demo.bindStatus(relay, $("#status"));
  const logEl = $("#log");
  const iceServers = Demo.param("stun") ? [{ urls: Demo.param("stun") }] : [];

  async function createCode() {
    closePeer();
    try {
      const { code, expiresAt } = await relay.request({ type: "cam-create" }, { reply: "cam-code" });
      state.code = code;
      state.peer = false;
      $("#code").textContent = code;
      const origin = Demo.param("phoneOrigin", location.origin);
      const url = `${origin}${location.pathname.replace(/[^/]*$/, "")}camera-phone.html?code=${code}`;
      $("#phone-link").href = url;
      $("#qr").src = `qr.svg?text=${encodeURIComponent(url)}`;
      $("#host-hint").hidden = !/^(localhost|127\.|\[::1\])/.test(new URL(origin).host);
      $("#peer").textContent = `waiting for a phone… (code valid until ${new Date(expiresAt).toLocaleTimeString()})`;
      log(logEl, `code ${code}`);
    } catch (error) {
      log(logEl, `cam-create failed: ${error.message}`);
      setTimeout(createCode, 2000);
    }
  }

  function closePeer() {
    if (state.pc) state.pc.close();
    state.pc = null;
    state.pendingIce = [];
  }

  function peer() {
    if (state.pc) return state.pc;
    const pc = new RTCPeerConnection({ iceServers });
    pc.onicecandidate = (event) => {
      if (event.candidate) relay.send({ type: "cam-ice", code: state.code, payload: event.candidate.toJSON() });
    };
    pc.ontrack = (event) => {
      state.tracks += 1;
      const video = $("#video");
      video.srcObject = event.streams[0] || new MediaStream([event.track]);
      video.play().catch(() => {});
      log(logEl, `video track arrived`);
    };
    pc.onconnectionstatechange = () => log(logEl, `WebRTC ${pc.connectionState}`);
    state.pc = pc;
    return pc;
  }

  relay.on("session", createCode);
  relay.on("cam-peer-joined", () => {
    state.peer = true;
    $("#peer").textContent = "phone joined: waiting for its video…";
    log(logEl, "phone joined");
  });
  relay.on("cam-offer", async ({ payload }) => {
    const pc = peer();
    await pc.setRemoteDescription(payload);
    for (const candidate of state.pendingIce.splice(0)) await pc.addIceCandidate(candidate).catch(() => {});
    await pc.setLocalDescription(await pc.createAnswer());
    relay.send({ type: "cam-answer", code: state.code, payload: pc.localDescription.toJSON() });
    $("#peer").textContent = "phone paired";
  });
  relay.on("cam-ice", ({ payload }) => {
    if (state.pc && state.pc.remoteDescription) state.pc.addIceCandidate(payload).catch(() => {});
    else state.pendingIce.push(payload);
  });
  relay.on("cam-data", ({ payload }) => { state.received.push(payload); log(logEl, `phone says: ${JSON.stringify(payload)}`); });
  relay.on("cam-peer-left", ({ reason }) => { log(logEl, `phone left (${reason}); new code`); createCode(); });
  relay.on("cam-code-expired", () => { log(logEl, "code expired; new code"); createCode(); });
  relay.on("error", (error) => log(logEl, `error ${error.code} (${error.ref}): ${error.message}`));

  $("#data-form").onsubmit = (event) => {
    event.preventDefault();
    if (!state.code) return;
    relay.send({ type: "cam-data", code: state.code, payload: { text: $("#data-text").value } });
    $("#data-text").value = "";
  };

  setInterval(() => {
    const video = $("#video");
    if (!video.srcObject) return;
    const quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    $("#video-info").textContent = `${video.videoWidth}×${video.videoHeight}` +
      (quality ? `, ${quality.totalVideoFrames} frames decoded` : "");
  }, 500);

  relay.connect();
})();
