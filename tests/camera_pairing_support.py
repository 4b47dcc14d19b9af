"""The route file, the module-wide `cam` server and the WebSocket and REST helpers of the
`camera-pairing` plugin's tests (tests/test_camera_pairing_*.py; docs/plugins/camera-pairing.md)."""

from __future__ import annotations

import http.client as httplib
import json
import urllib.parse
from typing import Any

import pytest

from relay_helpers import HOST, RawWS, RelayServer, json_text, receive_until


CAM_TYPES = ("cam-create", "cam-join", "cam-offer", "cam-answer", "cam-ice", "cam-data")
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
NOT_COUNTED = ("connected", "authenticated", "pong")


def cam_config(grace: float = 2, route_extra: dict[str, dict] | None = None, **plugin: Any) -> dict:
    """A relay with only the camera-pairing plugin on `/ws`; ``plugin`` is its config."""
    route_extra = route_extra or {}
    return {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": grace, "drainTimeout": 2},
        "limits": {"maxMessageBytes": 65536, "messagesPerSecond": 0},
        "endpoints": [{"path": "/ws", "codec": "json", "auth": "optional"}],
        "plugins": {"cameras": {"plugin": "camera-pairing", "config": plugin}},
        "routes": [{"endpoint": "/ws", "type": t, "plugin": "cameras", **route_extra.get(t, {})}
                   for t in CAM_TYPES],
    }


@pytest.fixture(scope="module")
def _cam_server(tmp_path_factory: pytest.TempPathFactory) -> RelayServer:
    # The module's tests join unknown and taken codes on purpose, all from 127.0.0.1: the join
    # limit per address (tests/test_security_pairing.py) is set out of their way.
    server = RelayServer(tmp_path_factory.mktemp("relay-cam"),
                         cam_config(codeTTL=30, idleTimeout=60, pollRecheckInterval=30, joinFailures=100000))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def cam(_cam_server: RelayServer, track_server) -> RelayServer:
    return track_server(_cam_server)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def http(server: RelayServer, method: str, path: str, body: Any = None, token: str | None = None,
         raw: bytes | None = None, timeout: float = 15) -> tuple[int, Any]:
    headers = {}
    data = raw
    if body is not None:
        data = json_text(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn = httplib.HTTPConnection(HOST, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def rest_create(server: RelayServer) -> dict:
    status, body = http(server, "POST", "/cam/create")
    assert status == 200, body
    assert body["side"] == "desktop" and body["token"], body
    return body


def rest_join(server: RelayServer, code: str, token: str | None = None) -> tuple[int, Any]:
    return http(server, "POST", f"/cam/join/{code}", token=token)


def rest_signal(server: RelayServer, code: str, token: str | None, source: str, type_: str,
                payload: Any) -> tuple[int, Any]:
    return http(server, "POST", f"/cam/signal/{code}", {"source": source, "type": type_, "payload": payload},
                token=token)


def rest_poll(server: RelayServer, code: str, token: str | None, source: str, after: int = 0,
              wait: float = 0) -> tuple[int, Any]:
    query = urllib.parse.urlencode({"source": source, "after": after, "wait": wait})
    return http(server, "GET", f"/cam/signal/{code}?{query}", token=token, timeout=wait + 15)


def assert_rest_error(status: int, body: Any, http_status: int, code: str) -> None:
    assert status == http_status, (status, body)
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body


def ws_create(client) -> dict:
    client.send_json({"type": "cam-create"})
    return client.expect("cam-code")


def ws_pair(server: RelayServer) -> tuple[Any, Any, str]:
    desktop = server.connect("/ws")
    code = ws_create(desktop)["code"]
    phone = server.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    assert phone.expect("cam-paired") == {"type": "cam-paired", "code": code}
    assert desktop.expect("cam-peer-joined") == {"type": "cam-peer-joined", "code": code}
    return desktop, phone, code


def expect_error(client, code: str, ref: str) -> dict:
    error = client.expect("error")
    assert error["code"] == code and error["ref"] == ref, error
    return error


class Tracker:
    """A raw-socket WebSocket client that counts what it received (for `lastSeen`)."""

    def __init__(self, server: RelayServer, path: str = "/ws"):
        self.server = server
        self.path = path
        self.count = 0
        self.received: list[dict] = []
        self.hello = self.open()
        self.client_id = self.hello["clientId"]

    def open(self, **query: Any) -> dict:
        self.ws: RawWS = self.server.raw(self.server.target(self.path, **query))
        return self.ws.expect("connected", ignore=())

    def send(self, obj: dict) -> None:
        self.ws.send_json(obj)

    def recv(self, timeout: float = 5.0) -> dict:
        msg = self.ws.recv_json(timeout)
        if msg.get("type") not in NOT_COUNTED:
            self.count += 1
            self.received.append(msg)
        return msg

    def recv_until(self, predicate, timeout: float = 5.0) -> dict:
        return receive_until(self.recv, predicate, timeout)

    def drop(self) -> None:
        self.ws.abort()

    def resume(self) -> dict:
        self.hello = self.open(resume=self.hello["resumeToken"], lastSeen=self.count)
        return self.hello
