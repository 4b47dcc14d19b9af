"""Error codes (docs/protocol.md "Messages", SPEC §3a, §6).

Every error keeps the connection open (ping -> pong afterwards), leaves other
clients alone (a bystander pair still exchanges messages) and is counted in
relay_errors_total{code=...}.
"""

from __future__ import annotations

import time

import pytest

from relay_helpers import Pair, add_endpoint, base_config

ABSENT = object()


def assert_error(client, payload, code: str, ref=ABSENT) -> dict:
    """Send ``payload`` (str: raw text, else JSON) and expect one error with ``code``/``ref``."""
    if isinstance(payload, str):
        client.send_text(payload)
    else:
        client.send_json(payload)
    err = client.expect("error")
    assert err["code"] == code, err
    assert isinstance(err.get("message"), str) and err["message"], err
    if ref is ABSENT:
        assert "ref" not in err or err["ref"] is None, f"no usable type, yet ref is set: {err}"
    else:
        assert err.get("ref") == ref, err
    assert client.ping()["type"] == "pong"
    return err


def check_error_case(server, client, payload, code, ref, topic):
    """The full contract for one bad input: error, connection alive, others fine, counted."""
    bystanders = Pair(server, f"{topic}-bystanders")
    before = server.metric("relay_errors_total", code=code)
    assert_error(client, payload, code, ref)
    bystanders.check()
    server.wait_metric("relay_errors_total", lambda v: v == before + 1, code=code)


@pytest.mark.parametrize("payload, code, ref", [
    pytest.param("{nope", "bad_json", ABSENT, id="bad_json-unparseable"),
    pytest.param('{"type":"ping"', "bad_json", ABSENT, id="bad_json-truncated"),
    pytest.param("[1,2]", "invalid_message", ABSENT, id="invalid-array"),
    pytest.param('"ping"', "invalid_message", ABSENT, id="invalid-string"),
    pytest.param('{"x":1}', "invalid_message", ABSENT, id="invalid-no-type"),
    pytest.param('{"type":5}', "invalid_message", ABSENT, id="invalid-numeric-type"),
    pytest.param('{"type":null}', "invalid_message", ABSENT, id="invalid-null-type"),
    pytest.param({"type": "publish", "data": 1}, "invalid_message", "publish", id="publish-no-topic"),
    pytest.param({"type": "subscribe", "topic": 5}, "invalid_message", "subscribe", id="subscribe-topic-number"),
    pytest.param({"type": "direct", "to": "someone"}, "invalid_message", "direct", id="direct-no-data"),
    pytest.param({"type": "nope.nothing"}, "unknown_type", "nope.nothing", id="unknown_type"),
])
def test_error_codes(srv, topic, payload, code, ref):
    client = srv.connect("/ws")
    check_error_case(srv, client, payload, code, ref, topic)


def test_publish_to_topic_not_subscribed_is_forbidden(srv, topic):
    client = srv.connect("/ws")
    check_error_case(srv, client, {"type": "publish", "topic": topic, "data": 1},
                     "forbidden", "publish", topic)


def test_direct_to_unknown_client_is_not_found(srv, topic):
    client = srv.connect("/ws")
    check_error_case(srv, client, {"type": "direct", "to": "no-such-client", "data": 1},
                     "not_found", "direct", topic)


def test_errors_do_not_change_state(srv, topic):
    """A subscription survives a burst of bad input on the same connection."""
    a = srv.connect("/ws")
    b = srv.connect("/ws")
    a.subscribe(topic)
    b.subscribe(topic)
    for bad in ("{nope", "[]", '{"type":7}', '{"type":"nope"}'):
        a.send_text(bad)
    codes = [a.expect("error")["code"] for _ in range(4)]
    assert codes == ["bad_json", "invalid_message", "invalid_message", "unknown_type"]
    b.publish(topic, "still-subscribed")
    assert a.expect("message")["data"] == "still-subscribed"


# --- route-level limits and claims ------------------------------------------

