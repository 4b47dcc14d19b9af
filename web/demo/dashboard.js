/* ML alerts dashboard (ml-alerts plugin): the user's streams (REST), live frames as binary
 * WebSocket frames, alert toasts, and the alert history (REST) with filters and paging. */
(function () {
  "use strict";
  const { $ } = Demo;
  const token = Demo.token();
  const state = { streams: new Map(), frames: 0, alerts: [], toasts: 0, page: [], cursors: [null], pageIndex: 0, nextCursor: null };
  window.demo = { state };
  Demo.tokenControls("alice");
  if (Demo.requireToken(token, $("#main-section"), "The dashboard needs a user token, e.g. <code>relay token --sub alice</code>.")) return;
  $("#user").textContent = Demo.subject(token) || "";

  const relay = new RelayClient("/api/streams/ws", { token });
  window.demo.relay = relay;
  Demo.bindStatus(relay, $("#status"));
  const api = (path) => fetch(path, { headers: { Authorization: `Bearer ${token}` } }).then(async (response) => {
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : response.status);
    return body;
  });

  function card(stream) {
    let entry = state.streams.get(stream.id);
    if (!entry) {
      const el = document.createElement("div");
      el.className = "frame";
      el.dataset.stream = stream.id;
      el.innerHTML = `<img alt="no frame yet"><div class="row"><b class="name"></b><span class="badge st"></span></div><div class="muted info">no frames</div>`;
      const box = $("#streams");
      if (box.querySelector("p")) box.innerHTML = "";
      box.appendChild(el);
      entry = { stream, el, frames: 0, url: null, subscribed: false };
      state.streams.set(stream.id, entry);
      const option = document.createElement("option");
      option.value = stream.id; option.textContent = stream.deviceName || stream.id;
      $("#f-stream").appendChild(option);
    }
    entry.stream = Object.assign(entry.stream, stream);
    entry.el.querySelector(".name").textContent = entry.stream.deviceName || stream.id;
    entry.el.querySelector(".st").textContent = entry.stream.status || "?";
    return entry;
  }

  function subscribe(entry) {
    relay.send({ type: "subscribe", streamId: entry.stream.id, clientType: "dashboard", consumes: ["video-frame", "alert"], format: "binary" });
    entry.subscribed = true;
  }

  async function loadStreams() {
    try {
      const { streams } = await api("/api/streams/list");
      if (!streams.length && !state.streams.size) $("#streams").innerHTML = '<p class="muted">no streams yet: register one (docs/plugins/ml-alerts.md)</p>';
      for (const stream of streams) {
        const entry = card(stream);
        if (!entry.subscribed && relay.clientId) subscribe(entry);
      }
    } catch (error) { Demo.toast(`streams: ${error.message}`, "medium"); }
  }

  relay.on("session", () => { for (const entry of state.streams.values()) subscribe(entry); loadStreams(); });
  relay.on("stream-status", ({ streamId, status, lastSeen }) => { const entry = state.streams.get(streamId); if (entry) card({ id: streamId, status, lastSeen }); else loadStreams(); });
  relay.on("video-frame", (frame) => {
    const entry = state.streams.get(frame.streamId);
    if (!entry) return;
    let url;
    if (frame.binary) url = URL.createObjectURL(new Blob([frame.binary], { type: "image/jpeg" }));
    else if (frame.data) url = `data:image/jpeg;base64,${frame.data}`;
    if (!url) return;
    const img = entry.el.querySelector("img");
    img.onload = () => { if (entry.url && entry.url.startsWith("blob:") && entry.url !== url) URL.revokeObjectURL(entry.url); entry.url = url; };
    img.src = url;
    entry.frames += 1;
    state.frames += 1;
    entry.el.querySelector(".info").textContent = `frame ${frame.seq ?? entry.frames} · ${frame.binary ? frame.binary.length : "?"} bytes${frame.binary ? " (binary)" : ""}`;
  });
  relay.on("alert", (alert) => {
    state.alerts.push(alert);
    state.toasts += 1;
    const entry = state.streams.get(alert.streamId);
    Demo.toast(`${alert.severity.toUpperCase()} · ${entry ? entry.stream.deviceName : alert.streamId}: ${alert.message}`, alert.severity);
    if (state.pageIndex === 0) loadAlerts();
  });
  relay.on("error", (error) => Demo.toast(`error ${error.code} (${error.ref}): ${error.message}`, "medium"));

  async function loadAlerts() {
    const query = new URLSearchParams({ limit: $("#f-limit").value });
    if ($("#f-stream").value) query.set("streamId", $("#f-stream").value);
    if ($("#f-severity").value) query.set("severity", $("#f-severity").value);
    const cursor = state.cursors[state.pageIndex];
    if (cursor) query.set("before", cursor);
    try {
      const { alerts, nextCursor } = await api(`/api/alerts?${query}`);
      state.page = alerts;
      state.nextCursor = nextCursor;
      $("#alerts").innerHTML = "<tr><th>time</th><th>stream</th><th>severity</th><th>message</th></tr>" + alerts.map((a) =>
        `<tr><td>${new Date(a.timestamp).toLocaleTimeString()}</td><td>${Demo.escape((state.streams.get(a.streamId) || { stream: { deviceName: a.streamId } }).stream.deviceName)}</td>` +
        `<td>${Demo.escape(a.severity)}</td><td>${Demo.escape(a.message)}</td></tr>`).join("");
      $("#older").disabled = !nextCursor;
      $("#newer").disabled = state.pageIndex === 0;
      $("#page-info").textContent = `page ${state.pageIndex + 1}`;
    } catch (error) { Demo.toast(`alerts: ${error.message}`, "medium"); }
  }
  const resetPaging = () => { state.cursors = [null]; state.pageIndex = 0; loadAlerts(); };
  $("#filters").onchange = resetPaging;
  $("#older").onclick = () => { if (!state.nextCursor) return; state.cursors[state.pageIndex + 1] = state.nextCursor; state.pageIndex += 1; loadAlerts(); };
  $("#newer").onclick = () => { if (state.pageIndex > 0) { state.pageIndex -= 1; loadAlerts(); } };
  window.demo.loadAlerts = loadAlerts;
  window.demo.loadStreams = loadStreams;

  loadStreams().then(() => { relay.connect(); loadAlerts(); });
  setInterval(loadStreams, 10000);
})();
