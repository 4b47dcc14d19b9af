"""Engine.IO v4 HTTP long-polling on a `socketio` endpoint (issue 15 item 1, docs/socketio.md
"Transports"), over real HTTP against a real relay (this file; Socket.IO over polling, CORS, closes, metrics
and bad input: test_socketio_polling_events.py and _endings.py).

- The polling cases of the published Socket.IO v5 protocol test suite
  (socketio/socket.io docs/socket.io-protocol/v5-test-suite/test-suite.js: handshake ×4,
  heartbeat ×2, close ×1), case by case against deploy/socketio-test-suite.yaml; the upgrade
  cases are in test_socketio_upgrade.py, the WebSocket ones in test_socketio_protocol.py.
- The rest of the transport: Engine.IO's JSON refusals, long-poll timing, the record separator,
  binary packets as base64, Socket.IO over polling (namespaces, acks, attachments, auth), CORS,
  the heartbeat, closes from either side, the `transports` setting, metrics, and bad input
  (not UTF-8, empty packets, bad base64, unknown packet types, oversize bodies, overlapping
  GETs), each refused as documented, counted, and harmless to other clients.
"""

from __future__ import annotations

import json
import time

import pytest

from engineio_polling import PollingSession, shared_relay
from socketio_helpers import EIOClient, LOCAL_ENV, SOCKETIO_SUITE_YAML
from socketio_polling_support import (ERROR_MESSAGES, MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT, SLOW_PING_MS,
    SUITE_MAX_PAYLOAD, connected, fetch, polling_config, roundtrip)


_suite_relay, suite = shared_relay("suite", SOCKETIO_SUITE_YAML.read_text, LOCAL_ENV)
_srv_relay, srv = shared_relay("srv", polling_config)


# ---------------------------------------------------------------------------
# The published suite: Engine.IO protocol, HTTP long-polling
# ---------------------------------------------------------------------------


def test_suite_handshake_polling_opens_a_session(suite):
    """Engine.IO protocol › handshake › HTTP long-polling › should successfully open a session"""
    reply = fetch(suite, "EIO=4&transport=polling")
    assert reply.status == 200
    assert reply.text.startswith("0")
    value = json.loads(reply.text[1:])
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(value["sid"], str) and value["sid"]
    assert value["upgrades"] == ["websocket"]
    assert value["pingInterval"] == 300
    assert value["pingTimeout"] == 200
    assert value["maxPayload"] == SUITE_MAX_PAYLOAD
    assert reply.headers["content-type"].replace(" ", "").lower() == "text/plain;charset=utf-8"


def test_suite_handshake_polling_with_an_invalid_eio_fails(suite):
    """Engine.IO protocol › handshake › HTTP long-polling › should fail with an invalid 'EIO' query parameter"""
    assert fetch(suite, "transport=polling").status == 400
    assert fetch(suite, "EIO=abc&transport=polling").status == 400


def test_suite_handshake_polling_with_an_invalid_transport_fails(suite):
    """Engine.IO protocol › handshake › HTTP long-polling ›
    should fail with an invalid 'transport' query parameter"""
    assert fetch(suite, "EIO=4").status == 400
    assert fetch(suite, "EIO=4&transport=abc").status == 400


def test_suite_handshake_polling_with_an_invalid_request_method_fails(suite):
    """Engine.IO protocol › handshake › HTTP long-polling › should fail with an invalid request method"""
    assert fetch(suite, "EIO=4&transport=polling", method="POST").status == 400
    assert fetch(suite, "EIO=4&transport=polling", method="PUT").status == 400


def test_suite_heartbeat_polling_sends_ping_pong_packets(suite):
    """Engine.IO protocol › heartbeat › HTTP long-polling › should send ping/pong packets"""
    session = PollingSession(suite.port, server=suite)
    for _ in range(3):
        poll = session.get()
        assert poll.status == 200
        assert poll.text == "2"
        push = session.post("3")
        assert push.status == 200


def test_suite_heartbeat_polling_closes_the_session_upon_ping_timeout(suite):
    """Engine.IO protocol › heartbeat › HTTP long-polling › should close the session upon ping timeout"""
    session = PollingSession(suite.port, server=suite)
    time.sleep(PING_INTERVAL + PING_TIMEOUT)
    assert session.get().status == 400


def test_suite_close_polling_forcefully_closes_the_session(suite):
    """Engine.IO protocol › close › HTTP long-polling › should forcefully close the session"""
    session = PollingSession(suite.port, server=suite)
    poll = session.get_async()
    time.sleep(0.1)  # the GET is pending (the first ping is due at 300 ms)
    push = session.post("1")
    poll_response = poll.result()
    assert poll_response.status == 200
    assert poll_response.text == "6"
    assert push.status == 200
    assert session.get().status == 400


