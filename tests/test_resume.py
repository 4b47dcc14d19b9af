"""Resume after a drop (docs/protocol.md "Connecting"/"Leaving", SPEC §3 "Resume", §3a).

`lastSeen` counts every message received since the first `connected`,
except `connected`, `authenticated` and `pong`.
"""

from __future__ import annotations

import threading
import time

import pytest

from relay_helpers import RawWS, RelayServer, base_config, receive_until

NOT_COUNTED = ("connected", "authenticated", "pong")


class Tracker:
    """A raw-socket client that counts what it received, for lastSeen."""

    def __init__(self, server: RelayServer, path: str = "/ws", **query):
        self.server = server
        self.count = 0
        self.data: list = []  # `data` of every pubsub `message`, in arrival order
        self.open(path, **query)
        self.client_id = self.hello["clientId"]

    def open(self, path: str, **query) -> dict:
        self.ws: RawWS = self.server.raw(self.server.target(path, **query))
        self.hello = self.ws.expect("connected", ignore=())
        return self.hello

    def recv(self, timeout: float = 5.0) -> dict:
        msg = self.ws.recv_json(timeout)
        if msg.get("type") not in NOT_COUNTED:
            self.count += 1
        if msg.get("type") == "message":
            self.data.append(msg["data"])
        return msg

    def recv_until(self, predicate, timeout: float = 5.0) -> dict:
        return receive_until(self.recv, predicate, timeout)

    def subscribe(self, topic: str) -> None:
        self.ws.send_json({"type": "subscribe", "topic": topic})
        self.recv_until(lambda m: m.get("type") == "subscribed")

    def drop(self) -> None:
        self.ws.abort()

    def resume_via_query(self, path: str = "/ws") -> dict:
        return self.open(path, resume=self.hello["resumeToken"], lastSeen=self.count)


class Publisher(threading.Thread):
    def __init__(self, client, topic: str, count: int, interval: float):
        super().__init__(daemon=True)
        self.client, self.topic, self.count, self.interval = client, topic, count, interval
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for n in range(self.count):
                self.client.publish(self.topic, {"n": n})
                time.sleep(self.interval)
        except BaseException as exc:
            self.error = exc


def test_resume_mid_stream_delivers_every_message_once_in_order(srv, topic):
    total = 300
    a = Tracker(srv)
    a.subscribe(topic)
    b = srv.connect("/ws")
    b.subscribe(topic)
    publisher = Publisher(b, topic, total, 0.003)
    publisher.start()

    a.recv_until(lambda m: m.get("type") == "message" and len(a.data) >= 40)
    first_id, old_token = a.client_id, a.hello["resumeToken"]
    a.drop()
    time.sleep(0.3)  # B keeps publishing while A is away
    hello = a.resume_via_query()
    assert hello["clientId"] == first_id, hello
    assert hello["resumed"] is True, hello
    assert isinstance(hello["replayed"], int) and hello["replayed"] >= 1, hello
    assert hello["resumeToken"] and hello["resumeToken"] != old_token, hello

    a.recv_until(lambda m: m.get("type") == "message" and m["data"]["n"] == total - 1, timeout=10)
    publisher.join(5)
    assert publisher.error is None, publisher.error
    assert [d["n"] for d in a.data] == list(range(total))


def test_resume_message_form(srv, topic):
    b = srv.connect("/ws")
    b.subscribe(topic)
    a = Tracker(srv)
    a.subscribe(topic)  # count 1: `subscribed`
    token, first_id, last_seen = a.hello["resumeToken"], a.client_id, a.count
    a.drop()
    for n in range(3):
        b.publish(topic, {"n": n})
    b.ping()

    again = srv.connect("/ws")  # a fresh connection, then the resume message
    again.send_json({"type": "resume", "token": token, "lastSeen": last_seen})
    hello = again.expect("connected", ignore=())
    assert hello["clientId"] == first_id and hello["resumed"] is True, hello
    assert hello["replayed"] == 3, hello
    assert hello["resumeToken"] != token
    assert [again.expect("message")["data"]["n"] for _ in range(3)] == [0, 1, 2]
    # the membership survived: new messages keep arriving
    b.publish(topic, {"n": 3})
    assert again.expect("message")["data"]["n"] == 3


