"""Socket.IO over Engine.IO long-polling (issue 15 item 1; docs/socketio.md): namespaces, events,
acknowledgements, binary attachments and auth over polling, as test_socketio_protocol.py over
WebSocket; CORS headers and the endpoint's origin allow-list."""

from __future__ import annotations

import json
import socket
import time

import pytest

from engineio_polling import PollingSession, encode_payload, http_call, polling_target, shared_relay
from raw_ws_helpers import read_http_answer
from relay_helpers import HOST
from socketio_helpers import LOCAL_ENV, SOCKETIO_SUITE_YAML
from socketio_polling_support import connected, polling_config, roundtrip


_suite_relay, suite = shared_relay("suite", SOCKETIO_SUITE_YAML.read_text, LOCAL_ENV)
_srv_relay, srv = shared_relay("srv", polling_config)


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


def test_two_origin_headers_are_refused_as_on_a_websocket_upgrade(srv):
    """An allowed origin first does not let a second one through (the same check as the
    WebSocket upgrade's, test_security_origin.py::test_two_origin_headers_are_refused)."""
    request = (f"GET {polling_target()} HTTP/1.1\r\nHost: {HOST}:{srv.port}\r\n"
               "Origin: http://localhost:5173\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n")
    with socket.create_connection((HOST, srv.port), timeout=5) as sock:
        sock.sendall(request.encode())
        answer, _ = read_http_answer(sock)
    assert answer.status == 403 and b'"code":4' in answer.body, (answer.status, answer.body)


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
