"""The official Socket.IO JavaScript client (web/vendor/socket.io.min.js, socket.io-client 4.8.1) in a
real headless Chromium against the relay's `socketio` endpoint of deploy/recording-rooms.yaml:
default transports (long-polling, then the upgrade to WebSocket), long-polling only with
acknowledgements, connection-state recovery after a dropped transport (and a fresh session when
recovery is impossible: after the resume grace, or after a restart), and CORS for a page served
from another origin. The other devices in the recording room are json and Socket.IO clients
written in the tests."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from browser_helpers import make_browser_fixture, wait_js
from local_proxy import LocalProxy
from relay_helpers import HOST, REPO, free_port
from socketio_helpers import RECORDING_YAML, SIOClient

browser = make_browser_fixture()
pytestmark = pytest.mark.timeout(120)

VENDOR = REPO / "web" / "vendor"

# track(socket) records what a socket sees; the tests read it back as window.T.
HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>socket.io harness</title>
<script src="%(client)s"></script>
<script>
window.track = function (socket) {
  const t = { events: [], transports: [], connects: [], disconnects: [], errors: [] };
  socket.io.on("open", () => {
    const engine = socket.io.engine;
    t.transports.push(engine.transport.name);
    engine.on("upgrade", (transport) => t.transports.push("upgrade:" + transport.name));
  });
  socket.on("connect", () => t.connects.push({ id: socket.id, recovered: socket.recovered,
                                               transport: socket.io.engine.transport.name }));
  socket.on("disconnect", (reason) => t.disconnects.push(reason));
  socket.on("connect_error", (error) => t.errors.push(String(error.message)));
  socket.onAny((event, ...args) => t.events.push([event, ...args]));
  return t;
};
</script></head><body><p>socket.io harness</p></body></html>
"""


def harness_root(tmp_path: Path, client: str = "/vendor/socket.io.min.js") -> Path:
    root = tmp_path / "harness"
    root.mkdir()
    (root / "index.html").write_text(HARNESS % {"client": client})
    return root


def recording_config(page_root: Path, **server: Any) -> dict:
    """deploy/recording-rooms.yaml (recovery on), any device a controller, plus the vendored client
    at /vendor/ and the harness page at /t/."""
    cfg = yaml.safe_load(RECORDING_YAML.read_text())
    cfg["server"].update({"host": HOST, **server})
    cfg["plugins"]["recording"]["config"]["controllerDeviceTypes"] = []
    cfg["plugins"]["vendor"] = {"plugin": "static-files", "config": {"root": str(VENDOR), "prefix": "/vendor"}}
    cfg["plugins"]["harness"] = {"plugin": "static-files", "config": {"root": str(page_root), "prefix": "/t"}}
    return cfg


def open_harness(browser: Any, url: str) -> Any:
    driver = browser()
    driver.get(url)
    wait_js(driver, "typeof io === 'function' && typeof track === 'function'")
    return driver


def call(driver: Any, expression: str) -> Any:
    """Awaits the promise `expression` evaluates to in the page; returns its value."""
    outcome = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"Promise.resolve().then(() => {expression})"
        ".then((value) => done({ok: value === undefined ? null : value}),"
        " (error) => done({error: String(error && error.message || error)}));")
    assert "error" not in outcome, f"{expression}: {outcome['error']}"
    return outcome["ok"]


def page_state(driver: Any) -> dict:
    return driver.execute_script("return JSON.parse(JSON.stringify(T))")


def device_ids(driver: Any, event: str = "device_joined") -> list[str]:
    return [args[1]["deviceId"] for args in page_state(driver)["events"] if args[0] == event]


def join(driver: Any, session: str, device_type: str = "desktop") -> dict:
    joined = call(driver, f"S.timeout(5000).emitWithAck('join_session', {json.dumps({'sessionId': session, 'deviceType': device_type})})")
    assert joined["success"] is True and joined["deviceId"] == driver.execute_script("return S.id"), joined
    return joined


def json_device(server: Any, session: str) -> tuple[Any, str]:
    """A json client in `session` (as a mobile device); returns it and its deviceId."""
    client = server.connect("/ws/recording")
    client.send_json({"type": "join_session", "sessionId": session, "deviceType": "mobile"})
    joined = client.recv_until(lambda m: m.get("type") == "joined_session")
    return client, joined["deviceId"]


# ---------------------------------------------------------------------------
# Transports
# ---------------------------------------------------------------------------