def test_resume_token_is_single_use(srv, topic):
    a = Tracker(srv)
    a.subscribe(topic)
    token, first_id = a.hello["resumeToken"], a.client_id
    a.drop()
    resumed = srv.connect("/ws", query={"resume": token, "lastSeen": a.count})
    assert resumed.hello["resumed"] is True and resumed.hello["clientId"] == first_id
    resumed.send_json({"type": "leave"})
    resumed.expect_close()
    reused = srv.connect("/ws", query={"resume": token, "lastSeen": a.count})
    assert reused.hello["resumed"] is False
    assert reused.hello["clientId"] != first_id


def test_unknown_resume_token_gets_fresh_identity(srv):
    client = srv.connect("/ws", query={"resume": "no-such-token", "lastSeen": 5})
    assert client.hello["resumed"] is False
    assert client.hello["clientId"] and client.hello["resumeToken"] != "no-such-token"
    assert client.ping()["type"] == "pong"


def test_resume_token_of_another_user_is_refused(srv, topic):
    alice = srv.token("alice")
    a = Tracker(srv, token=alice)
    a.subscribe(topic)
    token, first_id = a.hello["resumeToken"], a.client_id
    a.drop()
    mallory = srv.connect("/ws", sub="mallory", query={"resume": token, "lastSeen": a.count})
    assert mallory.hello["resumed"] is False
    assert mallory.hello["clientId"] != first_id
    anonymous = srv.connect("/ws", query={"resume": token, "lastSeen": a.count})
    assert anonymous.hello["resumed"] is False
    assert anonymous.hello["clientId"] != first_id
    # the refused attempts did not burn alice's session
    back = srv.connect("/ws", token=alice, query={"resume": token, "lastSeen": a.count})
    assert back.hello["resumed"] is True and back.hello["clientId"] == first_id


# --- presence around the grace period ----------------------------------------------

@pytest.fixture
def grace_server(relay) -> RelayServer:
    return relay(base_config(server={"resumeGrace": 2}))


def test_drop_is_announced_only_after_grace_and_then_resume_fails(grace_server, topic):
    watcher = grace_server.connect("/ws")
    watcher.subscribe(topic)
    a = Tracker(grace_server)
    a.subscribe(topic)
    watcher.expect("joined", ignore=())
    token, first_id = a.hello["resumeToken"], a.client_id

    dropped_at = time.monotonic()
    a.drop()
    left = watcher.expect("left", timeout=6, ignore=())
    waited = time.monotonic() - dropped_at
    assert left == {"type": "left", "topic": topic, "clientId": first_id}, left
    assert 1.5 <= waited <= 4.5, f"`left` came {waited:.2f}s after the drop, resumeGrace is 2s"

    late = grace_server.connect("/ws", query={"resume": token, "lastSeen": a.count})
    assert late.hello["resumed"] is False
    assert late.hello["clientId"] != first_id


def test_resume_within_grace_is_not_announced(grace_server, topic):
    watcher = grace_server.connect("/ws")
    watcher.subscribe(topic)
    a = Tracker(grace_server)
    a.subscribe(topic)
    watcher.expect("joined", ignore=())
    a.drop()
    time.sleep(0.5)
    hello = a.resume_via_query()
    assert hello["resumed"] is True
    watcher.assert_silent(2.5)  # past the grace: no `left`, no second `joined`


@pytest.mark.parametrize("how", ["leave-message", "close-frame-1000", "close-frame-1001"])
def test_clean_leave_is_announced_at_once(srv, topic, how):
    watcher = srv.connect("/ws")
    watcher.subscribe(topic)
    leaver = srv.connect("/ws")
    leaver.subscribe(topic)
    watcher.expect("joined", ignore=())
    start = time.monotonic()
    if how == "leave-message":
        leaver.send_json({"type": "leave"})
        assert leaver.expect_close() == 1000
    else:
        leaver.conn.close(code=int(how[-4:]))
    left = watcher.expect("left", timeout=2, ignore=())
    assert left == {"type": "left", "topic": topic, "clientId": leaver.client_id}
    assert time.monotonic() - start < 1.0  # resumeGrace is 3 s: this was not the grace
    # a clean leave cannot be resumed
    again = srv.connect("/ws", query={"resume": leaver.hello["resumeToken"], "lastSeen": 1})
    assert again.hello["resumed"] is False