# ---------------------------------------------------------------------------
# Handshake and refusals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method,query,status,code", [
    ("GET", "transport=polling", 400, 5),
    ("GET", "EIO=abc&transport=polling", 400, 5),
    ("GET", "EIO=3&transport=polling", 400, 5),
    ("GET", "EIO=4", 400, 0),
    ("GET", "EIO=4&transport=abc", 400, 0),
    ("GET", "EIO=4&transport=polling&sid=no-such-session", 400, 1),
    ("POST", "EIO=4&transport=polling&sid=no-such-session", 400, 1),
    ("POST", "EIO=4&transport=polling", 400, 2),
    ("PUT", "EIO=4&transport=polling", 400, 2),
], ids=["no-eio", "eio-abc", "eio-3", "no-transport", "transport-abc", "get-unknown-sid", "post-unknown-sid",
        "post-handshake", "put-handshake"])
def test_refusals_are_engineio_json_errors(suite, method, query, status, code):
    before = suite.metric("relay_errors_total")
    reply = fetch(suite, query, method=method, body="3" if method != "GET" else None)
    assert reply.status == status, (reply.status, reply.body)
    assert reply.error_code() == code
    assert reply.json()["message"] == ERROR_MESSAGES[code]
    suite.wait_metric("relay_errors_total", lambda v: v == before + 1)  # counted, once


def test_another_method_on_a_session_is_a_bad_request(srv):
    session = connected(srv)
    reply = session.call("DELETE").run()
    assert reply.status == 400 and reply.error_code() == 3, (reply.status, reply.body)


def test_max_payload_is_the_endpoint_message_limit(srv):
    session = PollingSession(srv.port, server=srv)
    assert session.open_packet["maxPayload"] == MAX_PAYLOAD
    assert session.open_packet["pingInterval"] == SLOW_PING_MS


def test_polling_only_endpoint_offers_no_upgrade(srv):
    session = PollingSession(srv.port, "/polling-only/", server=srv)
    assert session.open_packet["upgrades"] == []
    session.send("40")
    assert session.packets_until(lambda got: len(got) >= 2)[0].startswith("40{")
    # and a WebSocket is refused there, from the start or as an upgrade of the session
    for query in ("EIO=4&transport=websocket", f"EIO=4&transport=websocket&sid={session.sid}"):
        socket = EIOClient(srv, f"/polling-only/?{query}", handshake=False)
        assert socket.wait_closed(3).code == 1002
    roundtrip(session, "still polling")


def test_websocket_only_endpoint_refuses_polling(srv):
    reply = fetch(srv, "EIO=4&transport=polling", path="/websocket-only/")
    assert reply.status == 400 and reply.error_code() == 0, (reply.status, reply.body)
    socket = EIOClient(srv, "/websocket-only/?EIO=4&transport=websocket")
    assert socket.open_packet["upgrades"] == []


# ---------------------------------------------------------------------------
# Long-polling: waiting, batching, binary
# ---------------------------------------------------------------------------


def test_a_get_waits_until_something_is_sent(srv):
    session = connected(srv)
    poll = session.get_async()
    time.sleep(0.4)
    assert not poll.done(), f"GET answered at once with nothing to send: {poll.reply!r}"
    session.send('42["message","late"]')
    reply = poll.result(2)
    assert reply.status == 200 and reply.text == '42["message-back","late"]'
    assert poll.elapsed < SLOW_PING_MS / 1000, "answered by the ping, not by the event"


def test_a_get_is_answered_at_once_with_what_waits(srv):
    session = connected(srv)
    session.send('42["message","queued"]')
    time.sleep(0.2)
    started = time.monotonic()
    reply = session.get()
    assert reply.status == 200 and reply.text == '42["message-back","queued"]'
    assert time.monotonic() - started < 0.5


def test_a_pending_get_is_answered_by_the_ping_at_the_latest(suite):
    session = PollingSession(suite.port, server=suite)
    poll = session.get_async()
    reply = poll.result(2)
    assert reply.status == 200 and reply.text == "2"
    assert poll.elapsed <= PING_INTERVAL + 0.25


def test_packets_in_one_body_are_joined_by_the_record_separator(srv):
    session = connected(srv)
    session.post_raw('42["message",1]\x1e42["message","two"]\x1e42["message",{"3":[3]}]')
    time.sleep(0.3)
    reply = session.get()
    assert reply.status == 200
    assert reply.body == b'42["message-back",1]\x1e42["message-back","two"]\x1e42["message-back",{"3":[3]}]'


def test_post_is_answered_ok(srv):
    session = connected(srv)
    reply = session.post('42["message","x"]')
    assert reply.status == 200 and reply.body == b"ok"
    assert session.packets_until(lambda got: len(got) >= 1) == ['42["message-back","x"]']


def test_answered_pings_keep_the_session_open(suite):
    session = connected(suite)
    deadline = time.monotonic() + 4 * (PING_INTERVAL + PING_TIMEOUT)
    pings = 0
    while time.monotonic() < deadline:
        packets = session.poll()
        assert packets == ["2"], packets
        pings += 1
        session.send("3")
    assert pings >= 5
    roundtrip(session, "still here")


def test_an_unanswered_ping_drops_the_session(suite):
    session = connected(suite)
    assert session.poll() == ["2"]  # never answered
    time.sleep(PING_TIMEOUT + 0.1)
    reply = session.get()
    assert reply.status == 400 and reply.error_code() == 1, (reply.status, reply.body)
