"""Socket.IO on a two-node cluster without sticky sessions (issue 15 item 4 and the cluster half
of item 3, docs/socketio.md "Cluster: no sticky sessions"): real relay processes sharing a real
PostgreSQL (RELAY_TEST_DATABASE_URL), and a round-robin TCP proxy written for the tests
(round_robin_proxy.py: 127.0.0.1 only, bounded, closed with the test) that sends each HTTP
request to the next node.

- Long-polling sids start with the node id; a polling GET or POST that reaches the other node
  is answered as the owner would answer it.
- A polling client whose requests alternate between the nodes exchanges 200 events with a
  WebSocket client on the other node, in order, none lost; python-socketio (transports
  ["polling"] and the default) through the proxy.
- A WebSocket upgrade landing on the node that does not hold the sid takes the session over
  from its node (probe and hand-over through the database, the sessions resumed as on a
  reconnect): nothing lost or repeated mid-stream; python-socketio with default transports
  behind the round-robin proxy ends on WebSocket.
- Connection-state recovery on the other node, after a drop and after `kill -9` of the node.
"""

from __future__ import annotations

import time
import uuid

import pytest
import socketio

from cluster_helpers import Cluster, sequence_problems, settle
from engineio_polling import (DirectStream, PolledLink, PollingSession, SocketIOClient, WebSocketLink, http_call,
                              polling_target)
from relay_helpers import HOST, pubsub_routes
from test_socketio_client import Inbox

RESUME_GRACE = 6.0
NODE_TIMEOUT = 2.0
PING_MS = 1000
WAIT = 10.0
PRESENCE = ("joined", "left")
NOISE = ("auth", "subscribed", *PRESENCE)


def cluster_config() -> dict:
    sio = {"pingInterval": PING_MS, "pingTimeout": PING_MS, "connectTimeout": 10000}
    endpoints = [
        # python-socketio would see the recovery offset as an extra argument: no recovery here
        {"path": "/socket.io/", "codec": "socketio", "auth": "optional", "socketio": sio},
        {"path": "/recover.io/", "codec": "socketio", "auth": "optional",
         "socketio": {**sio, "connectionStateRecovery": True}},
        {"path": "/ws", "codec": "json", "auth": "optional"},
    ]
    return {
        "server": {"host": HOST},
        "limits": {"messagesPerSecond": 0, "queueMessages": 4096},
        "endpoints": endpoints,
        "plugins": {"echo": {"plugin": "echo"}, "chat": {"plugin": "pubsub", "config": {"presence": True}}},
        "routes": [{"endpoint": ep, "type": t, "plugin": "echo"}
                   for ep in ("/socket.io/", "/recover.io/") for t in ("message", "message-with-ack")]
        + [r for e in endpoints for r in pubsub_routes(e["path"])],
    }


@pytest.fixture
def nodes(cluster) -> Cluster:
    return cluster(2, cluster_config(), resume_grace=RESUME_GRACE, node_timeout=NODE_TIMEOUT)


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


def sio(link, namespace: str = "/") -> SocketIOClient:
    client = SocketIOClient(namespace)
    client.connect(link)
    return client


def directs(client: SocketIOClient, count: int, timeout: float = WAIT) -> list:
    return [e.data[0]["data"] for e in client.collect("direct", count, timeout, skip=NOISE)]


@pytest.fixture
def python_client(request: pytest.FixtureRequest):
    def make(events: tuple[str, ...]) -> tuple[socketio.Client, Inbox]:
        client = socketio.Client(reconnection=False)
        request.addfinalizer(lambda: client.connected and client.disconnect())
        return client, Inbox(client, events)

    return make


# ---------------------------------------------------------------------------
# Sids and forwarding
# ---------------------------------------------------------------------------


def test_polling_sids_start_with_the_node_id(nodes):
    for node, node_id in ((nodes.a, "a"), (nodes.b, "b")):
        session = PollingSession(node.port, server=node)
        prefix, dot, rest = session.sid.partition(".")
        assert (prefix, dot) == (node_id, ".") and rest, session.sid


