/* Helpers shared by the demo pages (tokens, status badges, links); the pages that connect
   with relay.js load /relay.js before it, the recording page loads the Socket.IO client. */
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const tokenKey = "relay-demo-token:" + location.pathname;
  const Demo = {
    param(name, fallback = null) {
      const value = params.get(name);
      return value === null || value === "" ? fallback : value;
    },
    $(selector) { return document.querySelector(selector); },
    /** This page's JWT: ?token= (then remembered for this page), or the one this page remembered.
     * Each page keeps its own (one localStorage key per page path): a dashboard user's token
     * never reaches a portal page. */
    token() {
      const fromURL = params.get("token");
      if (fromURL) { try { localStorage.setItem(tokenKey, fromURL); } catch (_) {} return fromURL; }
      try { return localStorage.getItem(tokenKey); } catch (_) { return null; }
    },
    /** The `sub` claim of a JWT, or null. */
    subject(token) {
      try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub; } catch (_) { return null; }
    },
    /** Asks the relay's dev-tokens plugin (POST /demo/dev-token) for a token of `sub` with `claims`,
     * remembers it for this page and reloads the page with it. */
    async devToken(sub, claims = {}) {
      const response = await fetch("/demo/dev-token", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sub, claims }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) { Demo.toast(`dev token: ${body.error ? body.error.message : response.status}`, "medium"); return; }
      const url = new URL(location.href);
      url.searchParams.set("token", body.token);
      location.href = url.toString();
    },
    /** Adds this page's token controls to the header: who the token names, "Dev token" (a token
     * for `sub` with `claims`, from devToken) and "Forget token". */
    tokenControls(sub, claims = {}) {
      const token = Demo.token();
      const box = document.createElement("span");
      box.className = "row token";
      box.innerHTML = `<span class="muted" id="token-user"></span><button class="secondary" id="dev-token" type="button"></button>` +
        `<button class="secondary" id="forget-token" type="button">Forget token</button>`;
      box.querySelector("#token-user").textContent = token ? `token: ${Demo.subject(token) || "?"}` : "no token";
      box.querySelector("#dev-token").textContent = `Dev token (${sub})`;
      box.querySelector("#dev-token").onclick = () => Demo.devToken(sub, claims);
      box.querySelector("#forget-token").hidden = !token;
      box.querySelector("#forget-token").onclick = () => {
        try { localStorage.removeItem(tokenKey); } catch (_) {}
        const url = new URL(location.href);
        url.searchParams.delete("token");
        location.href = url.toString();
      };
      document.querySelector("header").appendChild(box);
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
      section.innerHTML = `<h2>Token needed</h2><p class="muted">${hint} Or press "Dev token" above.</p>
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
