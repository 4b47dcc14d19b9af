"""Kernel wire protocol basics (docs/protocol.md, SPEC §3) and the pubsub plugin round trip."""

from __future__ import annotations

import time

from relay_helpers import Collector


def test_connected_frame_shape(srv):
    client = srv.connect("/ws")
    hello = client.hello
    assert hello["type"] == "connected"
    assert isinstance(hello["clientId"], str) and hello["clientId"]
    assert isinstance(hello["resumeToken"], str) and hello["resumeToken"]
    assert hello["resumed"] is False


def test_client_ids_and_resume_tokens_are_unique(srv):
    hellos = [srv.connect("/ws").hello for _ in range(5)]
    assert len({h["clientId"] for h in hellos}) == 5
    assert len({h["resumeToken"] for h in hellos}) == 5


def test_ping_answers_pong_with_server_time_in_ms(srv):
    client = srv.connect("/ws")
    before = time.time() * 1000
    pong = client.ping()
    after = time.time() * 1000
    ts = pong["timestamp"]
    assert isinstance(ts, (int, float)) and not isinstance(ts, bool)
    assert float(ts) == int(ts), f"timestamp is not integral: {ts!r}"
    # Same machine: the server's clock must be within a second of the window we measured.
    assert before - 1000 <= ts <= after + 1000, (before, ts, after)


def test_ping_works_on_every_endpoint(srv):
    for path in ("/ws", "/ws/open/lobby"):
        assert srv.connect(path).ping()["type"] == "pong"
    assert srv.connect("/ws/secure", sub="alice").ping()["type"] == "pong"


def test_subscribe_publish_round_trip_with_presence(srv, topic):
    a = srv.connect("/ws")
    b = srv.connect("/ws")
    assert a.subscribe(topic) == {"type": "subscribed", "topic": topic}
    assert b.subscribe(topic) == {"type": "subscribed", "topic": topic}
    joined = a.expect("joined", ignore=())
    assert joined == {"type": "joined", "topic": topic, "clientId": b.client_id}

    data = {"text": "hello", "n": 1, "nested": [1, {"x": None}]}
    b.publish(topic, data)
    msg = a.expect("message")
    assert msg == {"type": "message", "topic": topic, "from": b.client_id, "data": data}
    # echo is off: the sender does not get its own message, only its pong.
    assert b.ping()["type"] == "pong"


def test_unsubscribe_stops_delivery(srv, topic):
    a = srv.connect("/ws")
    b = srv.connect("/ws")
    a.subscribe(topic)
    b.subscribe(topic)
    a.send_json({"type": "unsubscribe", "topic": topic})
    assert a.expect("unsubscribed") == {"type": "unsubscribed", "topic": topic}
    b.publish(topic, "after-unsubscribe")
    b.ping()
    a.ping()
    a.assert_silent(0.3, ignore=("joined", "left"))


def test_direct_message_between_clients(srv):
    a = srv.connect("/ws")
    b = srv.connect("/ws")
    a.send_json({"type": "direct", "to": b.client_id, "data": {"hi": "b"}})
    msg = b.expect("direct")
    assert msg == {"type": "direct", "from": a.client_id, "data": {"hi": "b"}}


def test_round_trip_on_parameterised_endpoint(srv, topic):
    a = srv.connect("/ws/open/room-1")
    b = srv.connect("/ws/open/room-1")
    a.subscribe(topic)
    b.subscribe(topic)
    a.publish(topic, "x")
    assert b.expect("message")["data"] == "x"


def test_order_from_one_sender_is_preserved(srv, topic):
    count = 200
    receiver = srv.connect("/ws")
    sender = srv.connect("/ws")
    receiver.subscribe(topic)
    sender.subscribe(topic)
    collector = Collector(receiver, lambda m: m.get("type") == "message"
                          and m["data"]["seq"] == count - 1, timeout=10)
    collector.start()
    for seq in range(count):
        sender.publish(topic, {"seq": seq})
    received = [m["data"]["seq"] for _, m in collector.result() if m["type"] == "message"]
    assert received == list(range(count))


def test_messages_of_one_connection_are_processed_in_order(srv, topic):
    """subscribe then publish in one burst: the publish must see the subscription."""
    a = srv.connect("/ws")
    b = srv.connect("/ws")
    a.subscribe(topic)
    b.send_json({"type": "subscribe", "topic": topic})
    b.publish(topic, "right-after-subscribe")
    assert b.expect("subscribed")["topic"] == topic
    assert a.expect("message")["data"] == "right-after-subscribe"