def test_polling_requests_reaching_the_other_node_are_answered_as_by_the_owner(nodes):
    session = PollingSession(nodes.a.port, server=nodes.a)
    assert session.sid.startswith("a.")
    b = nodes.b.port
    assert session.post("40", port=b).text == "ok"
    packets = []
    while len(packets) < 2:
        packets += [p for p in session.poll(port=b) if p not in ("2", "6")]
    assert packets[0].startswith("40{") and packets[1] == '42["auth",{}]', packets
    session.send('42["message","via b"]', port=b)
    assert session.poll(port=b) == ['42["message-back","via b"]']
    session.send('42["message","via a"]', port=nodes.a.port)
    assert session.poll(port=b) == ['42["message-back","via a"]']
    # a GET pending on b is answered when the owner has something
    pending = session.get_async(port=b)
    time.sleep(0.3)
    assert not pending.done()
    session.send('42456["message-with-ack",1]', port=nodes.a.port)
    assert pending.result(5).packets() == ["43456[1]"]
    # the client's close through b ends the session on a
    assert session.post("1", port=b).status == 200
    for port in (nodes.a.port, b):
        reply = session.get(port=port)
        assert reply.status == 400 and reply.error_code() == 1, (port, reply.status, reply.body)


def test_an_unknown_sid_of_the_other_node_is_400(nodes):
    reply = http_call(nodes.b.port, "GET", polling_target(sid="a.no-such-session"))
    assert reply.status == 400 and reply.error_code() == 1, (reply.status, reply.body)
    reply = http_call(nodes.b.port, "POST", polling_target(sid="a.no-such-session"), "3")
    assert reply.status == 400 and reply.error_code() == 1, (reply.status, reply.body)


def test_a_websocket_upgrade_on_the_node_not_holding_the_sid_takes_the_session_over(nodes):
    """The long-polling session is on node a, the upgrade's WebSocket reaches node b: b has a
    answer the probe and hand the client over, and takes its session over. Directs sent before
    the upgrade and not read yet arrive once, in order, then the client carries on from b."""
    client = sio(PolledLink.open(nodes.a.port, server=nodes.a))
    assert client.link.sid.startswith("a."), client.link.sid
    sender = sio(WebSocketLink(nodes.a.port, server=nodes.a))
    settle()
    for n in range(5):
        sender.emit("direct", {"to": client.sid, "data": n})
    polled = client.link
    client.link = polled.upgrade(nodes.b.port)
    nodes.b.clients.append(client.link)
    for n in range(5, 10):
        sender.emit("direct", {"to": client.sid, "data": n})
    assert directs(client, 10) == list(range(10))
    client.emit("message", "upgraded")
    assert client.expect("message-back", skip=NOISE).data == ["upgraded"]
    client.emit("direct", {"to": sender.sid, "data": "from b"})
    assert directs(sender, 1) == ["from b"]
    assert nodes.b.metric("relay_socketio_upgrades_total", result="remote") == 1
    assert nodes.a.metric("relay_socketio_upgrades_total", result="remote") == 0
    # the long-polling session is over, on either node
    for port in (nodes.a.port, nodes.b.port):
        reply = polled.session.get(port=port)
        assert reply.status == 400 and reply.error_code() == 1, (port, reply.status, reply.body)
    client.silent(0.5, skip=PRESENCE)


def test_a_probe_for_a_session_the_other_node_lacks_closes_the_websocket(nodes):
    link = WebSocketLink(nodes.b.port, sid="a.no-such-session", server=nodes.b)
    link.send("2probe")
    assert link.wait_ended(WAIT) == "closed (code=1002)"
    assert nodes.b.metric("relay_socketio_upgrades_total", result="failed") == 1


