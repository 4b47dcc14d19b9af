"""Socket.IO connection-state recovery on one node (issue 15 item 3, docs/socketio.md
"Connection-state recovery"), with a raw client that speaks it exactly as socket.io-client 4.6+
(engineio_polling.SocketIOClient: pid from the CONNECT answer, the last string argument of each
event as the offset, `{"pid","offset"}` in the CONNECT payload on reconnect, recovered = the
answer carries the pid it sent).

- The wire: `40{"sid","pid"}`; every EVENT/BINARY_EVENT carries its offset as a last string
  argument, acknowledgements none; nothing of it without `connectionStateRecovery`.
- A dropped client (either transport) that reconnects (either transport) within
  `server.resumeGrace` gets its sid and pid, its rooms, and every event it missed, in order,
  once; also when it had received no event yet (no offset), and again and again from one pid.
- Fresh sessions (new sid and pid, recovered false) for an unknown, expired, clean-closed pid,
  another user's, another namespace's.
- With recovery off, a dropped Socket.IO client leaves at once (plugins hear it); with it on
  (deploy/recording-rooms.yaml), a recording phone recovers into its session.

Events come from the pubsub plugin (topics, direct messages) sent by json clients on /ws.
Across cluster nodes: test_socketio_cluster.py.
"""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
import yaml

from engineio_polling import ConnectRefused, PolledLink, SocketIOClient, WebSocketLink, shared_relay
from recording_helpers import JsonDevice, SocketIODevice, join
from relay_helpers import HOST, RelayServer, WSClient, pubsub_routes
from socketio_helpers import LOCAL_ENV, RECORDING_YAML

RESUME_GRACE = 2.0
PING_MS = 400
PRESENCE = ("joined", "left")
NOISE = ("auth", "subscribed", *PRESENCE)  # events a test does not count


def recovery_config() -> dict:
    sio = {"pingInterval": PING_MS, "pingTimeout": PING_MS, "connectTimeout": 5000}
    recovering = {**sio, "connectionStateRecovery": True}
    endpoints = [
        {"path": "/socket.io/", "codec": "socketio", "auth": "optional",
         "socketio": {"namespaces": ["/", "/custom"], **recovering}},
        {"path": "/secure.io/", "codec": "socketio", "auth": "required", "socketio": recovering},
        {"path": "/quiet.io/", "codec": "socketio", "auth": "optional", "socketio": recovering},
        {"path": "/plain.io/", "codec": "socketio", "auth": "optional", "socketio": sio},
        {"path": "/ws", "codec": "json", "auth": "optional"},
    ]
    echo = [{"endpoint": ep, "type": t, "plugin": "echo"}
            for ep in ("/socket.io/", "/plain.io/") for t in ("message", "message-with-ack")]
    return {
        "server": {"host": HOST, "resumeGrace": RESUME_GRACE},
        "limits": {"messagesPerSecond": 0},
        "endpoints": endpoints,
        "plugins": {"echo": {"plugin": "echo"}, "chat": {"plugin": "pubsub", "config": {"presence": True}}},
        "routes": echo + [r for e in endpoints for r in pubsub_routes(e["path"])],
    }


_srv_relay, srv = shared_relay("srv", recovery_config)


def link(server: RelayServer, transport: str, path: str = "/socket.io/"):
    if transport == "websocket":
        return WebSocketLink(server.port, path, server=server)
    return PolledLink.open(server.port, path, server=server)


def connect(server: RelayServer, transport: str = "websocket", path: str = "/socket.io/",
            client: SocketIOClient | None = None, namespace: str = "/", auth: dict | None = None) -> SocketIOClient:
    """A Socket.IO client connected (or reconnected, when ``client`` is given) over ``transport``."""
    client = client or SocketIOClient(namespace, auth)
    client.connect(link(server, transport, path))
    return client


def reconnect(server: RelayServer, transport: str, client: SocketIOClient, path: str = "/socket.io/") -> dict:
    """``client`` connects again (with its pid and offset) over a new ``transport``; the CONNECT answer."""
    return client.connect(link(server, transport, path))