@pytest.fixture
def route_limits_server(relay):
    cfg = base_config()
    # /ws/small: the publish route has its own, smaller size limit.
    add_endpoint(cfg, "/ws/small", routes=[
        {"endpoint": "/ws/small", "type": "subscribe", "plugin": "chat"},
        {"endpoint": "/ws/small", "type": "publish", "plugin": "chat", "maxMessageBytes": 100},
    ])
    # /ws/admin: publishing requires the claim role=admin.
    add_endpoint(cfg, "/ws/admin", routes=[
        {"endpoint": "/ws/admin", "type": "subscribe", "plugin": "chat"},
        {"endpoint": "/ws/admin", "type": "publish", "plugin": "chat",
         "requireClaims": {"role": "admin"}},
    ])
    return relay(cfg)


def test_route_size_limit_answers_too_large(route_limits_server, topic):
    server = route_limits_server
    a = server.connect("/ws/small")
    b = server.connect("/ws/small")
    a.subscribe(topic)
    b.subscribe(topic)
    a.publish(topic, "small")  # under 100 bytes: delivered
    assert b.expect("message")["data"] == "small"
    big = {"type": "publish", "topic": topic, "data": "x" * 200}  # over 100, under 4096
    check_error_case(server, a, big, "too_large", "publish", topic)
    b.ping()  # nothing was delivered ahead of the pong
    # exactly 100 bytes is still accepted (inclusive limit)
    skeleton = f'{{"type":"publish","topic":"{topic}","data":""}}'
    exact = f'{{"type":"publish","topic":"{topic}","data":"{"y" * (100 - len(skeleton))}"}}'
    assert len(exact.encode()) == 100
    a.send_text(exact)
    assert b.expect("message")["data"] == "y" * (100 - len(skeleton))


def test_required_claim_missing_is_forbidden(route_limits_server, topic):
    server = route_limits_server
    admin = server.connect("/ws/admin", sub="root", claims={"role": "admin"})
    user = server.connect("/ws/admin", sub="bob", claims={"role": "user"})
    admin.subscribe(topic)
    user.subscribe(topic)
    check_error_case(server, user, {"type": "publish", "topic": topic, "data": 1},
                     "forbidden", "publish", topic)
    admin.publish(topic, "from-admin")  # the claim holder passes the same route
    assert user.expect("message")["data"] == "from-admin"


def test_required_claim_for_anonymous_is_unauthenticated(route_limits_server, topic):
    server = route_limits_server
    anon = server.connect("/ws/admin")
    anon.subscribe(topic)
    check_error_case(server, anon, {"type": "publish", "topic": topic, "data": 1},
                     "unauthenticated", "publish", topic)


# --- rate limiting ------------------------------------------------------------

def test_rate_limited_errors_are_throttled_and_every_rejection_counted(relay):
    server = relay(base_config(limits={"messagesPerSecond": 5, "burst": 5}))
    bystander = server.connect("/ws")
    client = server.connect("/ws")
    before = server.metric("relay_errors_total", code="rate_limited")

    sent = 30
    start = time.monotonic()
    for _ in range(sent):
        client.send_json({"type": "ping"})
    replies = []
    # collect until the connection has been quiet for 0.5 s
    while True:
        try:
            replies.append(client.recv_json(0.5))
        except AssertionError:
            break
    elapsed = time.monotonic() - start
    pongs = [r for r in replies if r["type"] == "pong"]
    errors = [r for r in replies if r["type"] == "error"]
    assert len(pongs) + len(errors) == len(replies), replies
    assert 5 <= len(pongs) <= 5 + int(5 * elapsed) + 1, (len(pongs), elapsed)
    # ref is optional here: a limiter may reject before parsing the type
    assert all(e["code"] == "rate_limited" and e.get("ref") in (None, "ping") for e in errors), errors
    assert 1 <= len(errors) <= 1 + int(elapsed), f"{len(errors)} errors in {elapsed:.2f}s"

    rejected = sent - len(pongs)
    server.wait_metric("relay_errors_total", lambda v: v == before + rejected, code="rate_limited")

    # another connection has its own bucket
    for _ in range(5):
        bystander.ping()
    # the bucket refills: the connection still works
    time.sleep(1.1)
    assert client.ping()["type"] == "pong"
