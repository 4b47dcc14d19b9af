"""Plugin `ml-alerts` (docs/plugins/ml-alerts.md), over real sockets and HTTP against a real relay
with an SQLite store: first-message auth and the plugin's acknowledgements, ownership and the
service role, REST register and list, video fan-out in both forms from JSON and binary
producers, and stream status."""

from __future__ import annotations

import base64
import json
import time

from ml_alerts_support import (SERVICE, WS, binary_frame, connect_auth, expect_error, frames_until_status,
    iso_ok, ml_config, next_frame, parse_binary, register_stream, send_register, send_subscribe, status_of)
from relay_helpers import RawWS, RelayServer, WSClient, wait_until


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