def subscribe(client: SocketIOClient, topic: str) -> None:
    client.emit("subscribe", {"topic": topic})
    assert client.expect("subscribed", skip=NOISE).data[0]["topic"] == topic


def publisher(server: RelayServer, topic: str) -> WSClient:
    """A json client on /ws subscribed to ``topic`` (it may publish there)."""
    client = server.connect("/ws")
    client.subscribe(topic)
    return client


def messages(client: SocketIOClient, count: int, timeout: float = 5.0) -> list:
    """The `data` of the next ``count`` pubsub `message` events."""
    return [e.data[0]["data"] for e in client.collect("message", count, timeout, skip=NOISE)]


def wait_dropped_noticed(transport: str) -> None:
    """A dropped WebSocket is noticed at once (TCP reset); a vanished polling client only by its
    missed ping: wait for that before reconnecting."""
    if transport == "polling":
        time.sleep(2 * PING_MS / 1000 + 0.4)


# ---------------------------------------------------------------------------
# The wire
# ---------------------------------------------------------------------------


class Frames:
    """Raw Engine.IO frames of a WebSocket session whose pings are answered."""

    def __init__(self, server: RelayServer, path: str = "/socket.io/"):
        self.link = WebSocketLink(server.port, path, server=server)
        self.send = self.link.send

    def recv_packet(self) -> str | bytes:
        return self.link.recv()

    def recv_packets(self, count: int) -> list[str | bytes]:
        return [self.link.recv() for _ in range(count)]


def test_connect_answer_carries_a_pid_and_events_their_offset(srv):
    socket = Frames(srv)
    socket.send("40")
    answer = socket.recv_packet()
    assert answer.startswith("40{")
    handshake = json.loads(answer[2:])
    assert set(handshake) == {"sid", "pid"}, handshake
    assert all(isinstance(v, str) and v for v in handshake.values()) and handshake["pid"] != handshake["sid"]
    auth = json.loads(socket.recv_packet()[2:])
    assert auth[:2] == ["auth", {}] and len(auth) == 3 and isinstance(auth[2], str), auth

    offsets = [int(auth[2])]
    socket.send('42["message",1,"2",{"3":[true]}]')
    back = socket.recv_packet()
    assert back.startswith('42["message-back",1,"2",{"3":[true]},"') and back.endswith('"]'), back
    offsets.append(int(json.loads(back[2:])[-1]))

    socket.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    socket.send(bytes([1, 2, 3]))
    socket.send(bytes([4, 5, 6]))
    packets = socket.recv_packets(3)
    binary = json.loads(packets[0][len("452-"):])
    assert packets[0].startswith('452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},"')
    assert packets[1:] == [bytes([1, 2, 3]), bytes([4, 5, 6])]
    offsets.append(int(binary[-1]))
    assert offsets == sorted(offsets) and len(set(offsets)) == 3, offsets

    # acknowledgements carry no offset
    socket.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert socket.recv_packet() == '43456[1,"2",{"3":[false]}]'
    socket.send('451-789["message-with-ack",{"_placeholder":true,"num":0}]')
    socket.send(bytes([7]))
    assert socket.recv_packets(2) == ['461-789[{"_placeholder":true,"num":0}]', bytes([7])]


def test_over_polling_events_carry_their_offset_too(srv):
    client = connect(srv, "polling")
    assert client.pid and client.answer.keys() == {"sid", "pid"}
    client.expect("auth")
    client.emit("message", {"n": 1})
    event = client.expect("message-back")
    assert event.data == [{"n": 1}] and event.offset is not None and int(event.offset) > 0
    assert client.call("message-with-ack", "no offset") == ["no offset"]


def test_without_recovery_there_is_no_pid_and_no_offset(srv):
    socket = Frames(srv, "/plain.io/")
    socket.send("40")
    answer = socket.recv_packet()
    assert set(json.loads(answer[2:])) == {"sid"}, answer
    assert socket.recv_packet() == '42["auth",{}]'
    socket.send('42["message",1,"2"]')
    assert socket.recv_packet() == '42["message-back",1,"2"]'


