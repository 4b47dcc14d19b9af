/* Helpers shared by the demo pages (needs /relay.js). */
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const Demo = {
    param(name, fallback = null) {
      const value = params.get(name);
      return value === null || value === "" ? fallback : value;
    },
    $(selector) { return document.querySelector(selector); },
    /** The JWT from ?token= (remembered in localStorage), or the remembered one. */
    token(storageKey = "relay-demo-token") {
      const fromURL = params.get("token");
      if (fromURL) { try { localStorage.setItem(storageKey, fromURL); } catch (_) {} return fromURL; }
      try { return localStorage.getItem(storageKey); } catch (_) { return null; }
    },
    /** Shows the client's connection state in `element`. */
    bindStatus(relay, element) {
      const show = ({ state, delay, resumed }) => {
        element.className = "badge " + state;
        element.textContent = state === "reconnecting" && delay !== undefined ? `reconnecting (${Math.round(delay)} ms)`
          : state === "open" && resumed ? "open (resumed)" : state;
      };
      relay.on("state", show);
      show({ state: relay.state });
    },
    log(element, text) {
      const line = `${new Date().toLocaleTimeString()} ${text}\n`;
      element.textContent = (line + element.textContent).slice(0, 8000);
    },
    toast(text, kind = "low", ms = 6000) {
      let box = document.querySelector(".toasts");
      if (!box) { box = document.createElement("div"); box.className = "toasts"; document.body.appendChild(box); }
      const toast = document.createElement("div");
      toast.className = "toast " + kind;
      toast.textContent = text;
      box.prepend(toast);
      setTimeout(() => toast.remove(), ms);
      return toast;
    },
    /** Shows a token form in `section` when the page needs one (returns true if one was missing). */
    requireToken(token, section, hint) {
      if (token) return false;
      section.innerHTML = `<h2>Token needed</h2><p class="muted">${hint}</p>
        <form class="row"><input name="t" placeholder="JWT" style="flex:1" required><button>Use token</button></form>`;
      section.querySelector("form").onsubmit = (event) => {
        event.preventDefault();
        const url = new URL(location.href);
        url.searchParams.set("token", event.target.t.value.trim());
        location.href = url.toString();
      };
      return true;
    },
    escape(text) {
      return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
    },
  };
  window.Demo = Demo;
})();
