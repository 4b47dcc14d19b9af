"""The Engine.IO upgrade from HTTP long-polling to WebSocket (issue 15 item 2, docs/socketio.md
"Transports"), over real HTTP and WebSocket against a real relay.

- The upgrade cases of the published Socket.IO v5 protocol test suite
  (socketio/socket.io docs/socket.io-protocol/v5-test-suite/test-suite.js, "Engine.IO protocol ›
  upgrade", 3 cases) against deploy/socketio-test-suite.yaml.
- The probe (`2probe` → `3probe`, the pending GET answered with a noop, no open packet on the
  upgrading WebSocket), `5` moving the session, nothing lost or duplicated across it (what the
  polling side had not fetched arrives on the WebSocket first, in order), polling requests
  after the upgrade (400), a WebSocket for a sid this node does not hold (upgraded, closed or
  unknown: accepted, then closed), a second WebSocket probing the same session, the heartbeat
  and the connection gauge across the upgrade. (A sid of another cluster node:
  test_socketio_cluster.py.)
"""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import InvalidStatus

from cluster_helpers import sequence_problems
from engineio_polling import DirectStream, PollingSession, SocketIOClient, WebSocketLink, shared_relay
from relay_helpers import HOST, RelayServer, pubsub_routes
from socketio_helpers import LOCAL_ENV, SOCKETIO_SUITE_YAML, EIOClient

PING_INTERVAL = 0.300   # deploy/socketio-test-suite.yaml
PING_TIMEOUT = 0.200
SLOW_PING_MS = 1500     # the other server of this module


def upgrade_config() -> dict:
    return {
        "server": {"host": HOST},
        "limits": {"messagesPerSecond": 0, "queueMessages": 4096},
        "endpoints": [{"path": "/socket.io/", "codec": "socketio", "auth": "optional",
                       "socketio": {"pingInterval": SLOW_PING_MS, "pingTimeout": SLOW_PING_MS,
                                    "connectTimeout": 5000}}],
        "plugins": {"echo": {"plugin": "echo"}, "chat": {"plugin": "pubsub"}},
        "routes": [{"endpoint": "/socket.io/", "type": t, "plugin": "echo"} for t in ("message", "message-with-ack")]
        + pubsub_routes("/socket.io/"),
    }


_suite_relay, suite = shared_relay("suite", SOCKETIO_SUITE_YAML.read_text, LOCAL_ENV)
_srv_relay, srv = shared_relay("srv", upgrade_config)


def init_long_polling_session(server: RelayServer) -> str:
    """The suite's initLongPollingSession: a handshake, its sid."""
    return PollingSession(server.port, server=server).sid


def connected(server: RelayServer) -> PollingSession:
    """A polling session with the main namespace connected; its Socket.IO sid in ``.sio_sid``."""
    session = PollingSession(server.port, server=server)
    session.send("40")
    got = session.packets_until(lambda got: len(got) >= 2)
    assert got[0].startswith("40{") and got[1] == '42["auth",{}]', got
    session.sio_sid = json.loads(got[0][2:])["sid"]
    return session


def upgrading_socket(server: RelayServer, sid: str) -> EIOClient:
    return EIOClient(server, f"/socket.io/?EIO=4&transport=websocket&sid={sid}", handshake=False)


def upgrade(server: RelayServer, session: PollingSession) -> EIOClient:
    socket = upgrading_socket(server, session.sid)
    socket.send("2probe")
    assert socket.recv_packet() == "3probe"
    socket.send("5")
    return socket


# ---------------------------------------------------------------------------
# The published suite: Engine.IO protocol › upgrade
# ---------------------------------------------------------------------------


def test_suite_upgrade_from_polling_to_websocket(suite):
    """Engine.IO protocol › upgrade › should successfully upgrade from HTTP long-polling to WebSocket"""
    sid = init_long_polling_session(suite)
    socket = upgrading_socket(suite, sid)
    # send probe
    socket.send("2probe")
    probe_response = socket.recv()
    assert probe_response == "3probe"
    # complete upgrade
    socket.send("5")
    # the session goes on over the WebSocket
    socket.send("40")
    assert socket.recv_packet().startswith("40{")
    assert socket.recv_packet() == '42["auth",{}]'