# ---------------------------------------------------------------------------
# Recovering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("before,after", [("websocket", "websocket"), ("websocket", "polling"),
                                          ("polling", "websocket"), ("polling", "polling")])
def test_a_dropped_client_recovers_its_session_rooms_and_missed_events(srv, topic, before, after):
    client = connect(srv, before)
    sid, pid = client.sid, client.pid
    subscribe(client, topic)
    source = publisher(srv, topic)
    for n in range(3):
        source.publish(topic, n)
    assert messages(client, 3) == [0, 1, 2]
    seen_offset = client.offset
    assert seen_offset is not None

    client.drop()
    wait_dropped_noticed(before)
    for n in range(3, 10):
        source.publish(topic, n)
    source.send_json({"type": "direct", "to": sid, "data": "while away"})
    time.sleep(0.2)

    answer = reconnect(srv, after, client)
    assert client.connect_packets[-1] == f'40{{"pid":"{pid}","offset":"{seen_offset}"}}'
    assert answer == {"sid": sid, "pid": pid}
    assert client.recovered is True
    replay = [e for e in client.collect("message", 7, skip=NOISE)]
    assert [e.data[0]["data"] for e in replay] == list(range(3, 10))
    offsets = [int(e.offset) for e in replay]
    assert offsets == sorted(offsets) and len(set(offsets)) == 7 and offsets[0] > int(seen_offset), offsets
    direct = client.expect("direct", skip=NOISE)
    assert (direct.data[0]["from"], direct.data[0]["data"]) == (source.client_id, "while away")
    # its rooms are intact: what is published now reaches it, once
    source.publish(topic, 10)
    fresh = client.collect("message", 1, skip=NOISE)[0]
    assert fresh.data[0]["data"] == 10 and int(fresh.offset) > int(direct.offset)
    client.silent(0.4, skip=PRESENCE)


def test_a_client_that_received_no_event_yet_recovers(srv, topic):
    """socket.io-client sends `{"pid"}` alone before any event arrived (Socket.IO's own recovery
    fails this case): everything since the session began is replayed."""
    client = connect(srv, "websocket", "/quiet.io/")
    sid, pid = client.sid, client.pid
    source = publisher(srv, topic)
    client.emit("subscribe", {"topic": topic})  # its answer is not read: no event seen
    time.sleep(0.2)
    client.drop()
    for n in range(5):
        source.publish(topic, n)
    time.sleep(0.2)
    answer = reconnect(srv, "websocket", client, "/quiet.io/")
    assert client.connect_packets[-1] == f'40{{"pid":"{pid}"}}'
    assert answer == {"sid": sid, "pid": pid} and client.recovered is True
    assert client.expect("subscribed", skip=("auth", *PRESENCE)).data[0]["topic"] == topic
    assert messages(client, 5) == [0, 1, 2, 3, 4]
    client.silent(0.4, skip=PRESENCE)


def test_a_client_recovers_again_and_again_from_the_same_pid(srv, topic):
    client = connect(srv, "websocket")
    sid, pid = client.sid, client.pid
    subscribe(client, topic)
    source = publisher(srv, topic)
    received: list[int] = []
    n = 0
    for round_, transport in enumerate(["websocket", "polling", "websocket", "polling"]):
        for _ in range(2):
            source.publish(topic, n)
            n += 1
        received += messages(client, 2)
        client.drop()
        wait_dropped_noticed(client.link.kind)
        for _ in range(3):
            source.publish(topic, n)
            n += 1
        time.sleep(0.2)
        answer = reconnect(srv, transport, client)
        assert answer == {"sid": sid, "pid": pid}, f"round {round_}: {answer}"
        assert client.recovered is True, round_
        received += messages(client, 3)
    assert received == list(range(n))
    client.silent(0.4, skip=PRESENCE)