def test_default_transports_poll_then_upgrade_and_exchange_events_with_a_json_client(relay, browser, tmp_path):
    server = relay(recording_config(harness_root(tmp_path)))
    driver = open_harness(browser, server.http_url + "/t/")
    driver.execute_script("window.S = io(); window.T = track(S);")  # io(url) with every default
    wait_js(driver, "S.connected")
    wait_js(driver, "S.io.engine.transport.name === 'websocket'")
    # Engine.IO opened over long-polling; its upgrade event then named the WebSocket.
    assert page_state(driver)["transports"] == ["polling", "upgrade:websocket"]

    joined = join(driver, "sio-a")
    assert [d["deviceId"] for d in joined["session"]["devices"]] == [joined["deviceId"]], joined
    phone, phone_id = json_device(server, "sio-a")
    # json → browser: the phone's join reaches the page.
    wait_js(driver, f"T.events.some((e) => e[0] === 'device_joined' && e[1].deviceId === {json.dumps(phone_id)})")
    # json → browser: the phone starts a take; the page gets start_recording.
    phone.send_json({"type": "start_recording", "postureLabel": "standing", "duration": 60000})
    start = phone.recv_until(lambda m: m.get("type") == "start_recording")
    wait_js(driver, "T.events.some((e) => e[0] === 'start_recording')")
    seen = [e for e in page_state(driver)["events"] if e[0] == "start_recording"]
    assert len(seen) == 1 and seen[0][1]["take"] == start["take"] and seen[0][1]["startAt"] == start["startAt"], seen
    # browser → json: the page stops the take (an acknowledged emit); the phone gets stop_recording.
    stopped = call(driver, "S.timeout(5000).emitWithAck('stop_recording', {})")
    assert stopped == {"success": True, "stopped": True, "take": start["take"]}, stopped
    stop = phone.recv_until(lambda m: m.get("type") == "stop_recording")
    assert stop["reason"] == "requested" and stop["take"] == start["take"], stop
    assert driver.execute_script("return S.io.engine.transport.name") == "websocket"
    assert page_state(driver)["errors"] == []


def test_polling_only_exchanges_events_both_ways_and_acknowledgements(relay, browser, tmp_path):
    server = relay(recording_config(harness_root(tmp_path)))
    driver = open_harness(browser, server.http_url + "/t/")
    driver.execute_script("window.S = io({transports: ['polling']}); window.T = track(S);")
    wait_js(driver, "S.connected")
    joined = join(driver, "sio-b")

    other = SIOClient(server)  # a Socket.IO client over WebSocket in the same room
    try:
        answer = other.call("join_session", {"sessionId": "sio-b", "deviceType": "mobile"})[0]
        assert answer["success"] is True and len(answer["session"]["devices"]) == 2, answer
        wait_js(driver, f"T.events.some((e) => e[0] === 'device_joined' && e[1].deviceId === {json.dumps(other.sid)})")
        # Acknowledgements over long-polling, many in flight at once (several packets per POST and per poll).
        answers = call(driver, "Promise.all(Array.from({length: 30}, (_, i) => "
                               "S.timeout(5000).emitWithAck('time_sync', {t0: i + 0.5})))")
        assert [a["t0"] for a in answers] == [i + 0.5 for i in range(30)], answers
        assert all(a["t1"] <= a["t2"] for a in answers), answers
        # A refused event is acknowledged with the error, and the error event comes too.
        refused = call(driver, "S.timeout(5000).emitWithAck('start_recording', {postureLabel: 'x', duration: -1})")
        assert refused["success"] is False and refused["error"]["code"] == "invalid_message", refused
        wait_js(driver, "T.events.some((e) => e[0] === 'error' && e[1].code === 'invalid_message')")
        # browser → Socket.IO client, then Socket.IO client → browser.
        start = call(driver, "S.timeout(5000).emitWithAck('start_recording', {postureLabel: 'sitting', duration: 60000})")
        assert start["success"] is True and start["postureLabel"] == "sitting", start
        event = other.expect("start_recording", skip=("device_joined", "joined_session"))
        assert event["take"] == start["take"] and event["startAt"] == start["startAt"], event
        stopped = other.call("stop_recording", {})[0]
        assert stopped == {"success": True, "stopped": True, "take": start["take"]}, stopped
        wait_js(driver, "T.events.some((e) => e[0] === 'stop_recording' && e[1].reason === 'requested')")
        state = page_state(driver)
        assert state["transports"] == ["polling"] and driver.execute_script("return S.io.engine.transport.name") == "polling"
        assert state["connects"] == [{"id": joined["deviceId"], "recovered": False, "transport": "polling"}], state
        assert state["disconnects"] == [] and state["errors"] == [], state
    finally:
        other.close()


# ---------------------------------------------------------------------------
# Connection-state recovery
# ---------------------------------------------------------------------------


