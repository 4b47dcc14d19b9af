"""web/relay.js in a real headless Chromium: the send queue while disconnected (delivery after the
reconnect, the bound and its overflow event), request time-outs, reconnect delays (exponential
backoff with full jitter, capped), and the ES module form (web/relay.mjs)."""

from __future__ import annotations

import pytest

from browser_helpers import demo_config, make_browser_fixture

browser = make_browser_fixture()
pytestmark = pytest.mark.timeout(90)

SETUP = """
const done = arguments[arguments.length - 1];
window.events = [];
window.relay = new RelayClient(arguments[0], Object.assign({}, arguments[1]));
relay.on("*", (m) => window.events.push(m));
relay.on("state", (s) => window.events.push({type: "state", ...s}));
relay.on("queue-overflow", (o) => window.events.push({type: "queue-overflow", rejected: !!o.rejected}));
relay.once("connected", () => done(true));
relay.connect();
"""


LOAD_LIBRARY = """
const done = arguments[arguments.length - 1];
const script = document.createElement("script");
script.src = "/relay.js";
script.onload = () => done(typeof RelayClient === "function");
document.head.appendChild(script);
"""


def open_client(driver, server, options: dict) -> None:
    driver.get(f"{server.http_url}/demo/")
    assert driver.execute_async_script(LOAD_LIBRARY), "relay.js did not load from /relay.js"
    assert driver.execute_async_script(SETUP, "/ws/pubsub", options)


def test_messages_sent_while_disconnected_are_queued_then_delivered_in_order(relay, browser):
    server = relay(demo_config())
    listener = server.connect("/ws/pubsub")
    listener.send_json({"type": "subscribe", "topic": "q"})
    listener.expect("subscribed")
    driver = browser()
    open_client(driver, server, {"backoffInitial": 200})
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        relay.send({type: "subscribe", topic: "q"});
        relay.once("subscribed", () => done(true));""")
    queued = driver.execute_script("""
        relay.drop();
        const sent = [1, 2, 3].map((n) => relay.send({type: "publish", topic: "q", data: n}));
        return {sent, queued: relay.queue.length, state: relay.state};""")
    assert queued["sent"] == [True, True, True] and queued["queued"] == 3, queued
    assert [listener.expect("message")["data"] for _ in range(3)] == [1, 2, 3]
    assert driver.execute_script("return relay.queue.length") == 0


def test_a_full_queue_rejects_and_reports_overflow(relay, browser):
    server = relay(demo_config())
    driver = browser()
    open_client(driver, server, {"queueLimit": 2, "backoffInitial": 5000, "backoffMax": 5000})
    result = driver.execute_script("""
        relay.drop();
        const sent = [1, 2, 3].map((n) => relay.send({type: "ping", n}));
        return {sent, queued: relay.queue.length,
                overflow: window.events.filter((e) => e.type === "queue-overflow").length};""")
    assert result == {"sent": [True, True, False], "queued": 2, "overflow": 1}, result


def test_request_times_out_when_no_reply_comes(relay, browser):
    server = relay(demo_config())
    driver = browser()
    open_client(driver, server, {})
    outcome = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const started = performance.now();
        relay.request({type: "ping"}, {reply: "never-sent", timeout: 300})
            .then(() => done({ok: true}))
            .catch((error) => done({ok: false, message: String(error), elapsed: performance.now() - started}));""")
    assert outcome["ok"] is False and 250 <= outcome["elapsed"] < 2000, outcome
    answered = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        relay.request({type: "ping"}, {reply: "pong", timeout: 2000}).then((m) => done(m.type));""")
    assert answered == "pong"


def test_reconnect_delays_grow_exponentially_with_jitter_and_a_cap(relay, browser):
    server = relay(demo_config())
    driver = browser()
    open_client(driver, server, {"backoffInitial": 100, "backoffFactor": 2, "backoffMax": 400})
    server.stop()  # every reconnect attempt now fails
    delays = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const delays = [];
        relay.on("state", (s) => {
            if (s.state === "reconnecting") delays.push({attempt: s.attempt, delay: s.delay});
            if (delays.length === 6) done(delays);
        });
        relay.drop();""")
    for entry in delays:
        cap = min(400, 100 * 2 ** entry["attempt"])
        assert 0 <= entry["delay"] <= cap, delays
    assert len({round(d["delay"]) for d in delays}) > 1, f"no jitter: {delays}"


def test_the_es_module_exports_the_same_client(relay, browser):
    server = relay(demo_config())
    status, headers, _ = server.http_get("/relay.mjs")
    assert status == 200 and headers["content-type"].startswith("text/javascript"), (status, headers)
    driver = browser()
    driver.get(f"{server.http_url}/demo/")
    outcome = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import("/relay.mjs").then(async (module) => {
            const relay = new module.RelayClient("/ws/pubsub", {});
            relay.connect();
            const pong = await relay.request({type: "ping"}, {reply: "pong", timeout: 5000});
            done({same: module.default === module.RelayClient && module.RelayClient === window.RelayClient,
                  reply: pong.type, state: relay.state, lastSeen: relay.lastSeen});
            relay.close();
        }).catch((error) => done({error: String(error)}));""")
    assert outcome == {"same": True, "reply": "pong", "state": "open", "lastSeen": 1}, outcome
