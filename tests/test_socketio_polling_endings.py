"""Engine.IO long-polling (issue 15 item 1): closes from either side, the sessions in the metrics,
and bad input (not UTF-8, empty packets, bad base64, unknown packet types, oversize bodies,
overlapping GETs), each refused as documented, counted, and harmless to other clients."""

from __future__ import annotations

import time

import pytest

from engineio_polling import PolledLink, PollingSession, decode_payload, shared_relay
from socketio_helpers import LOCAL_ENV, SOCKETIO_SUITE_YAML
from socketio_polling_support import (CONNECT_TIMEOUT, MAX_PAYLOAD, SUITE_MAX_PAYLOAD, assert_ended,
    connected, polling_config, roundtrip)


_suite_relay, suite = shared_relay("suite", SOCKETIO_SUITE_YAML.read_text, LOCAL_ENV)
_srv_relay, srv = shared_relay("srv", polling_config)


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
