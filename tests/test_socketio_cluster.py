"""Socket.IO on a two-node cluster without sticky sessions (issue 15 item 4 and the cluster half
of item 3, docs/socketio.md "Cluster: no sticky sessions"): real relay processes sharing a real
PostgreSQL (RELAY_TEST_DATABASE_URL), and a round-robin TCP proxy written here (127.0.0.1
only, bounded, closed with the test) that sends each new TCP connection to the next node.

- Long-polling sids start with the node id; a polling GET or POST that reaches the other node
  is answered as the owner would answer it.
- A polling client whose requests alternate between the nodes exchanges 200 events with a
  WebSocket client on the other node, in order, none lost; python-socketio (transports
  ["polling"] and the default) through the proxy.
- A WebSocket upgrade landing on the node that does not hold the sid is refused; the client
  keeps polling.
- Connection-state recovery on the other node, after a drop and after `kill -9` of the node.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from typing import Any

import pytest
import requests
import socketio

from cluster_helpers import Cluster, sequence_problems, settle
from engineio_polling import (PolledLink, PollingSession, SocketIOClient, WebSocketLink, http_call,
                              polling_target)
from relay_helpers import HOST, RelayServer, pubsub_routes
from socketio_helpers import EIOClient
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
# A round-robin TCP proxy
# ---------------------------------------------------------------------------


class RoundRobinProxy:
    """Listens on 127.0.0.1; each new TCP connection goes to the next of ``ports`` in turn (like a
    plain load balancer: nothing sticky). ``routed`` lists (port, first request line) per
    connection. At most ``max_connections``; ``close`` ends everything."""

    def __init__(self, ports: list[int], max_connections: int = 3000):
        self.ports = ports
        self.max_connections = max_connections
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(128)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.routed: list[list[Any]] = []
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self.lock:
                if len(self.routed) >= self.max_connections:
                    client.close()
                    continue
                port = self.ports[len(self.routed) % len(self.ports)]
                route = [port, None]
                self.routed.append(route)
            try:
                upstream = socket.create_connection((HOST, port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, route), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, route: list | None) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if route is not None and route[1] is None:
                    route[1] = data.split(b"\r\n", 1)[0].decode(errors="replace")
                target.sendall(data)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def ports_of(self, needle: str) -> list[int]:
        """The node port of each connection whose first request line contains ``needle``."""
        with self.lock:
            return [port for port, line in self.routed if line and needle in line]

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.close()
                except OSError:
                    pass
        self.thread.join(2)


@pytest.fixture
def proxy_for():
    proxies: list[RoundRobinProxy] = []

    def make(nodes: Cluster) -> RoundRobinProxy:
        proxy = RoundRobinProxy([node.port for node in nodes])
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


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
        http = requests.Session()
        http.headers["Connection"] = "close"  # a new TCP connection per request: the proxy balances each
        client = socketio.Client(reconnection=False, http_session=http)
        request.addfinalizer(client.disconnect)
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


def test_a_websocket_upgrade_on_the_node_not_holding_the_sid_is_refused(nodes):
    session = PollingSession(nodes.a.port, server=nodes.a)
    session.send("40")
    session.packets_until(lambda got: len(got) >= 2)
    wrong = EIOClient(nodes.b, f"/socket.io/?EIO=4&transport=websocket&sid={session.sid}", handshake=False)
    try:
        wrong.send("2probe")
    except Exception:
        pass  # already closed
    with pytest.raises(AssertionError):  # closed, never "3probe"
        while True:
            frame = wrong.recv(3)
            assert frame != "3probe", "the node without the session answered the probe"
    # the client keeps polling, through either node
    for port in (nodes.a.port, nodes.b.port):
        session.send('42["message","still polling"]', port=port)
        assert session.packets_until(lambda got: len(got) >= 1) == ['42["message-back","still polling"]']
    # while the owner accepts the upgrade
    right = EIOClient(nodes.a, f"/socket.io/?EIO=4&transport=websocket&sid={session.sid}", handshake=False)
    right.send("2probe")
    assert right.recv_packet() == "3probe"
    right.send("5")
    right.send('42["message","upgraded"]')
    assert right.recv_packet() == '42["message-back","upgraded"]'


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
    errors: list[BaseException] = []

    def websocket_side() -> None:
        try:
            for n in range(total):
                other.emit("direct", {"to": poller.sid, "data": n})
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=websocket_side, daemon=True)
    thread.start()
    for n in range(total):
        poller.emit("direct", {"to": other.sid, "data": n})
    got_by_poller = directs(poller, total, timeout=30)
    got_by_other = directs(other, total, timeout=20)
    thread.join(10)
    assert not errors, errors
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
        other.emit("direct", {"to": client.get_sid(), "data": n})
    assert directs(other, 20) == list(range(20))
    assert [inbox.expect("direct")[0]["data"] for _ in range(20)] == list(range(20))
    ports = [port for port, line in proxy.routed if line]
    assert ports.count(nodes.a.port) >= 5 and ports.count(nodes.b.port) >= 5, proxy.routed


def test_python_socketio_default_transports_through_a_round_robin_proxy(nodes, proxy_for, python_client):
    """The handshake lands on node a, the upgrade's WebSocket on node b: refused there, so the
    client stays on long-polling, and works."""
    proxy = proxy_for(nodes)
    client, inbox = python_client(("auth", "message-back"))
    client.connect(f"http://{HOST}:{proxy.port}", wait_timeout=WAIT)
    assert proxy.ports_of("transport=websocket") == [nodes.b.port], proxy.routed
    assert client.transport() == "polling"
    assert inbox.expect("auth") == ({},)
    client.emit("message", "after a refused upgrade")
    assert inbox.expect("message-back") == ("after a refused upgrade",)
    assert client.call("message-with-ack", [1, 2], timeout=WAIT) == [1, 2]


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
    assert client.expect("direct", skip=NOISE).data[0] == {"from": source.client_id, "data": "while away"}
    source.publish(topic, 10)  # its rooms followed it to node b
    assert client.collect("message", 1, WAIT, skip=NOISE)[0].data[0]["data"] == 10
    client.silent(0.5, skip=PRESENCE)


def test_recovery_on_the_other_node_after_kill_9_of_the_owner(nodes):
    """A polling client of node a whose requests go through node b; node a dies (SIGKILL); the
    client's requests then fail, it reconnects through node b with its pid and offset and gets
    its session and every event sent meanwhile."""
    session = PollingSession(nodes.a.port, "/recover.io/")  # the handshake on node a,
    assert session.sid.startswith("a.")
    session.ports = [nodes.b.port]                              # every later request through node b
    client = SocketIOClient()
    client.connect(PolledLink(session))
    nodes.b.clients.append(client)
    sid, pid = client.sid, client.pid
    client.expect("auth")
    sender = nodes.b.connect("/ws")
    settle()
    for n in range(3):
        sender.send_json({"type": "direct", "to": sid, "data": n})
    assert directs(client, 3) == [0, 1, 2]

    Cluster.kill9(nodes.a)
    for n in range(3, 8):
        sender.send_json({"type": "direct", "to": sid, "data": n})
    # the session's requests, forwarded by b to the dead node, end with 400
    ended = client.link.wait_ended(2 * PING_MS / 1000 + 10)
    assert ended.startswith("HTTP 400"), ended
    time.sleep(NODE_TIMEOUT + 1.0)  # the survivor takes over node a's sessions
    for n in range(8, 10):
        sender.send_json({"type": "direct", "to": sid, "data": n})
    sender.ping()

    answer = client.connect(PolledLink.open(nodes.b.port, "/recover.io/", server=nodes.b))
    assert answer == {"sid": sid, "pid": pid} and client.recovered is True
    assert directs(client, 7) == list(range(3, 10))
    client.silent(0.5, skip=PRESENCE)
