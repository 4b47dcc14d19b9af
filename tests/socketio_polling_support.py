"""The servers' settings and the session helpers of the long-polling tests
(tests/test_socketio_polling*.py)."""

from __future__ import annotations

import json

import yaml

from engineio_polling import PollingSession, decode_payload, http_call
from relay_helpers import HOST, RelayServer
from socketio_helpers import SOCKETIO_SUITE_YAML


# deploy/socketio-test-suite.yaml
PING_INTERVAL = 0.300
PING_TIMEOUT = 0.200
SUITE_MAX_PAYLOAD = 1000000
CONNECT_TIMEOUT = yaml.safe_load(SOCKETIO_SUITE_YAML.read_text())["endpoints"][0]["socketio"]["connectTimeout"] / 1000

# The other server of this module: slow pings, so that a GET stays pending as long as a test needs.
SLOW_PING_MS = 1500
MAX_PAYLOAD = 4000
ERROR_MESSAGES = {0: "Transport unknown", 1: "Session ID unknown", 2: "Bad handshake method", 3: "Bad request",
                  4: "Forbidden", 5: "Unsupported protocol version"}


def polling_config() -> dict:
    slow = {"pingInterval": SLOW_PING_MS, "pingTimeout": SLOW_PING_MS, "connectTimeout": 5000}
    endpoints = [
        {"path": "/socket.io/", "codec": "socketio", "auth": "optional", "limits": {"maxMessageBytes": MAX_PAYLOAD},
         "socketio": {"namespaces": ["/", "/custom"], **slow}},
        {"path": "/secure.io/", "codec": "socketio", "auth": "required", "socketio": slow},
        {"path": "/strict.io/", "codec": "socketio", "auth": "none",
         "limits": {"allowedOrigins": ["https://app.example"]}, "socketio": slow},
        {"path": "/polling-only/", "codec": "socketio", "auth": "none",
         "socketio": {"transports": ["polling"], **slow}},
        {"path": "/websocket-only/", "codec": "socketio", "auth": "none",
         "socketio": {"transports": ["websocket"], **slow}},
    ]
    return {
        "server": {"host": HOST},
        "limits": {"messagesPerSecond": 0},
        "endpoints": endpoints,
        "plugins": {"echo": {"plugin": "echo"}},
        "routes": [{"endpoint": e["path"], "type": t, "plugin": "echo"}
                   for e in endpoints for t in ("message", "message-with-ack")],
    }


def fetch(server: RelayServer, query: str, method: str = "GET", body: bytes | str | None = None,
          path: str = "/socket.io/", headers: dict[str, str] | None = None):
    return http_call(server.port, method, f"{path}?{query}", body, headers)


def connected(server: RelayServer, path: str = "/socket.io/", payload: str = "") -> PollingSession:
    """A polling session with the main namespace connected (CONNECT answer and `auth` event read)."""
    session = PollingSession(server.port, path, server=server)
    session.send("40" + payload)
    got = session.packets_until(lambda got: len(got) >= 2)
    assert got[0].startswith("40{") and set(json.loads(got[0][2:])) == {"sid"}, got
    assert got[1] == f'42["auth",{payload or "{}"}]', got
    return session


def roundtrip(session: PollingSession, text: str) -> None:
    """The session still works: an echo comes back."""
    session.send(f'42["message","{text}"]')
    got = session.packets_until(lambda got: len(got) >= 1)
    assert got == [f'42["message-back","{text}"]'], got


def assert_ended(session: PollingSession) -> None:
    """The session is over: GETs get what was left, then the close packet `1` (or at once 400
    code 1, "Session ID unknown"); after the `1`, 400 code 1. A ping means it is still open."""
    for _ in range(3):
        reply = session.get()
        if reply.status != 200:
            break
        packets = decode_payload(reply.body)
        assert "2" not in packets, f"session still open: {packets!r}"
        if packets[-1] == "1":
            reply = session.get()
            break
    assert reply.status == 400, (reply.status, reply.body)
    assert reply.error_code() == 1, reply.body