class DroppingProxy(LocalProxy):
    """A TCP pipe on 127.0.0.1 to the relay whose ``drop()`` resets every connection through it at
    once (as a lost network does: the browser sees its WebSocket fail, the relay sees no close
    frame); new connections pass again afterwards. At most ``max_connections`` in all."""

    def __init__(self, upstream_port: int, max_connections: int = 200):
        self.upstream_port = upstream_port
        self.max_connections = max_connections
        self.accepted = 0
        super().__init__(backlog=64)
        self.url = f"http://{HOST}:{self.port}"

    def serve(self, client: socket.socket) -> None:
        self.accepted += 1
        if self.accepted > self.max_connections:
            client.close()
            return
        try:
            upstream = socket.create_connection((HOST, self.upstream_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self.keep(client)
        self.keep(upstream)
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def drop(self) -> None:
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pipe threads, which close it
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self.drop()
        super().close()


@pytest.fixture
def dropping_proxy():
    """``dropping_proxy(port)`` starts a DroppingProxy to ``port``; all are closed at teardown."""
    proxies: list[DroppingProxy] = []

    def start(port: int) -> DroppingProxy:
        proxies.append(DroppingProxy(port))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


def connect_and_join(driver: Any, session: str) -> str:
    driver.execute_script("window.S = io(); window.T = track(S);")
    wait_js(driver, "S.connected && S.io.engine.transport.name === 'websocket'")
    return join(driver, session)["deviceId"]


def away_while_devices_join(driver: Any, server: Any, session: str, drop: Callable[[], None], others: int,
                            count: int) -> list[str]:
    """Drops the page's transport with `drop` (its reconnection delay held at 2 s), waits until the
    relay saw it go (`others` connections left), lets `count` devices join `session` meanwhile and
    waits for the page to be back; the ids of those devices."""
    driver.execute_script("S.io.reconnectionDelay(2000); S.io.randomizationFactor(0);")
    drop()
    wait_js(driver, "T.disconnects.length === 1")
    server.wait_metric("relay_connections_active", lambda v: v == others)
    missed = [json_device(server, session)[1] for _ in range(count)]
    assert driver.execute_script("return S.connected") is False, "the client came back before the events were sent"
    wait_js(driver, "S.connected", timeout=20)
    return missed


def test_a_dropped_network_recovers_the_session_and_every_missed_event_once_in_order(relay, browser, tmp_path,
                                                                                    dropping_proxy):
    server = relay(recording_config(harness_root(tmp_path)))
    proxy = dropping_proxy(server.port)
    driver = open_harness(browser, proxy.url + "/t/")  # the page and its socket go through the proxy
    page_id = connect_and_join(driver, "sio-c")
    before = [json_device(server, "sio-c") for _ in range(2)]
    wait_js(driver, "T.events.filter((e) => e[0] === 'device_joined').length === 3")
    assert device_ids(driver) == [page_id] + [device_id for _, device_id in before]
    server.wait_metric("relay_connections_active", lambda v: v == 3)

    # The network drops under the client: it reconnects by itself after its reconnection delay
    # (held at 2 s here, so that the other devices surely join while it is away).
    missed = away_while_devices_join(driver, server, "sio-c", proxy.drop, others=2, count=3)
    state = page_state(driver)
    assert state["disconnects"] == ["transport close"], state["disconnects"]
    assert len(state["connects"]) == 2 and state["connects"][1]["id"] == page_id, state["connects"]
    assert state["connects"][1]["recovered"] is True, state["connects"]
    assert driver.execute_script("return S.recovered") is True
    expected = [page_id] + [device_id for _, device_id in before] + missed
    wait_js(driver, f"T.events.filter((e) => e[0] === 'device_joined').length >= {len(expected)}")
    assert device_ids(driver) == expected  # every missed event, in order, once
    offsets = [e[-1] for e in page_state(driver)["events"]]
    assert all(isinstance(o, str) for o in offsets) and len(set(offsets)) == len(offsets), offsets
    # Still in the room: a later device is seen, and the session did not hear the page leave.
    later, later_id = json_device(server, "sio-c")
    wait_js(driver, f"T.events.some((e) => e[0] === 'device_joined' && e[1].deviceId === {json.dumps(later_id)})")
    assert device_ids(driver, "device_disconnected") == []
    wait_js(driver, "S.io.engine.transport.name === 'websocket'")  # and it upgraded again
    assert len(page_state(driver)["connects"]) == 2


def test_a_transport_the_client_closes_itself_recovers_too(relay, browser, tmp_path):
    """socket.io-client closes its own transport on its ping time-out, or with `engine.close()`:
    a "transport close" without DISCONNECT, after which the session recovers, as with Socket.IO's
    reference server (only DISCONNECT leaves for good)."""
    server = relay(recording_config(harness_root(tmp_path)))
    driver = open_harness(browser, server.http_url + "/t/")
    page_id = connect_and_join(driver, "sio-f")
    missed = away_while_devices_join(driver, server, "sio-f", lambda: driver.execute_script("S.io.engine.close();"),
                                     others=0, count=2)
    state = page_state(driver)
    assert state["connects"][1]["recovered"] is True and state["connects"][1]["id"] == page_id, state["connects"]
    expected = [page_id] + missed
    wait_js(driver, f"T.events.filter((e) => e[0] === 'device_joined').length >= {len(expected)}")
    assert device_ids(driver) == expected  # what was sent meanwhile, in order, once


def test_after_the_resume_grace_the_client_gets_a_fresh_session(relay, browser, tmp_path, dropping_proxy):
    server = relay(recording_config(harness_root(tmp_path), resumeGrace=1))
    proxy = dropping_proxy(server.port)
    driver = open_harness(browser, proxy.url + "/t/")
    page_id = connect_and_join(driver, "sio-d")
    watcher, _ = json_device(server, "sio-d")
    wait_js(driver, "T.events.filter((e) => e[0] === 'device_joined').length === 2")

    # The network drops; the client stays away (no automatic reconnection) until the room heard
    # it left for good, at the end of the 1 s resume grace.
    driver.execute_script("S.io.reconnection(false);")
    proxy.drop()
    wait_js(driver, "T.disconnects.length === 1")
    gone = watcher.recv_until(lambda m: m.get("type") == "device_disconnected", timeout=15)
    assert gone["deviceId"] == page_id, gone
    driver.execute_script("S.connect();")  # CONNECT with the old pid and offset
    wait_js(driver, "S.connected", timeout=20)
    state = page_state(driver)
    assert state["connects"][1]["recovered"] is False and state["connects"][1]["id"] != page_id, state["connects"]
    assert driver.execute_script("return S.recovered") is False
    # A fresh session: not in the room until it joins again.
    rejoined = join(driver, "sio-d")
    assert rejoined["deviceId"] != page_id and len(rejoined["session"]["devices"]) == 2, rejoined


def test_after_a_relay_restart_the_client_reconnects_to_a_fresh_session(relay, browser, tmp_path):
    server = relay(recording_config(harness_root(tmp_path)))
    driver = open_harness(browser, server.http_url + "/t/")
    page_id = connect_and_join(driver, "sio-e")
    wait_js(driver, "T.events.some((e) => e[0] === 'device_joined')")

    server.stop()
    wait_js(driver, "T.disconnects.length === 1")
    server.start()  # the same port; the sessions (in memory) are gone
    wait_js(driver, "S.connected", timeout=30)  # the client's own reconnection (defaults)
    state = page_state(driver)
    assert state["connects"][1]["recovered"] is False and state["connects"][1]["id"] != page_id, state["connects"]
    wait_js(driver, "S.io.engine.transport.name === 'websocket'")


# ---------------------------------------------------------------------------
# CORS: a page from another origin
# ---------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def other_origin(tmp_path):
    """An HTTP server on 127.0.0.1 (another port, so another origin) serving tmp_path/site; yields
    (its root, its origin)."""
    root = tmp_path / "site"
    root.mkdir()
    port = free_port()
    httpd = http.server.ThreadingHTTPServer((HOST, port), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://{HOST}:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_page_from_an_allowed_origin_polls_and_a_refused_origin_cannot(relay, browser, tmp_path, other_origin):
    site, origin = other_origin
    cfg = recording_config(harness_root(tmp_path))
    recording_endpoint = cfg["endpoints"][0]
    assert recording_endpoint["codec"] == "socketio"
    recording_endpoint["limits"] = {"allowedOrigins": [origin]}
    cfg["endpoints"].append({"path": "/strict.io/", "codec": "socketio", "auth": "optional",
                             "limits": {"allowedOrigins": ["http://localhost:1"]}})
    server = relay(cfg)
    (site / "index.html").write_text(HARNESS % {"client": server.http_url + "/vendor/socket.io.min.js"})
    driver = open_harness(browser, origin + "/index.html")

    driver.execute_script("window.S = io(arguments[0]); window.T = track(S);", server.http_url)
    wait_js(driver, "S.connected")
    assert page_state(driver)["transports"][0] == "polling"
    join(driver, "sio-cors")
    wait_js(driver, "S.io.engine.transport.name === 'websocket'")  # the upgrade carries the Origin too

    forbidden = server.metric("relay_errors_total", code="forbidden")
    driver.execute_script("window.R = io(arguments[0], {path: '/strict.io/'}); window.RT = track(R);", server.http_url)
    wait_js(driver, "RT.errors.length >= 1")
    assert driver.execute_script("return R.connected") is False
    assert driver.execute_script("return RT.connects") == []
    server.wait_metric("relay_errors_total", lambda v: v >= forbidden + 1, code="forbidden")
    driver.execute_script("R.disconnect()")
    assert driver.execute_script("return S.connected") is True  # the allowed page is unharmed
