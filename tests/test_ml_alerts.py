"""Plugin `ml-alerts` (SPEC §4 "ml-alerts", seed 004; docs/plugins/ml-alerts.md).

Over real sockets and HTTP against a real relay with an SQLite store: first-message
auth and the plugin's acknowledgements, ownership and the service role, video
fan-out in both forms from JSON and binary producers, stream status, alert
fan-out and history, slow consumers (video drops oldest; an alert consumer is
closed and resumes with replay), and a restart that keeps the history.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from relay_helpers import (
    HOST,
    RawWS,
    RelayServer,
    WSClient,
    deep_merge,
    dump_yaml,
    json_text,
    run_cli,
    wait_until,
)

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


# ---------------------------------------------------------------------------
# item 2: auth, acknowledgements, ownership, service role
# ---------------------------------------------------------------------------


def test_first_message_auth_and_acknowledgements(ml):
    alice = ml.token("alice")
    stream = register_stream(ml, alice)

    phone = connect_auth(ml, "alice")
    ack = send_register(phone, stream, produces=["video-frame"], consumes=["alert"])
    assert ack == {"type": "registered", "streamId": stream, "produces": ["video-frame"], "consumes": ["alert"]}

    # the kernel's other token sources work too (here ?token=)
    dashboard = ml.connect(WS, sub="alice")
    ack = send_subscribe(dashboard, stream, clientType="dashboard", consumes=["video-frame", "alert"])
    assert ack["streamId"] == stream and ack["consumes"] == ["video-frame", "alert"], ack
    assert ack["format"] == "native" and ack["produces"] == []
    assert ack["status"]["status"] == "online" and iso_ok(ack["status"]["lastSeen"]), ack

    # the defaults: a dashboard consumes both; unsubscribe is acknowledged
    other = connect_auth(ml, "alice")
    assert send_subscribe(other, stream)["consumes"] == ["video-frame", "alert"]
    other.send_json({"type": "unsubscribe", "streamId": stream})
    assert other.expect("unsubscribed") == {"type": "unsubscribed", "streamId": stream}

    # anything before auth closes with 1008; a bad token too
    early = ml.connect(WS, expect_connected=False)
    early.send_json({"type": "register", "streamId": stream})
    assert early.expect_close() == 1008
    bad = ml.connect(WS, expect_connected=False)
    bad.send_json({"type": "auth", "token": "not-a-jwt"})
    assert bad.expect_close() == 1008


def test_register_over_the_socket_creates_a_stream(ml):
    phone = connect_auth(ml, "alice")
    phone.send_json({"type": "register", "clientType": "mobile", "deviceName": "Pixel 8"})
    ack = phone.expect("registered")
    assert ack["streamId"].startswith("stream_"), ack
    listed = status_of(ml, ml.token("alice"), ack["streamId"])
    assert listed["deviceName"] == "Pixel 8" and listed["deviceType"] == "mobile"
    assert listed["status"] == "online"
    phone.send_json({"type": "register", "clientType": "mobile"})
    expect_error(phone, "invalid_message", "register")


def test_ownership_and_service_role(ml):
    alice_stream = register_stream(ml, ml.token("alice"))
    bob = connect_auth(ml, "bob")
    bob.send_json({"type": "register", "streamId": alice_stream})
    expect_error(bob, "forbidden", "register")
    bob.send_json({"type": "subscribe", "streamId": alice_stream})
    expect_error(bob, "forbidden", "subscribe")
    bob.send_json({"type": "subscribe", "streamId": "stream_nope"})
    expect_error(bob, "not_found", "subscribe")
    bob.send_json({"type": "register", "streamId": "stream_nope"})
    expect_error(bob, "not_found", "register")
    bob.send_json({"type": "subscribe"})
    expect_error(bob, "invalid_message", "subscribe")
    bob.send_json({"type": "subscribe", "streamId": alice_stream, "consumes": ["audio"]})
    expect_error(bob, "invalid_message", "subscribe")

    alice = connect_auth(ml, "alice")
    # only the service produces alerts
    alice.send_json({"type": "subscribe", "streamId": alice_stream, "produces": ["alert"]})
    expect_error(alice, "forbidden", "subscribe")
    alice.send_json({"type": "register", "streamId": alice_stream, "produces": ["video-frame", "alert"]})
    expect_error(alice, "forbidden", "register")
    alice.send_json({"type": "alert", "streamId": alice_stream, "severity": "high", "message": "x"})
    expect_error(alice, "forbidden", "alert")
    # frames only from a registered producer of that stream
    send_subscribe(alice, alice_stream)
    alice.send_json({"type": "video-frame", "streamId": alice_stream, "data": "AAAA"})
    expect_error(alice, "forbidden", "video-frame")

    # the service may subscribe to anyone's stream, but not produce its video
    service = connect_auth(ml, "ml-1", **SERVICE)
    ack = send_subscribe(service, alice_stream, clientType="ml-service", consumes=["video-frame"],
                         produces=["alert"])
    assert ack["produces"] == ["alert"] and ack["consumes"] == ["video-frame"]
    service.send_json({"type": "register", "streamId": alice_stream})
    expect_error(service, "forbidden", "register")
    # another role value is not the service
    other_role = connect_auth(ml, "eve", role="admin")
    other_role.send_json({"type": "subscribe", "streamId": alice_stream})
    expect_error(other_role, "forbidden", "subscribe")


def test_service_role_claim_is_configurable(relay, tmp_path):
    srv = relay(ml_config(tmp_path / "ml.sqlite",
                          plugin_config={"serviceClaim": "scope", "serviceRole": ["analyzer", "vision"]}))
    stream = register_stream(srv, srv.token("alice"))
    default_role = connect_auth(srv, "ml-1", role="ml-service")
    default_role.send_json({"type": "subscribe", "streamId": stream})
    expect_error(default_role, "forbidden", "subscribe")
    configured = connect_auth(srv, "ml-2", scope=["read", "vision"])
    assert send_subscribe(configured, stream, produces=["alert"])["produces"] == ["alert"]
    status, body = srv.http_json("GET", f"/api/alerts?streamId={stream}", token=srv.token("ml-2", scope="analyzer"))
    assert status == 200 and body["alerts"] == [], body


# ---------------------------------------------------------------------------
# item 5: REST register / list
# ---------------------------------------------------------------------------


def test_rest_register_and_list(ml):
    alice, bob = ml.token("alice"), ml.token("bob")
    stream = register_stream(ml, alice, "iPhone 14", metadata={"resolution": "1920x1080", "fps": 30})
    other = register_stream(ml, alice, "iPad")
    listed = status_of(ml, alice, stream)
    assert listed["deviceName"] == "iPhone 14" and listed["deviceType"] == "mobile"
    assert listed["status"] == "offline" and listed["lastSeen"] is None
    assert listed["metadata"] == {"resolution": "1920x1080", "fps": 30}
    assert iso_ok(listed["createdAt"]) and listed["userId"] == "alice"
    status, body = ml.http_json("GET", "/api/streams/list", token=alice)
    assert [s["id"] for s in body["streams"]] == [other, stream]  # newest first

    status, body = ml.http_json("GET", "/api/streams/list", token=bob)
    assert status == 200 and body == {"streams": []}
    status, body = ml.http_json("GET", "/api/streams/list", token=ml.token("ml-1", **SERVICE))
    assert status == 200 and {stream, other} <= {s["id"] for s in body["streams"]}

    # bearer JWT on every call; REST error shapes
    for method, path in (("POST", "/api/streams/register"), ("GET", "/api/streams/list"),
                         ("GET", f"/api/alerts?streamId={stream}")):
        status, body = ml.http_json(method, path, {"deviceName": "x"} if method == "POST" else None)
        assert status == 401 and body["error"]["code"] == "unauthenticated", (path, body)
        status, body = ml.http_json(method, path, {"deviceName": "x"} if method == "POST" else None,
                                    token=ml.token("alice", ttl=-60))
        assert status == 401, (path, body)
    status, body = ml.http_json("POST", "/api/streams/register", "{not json", token=alice)
    assert status == 400 and body["error"]["code"] == "bad_json", body
    status, body = ml.http_json("POST", "/api/streams/register", {"deviceType": "mobile"}, token=alice)
    assert status == 400 and body["error"]["code"] == "invalid_message", body
    status, body = ml.http_json("POST", "/api/streams/register", {"deviceName": "x", "metadata": [1]}, token=alice)
    assert status == 400 and body["error"]["code"] == "invalid_message", body


# ---------------------------------------------------------------------------
# item 3: video fan-out, both forms, no re-encoding
# ---------------------------------------------------------------------------


def video_setup(srv: RelayServer) -> tuple[str, WSClient, WSClient, WSClient, WSClient, WSClient]:
    """A producer and consumers of every form: native, json, json (2nd), binary (service)."""
    stream = register_stream(srv, srv.token("alice"))
    producer = connect_auth(srv, "alice")
    send_register(producer, stream)
    native = connect_auth(srv, "alice")
    send_subscribe(native, stream, consumes=["video-frame"])
    as_json = connect_auth(srv, "alice")
    assert send_subscribe(as_json, stream, consumes=["video-frame"], format="json")["format"] == "json"
    as_json2 = connect_auth(srv, "alice")
    send_subscribe(as_json2, stream, consumes=["video-frame"], format="json")
    as_binary = connect_auth(srv, "ml-1", **SERVICE)
    assert send_subscribe(as_binary, stream, consumes=["video-frame"], produces=["alert"],
                          format="binary")["format"] == "binary"
    return stream, producer, native, as_json, as_json2, as_binary


def test_json_producer_reaches_json_and_binary_consumers(ml):
    stream, producer, native, as_json, as_json2, as_binary = video_setup(ml)
    pixels = bytes(range(256)) * 8 + b"\x00\xff"
    # odd key order and spacing: forwarded byte for byte, never re-serialized
    text = ('{"streamId": "%s", "seq":1,"type":"video-frame","timestamp":1730000000123,'
            '"data":"%s" , "extra":{"b":1,"a":2}}' % (stream, base64.b64encode(pixels).decode()))
    producer.send_text(text)
    assert next_frame(native) == text
    assert next_frame(as_json) == text
    assert next_frame(as_json2) == text
    data = next_frame(as_binary)
    assert isinstance(data, bytes), data
    header, payload = parse_binary(data)
    assert payload == pixels
    assert header == {"type": "video-frame", "streamId": stream, "seq": 1, "timestamp": 1730000000123,
                      "extra": {"b": 1, "a": 2}}

    # a frame whose data is not base64 cannot be converted: an error, and nobody gets it
    producer.send_json({"type": "video-frame", "streamId": stream, "seq": 2, "data": "***"})
    expect_error(producer, "invalid_message", "video-frame")
    producer.send_json({"type": "video-frame", "streamId": stream, "seq": 3})
    expect_error(producer, "invalid_message", "video-frame")
    producer.send_json({"type": "video-frame", "streamId": stream, "seq": 4, "data": "AAEC"})
    assert json.loads(next_frame(native))["seq"] == 4
    assert parse_binary(next_frame(as_binary)) == ({"type": "video-frame", "streamId": stream, "seq": 4},
                                                   b"\x00\x01\x02")


def test_binary_producer_reaches_binary_and_json_consumers(ml):
    stream, producer, native, as_json, as_json2, as_binary = video_setup(ml)
    payload = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
    frame = binary_frame({"type": "video-frame", "streamId": stream, "timestamp": 1730000000456, "seq": 7},
                         payload)
    producer.send_bytes(frame)
    assert next_frame(native) == frame        # the producer's form, byte for byte
    assert next_frame(as_binary) == frame
    converted = next_frame(as_json)
    assert isinstance(converted, str), converted
    assert next_frame(as_json2) == converted  # one conversion, shared
    body = json.loads(converted)
    assert body["type"] == "video-frame" and body["streamId"] == stream
    assert body["timestamp"] == 1730000000456 and body["seq"] == 7
    assert base64.b64decode(body["data"]) == payload

    # malformed binary frames
    producer.send_bytes(b"\x00\x00\x00\xff{}")
    assert producer.expect("error", ignore=("stream-status",))["code"] == "invalid_message"
    producer.send_bytes(binary_frame({"type": "video-frame"}, b"x"))
    expect_error(producer, "invalid_message", "video-frame")
    producer.send_bytes(binary_frame({"type": "video-frame", "streamId": "stream_other"}, b"x"))
    expect_error(producer, "forbidden", "video-frame")
    producer.ping()


def test_consumer_of_video_only_does_not_get_alerts_and_vice_versa(ml):
    stream = register_stream(ml, ml.token("alice"))
    producer = connect_auth(ml, "alice")
    send_register(producer, stream, consumes=[])
    video_only = connect_auth(ml, "alice")
    send_subscribe(video_only, stream, consumes=["video-frame"])
    alerts_only = connect_auth(ml, "alice")
    send_subscribe(alerts_only, stream, consumes=["alert"])
    service = connect_auth(ml, "ml-1", **SERVICE)
    send_subscribe(service, stream, consumes=[], produces=["alert"])
    producer.send_bytes(binary_frame({"type": "video-frame", "streamId": stream, "seq": 1}, b"abc"))
    service.send_json({"type": "alert", "streamId": stream, "severity": "low", "message": "m"})
    assert parse_binary(next_frame(video_only))[1] == b"abc"
    assert alerts_only.expect("alert", ignore=("stream-status",))["message"] == "m"
    video_only.assert_silent(0.5, ignore=("stream-status",))
    alerts_only.assert_silent(0.3, ignore=("stream-status",))
    producer.assert_silent(0.3)  # registered with consumes: []


# ---------------------------------------------------------------------------
# item 6: stream status
# ---------------------------------------------------------------------------


def raw_producer(srv: RelayServer, stream: str) -> tuple[RawWS, dict]:
    """A producer on a raw socket (so a test can drop it without a close frame); and its hello."""
    ws = srv.raw(srv.target(WS, token=srv.token("alice")))
    hello = ws.expect("connected", ignore=())
    ws.send_json({"type": "register", "clientType": "mobile", "streamId": stream})
    ws.expect("registered", ignore=())
    return ws, hello


def test_stream_status_online_streaming_offline(ml):
    alice = ml.token("alice")
    stream = register_stream(ml, alice)
    dashboard = connect_auth(ml, "alice")
    assert send_subscribe(dashboard, stream)["status"] == {
        "type": "stream-status", "streamId": stream, "status": "offline", "lastSeen": None}

    producer, _ = raw_producer(ml, stream)
    online = dashboard.expect("stream-status")
    assert online["status"] == "online" and iso_ok(online["lastSeen"]), online
    assert status_of(ml, alice, stream)["status"] == "online"

    producer.send_frame(0x2, binary_frame({"type": "video-frame", "streamId": stream, "seq": 1}, b"f1"))
    seen = frames_until_status(dashboard, "streaming")
    producer.send_frame(0x2, binary_frame({"type": "video-frame", "streamId": stream, "seq": 2}, b"f2"))
    while len(seen) < 2:
        seen.append(parse_binary(dashboard.recv_raw())[1])
    assert seen == [b"f1", b"f2"]
    wait_until(lambda: status_of(ml, alice, stream)["status"] == "streaming", 3)
    dashboard.assert_silent(0.3)  # one `streaming`, not one per frame

    # a drop: offline only after the resume grace (1 s here), stored with lastSeen
    dropped_at = time.monotonic()
    producer.abort()
    offline = dashboard.expect("stream-status", timeout=5)
    waited = time.monotonic() - dropped_at
    assert offline["status"] == "offline" and iso_ok(offline["lastSeen"]), offline
    assert 0.8 <= waited <= 3.5, f"offline {waited:.2f}s after the drop; resumeGrace is 1s"
    listed = status_of(ml, alice, stream)
    assert listed["status"] == "offline" and listed["lastSeen"] == offline["lastSeen"]
    assert listed["lastSeen"] >= online["lastSeen"]

    # a clean leave: offline at once
    again, _ = raw_producer(ml, stream)
    assert dashboard.expect("stream-status")["status"] == "online"
    start = time.monotonic()
    again.send_json({"type": "leave"})
    assert again.wait_end(2).code == 1000
    again.send_close(1000)
    assert dashboard.expect("stream-status", timeout=2)["status"] == "offline"
    assert time.monotonic() - start < 0.8


def test_producer_that_resumes_within_grace_stays_online(ml):
    stream = register_stream(ml, ml.token("alice"))
    dashboard = connect_auth(ml, "alice")
    send_subscribe(dashboard, stream, format="binary")
    first, _ = raw_producer(ml, stream)
    assert dashboard.expect("stream-status")["status"] == "online"
    ws, hello = raw_producer(ml, stream)  # a second producer; `registered` is its message 1
    assert dashboard.expect("stream-status")["status"] == "online"
    first.send_json({"type": "leave"})  # the first producer leaves: the second keeps the stream online
    assert first.wait_end(2).code == 1000
    first.send_close(1000)
    dashboard.assert_silent(0.5)
    ws.abort()
    time.sleep(0.4)
    back = ml.raw(ml.target(WS, token=ml.token("alice"), resume=hello["resumeToken"], lastSeen=1))
    resumed = back.expect("connected", ignore=())
    assert resumed["resumed"] is True and resumed["clientId"] == hello["clientId"], resumed
    # still the producer: its frames flow without registering again
    back.send_frame(0x2, binary_frame({"type": "video-frame", "streamId": stream, "seq": 9}, b"after"))
    seen = frames_until_status(dashboard, "streaming")
    assert (seen or [parse_binary(next_frame(dashboard))[1]]) == [b"after"]
    dashboard.assert_silent(1.5)  # past the grace: no `offline`


# ---------------------------------------------------------------------------
# item 4: alerts
# ---------------------------------------------------------------------------


def test_alert_fanout_is_persisted_first(ml):
    alice = ml.token("alice")
    stream = register_stream(ml, alice)
    phone = connect_auth(ml, "alice")
    send_register(phone, stream)                      # consumes ["alert"] by default
    dashboard = connect_auth(ml, "alice")
    send_subscribe(dashboard, stream, consumes=["alert"])
    service = connect_auth(ml, "ml-1", **SERVICE)
    send_subscribe(service, stream, clientType="ml-service", consumes=["video-frame"], produces=["alert"])

    service.send_json({"type": "alert", "streamId": stream, "severity": "high",
                       "message": "Suspicious person detected",
                       "metadata": {"confidence": 0.95, "location": {"x": 10, "y": 20}, "objectType": "person"},
                       "timestamp": 1730000000789})
    got = dashboard.expect("alert", ignore=("stream-status",))
    # as soon as anyone has it, the history has it
    status, body = ml.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert status == 200 and body["alerts"][0]["id"] == got["id"], body
    assert got["streamId"] == stream and got["severity"] == "high"
    assert got["message"] == "Suspicious person detected" and got["timestamp"] == 1730000000789
    assert got["metadata"] == {"confidence": 0.95, "location": {"x": 10, "y": 20}, "objectType": "person"}
    assert iso_ok(got["createdAt"])
    assert phone.expect("alert", ignore=("stream-status",)) == got
    stored = dict(body["alerts"][0])
    assert stored == {k: v for k, v in got.items() if k != "type"}
    service.assert_silent(0.3)  # it does not consume alerts

    for bad, code in (({"severity": "urgent", "message": "m"}, "invalid_message"),
                      ({"severity": "low"}, "invalid_message"),
                      ({"severity": "low", "message": ""}, "invalid_message"),
                      ({"severity": "low", "message": "m", "metadata": "x"}, "invalid_message"),
                      ({"severity": "low", "message": "m", "timestamp": "now"}, "invalid_message")):
        service.send_json({"type": "alert", "streamId": stream, **bad})
        expect_error(service, code, "alert")
    service.send_json({"type": "alert", "streamId": "stream_nope", "severity": "low", "message": "m"})
    expect_error(service, "not_found", "alert")
    dashboard.assert_silent(0.3, ignore=("stream-status",))
    status, body = ml.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert len(body["alerts"]) == 1


# ---------------------------------------------------------------------------
# item 5: alert history pagination
# ---------------------------------------------------------------------------

SEVERITIES = ("low", "medium", "high", "critical")


def send_alerts(srv: RelayServer, stream: str, count: int, start: int = 0, pad: str = "") -> WSClient:
    """Sends `count` alerts (message "alert <n>", severity by n % 4); waits until all are stored."""
    service = connect_auth(srv, "ml-1", **SERVICE)
    watcher = connect_auth(srv, "ml-2", **SERVICE)
    send_subscribe(watcher, stream, consumes=["alert"])
    for n in range(start, start + count):
        service.send_json({"type": "alert", "streamId": stream, "severity": SEVERITIES[n % 4],
                           "message": f"alert {n}", "metadata": {"n": n, "pad": pad}})
    for n in range(start, start + count):
        assert watcher.expect("alert", timeout=10, ignore=("stream-status",))["message"] == f"alert {n}"
    return service


def alerts_page(srv: RelayServer, token: str, query: str) -> tuple[int, dict]:
    return srv.http_json("GET", "/api/alerts" + query, token=token)


def test_alert_history_pagination(ml):
    alice = ml.token("alice")
    stream = register_stream(ml, alice)
    second = register_stream(ml, alice, "iPad")
    empty = register_stream(ml, alice, "spare")
    send_alerts(ml, stream, 230)
    send_alerts(ml, second, 3, start=1000)

    # default limit 50, newest first
    status, page = alerts_page(ml, alice, f"?streamId={stream}")
    assert status == 200
    assert [a["message"] for a in page["alerts"]] == [f"alert {n}" for n in range(229, 179, -1)]
    assert page["nextCursor"]
    # max 200: a larger limit is lowered
    status, page = alerts_page(ml, alice, f"?streamId={stream}&limit=500")
    assert len(page["alerts"]) == 200 and page["alerts"][-1]["message"] == "alert 30"
    status, last = alerts_page(ml, alice, f"?streamId={stream}&limit=500&before={page['nextCursor']}")
    assert [a["message"] for a in last["alerts"]] == [f"alert {n}" for n in range(29, -1, -1)]
    assert last["nextCursor"] is None
    # walking with a small limit sees every alert once, in order
    seen, cursor = [], ""
    while True:
        status, page = alerts_page(ml, alice, f"?streamId={stream}&limit=7" + (f"&before={cursor}" if cursor else ""))
        assert status == 200 and len(page["alerts"]) <= 7
        seen += [a["metadata"]["n"] for a in page["alerts"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(range(229, -1, -1))
    # exactly one page: no cursor
    status, page = alerts_page(ml, alice, f"?streamId={second}&limit=3")
    assert len(page["alerts"]) == 3 and page["nextCursor"] is None
    # severity filter, with paging
    status, page = alerts_page(ml, alice, f"?streamId={stream}&severity=critical&limit=10")
    assert [a["metadata"]["n"] for a in page["alerts"]] == [n for n in range(229, -1, -1) if n % 4 == 3][:10]
    assert {a["severity"] for a in page["alerts"]} == {"critical"}
    status, rest = alerts_page(ml, alice, f"?streamId={stream}&severity=critical&limit=200&before={page['nextCursor']}")
    assert len(page["alerts"]) + len(rest["alerts"]) == 57 and rest["nextCursor"] is None
    # an empty page
    status, page = alerts_page(ml, alice, f"?streamId={empty}")
    assert status == 200 and page == {"alerts": [], "nextCursor": None}
    # without streamId: the caller's alerts across streams; the service's: everyone's
    status, page = alerts_page(ml, alice, "?limit=5")
    assert [a["message"] for a in page["alerts"]] == ["alert 1002", "alert 1001", "alert 1000", "alert 229", "alert 228"]
    status, page = alerts_page(ml, ml.token("bob"), "")
    assert status == 200 and page["alerts"] == []
    status, page = alerts_page(ml, ml.token("ml-9", **SERVICE), f"?streamId={stream}&limit=1")
    assert status == 200 and page["alerts"][0]["message"] == "alert 229"
    status, page = alerts_page(ml, ml.token("ml-9", **SERVICE), "?limit=1")
    assert status == 200 and page["alerts"][0]["message"] == "alert 1002"

    # bad input
    for query in ("?limit=0", "?limit=-3", "?limit=abc", "?before=garbage", "?severity=urgent"):
        status, body = alerts_page(ml, alice, f"&streamId={stream}".replace("&", "?", 1) + query.replace("?", "&"))
        assert status == 400 and body["error"]["code"] == "invalid_message", (query, body)
    # another user's stream, an unknown one
    status, body = alerts_page(ml, ml.token("bob"), f"?streamId={stream}")
    assert status == 403 and body["error"]["code"] == "forbidden", body
    status, body = alerts_page(ml, alice, "?streamId=stream_nope")
    assert status == 404 and body["error"]["code"] == "not_found", body


# ---------------------------------------------------------------------------
# items 3 and 4 under a slow consumer
# ---------------------------------------------------------------------------

FRAME_BYTES = 32 * 1024
FRAME_COUNT = 400   # ~13 MB: far beyond what the socket buffers of the stalled consumer absorb


def test_slow_video_consumer_drops_oldest_while_others_keep_up(relay, tmp_path):
    srv = relay(ml_config(tmp_path / "ml.sqlite",
                          limits={"queueMessages": 16, "writeTimeout": 30, "maxMessageBytes": 1 << 20}))
    stream = register_stream(srv, srv.token("alice"))
    producer = connect_auth(srv, "alice")
    send_register(producer, stream, consumes=[])
    fast = srv.connect(WS, sub="alice", max_queue=None)
    send_subscribe(fast, stream, consumes=["video-frame"])
    slow = srv.raw(srv.target(WS, token=srv.token("alice")), rcvbuf=4096)
    slow.expect("connected", ignore=())
    slow.send_json({"type": "subscribe", "streamId": stream, "consumes": ["video-frame"]})
    slow.expect("subscribed", ignore=())
    # from here on the slow consumer does not read
    drops_before = srv.metric("relay_drops_total", reason="queue_full")

    received: list[int] = []
    errors: list[BaseException] = []

    def read_fast() -> None:
        try:
            while len(received) < FRAME_COUNT:
                data = next_frame(fast, timeout=15)
                received.append(parse_binary(data)[0]["seq"])
        except BaseException as exc:  # reported below
            errors.append(exc)

    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    pad = bytes(FRAME_BYTES)
    ping_times = []
    for seq in range(FRAME_COUNT):
        producer.send_bytes(binary_frame({"type": "video-frame", "streamId": stream, "seq": seq}, pad))
        if seq % 50 == 49:
            start = time.monotonic()
            producer.ping()               # the producer is never held up by the slow consumer
            ping_times.append(time.monotonic() - start)
            time.sleep(0.05)
    reader.join(20)
    assert not errors, errors
    assert received == list(range(FRAME_COUNT)), f"fast consumer got {len(received)} frames"
    assert max(ping_times) < 1.0, ping_times
    srv.wait_metric("relay_drops_total", lambda v: v > drops_before, reason="queue_full")

    # the slow consumer was not closed; reading now, it sees the newest frames, in order, with a gap
    seqs: list[int] = []
    deadline = time.monotonic() + 15
    while not seqs or seqs[-1] != FRAME_COUNT - 1:
        frame = slow.recv_message(max(0.1, deadline - time.monotonic()))
        if frame.opcode == 0x2:
            seqs.append(parse_binary(frame.payload)[0]["seq"])
    assert seqs == sorted(set(seqs)), "duplicates or reordering"
    assert len(seqs) < FRAME_COUNT, "nothing was dropped for the slow consumer"
    assert seqs[-1] == FRAME_COUNT - 1


ALERT_PAD = "x" * (60 * 1024)
ALERT_QUEUE = 16


def tcp_send_queue(local_port: int, remote_port: int) -> int:
    """Bytes waiting in the send queue of the IPv4 socket local_port -> remote_port (Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == remote_port:
            return int(queues.split(":")[0], 16)
    raise AssertionError(f"no TCP socket {local_port} -> {remote_port}")


def test_slow_alert_consumer_is_closed_and_resumes_with_every_alert(relay, tmp_path):
    """Alerts are never dropped: a consumer whose queue overflows is closed (1013) and,
    resuming, receives every alert it missed, in order, once.

    The slow consumer never reads (4 KiB receive buffer). Alerts of 60 KiB go out until the
    relay's socket to it stops taking bytes (its writer is blocked); then ALERT_QUEUE + 4
    more overflow its queue (ALERT_QUEUE) under the route's `close` policy. With
    `drop-oldest` they would be dropped and the replay would have a gap."""
    srv = relay(ml_config(
        tmp_path / "ml.sqlite",
        server={"resumeGrace": 10, "resumeBufferMessages": 2000},
        limits={"queueMessages": ALERT_QUEUE, "queueBytes": 256 << 20, "writeTimeout": 3,
                "maxMessageBytes": 1 << 20}))
    alice = srv.token("alice")
    stream = register_stream(srv, alice)
    fast = srv.connect(WS, sub="alice", max_queue=None)
    send_subscribe(fast, stream, consumes=["alert"])
    slow = srv.raw(srv.target(WS, token=alice), rcvbuf=4096)
    hello = slow.expect("connected", ignore=())
    slow.send_json({"type": "subscribe", "streamId": stream, "consumes": ["alert"]})
    slow.expect("subscribed", ignore=())
    slow.expect("stream-status", ignore=())
    seen_before = 2  # subscribed, stream-status
    slow_port = slow.sock.getsockname()[1]
    closes_before = srv.metric("relay_closes_total", code="1013")
    drops_before = srv.metric("relay_drops_total", reason="queue_full")

    service = connect_auth(srv, "ml-1", **SERVICE)
    total = 0

    def send_alert() -> None:
        nonlocal total
        service.send_json({"type": "alert", "streamId": stream, "severity": "high",
                           "message": f"alert {total}", "metadata": {"n": total, "pad": ALERT_PAD}})
        assert fast.expect("alert", timeout=10, ignore=("stream-status",))["metadata"]["n"] == total
        total += 1

    # until the relay's socket to the slow consumer stops growing: its writer is blocked
    unchanged, last = 0, -1
    while unchanged < 3:
        assert total < 400, "the slow consumer's socket never filled up"
        send_alert()
        time.sleep(0.03)
        queued = tcp_send_queue(srv.port, slow_port)
        unchanged = unchanged + 1 if queued == last else 0
        last = queued
    for _ in range(ALERT_QUEUE + 4):
        send_alert()
    srv.wait_metric("relay_closes_total", lambda v: v > closes_before, timeout=8, code="1013")
    assert srv.metric("relay_drops_total", reason="queue_full") == drops_before  # nothing dropped

    # the slow consumer reads what reached it, then finds its connection closed
    got: list[int] = []
    while True:
        try:
            frame = slow.recv_message(5)
        except (EOFError, ConnectionResetError):
            break
        except AssertionError as closed:  # a close frame got through: it says 1013
            assert getattr(closed, "code", None) == 1013, closed
            break
        got.append(json.loads(frame.payload)["metadata"]["n"])
    assert got == list(range(len(got))) and len(got) < total, (len(got), total)

    # it resumes (first-message auth, then the resume message) and gets the rest, once, in order
    again = connect_auth(srv, "alice")
    again.send_json({"type": "resume", "token": hello["resumeToken"], "lastSeen": seen_before + len(got)})
    resumed = again.expect("connected", ignore=())
    assert resumed["resumed"] is True and resumed["clientId"] == hello["clientId"], resumed
    assert resumed["replayed"] == total - len(got), (resumed, total, len(got))
    for n in range(len(got), total):
        assert again.expect("alert", timeout=10)["metadata"]["n"] == n
    # still subscribed
    service.send_json({"type": "alert", "streamId": stream, "severity": "low", "message": "after",
                       "metadata": {"n": total}})
    assert again.expect("alert")["message"] == "after"
    status, body = srv.http_json("GET", f"/api/alerts?streamId={stream}&limit=1", token=alice)
    assert body["alerts"][0]["message"] == "after"


# ---------------------------------------------------------------------------
# item 1 / 9: history survives a restart (SQLite file)
# ---------------------------------------------------------------------------


def test_restart_keeps_streams_and_alert_history(relay, tmp_path):
    store = tmp_path / "history.sqlite"
    first = relay(ml_config(store))
    alice = first.token("alice")
    stream = register_stream(first, alice, "Camera 1")
    send_alerts(first, stream, 5)
    status, before = first.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert len(before["alerts"]) == 5
    phone = connect_auth(first, "alice")
    send_register(phone, stream)
    assert status_of(first, alice, stream)["status"] == "online"
    first.signal(15)  # SIGTERM: clients are closed with 1001, so the phone leaves cleanly
    assert phone.expect_close() == 1001
    assert first.wait_exit(10) == 0
    assert store.exists()

    second = relay(ml_config(store))
    status, after = second.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert status == 200 and after == before
    listed = status_of(second, alice, stream)
    assert listed["deviceName"] == "Camera 1" and listed["status"] == "offline", listed
    # and it keeps going where it left off
    send_alerts(second, stream, 1, start=5)
    status, page = second.http_json("GET", f"/api/alerts?streamId={stream}&limit=2", token=alice)
    assert [a["message"] for a in page["alerts"]] == ["alert 5", "alert 4"]


# ---------------------------------------------------------------------------
# item 8: route files
# ---------------------------------------------------------------------------


def test_route_files_check(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    for name in ("deploy/ml-alerts.yaml", "routes.yaml"):
        result = run_cli("check", str(repo / name))
        assert result.returncode == 0, result.stdout + result.stderr
    result = run_cli("routes", str(repo / "deploy/ml-alerts.yaml"))
    assert "video-frame -> ml (ml-alerts) overflow=drop-oldest binary" in result.stdout, result.stdout
    assert "alert -> ml (ml-alerts) overflow=close" in result.stdout
    assert "HTTP GET /api/alerts -> ml (ml-alerts)" in result.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(dump_yaml(ml_config(plugin_config={"serviceRoles": "typo", "maxPageSize": 0})))
    result = run_cli("check", str(bad))
    assert result.returncode != 0
    assert "serviceRoles" in result.stdout + result.stderr, result.stdout + result.stderr
