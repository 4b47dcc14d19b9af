"""Engine.IO v4 HTTP long-polling on a `socketio` endpoint (issue 15 item 1, docs/socketio.md
"Transports"), over real HTTP against a real relay.

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
import yaml

from engineio_polling import (PolledLink, PollingSession, decode_payload, encode_payload, http_call, shared_relay,
                              polling_target)
from relay_helpers import HOST, RelayServer
from socketio_helpers import LOCAL_ENV, SOCKETIO_SUITE_YAML, EIOClient

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


_suite_relay, suite = shared_relay("suite", SOCKETIO_SUITE_YAML.read_text, LOCAL_ENV)
_srv_relay, srv = shared_relay("srv", polling_config)


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


# ---------------------------------------------------------------------------
# Socket.IO over polling (as test_socketio_protocol.py over WebSocket)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("connect,answer_prefix,auth_event", [
    ("40", "40", '42["auth",{}]'),
    ('40{"token":"123"}', "40", '42["auth",{"token":"123"}]'),
    ("40/custom,", "40/custom,", '42/custom,["auth",{}]'),
    ('40/custom,{"token":"abc"}', "40/custom,", '42/custom,["auth",{"token":"abc"}]'),
], ids=["main", "main-with-payload", "custom", "custom-with-payload"])
def test_namespace_connect_over_polling(suite, connect, answer_prefix, auth_event):
    session = PollingSession(suite.port, server=suite)
    session.send(connect)
    got = session.packets_until(lambda got: len(got) >= 2)
    assert got[0].startswith(answer_prefix + "{")
    handshake = json.loads(got[0][len(answer_prefix):])
    assert set(handshake) == {"sid"} and isinstance(handshake["sid"], str)
    assert got[1] == auth_event


def test_unknown_namespace_over_polling(suite):
    session = PollingSession(suite.port, server=suite)
    session.send("40/random")
    assert session.packets_until(lambda got: len(got) >= 1) == ['44/random,{"message":"Invalid namespace"}']
    session.send("40")
    assert session.packets_until(lambda got: len(got) >= 1)[0].startswith("40{")


def test_plain_text_event_over_polling(suite):
    session = connected(suite)
    session.send('42["message",1,"2",{"3":[true]}]')
    assert session.packets_until(lambda got: len(got) >= 1) == ['42["message-back",1,"2",{"3":[true]}]']


def test_event_with_an_ack_over_polling(suite):
    session = connected(suite)
    session.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert session.packets_until(lambda got: len(got) >= 1) == ['43456[1,"2",{"3":[false]}]']


def test_binary_attachments_travel_as_base64_packets(suite):
    session = connected(suite)
    session.post_raw('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
                     '\x1ebAQID\x1ebBAUG')
    packets = session.packets_until(lambda got: len(got) >= 3)
    assert packets == ['452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
                       bytes([1, 2, 3]), bytes([4, 5, 6])]


def test_binary_ack_over_polling(suite):
    session = connected(suite)
    blob = bytes(range(256))
    session.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
                 blob, b"\x00")
    packets = session.packets_until(lambda got: len(got) >= 3)
    assert packets == ['462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', blob, b"\x00"]


def test_the_binary_packets_of_a_response_are_base64_on_the_wire(suite):
    session = connected(suite)
    session.send('451-["message",{"_placeholder":true,"num":0}]', b"\xff\x00\xfe")
    time.sleep(0.1)
    reply = session.get()
    assert reply.status == 200
    assert reply.body.split(b"\x1e") == [b'451-["message-back",{"_placeholder":true,"num":0}]', b"b/wD+"]


def test_custom_namespace_messages_over_polling(suite):
    session = connected(suite)
    session.send("40/custom,")
    got = session.packets_until(lambda got: len(got) >= 2)
    assert got[0].startswith("40/custom,{") and got[1] == '42/custom,["auth",{}]'
    session.send('42/custom,7["message-with-ack",{"a":1}]', '42/custom,["message","x"]')
    assert session.packets_until(lambda got: len(got) >= 2) == ['43/custom,7[{"a":1}]',
                                                               '42/custom,["message-back","x"]']


def test_auth_endpoint_takes_the_connect_payload_token_over_polling(srv):
    token = srv.token("alice")
    session = PollingSession(srv.port, "/secure.io/", server=srv)
    session.send('40{"token":"%s"}' % token)
    got = session.packets_until(lambda got: len(got) >= 2)
    assert got[0].startswith("40{") and got[1] == '42["auth",{"token":"%s"}]' % token
    roundtrip(session, "authenticated")


@pytest.mark.parametrize("payload", ["", '{"token":"not-a-jwt"}'], ids=["no-token", "bad-token"])
def test_auth_endpoint_refuses_a_connect_without_a_valid_token_over_polling(srv, payload):
    """A CONNECT_ERROR at once; as Socket.IO's reference server does, the Engine.IO session then
    waits for another CONNECT until connectTimeout (5 s here), and ends with the close packet."""
    session = PollingSession(srv.port, "/secure.io/", server=srv)
    sent = time.monotonic()
    session.send("40" + payload)
    got = session.packets_until(lambda got: bool(got) and got[-1] == "1", timeout=5 + 5)
    assert got[0].startswith("44{") and "message" in json.loads(got[0][2:]), got
    assert time.monotonic() - sent > 4, "the session ended before connectTimeout"
    assert session.get().status == 400


def test_a_connect_refused_over_polling_can_be_retried_with_a_token(srv):
    session = PollingSession(srv.port, "/secure.io/", server=srv)
    session.send('40{"token":"not-a-jwt"}')
    assert session.packets_until(bool)[0].startswith("44{")
    session.send('40{"token":"%s"}' % srv.token("carol"))
    assert session.packets_until(bool)[0].startswith("40{")
    roundtrip(session, "retried")


def test_a_bad_token_at_the_polling_handshake_is_403(srv):
    reply = http_call(srv.port, "GET", polling_target("/secure.io/", token="not-a-jwt"))
    assert reply.status == 403 and reply.error_code() == 4, (reply.status, reply.body)
    good = http_call(srv.port, "GET", polling_target("/secure.io/", token=srv.token("bob")))
    assert good.status == 200 and good.text.startswith("0{")


# ---------------------------------------------------------------------------
# CORS and origins
# ---------------------------------------------------------------------------


def test_cors_headers_for_an_allowed_origin(srv):
    origin = "http://localhost:5173"
    session = PollingSession(srv.port, headers={"Origin": origin}, server=srv)
    assert session.handshake_reply.headers["access-control-allow-origin"] == origin
    assert session.handshake_reply.headers["access-control-allow-credentials"] == "true"
    reply = session.post("40")
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == origin
    assert reply.headers["access-control-allow-credentials"] == "true"
    poll = session.get()
    assert poll.status == 200 and poll.headers["access-control-allow-origin"] == origin


def test_cors_preflight_is_answered_204(srv):
    origin = "http://127.0.0.1:3000"
    reply = http_call(srv.port, "OPTIONS", polling_target(sid="whatever"),
                      headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "content-type"})
    assert reply.status == 204, (reply.status, reply.body)
    assert reply.headers["access-control-allow-origin"] == origin
    assert reply.headers["access-control-allow-credentials"] == "true"


def test_no_cors_headers_without_an_origin(srv):
    session = PollingSession(srv.port, server=srv)
    assert "access-control-allow-origin" not in session.handshake_reply.headers


def test_a_refused_origin_is_403_and_counted(srv):
    before = srv.metric("relay_errors_total", code="forbidden")
    reply = http_call(srv.port, "GET", polling_target(), headers={"Origin": "http://evil.example"})
    assert reply.status == 403 and reply.error_code() == 4, (reply.status, reply.body)
    assert "access-control-allow-origin" not in reply.headers
    srv.wait_metric("relay_errors_total", lambda v: v == before + 1, code="forbidden")


def test_the_endpoint_origin_allow_list_applies(srv):
    allowed = http_call(srv.port, "GET", polling_target("/strict.io/"), headers={"Origin": "https://app.example"})
    assert allowed.status == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = http_call(srv.port, "GET", polling_target("/strict.io/"), headers={"Origin": "http://localhost:1234"})
    assert refused.status == 403 and refused.error_code() == 4


def test_a_session_request_from_a_refused_origin_is_403_and_harms_nothing(srv):
    session = connected(srv)
    reply = session.call("POST", encode_payload(['42["message","x"]']), headers={"Origin": "http://evil.example"}).run()
    assert reply.status == 403 and reply.error_code() == 4
    roundtrip(session, "unharmed")


# ---------------------------------------------------------------------------
# Closing
# ---------------------------------------------------------------------------


def test_client_close_answers_the_pending_get_with_a_noop_and_ends_the_session(srv):
    session = connected(srv)
    poll = session.get_async()
    time.sleep(0.2)
    assert session.post("1").status == 200
    reply = poll.result(2)
    assert reply.status == 200 and reply.text == "6"
    for method in ("GET", "POST"):
        later = session.call(method, "3" if method == "POST" else None).run()
        assert later.status == 400 and later.error_code() == 1, (method, later.status, later.body)


def test_server_close_arrives_as_a_close_packet(suite):
    """No namespace CONNECT within connectTimeout: the server ends the session; the client learns
    it from a `1` in its GET, then gets 400."""
    session = PollingSession(suite.port, server=suite)
    started = time.monotonic()
    got = session.packets_until(lambda got: "1" in got, timeout=CONNECT_TIMEOUT + 3)
    assert got == ["1"], got
    assert CONNECT_TIMEOUT - 0.1 <= time.monotonic() - started <= CONNECT_TIMEOUT + 1.0
    reply = session.get()
    assert reply.status == 400 and reply.error_code() == 1


def test_server_close_answers_a_pending_get(suite):
    session = connected(suite)
    session.send("40/custom,")
    session.packets_until(lambda got: len(got) >= 2)
    session.send("41/custom,")
    poll = session.get_async()
    time.sleep(0.05)
    offending = session.post('42/custom,["message","gone"]')  # an event for a namespace no longer connected
    assert offending.status in (200, 400), (offending.status, offending.body)
    packets = poll.result(2).packets()
    while packets == ["2"]:  # a ping came first
        session.send("3")
        packets = session.poll()
    assert packets[-1] == "1", packets
    assert session.get().status == 400


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


def test_polling_sessions_count_as_active_connections(relay):
    cfg = polling_config()
    cfg["endpoints"][0]["socketio"].update({"pingInterval": 300, "pingTimeout": 300})
    server = relay(cfg)
    before = server.metric("relay_connections_active")
    closing, vanishing, staying = (connected(server) for _ in range(3))
    staying = PolledLink(staying)  # answers its pings from now on
    server.clients.append(staying)
    server.wait_metric("relay_connections_active", lambda v: v == before + 3)
    closing.send("1")
    server.wait_metric("relay_connections_active", lambda v: v == before + 2)
    # `vanishing` never polls again: dropped after its ping time-out
    server.wait_metric("relay_connections_active", lambda v: v == before + 1)
    assert vanishing.get().status == 400
    assert staying.ended is None, staying.ended
    staying.close()
    server.wait_metric("relay_connections_active", lambda v: v == before)


# ---------------------------------------------------------------------------
# Bad input: each refused as documented, counted, the session closed, others unharmed
# ---------------------------------------------------------------------------


MALFORMED_PAYLOADS = {
    "not-utf8": b'42["message","\xff\xfe"]',
    "empty-packet-between-separators": b'42["message","a"]\x1e\x1e42["message","b"]',
    "empty-body": b"",
    "trailing-separator": b'42["message","a"]\x1e',
    "bad-base64": b'451-["message",{"_placeholder":true,"num":0}]\x1eb%%%not base64%%%',
}


@pytest.mark.parametrize("body", list(MALFORMED_PAYLOADS.values()), ids=list(MALFORMED_PAYLOADS))
def test_a_malformed_payload_is_400_counted_and_closes_the_session(srv, body):
    bystander = connected(srv)
    offender = connected(srv)
    before = srv.metric("relay_errors_total", code="invalid_message")
    reply = offender.post_raw(body)
    assert reply.status == 400 and reply.error_code() == 3, (reply.status, reply.body)
    srv.wait_metric("relay_errors_total", lambda v: v == before + 1, code="invalid_message")
    assert_ended(offender)
    roundtrip(bystander, "unharmed")


@pytest.mark.parametrize("body", ["7", "4abc", "42{}", '42abc["message-with-ack",1]'],
                         ids=["unknown-engineio-type", "unknown-socketio-type", "invalid-payload-format",
                              "invalid-ack-id"])
def test_an_invalid_packet_is_counted_and_closes_the_session(srv, body):
    bystander = connected(srv)
    offender = connected(srv)
    before = srv.metric("relay_errors_total", code="invalid_message")
    reply = offender.post_raw(body)
    assert reply.status in (200, 400), (reply.status, reply.body)
    srv.wait_metric("relay_errors_total", lambda v: v == before + 1, code="invalid_message")
    assert_ended(offender)
    roundtrip(bystander, "unharmed")


def test_a_body_at_max_payload_is_taken(srv):
    session = connected(srv)
    skeleton = '42["message",""]'
    packet = '42["message","' + "x" * (MAX_PAYLOAD - len(skeleton)) + '"]'
    assert len(packet.encode()) == MAX_PAYLOAD
    session.send(packet)
    got = session.packets_until(lambda got: len(got) >= 1)
    assert got == ['42["message-back","' + "x" * (MAX_PAYLOAD - len(skeleton)) + '"]']


def test_a_body_over_max_payload_is_413_and_closes_the_session(srv):
    bystander = connected(srv)
    offender = connected(srv)
    before = srv.metric("relay_errors_total")
    reply = offender.post_raw(b"4" + b"2" * MAX_PAYLOAD)
    assert reply.status == 413, (reply.status, reply.body)
    srv.wait_metric("relay_errors_total", lambda v: v == before + 1)  # counted, once
    assert_ended(offender)
    roundtrip(bystander, "unharmed")


def test_a_body_over_the_suite_max_payload_is_413(suite):
    session = connected(suite)
    reply = session.post_raw('42["message","' + "x" * SUITE_MAX_PAYLOAD + '"]')
    assert reply.status == 413
    assert_ended(session)


def test_overlapping_gets_close_the_session(srv):
    bystander = connected(srv)
    session = connected(srv)
    first = session.get_async()
    time.sleep(0.3)
    assert not first.done()
    second = session.get()
    assert second.status == 400 and second.error_code() == 3, (second.status, second.body)
    answered = first.result(2)  # the pending GET is not left hanging
    if answered.status == 200:
        assert decode_payload(answered.body)[-1] == "1", answered.body
    else:
        assert answered.status == 400
    reply = session.get()
    assert reply.status == 400 and reply.error_code() == 1
    roundtrip(bystander, "unharmed")
