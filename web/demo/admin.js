/* Admin page: polls /metrics (Prometheus text) and /readyz; shows connections, the route table
 * (from the message counters, labelled by endpoint, type and plugin) and message/drop rates. */
(function () {
  "use strict";
  const { $ } = Demo;
  const state = { previous: null, samples: 0, ready: null };
  window.demo = { state };

  function parse(text) {
    const series = [];
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!match) continue;
      const labels = {};
      if (match[3]) for (const pair of match[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
      series.push({ name: match[1], labels, value: Number(match[4]) });
    }
    return series;
  }
  const sum = (series, name, filter = () => true) => series.filter((s) => s.name === name && filter(s.labels)).reduce((t, s) => t + s.value, 0);
  const rate = (now, before, seconds) => (before === undefined || seconds <= 0 ? 0 : Math.max(0, now - before) / seconds);

  async function poll() {
    try {
      const ready = await fetch("/readyz");
      const body = await ready.json().catch(() => ({}));
      state.ready = body.status || String(ready.status);
      $("#ready").textContent = state.ready;
      $("#ready").className = "badge " + (ready.ok ? "open" : "closed");
    } catch (_) { $("#ready").textContent = "unreachable"; $("#ready").className = "badge closed"; }
    let series;
    try {
      const response = await fetch("/metrics");
      if (!response.ok) throw new Error(`/metrics: ${response.status}`);
      series = parse(await response.text());
    } catch (error) { Demo.toast(error.message, "medium", 2000); return; }
    const at = performance.now();
    const totals = {
      in: sum(series, "relay_messages_in_total"), out: sum(series, "relay_messages_out_total"), drops: sum(series, "relay_drops_total"),
    };
    const previous = state.previous;
    const seconds = previous ? (at - previous.at) / 1000 : 0;
    $("#connections").textContent = sum(series, "relay_connections_active");
    $("#sessions").textContent = sum(series, "relay_sessions_active");
    $("#rooms").textContent = sum(series, "relay_rooms_active");
    $("#in-rate").textContent = rate(totals.in, previous && previous.totals.in, seconds).toFixed(1);
    $("#out-rate").textContent = rate(totals.out, previous && previous.totals.out, seconds).toFixed(1);
    $("#drop-rate").textContent = rate(totals.drops, previous && previous.totals.drops, seconds).toFixed(1);

    const routes = new Map();
    for (const s of series) {
      if (s.name !== "relay_messages_in_total" && s.name !== "relay_messages_out_total") continue;
      const route = `${s.labels.endpoint} ${s.labels.type}`;
      const key = `${route}\u0000${s.labels.plugin}`;
      const row = routes.get(key) || { route, plugin: s.labels.plugin, in: 0, out: 0 };
      row[s.name === "relay_messages_in_total" ? "in" : "out"] += s.value;
      routes.set(key, row);
    }
    const oldRoutes = previous ? previous.routes : new Map();
    $("#routes").innerHTML = "<tr><th>route (endpoint type)</th><th>plugin</th><th>in</th><th>out</th><th>in/s</th><th>out/s</th></tr>" +
      Array.from(routes.entries()).sort().map(([key, r]) => {
        const old = oldRoutes.get(key) || {};
        return `<tr><td>${Demo.escape(r.route)}</td><td>${Demo.escape(r.plugin)}</td><td>${r.in}</td><td>${r.out}</td>` +
          `<td>${rate(r.in, old.in, seconds).toFixed(1)}</td><td>${rate(r.out, old.out, seconds).toFixed(1)}</td></tr>`;
      }).join("");
    const other = series.filter((s) => ["relay_drops_total", "relay_errors_total", "relay_closes_total"].includes(s.name));
    $("#other").innerHTML = "<tr><th>metric</th><th>labels</th><th>total</th></tr>" + other.map((s) =>
      `<tr><td>${s.name}</td><td>${Demo.escape(Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(" "))}</td><td>${s.value}</td></tr>`).join("");
    state.previous = { at, totals, routes };
    state.samples += 1;
  }
  poll();
  setInterval(poll, 2000);
})();