def test_suite_upgrade_ignores_http_requests_with_the_same_sid(suite):
    """Engine.IO protocol › upgrade › should ignore HTTP requests with same sid after upgrade"""
    sid = init_long_polling_session(suite)
    socket = upgrading_socket(suite, sid)
    socket.send("2probe")
    socket.send("5")
    poll_response = PollingSession(suite.port, handshake=False)
    poll_response.sid = sid
    assert poll_response.get().status == 400


def test_suite_upgrade_ignores_a_websocket_with_the_same_sid(suite):
    """Engine.IO protocol › upgrade › should ignore WebSocket connection with same sid after upgrade"""
    sid = init_long_polling_session(suite)
    socket = upgrading_socket(suite, sid)
    socket.send("2probe")
    socket.send("5")
    # a browser's `close` event: the upgrade refused, or the connection closed after it
    try:
        socket2 = upgrading_socket(suite, sid)
    except InvalidStatus as refused:
        assert refused.response.status_code == 400
    else:
        socket2.wait_closed(2)


# ---------------------------------------------------------------------------
# The probe and the switch
# ---------------------------------------------------------------------------


def test_the_upgrading_websocket_gets_no_open_packet_and_the_probe_answers_the_pending_get(srv):
    session = connected(srv)
    poll = session.get_async()
    time.sleep(0.2)
    assert not poll.done()
    socket = upgrading_socket(srv, session.sid)
    with pytest.raises(TimeoutError):
        socket.recv(0.3)  # no open packet: the session exists already
    socket.send("2probe")
    assert socket.recv(2) == "3probe"
    reply = poll.result(2)
    assert reply.status == 200 and reply.text == "6"
    assert poll.elapsed < SLOW_PING_MS / 1000
    socket.send("5")
    socket.send('42["message","over the websocket"]')
    assert socket.recv_packet() == '42["message-back","over the websocket"]'


def test_after_the_upgrade_polling_requests_get_400(srv):
    upgrades = srv.metric("relay_socketio_upgrades_total", result="local")
    session = connected(srv)
    socket = upgrade(srv, session)
    assert srv.metric("relay_socketio_upgrades_total", result="local") == upgrades + 1
    socket.send('42["message","switched"]')
    assert socket.recv_packet() == '42["message-back","switched"]'
    for method in ("GET", "POST"):
        reply = session.call(method, '42["message","late"]' if method == "POST" else None).run()
        assert reply.status == 400, (method, reply.status, reply.body)
        assert isinstance(reply.json()["code"], int)
    socket.send('42["message","still fine"]')
    assert socket.recv_packet() == '42["message-back","still fine"]'


def assert_accepted_then_closed(server: RelayServer, sid: str) -> None:
    """A WebSocket opened for ``sid`` (a session this node does not hold) is accepted (101), then
    closed without a packet: no session of its own, nobody else's."""
    socket = server.raw(f"/socket.io/?EIO=4&transport=websocket&sid={sid}")  # asserts 101
    ending = socket.wait_end(3)
    assert ending.kind in ("close", "eof", "reset"), ending
    assert not ending.frames, [frame.payload for frame in ending.frames]


def test_a_second_websocket_with_the_sid_is_accepted_then_closed(srv):
    session = connected(srv)
    socket = upgrade(srv, session)
    socket.send('42["message","first"]')
    assert socket.recv_packet() == '42["message-back","first"]'
    assert_accepted_then_closed(srv, session.sid)
    socket.send('42["message","unaffected"]')
    assert socket.recv_packet() == '42["message-back","unaffected"]'


def test_a_second_websocket_probing_the_same_session_is_closed_when_the_first_takes_it(srv):
    session = connected(srv)
    late = upgrading_socket(srv, session.sid)  # accepted: the session is still on long-polling
    socket = upgrade(srv, session)
    closed = late.wait_closed(3)
    assert closed.code is not None and closed.code != 1000, closed
    socket.send('42["message","the first one has it"]')
    assert socket.recv_packet() == '42["message-back","the first one has it"]'


def test_a_websocket_with_an_unknown_sid_is_accepted_then_closed(srv):
    failed = srv.metric("relay_socketio_upgrades_total", result="failed")
    assert_accepted_then_closed(srv, "no-such-session")
    assert srv.metric("relay_socketio_upgrades_total", result="failed") == failed + 1


