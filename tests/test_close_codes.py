"""Close codes and HTTP answers to upgrades (docs/protocol.md "Close codes", SPEC §3, §3a)."""

from __future__ import annotations

import json
import time

import pytest

from relay_helpers import (OP_CONT, OP_PING, OP_TEXT, Pair, base_config, claims_for, jwt_encode,
                           padded_ping, wait_until)


def connected_frames(client) -> list:
    return [m for m in client.close_messages
            if isinstance(m, str) and json.loads(m).get("type") == "connected"]


# --- 1009 -----------------------------------------------------------------------

def test_message_at_endpoint_limit_is_accepted_and_one_byte_more_closes_1009(srv, topic):
    bystanders = Pair(srv, topic)
    client = srv.connect("/ws")
    client.send_text(padded_ping(4096))  # exactly maxMessageBytes: inclusive limit
    assert client.expect("pong")["type"] == "pong"
    client.send_text(padded_ping(4097))
    assert client.expect_close() == 1009
    bystanders.check()


# --- 1007 -----------------------------------------------------------------------

def test_invalid_utf8_text_frame_closes_1007(srv, topic):
    bystanders = Pair(srv, topic)
    raw = srv.raw("/ws")
    assert raw.recv_json()["type"] == "connected"
    raw.send_json({"type": "ping"})
    assert raw.expect("pong")["type"] == "pong"
    raw.send_text(b'{"type":"ping","x":"\xff\xfe"}')
    ending = raw.wait_end(5)
    assert (ending.kind, ending.code) == ("close", 1007), ending
    bystanders.check()


# --- 1002 -----------------------------------------------------------------------

PING = b'{"type":"ping"}'


@pytest.mark.parametrize("frame", [
    pytest.param(dict(opcode=OP_TEXT, payload=PING, masked=False), id="unmasked-client-frame"),
    pytest.param(dict(opcode=0x3, payload=PING), id="reserved-opcode"),
    pytest.param(dict(opcode=OP_TEXT, payload=PING, rsv1=True), id="rsv1-without-extension"),
    pytest.param(dict(opcode=OP_PING, payload=b"x", fin=False), id="fragmented-control-frame"),
    pytest.param(dict(opcode=OP_CONT, payload=PING), id="continuation-without-start"),
])
def test_websocket_protocol_violation_closes_1002(srv, topic, frame):
    bystanders = Pair(srv, topic)
    raw = srv.raw("/ws")
    assert raw.recv_json()["type"] == "connected"
    raw.send_frame(**frame)
    ending = raw.wait_end(5)
    assert (ending.kind, ending.code) == ("close", 1002), ending
    bystanders.check()


# --- 1003 -----------------------------------------------------------------------

def test_binary_frame_without_binary_route_closes_1003(srv, topic):
    bystanders = Pair(srv, topic)
    client = srv.connect("/ws")
    header = json.dumps({"type": "publish", "topic": topic}).encode()
    client.send_bytes(len(header).to_bytes(4, "big") + header + b"\x00\x01payload")
    assert client.expect_close() == 1003
    bystanders.check()


def test_socketio_handshake_on_json_endpoint_closes_1003(srv):
    client = srv.connect("/ws?EIO=4&transport=websocket", expect_connected=False)
    assert client.expect_close() == 1003


# --- 1008 -----------------------------------------------------------------------

def assert_refused_1008(client) -> None:
    assert client.expect_close() == 1008
    assert client.close_reason, "a 1008 close should carry a reason"
    assert not connected_frames(client), "refused client was sent `connected`"


def test_bad_token_on_optional_endpoint_closes_1008(srv):
    assert_refused_1008(srv.connect("/ws", token="not-a-jwt", expect_connected=False))


def test_expired_token_closes_1008(srv):
    expired = jwt_encode(claims_for("alice", exp=int(time.time()) - 120))
    assert_refused_1008(srv.connect("/ws", token=expired, expect_connected=False))


def test_first_message_other_than_auth_on_required_endpoint_closes_1008(srv):
    client = srv.connect("/ws/secure", expect_connected=False)
    client.send_json({"type": "ping"})
    assert_refused_1008(client)
    assert not any('"pong"' in str(m) for m in client.close_messages), client.close_messages


def test_auth_timeout_closes_1008(srv):
    client = srv.connect("/ws/secure", expect_connected=False)
    start = time.monotonic()
    assert_refused_1008(client)  # authTimeout is 2 s
    elapsed = time.monotonic() - start
    assert 1.5 <= elapsed <= 4.5, f"closed after {elapsed:.2f}s, authTimeout is 2s"


def test_connections_per_user_limit_closes_1008(relay):
    server = relay(base_config(limits={"connectionsPerUser": 1}))
    first = server.connect("/ws", sub="alice")
    second = server.connect("/ws", sub="alice", expect_connected=False)
    assert_refused_1008(second)
    first.ping()
    server.connect("/ws", sub="bob").ping()  # another user is not affected
    server.connect("/ws").ping()  # neither are anonymous clients
    first.close()
    # once the first connection is gone, alice may connect again
    wait_until(lambda: _connects(server, "/ws", sub="alice"), 3, 0.2,
               "alice could not reconnect after closing her only connection")


def test_connections_per_ip_limit_closes_1008(relay):
    server = relay(base_config(limits={"connectionsPerIP": 1}))
    first = server.connect("/ws")
    second = server.connect("/ws", expect_connected=False)
    assert_refused_1008(second)
    first.ping()


# --- 1013 -----------------------------------------------------------------------

def _connects(server, path: str, **kwargs) -> bool:
    client = server.connect(path, expect_connected=False, **kwargs)
    try:
        first = client.recv_json(2)
        return first.get("type") == "connected"
    except AssertionError:
        return False
    finally:
        client.close()


def test_max_connections_closes_1013(relay):
    server = relay(base_config(server={"maxConnections": 2}))
    a = server.connect("/ws")
    b = server.connect("/ws")
    third = server.connect("/ws", expect_connected=False)
    assert third.expect_close() == 1013
    assert not connected_frames(third)
    a.ping()
    b.ping()
    b.close()
    wait_until(lambda: _connects(server, "/ws"), 3, 0.2, "no room after a client left")


# --- 1000 -----------------------------------------------------------------------

def test_leave_is_answered_with_close_1000(srv):
    client = srv.connect("/ws")
    client.send_json({"type": "leave"})
    assert client.expect_close() == 1000


# --- HTTP answers ---------------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/ws/unknown/deeper", "/wss"])
def test_unknown_websocket_path_is_404(srv, path):
    assert srv.upgrade_status(path) == 404


def test_refused_origin_is_403(srv):
    assert srv.upgrade_status("/ws", origin="http://evil.example") == 403
    assert srv.upgrade_status("/ws", origin="http://localhost.evil.example:1234") == 403


@pytest.mark.parametrize("origin", [None, "http://localhost:1234", "http://127.0.0.1:5555"])
def test_allowed_or_absent_origin_connects(srv, origin):
    client = srv.connect("/ws", origin=origin)
    assert client.ping()["type"] == "pong"


def test_raw_frames_are_usable(srv):
    """Sanity check of the raw client used by other tests: text in, text out."""
    raw = srv.raw("/ws")
    assert raw.recv_json()["type"] == "connected"
    raw.send_json({"type": "ping"})
    frame = raw.recv_message()
    assert frame.opcode == OP_TEXT and json.loads(frame.payload)["type"] == "pong"
