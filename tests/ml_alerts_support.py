"""The route file, the `ml` fixture (a relay with an SQLite store) and the client helpers of the
`ml-alerts` plugin's tests (tests/test_ml_alerts_*.py; docs/plugins/ml-alerts.md)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from relay_helpers import HOST, RelayServer, WSClient, deep_merge, json_text


WS = "/api/streams/ws"
SERVICE = {"role": "ml-service"}
ML_TYPES = ("register", "subscribe", "unsubscribe")


def ml_routes(plugin: str = "ml") -> list[dict]:
    return [{"endpoint": WS, "type": t, "plugin": plugin} for t in ML_TYPES] + [
        {"endpoint": WS, "type": "video-frame", "plugin": plugin, "binary": True, "overflow": "drop-oldest"},
        {"endpoint": WS, "type": "alert", "plugin": plugin, "overflow": "close"},
    ]


def ml_config(store: Path | str | None = None, plugin_config: dict | None = None, **overrides: Any) -> dict:
    """One `/api/streams/ws` endpoint with the `ml-alerts` plugin; `store`: SQLite file."""
    cfg = {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": 1, "drainTimeout": 2,
                   "closeTimeout": 1},
        "auth": {"authTimeout": 2},
        "limits": {"maxMessageBytes": 1 << 20, "messagesPerSecond": 0},
        "endpoints": [{"path": WS, "codec": "json", "auth": "required"}],
        "plugins": {"ml": {"plugin": "ml-alerts", "config": plugin_config or {}}},
        "routes": ml_routes(),
    }
    if store is not None:
        cfg["store"] = {"path": str(store)}
    return deep_merge(cfg, overrides)


@pytest.fixture
def ml(relay, tmp_path) -> RelayServer:
    return relay(ml_config(tmp_path / "ml.sqlite"))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def binary_frame(header: dict, payload: bytes) -> bytes:
    """SPEC §3a: uint32 big-endian header length + JSON header + raw bytes."""
    head = json_text(header).encode()
    return struct.pack(">I", len(head)) + head + payload


def parse_binary(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack(">I", data[:4])
    return json.loads(data[4:4 + length]), data[4 + length:]


def register_stream(srv: RelayServer, token: str, name: str = "iPhone 14", **extra: Any) -> str:
    status, body = srv.http_json("POST", "/api/streams/register",
                                 {"deviceName": name, "deviceType": "mobile", **extra}, token=token)
    assert status == 200, body
    assert body["message"] == "Stream registered successfully", body
    return body["streamId"]


def connect_auth(srv: RelayServer, sub: str, **claims: Any) -> WSClient:
    """Seed §7: connect without a token, then `{"type":"auth","token":…}`."""
    client = srv.connect(WS, expect_connected=False)
    client.send_json({"type": "auth", "token": srv.token(sub, **claims)})
    assert client.expect("authenticated", ignore=())["userId"] == sub
    client.hello = client.expect("connected", ignore=())
    return client


def send_register(client: WSClient, stream: str, **fields: Any) -> dict:
    client.send_json({"type": "register", "clientType": "mobile", "streamId": stream, **fields})
    return client.expect("registered", ignore=("stream-status",))


def send_subscribe(client: WSClient, stream: str, **fields: Any) -> dict:
    """Subscribes; returns `subscribed` and checks the `stream-status` that follows it."""
    client.send_json({"type": "subscribe", "streamId": stream, **fields})
    ack = client.expect("subscribed")
    status = client.expect("stream-status")
    assert status["streamId"] == stream and status["status"] in ("offline", "online", "streaming"), status
    ack["status"] = status
    return ack


def next_frame(client: WSClient, timeout: float = 5.0) -> str | bytes:
    """The next video frame (text or binary), skipping `stream-status`."""
    deadline = time.monotonic() + timeout
    while True:
        data = client.recv_raw(max(0.0, deadline - time.monotonic()))
        if isinstance(data, str) and json.loads(data).get("type") == "stream-status":
            continue
        return data


def frames_until_status(client: WSClient, status: str, timeout: float = 3.0) -> list[bytes]:
    """Reads until a `stream-status` with `status`; returns the payloads of the binary frames before it."""
    frames: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        data = client.recv_raw(max(0.0, deadline - time.monotonic()))
        if isinstance(data, bytes):
            frames.append(parse_binary(data)[1])
            continue
        msg = json.loads(data)
        if msg.get("type") == "stream-status":
            assert msg["status"] == status, msg
            return frames


def expect_error(client: WSClient, code: str, ref: str) -> dict:
    err = client.expect("error", ignore=("stream-status",))
    assert err["code"] == code and err["ref"] == ref, err
    return err


def status_of(srv: RelayServer, token: str, stream: str) -> dict:
    status, body = srv.http_json("GET", "/api/streams/list", token=token)
    assert status == 200, body
    return next(s for s in body["streams"] if s["id"] == stream)


def iso_ok(text: Any) -> bool:
    return isinstance(text, str) and len(text) >= 20 and text[4] == "-" and text[10] == "T" and text.endswith("Z")