def test_an_upgrade_whose_session_node_was_killed_is_closed_and_the_client_recovers(nodes):
    """Node a, which holds the long-polling session, is killed before the client's WebSocket
    (on node b) probes: the WebSocket is closed, and the client recovers its session on node b."""
    client = sio(PolledLink.open(nodes.a.port, "/recover.io/"))
    client.expect("auth")
    sender = nodes.b.connect("/ws")
    settle()
    sid, pid = killed_under(client, nodes, sender)
    link = WebSocketLink(nodes.b.port, "/recover.io/", sid=client.link.sid, server=nodes.b)
    started = time.monotonic()
    link.send("2probe")
    assert link.wait_ended(15) in ("closed (code=1002)", "closed (code=1008)")
    assert time.monotonic() - started <= 12
    answer = client.connect(WebSocketLink(nodes.b.port, "/recover.io/", server=nodes.b), timeout=NODE_TIMEOUT + 5)
    assert answer == {"sid": sid, "pid": pid} and client.recovered is True
    assert directs(client, 5) == [3, 4, 5, 6, 7]


def test_an_upgrade_to_the_other_node_mid_stream_loses_and_repeats_nothing(nodes):
    """300 directs from node b at about 500/s; the receiver polls node a, then upgrades to a
    WebSocket on node b while they flow."""
    total = 300
    receiver = sio(PolledLink.open(nodes.a.port, server=nodes.a))
    sender = sio(WebSocketLink(nodes.b.port, server=nodes.b))
    settle()
    stream = DirectStream(sender, receiver.sid, total, pause=0.002)
    got = directs(receiver, 40)
    receiver.link = receiver.link.upgrade(nodes.b.port)
    nodes.b.clients.append(receiver.link)
    got += directs(receiver, total - len(got), timeout=30)
    stream.finish(30)
    assert got == list(range(total)), sequence_problems(got, total)
    receiver.silent(0.5, skip=PRESENCE)


# ---------------------------------------------------------------------------
# 200 events each way, polling through the round-robin proxy
# ---------------------------------------------------------------------------


def test_polling_client_alternating_between_nodes_exchanges_200_events_with_a_websocket_client(nodes, proxy_for):
    proxy = proxy_for(nodes)
    total = 200
    poller = sio(PolledLink.open(proxy.port, "/recover.io/"))
    assert poller.link.sid.startswith("a."), poller.link.sid  # the first connection went to node a
    other = sio(WebSocketLink(nodes.b.port, "/recover.io/", server=nodes.b))
    poller.expect("auth")
    other.expect("auth")
    settle()
    stream = DirectStream(other, poller.sid, total)
    for n in range(total):
        poller.emit("direct", {"to": other.sid, "data": n})
    got_by_poller = directs(poller, total, timeout=30)
    got_by_other = directs(other, total, timeout=20)
    stream.finish(10)
    assert got_by_poller == list(range(total)), sequence_problems(got_by_poller, total)
    assert got_by_other == list(range(total)), sequence_problems(got_by_other, total)
    poller.silent(0.5)
    other.silent(0.5)
    # the polling session's requests really went to both nodes
    polls = proxy.ports_of(f"sid={poller.link.sid}")
    assert polls.count(nodes.a.port) >= 50 and polls.count(nodes.b.port) >= 50, \
        (polls.count(nodes.a.port), polls.count(nodes.b.port))
    poller.close()


def test_python_socketio_polling_through_a_round_robin_proxy(nodes, proxy_for, python_client):
    proxy = proxy_for(nodes)
    client, inbox = python_client(("auth", "message-back", "direct"))
    client.connect(f"http://{HOST}:{proxy.port}", transports=["polling"], wait_timeout=WAIT)
    assert client.transport() == "polling"
    assert inbox.expect("auth") == ({},)
    client.emit("message", ({"a": 1}, "two", 3))
    assert inbox.expect("message-back") == ({"a": 1}, "two", 3)
    assert client.call("message-with-ack", {"x": [1, None]}, timeout=WAIT) == {"x": [1, None]}
    blob = bytes(range(256))
    client.emit("message", (blob, {"nested": b"\x00\x01"}))
    assert inbox.expect("message-back") == (blob, {"nested": b"\x00\x01"})

    # and it talks with a WebSocket client on node b
    other = sio(WebSocketLink(nodes.b.port, server=nodes.b))
    settle()
    for n in range(20):
        client.emit("direct", {"to": other.sid, "data": n})
        assert directs(other, 1) == [n]
        other.emit("direct", {"to": client.get_sid(), "data": n})
        assert inbox.expect("direct", WAIT)[0]["data"] == n
    ports = proxy.ports_of("transport=polling")
    assert ports.count(nodes.a.port) >= 5 and ports.count(nodes.b.port) >= 5, proxy.routed


