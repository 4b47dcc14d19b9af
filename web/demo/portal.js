/* Portal view demo: the controller changes the current item, viewers follow it (portal-view plugin). */
(function () {
  "use strict";
  const { $, log } = Demo;
  const ITEMS = [
    { title: "Welcome", color: "#2563eb" }, { title: "Floor plan", color: "#7c3aed" },
    { title: "Kitchen", color: "#db2777" }, { title: "Garden", color: "#059669" },
    { title: "Bedroom", color: "#d97706" }, { title: "Thank you", color: "#dc2626" },
  ];
  const role = document.body.dataset.role; // controller | viewer
  const view = Demo.param("view", "pv1");
  const token = Demo.token();
  const state = { currentItem: null, presence: null, updates: 0 };
  window.demo = { state };
  $("#view-id").textContent = view;
  Demo.tokenControls(role === "controller" ? "u1" : "u2", { portalViews: { [view]: role === "controller" ? "OWNER" : "VIEWER" } });
  if (Demo.requireToken(token, $("#main-section"),
    `This view needs a token whose <code>portalViews</code> claim names <b>${Demo.escape(view)}</b>, e.g.
     <code>relay token --sub u1 --claim 'portalViews={"${Demo.escape(view)}":"${role === "controller" ? "OWNER" : "VIEWER"}"}'</code>`)) return;

  const relay = new RelayClient(`/ws/portal-view/${encodeURIComponent(view)}`, { token });
  window.demo.relay = relay;
  Demo.bindStatus(relay, $("#status"));
  const logEl = $("#log");

  function render(index) {
    if (typeof index !== "number" || !ITEMS[index]) return;
    state.currentItem = index;
    const item = ITEMS[index];
    const slide = $("#slide");
    slide.style.background = item.color;
    slide.textContent = `${index + 1}. ${item.title}`;
    slide.dataset.item = String(index);
    document.querySelectorAll("[data-pick]").forEach((b) => { b.classList.toggle("secondary", Number(b.dataset.pick) !== index); });
  }

  function follow(message) {
    const payload = message.payload || {};
    if (typeof payload.currentItem === "number") { state.updates += 1; render(payload.currentItem); log(logEl, `${message.type}: item ${payload.currentItem + 1}`); }
  }

  relay.on("presence", ({ controllers, viewers }) => {
    state.presence = { controllers, viewers };
    $("#presence").textContent = `${controllers} controller${controllers === 1 ? "" : "s"}, ${viewers} viewer${viewers === 1 ? "" : "s"}`;
  });
  relay.on("portal-view-update", follow);
  relay.on("sync-response", follow);
  relay.on("item-update", (message) => log(logEl, `item-update ${JSON.stringify(message.payload)}`));
  relay.on("error", (error) => log(logEl, `error ${error.code} (${error.ref}): ${error.message}`));
  relay.on("disconnected", ({ code, reason }) => { if (code === 1008) log(logEl, `refused (1008 ${reason}): the token has no role for ${view}`); });

  if (role === "controller") {
    const pick = (index) => {
      render(index);
      relay.send({ type: "portal-view-update", payload: { currentItem: index } });
    };
    const buttons = $("#items");
    ITEMS.forEach((item, index) => {
      const button = document.createElement("button");
      button.textContent = `${index + 1}. ${item.title}`;
      button.dataset.pick = String(index);
      button.className = "secondary";
      button.onclick = () => pick(index);
      buttons.appendChild(button);
    });
    $("#prev").onclick = () => pick(((state.currentItem ?? 0) + ITEMS.length - 1) % ITEMS.length);
    $("#next").onclick = () => pick(((state.currentItem ?? -1) + 1) % ITEMS.length);
    relay.on("request-sync", ({ clientId }) => {
      if (state.currentItem !== null) relay.send({ type: "sync-response", to: clientId, payload: { currentItem: state.currentItem } });
    });
    relay.on("session", () => { if (state.currentItem === null) render(0); });
    window.demo.pick = pick;
  } else {
    relay.on("session", () => relay.send({ type: "request-sync" }));
  }
  relay.connect();
})();