def test_a_clean_disconnect_ends_the_session(srv, topic):
    client = connect(srv, "websocket")
    old_sid, old_pid = client.sid, client.pid
    subscribe(client, topic)
    watcher = publisher(srv, topic)
    client.disconnect()
    left = watcher.expect("left", ignore=("joined",), timeout=RESUME_GRACE * 0.5)
    assert left["clientId"] == old_sid
    answer = reconnect(srv, "websocket", client)
    assert client.recovered is False
    assert answer["sid"] != old_sid and answer["pid"] != old_pid


# ---------------------------------------------------------------------------
# Fresh sessions
# ---------------------------------------------------------------------------


def test_an_unknown_pid_gets_a_fresh_session(srv):
    client = SocketIOClient()
    client.pid, client.offset = "no-such-pid", "3"
    answer = reconnect(srv, "websocket", client)
    assert client.connect_packets[-1] == '40{"pid":"no-such-pid","offset":"3"}'
    assert client.recovered is False
    assert isinstance(answer["pid"], str) and answer["pid"] not in ("", "no-such-pid")
    client.expect("auth")
    client.emit("message", "works")
    assert client.expect("message-back").data == ["works"]


def test_an_expired_pid_gets_a_fresh_session(srv, topic):
    client = connect(srv, "websocket")
    old_sid, old_pid = client.sid, client.pid
    subscribe(client, topic)
    source = publisher(srv, topic)
    client.drop()
    left = source.expect("left", ignore=("joined",), timeout=RESUME_GRACE + 3)  # the grace ran out
    assert left["clientId"] == old_sid
    source.publish(topic, "gone")
    answer = reconnect(srv, "polling", client)
    assert client.recovered is False
    assert answer["sid"] != old_sid and answer["pid"] != old_pid
    client.silent(0.5, skip=("auth",))  # not in the room any more, nothing replayed


def test_another_users_pid_gets_a_fresh_session(srv, topic):
    alice = connect(srv, "websocket", "/secure.io/", auth={"token": srv.token("alice")})
    subscribe(alice, topic)
    source = publisher(srv, topic)
    source.publish(topic, "for alice")
    assert messages(alice, 1) == ["for alice"]
    alice.drop()
    source.publish(topic, "missed by alice")
    time.sleep(0.2)

    mallory = SocketIOClient(auth={"token": srv.token("mallory")})
    mallory.pid, mallory.offset = alice.pid, alice.offset
    answer = reconnect(srv, "websocket", mallory, "/secure.io/")
    assert mallory.recovered is False
    assert answer["sid"] != alice.sid and answer["pid"] != alice.pid
    mallory.silent(0.4, skip=("auth",))  # none of alice's events

    # alice herself still recovers
    back = reconnect(srv, "websocket", alice, "/secure.io/")
    assert back == {"sid": alice.sid, "pid": alice.pid} and alice.recovered is True
    assert messages(alice, 1) == ["missed by alice"]


def test_recovery_on_an_auth_endpoint_needs_the_token(srv, topic):
    alice = connect(srv, "websocket", "/secure.io/", auth={"token": srv.token("alice")})
    subscribe(alice, topic)
    alice.drop()
    thief = SocketIOClient()
    thief.pid, thief.offset = alice.pid, alice.offset
    with pytest.raises(ConnectRefused):
        reconnect(srv, "websocket", thief, "/secure.io/")
    back = reconnect(srv, "polling", alice, "/secure.io/")
    assert back == {"sid": alice.sid, "pid": alice.pid} and alice.recovered is True


def test_another_namespaces_pid_gets_a_fresh_session(srv):
    custom = connect(srv, "websocket", namespace="/custom")
    assert custom.pid
    custom.expect("auth")
    custom.drop()
    main = SocketIOClient("/")
    main.pid, main.offset = custom.pid, custom.offset
    answer = reconnect(srv, "websocket", main)
    assert main.recovered is False
    assert answer["pid"] != custom.pid and answer["sid"] != custom.sid
    # while the /custom session itself still recovers
    back = reconnect(srv, "polling", custom)
    assert back == {"sid": custom.sid, "pid": custom.pid} and custom.recovered is True