def test_python_socketio_default_transports_upgrade_across_nodes_through_a_round_robin_proxy(nodes, proxy_for, python_client):
    """Default transports behind plain round-robin: each client's upgrade may reach the other node
    than its long-polling session's (the first one's does: handshake on a, WebSocket on b); every
    client ends on WebSocket and works."""
    proxy = proxy_for(nodes)
    clients = []
    for _ in range(4):
        client, inbox = python_client(("auth", "message-back"))
        client.connect(f"http://{HOST}:{proxy.port}", wait_timeout=WAIT)
        clients.append((client, inbox))
    upgrades = proxy.ports_of("transport=websocket")
    assert len(upgrades) == 4 and upgrades[0] == nodes.b.port, proxy.routed
    assert clients[0][0].eio.sid.startswith("a."), clients[0][0].eio.sid
    crossed = sum(1 for (client, _), port in zip(clients, upgrades)
                  if not client.eio.sid.startswith("a." if port == nodes.a.port else "b."))
    assert crossed >= 1, (upgrades, [client.eio.sid for client, _ in clients])
    for n, (client, inbox) in enumerate(clients):
        deadline = time.monotonic() + WAIT
        while client.transport() != "websocket" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.transport() == "websocket", n
        assert inbox.expect("auth") == ({},)
        client.emit("message", f"on websocket {n}")
        assert inbox.expect("message-back") == (f"on websocket {n}",)
        assert client.call("message-with-ack", [n, 2], timeout=WAIT) == [n, 2]
    # after the upgrades, nothing goes through long-polling any more
    polls = len(proxy.ports_of("transport=polling"))
    for client, inbox in clients:
        client.emit("message", "again")
        assert inbox.expect("message-back") == ("again",)
    assert len(proxy.ports_of("transport=polling")) == polls


# ---------------------------------------------------------------------------
# Recovery across nodes
# ---------------------------------------------------------------------------


def test_recovery_on_the_other_node_after_a_drop(nodes):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    client = sio(WebSocketLink(nodes.a.port, "/recover.io/", server=nodes.a))
    sid, pid = client.sid, client.pid
    assert pid
    client.emit("subscribe", {"topic": topic})
    client.expect("subscribed", skip=NOISE)
    source = nodes.b.connect("/ws")
    source.subscribe(topic)
    settle()
    for n in range(3):
        source.publish(topic, n)
    assert [e.data[0]["data"] for e in client.collect("message", 3, WAIT, skip=NOISE)] == [0, 1, 2]
    client.drop()
    for n in range(3, 10):
        source.publish(topic, n)
    source.send_json({"type": "direct", "to": sid, "data": "while away"})
    time.sleep(0.5)

    answer = client.connect(PolledLink.open(nodes.b.port, "/recover.io/", server=nodes.b))
    assert client.link.sid.startswith("b.")
    assert answer == {"sid": sid, "pid": pid} and client.recovered is True
    assert [e.data[0]["data"] for e in client.collect("message", 7, WAIT, skip=NOISE)] == list(range(3, 10))
    direct = client.expect("direct", skip=NOISE).data[0]
    assert (direct["from"], direct["data"]) == (source.client_id, "while away")
    source.publish(topic, 10)  # its rooms followed it to node b
    assert client.collect("message", 1, WAIT, skip=NOISE)[0].data[0]["data"] == 10
    client.silent(0.5, skip=PRESENCE)