def test_a_websocket_with_a_closed_sessions_sid_is_accepted_then_closed(srv):
    session = connected(srv)
    session.send("1")
    assert_accepted_then_closed(srv, session.sid)


def test_what_polling_had_not_fetched_comes_first_on_the_websocket(srv):
    session = connected(srv)
    session.post_raw("\x1e".join(f'42["message",{i}]' for i in range(20)))
    fetched = session.packets_until(lambda got: len(got) >= 20)
    session.post_raw("\x1e".join(f'42["message",{i}]' for i in range(20, 40)))  # echoed, not fetched
    time.sleep(0.3)
    socket = upgrade(srv, session)
    for i in range(40, 60):
        socket.send(f'42["message",{i}]')
    on_websocket = socket.recv_packets(40)
    numbers = [json.loads(p[2:])[1] for p in fetched + on_websocket]
    assert numbers == list(range(60)), numbers
    assert all(p.startswith('42["message-back",') for p in fetched + on_websocket)


def test_a_stream_crosses_the_upgrade_in_order_without_loss_or_duplicates(srv):
    """A WebSocket client sends 300 direct messages, 2 ms apart, to a polling client that upgrades
    in the middle (as socket.io-client does: a GET pending during the probe): every message
    arrives once, in order, first over polling, then over the WebSocket."""
    total = 300
    receiver = connected(srv)
    sender = SocketIOClient()
    sender.connect(WebSocketLink(srv.port, server=srv))
    stream = DirectStream(sender, receiver.sio_sid, total, pause=0.002)

    def directs(packets) -> list[int]:
        out = []
        for packet in packets:
            assert isinstance(packet, str) and packet.startswith('42["direct",'), packet
            out.append(json.loads(packet[2:])[1]["data"])
        return out

    got = directs(receiver.packets_until(lambda got: len(got) >= 60, timeout=10))
    assert 0 < len(got) < total, "the upgrade should happen mid-stream"
    pending = receiver.get_async(timeout=5)
    socket = upgrading_socket(srv, receiver.sid)
    socket.send("2probe")
    assert socket.recv_packet() == "3probe"
    last_poll = pending.result(3).packets()
    assert last_poll[-1] == "6" or "6" not in last_poll, last_poll
    got += directs([p for p in last_poll if p not in ("2", "6")])
    socket.send("5")
    deadline = time.monotonic() + 10
    while len(got) < total:
        frame = socket.recv(max(0.0, deadline - time.monotonic()))
        if frame == "2":
            socket.send("3")
            continue
        got += directs([frame])
    stream.finish(10)
    assert got == list(range(total)), sequence_problems(got, total)
    with pytest.raises(TimeoutError):
        while True:  # nothing twice
            frame = socket.recv(0.3)
            if frame == "2":
                socket.send("3")
                continue
            raise AssertionError(f"unexpected frame after the stream: {frame!r}")


# ---------------------------------------------------------------------------
# After the upgrade
# ---------------------------------------------------------------------------


def test_the_heartbeat_moves_to_the_websocket(suite):
    session = PollingSession(suite.port, server=suite)
    socket = upgrading_socket(suite, session.sid)
    socket.send("2probe")
    assert socket.recv_packet() == "3probe"
    socket.send("5")
    socket.send("40")
    assert socket.recv_packet().startswith("40{")
    assert socket.recv_packet() == '42["auth",{}]'
    started = time.monotonic()
    for _ in range(5):  # answered pings over the WebSocket keep the session past the time-outs
        assert socket.recv(1) == "2"
        socket.send("3")
    assert time.monotonic() - started >= 2 * (PING_INTERVAL + PING_TIMEOUT)
    socket.send('42["message","alive"]')
    assert socket.recv_packet() == '42["message-back","alive"]'


def test_the_upgrade_keeps_one_connection_in_the_gauge(relay):
    server = relay(upgrade_config())
    before = server.metric("relay_connections_active")
    session = connected(server)
    server.wait_metric("relay_connections_active", lambda v: v == before + 1)
    socket = upgrade(server, session)
    socket.send('42["message","x"]')
    assert socket.recv_packet() == '42["message-back","x"]'
    time.sleep(0.3)
    assert server.metric("relay_connections_active") == before + 1
    socket.send("1")
    server.wait_metric("relay_connections_active", lambda v: v == before)