# ---------------------------------------------------------------------------
# Leaving: with recovery after the grace, without it at once
# ---------------------------------------------------------------------------


def test_with_recovery_a_dropped_client_leaves_only_after_the_grace(srv, topic):
    client = connect(srv, "websocket")
    subscribe(client, topic)
    watcher = publisher(srv, topic)
    client.drop()
    dropped = time.monotonic()
    watcher.assert_silent(RESUME_GRACE * 0.6, ignore=("joined",))
    left = watcher.expect("left", ignore=("joined",), timeout=RESUME_GRACE + 3)
    assert left["clientId"] == client.sid
    assert time.monotonic() - dropped >= RESUME_GRACE - 0.1


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_without_recovery_a_dropped_client_leaves_at_once(srv, topic, transport):
    client = connect(srv, transport, "/plain.io/")
    assert client.pid is None
    subscribe(client, topic)
    watcher = publisher(srv, topic)
    client.drop()
    dropped = time.monotonic()
    left = watcher.expect("left", ignore=("joined",), timeout=RESUME_GRACE)
    assert left["clientId"] == client.sid
    noticed = 0.3 if transport == "websocket" else 2 * PING_MS / 1000 + 0.3  # polling: the missed ping
    assert time.monotonic() - dropped <= noticed + 0.3, "waited for the resume grace"


def recording_server(relay, recovery: bool) -> RelayServer:
    """deploy/recording-rooms.yaml (resumeGrace 30 s), its Socket.IO recovery set to ``recovery``."""
    cfg = yaml.safe_load(RECORDING_YAML.read_text())
    assert cfg["server"]["resumeGrace"] == 30
    cfg["endpoints"][0]["socketio"]["connectionStateRecovery"] = recovery
    return relay(cfg, env=LOCAL_ENV)


def test_without_recovery_a_dropped_socketio_recording_device_leaves_at_once(relay):
    """A phone on Socket.IO without recovery that drops is announced `device_disconnected` at
    once, not after the 30 s grace: it cannot come back."""
    server = recording_server(relay, recovery=False)
    session = f"s-{uuid.uuid4().hex[:8]}"
    desktop = JsonDevice(server)
    join(desktop, session, "desktop")
    phone = SocketIODevice(server)
    join(phone, session, "mobile", "side")
    assert desktop.expect("device_joined")["deviceId"] == phone.id
    phone.client.conn.socket.shutdown(socket.SHUT_RDWR)  # vanishes: no close frame, no DISCONNECT
    gone = desktop.expect("device_disconnected", timeout=3)
    assert gone["deviceId"] == phone.id


def test_a_recording_phone_recovers_into_its_session(relay):
    """deploy/recording-rooms.yaml as shipped (recovery on): a phone that drops while the desktop
    starts a take comes back (over long-polling, as io(url) starts) as the same device, gets the
    start it missed, and the room never hears it left."""
    cfg = yaml.safe_load(RECORDING_YAML.read_text())
    assert cfg["endpoints"][0]["socketio"]["connectionStateRecovery"] is True
    server = relay(cfg, env=LOCAL_ENV)
    session = f"s-{uuid.uuid4().hex[:8]}"
    desktop = JsonDevice(server)
    join(desktop, session, "desktop")
    phone = connect(server, "websocket")
    phone.emit("join_session", {"sessionId": session, "deviceType": "mobile", "viewType": "side"})
    device_id = phone.expect("joined_session").data[0]["deviceId"]
    assert device_id == phone.sid
    phone.expect("device_joined")
    assert desktop.expect("device_joined")["deviceId"] == device_id
    phone.drop()
    time.sleep(0.2)
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "p", "duration": 60000})
    start = desktop.expect("start_recording")
    answer = reconnect(server, "polling", phone)
    assert answer["sid"] == device_id and phone.recovered is True
    assert phone.expect("start_recording").data == [start]
    desktop.silent(0.5)  # no device_disconnected