def killed_under(client: SocketIOClient, nodes: Cluster, sender) -> tuple[str, str]:
    """``client`` (on node a) has received directs 0..2; node a is then killed with SIGKILL and
    directs 3..7 are sent to it (accepted by node b). Returns its (sid, pid)."""
    sid, pid = client.sid, client.pid
    for n in range(3):
        sender.send_json({"type": "direct", "to": sid, "data": n})
    assert directs(client, 3) == [0, 1, 2]
    Cluster.kill9(nodes.a)
    for n in range(3, 8):
        sender.send_json({"type": "direct", "to": sid, "data": n})
    sender.ping()  # every one accepted
    return sid, pid


def test_recovery_on_the_other_node_right_after_kill_9_of_the_owner(nodes):
    """A polling client of node a: when node a dies its GET fails at once, and, as socket.io-client
    does, it reconnects at once (through node b), before the cluster has declared node a dead.
    The answer may wait for the takeover (nodeTimeout); it must be the recovered session with
    every event sent since the kill."""
    client = sio(PolledLink.open(nodes.a.port, "/recover.io/"))
    client.expect("auth")
    sender = nodes.b.connect("/ws")
    settle()
    sid, pid = killed_under(client, nodes, sender)
    assert client.link.wait_ended(2).startswith("GET failed"), client.link.ended
    started = time.monotonic()
    answer = client.connect(PolledLink.open(nodes.b.port, "/recover.io/", server=nodes.b),
                            timeout=NODE_TIMEOUT + 5)
    assert time.monotonic() - started <= NODE_TIMEOUT + 3
    assert answer == {"sid": sid, "pid": pid} and client.recovered is True
    assert directs(client, 5) == [3, 4, 5, 6, 7]
    for n in range(8, 10):
        sender.send_json({"type": "direct", "to": sid, "data": n})
    assert directs(client, 2) == [8, 9]
    client.silent(0.5, skip=PRESENCE)


def test_recovery_on_the_other_node_after_the_owner_is_declared_dead(nodes):
    """The same client reconnects once node b has taken node a's sessions over."""
    client = sio(WebSocketLink(nodes.a.port, "/recover.io/"))
    client.expect("auth")
    sender = nodes.b.connect("/ws")
    settle()
    sid, pid = killed_under(client, nodes, sender)
    time.sleep(NODE_TIMEOUT + 1.5)
    for n in range(8, 10):
        sender.send_json({"type": "direct", "to": sid, "data": n})
    sender.ping()
    answer = client.connect(PolledLink.open(nodes.b.port, "/recover.io/", server=nodes.b))
    assert answer == {"sid": sid, "pid": pid} and client.recovered is True
    assert directs(client, 7) == list(range(3, 10))
    client.silent(0.5, skip=PRESENCE)


def test_requests_forwarded_to_a_dead_owner_end_once_it_is_declared_dead(nodes):
    """A polling client of node a whose requests all go through node b (a load balancer that
    stopped sending to the dead node). Its pending GET, forwarded to node a, must end (400) once
    the cluster declares node a dead, so that the client reconnects within the resume grace and
    recovers. (Waiting out pingInterval + pingTimeout + 5 s instead is 50 s with the defaults,
    longer than nodeTimeout + resumeGrace = 35 s: the client would come back too late.)"""
    session = PollingSession(nodes.a.port, "/recover.io/")  # the handshake on node a,
    assert session.sid.startswith("a.")
    session.ports = [nodes.b.port]                              # every later request through node b
    client = SocketIOClient()
    client.connect(PolledLink(session))
    nodes.b.clients.append(client)
    client.expect("auth")
    sender = nodes.b.connect("/ws")
    settle()
    sid, pid = killed_under(client, nodes, sender)
    killed = time.monotonic()
    ended = client.link.wait_ended(2 * PING_MS / 1000 + 10)
    waited = time.monotonic() - killed
    assert ended.startswith("HTTP 400"), ended
    assert waited <= NODE_TIMEOUT + 2.0, f"the forwarded poll ended {waited:.1f}s after the kill"
    answer = client.connect(PolledLink.open(nodes.b.port, "/recover.io/", server=nodes.b))
    assert answer == {"sid": sid, "pid": pid} and client.recovered is True
    assert directs(client, 5) == [3, 4, 5, 6, 7]
