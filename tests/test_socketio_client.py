"""Socket.IO compatibility with the real python-socketio client (transports=['websocket'], and at
the end its default transports, long-polling then the upgrade, and transports=['polling']):
connect, emit and receive, call with an acknowledgement, the CONNECT auth payload's token,
binary attachments, namespaces, kernel errors as `error` events, and a python-socketio device
in the same recording room as a json device, each seeing the other's events.
"""

from __future__ import annotations

import queue
import time
import uuid
from typing import Any, Callable

import pytest
import socketio

from engineio_polling import shared_relay
from recording_helpers import JsonDevice
from relay_helpers import HOST, RelayServer

RECORDING_TYPES = ("join_session", "start_recording", "stop_recording", "upload_completed", "time_sync")
WAIT = 5.0
# A refused CONNECT currently ends in a close without the CONNECT_ERROR packet (see
# test_socketio_protocol.py::test_refused_connect_sends_connect_error_before_closing), so
# python-socketio only gives up after its wait_timeout: keep that short for refusals.
REFUSAL_WAIT = 1.0


def config() -> dict:
    echo = [{"endpoint": ep, "type": t, "plugin": "echo"}
            for ep in ("/socket.io/", "/secure.io/") for t in ("message", "message-with-ack")]
    recording = [{"endpoint": ep, "type": t, "plugin": "recording"}
                 for ep in ("/socket.io/", "/ws/recording") for t in RECORDING_TYPES]
    return {
        "server": {"host": HOST, "resumeGrace": 1},
        "limits": {"messagesPerSecond": 0},
        "endpoints": [
            {"path": "/socket.io/", "codec": "socketio", "auth": "optional",
             "socketio": {"namespaces": ["/", "/custom"]}},
            {"path": "/secure.io/", "codec": "socketio", "auth": "required"},
            {"path": "/ws/recording", "codec": "json", "auth": "optional"},
        ],
        "plugins": {"echo": {"plugin": "echo"}, "recording": {"plugin": "recording-rooms"}},
        "routes": echo + recording,
    }


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> RelayServer:
    server = RelayServer(tmp_path_factory.mktemp("python-socketio"), config())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def server(_server: RelayServer, track_server) -> RelayServer:
    return track_server(_server)


class Inbox:
    """Every event a python-socketio client receives, in order, with a deadline on each wait."""

    def __init__(self, client: socketio.Client, events: tuple[str, ...], namespace: str = "/"):
        self.queue: queue.Queue[tuple[str, tuple]] = queue.Queue()
        for event in events:
            client.on(event, self._handler(event), namespace=namespace)

    def _handler(self, event: str) -> Callable[..., None]:
        return lambda *args: self.queue.put((event, args))

    def expect(self, event: str, timeout: float = WAIT) -> tuple:
        deadline = time.monotonic() + timeout
        while True:
            try:
                name, args = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"python-socketio: no {event!r} within {timeout}s") from None
            if name == event:
                return args
            raise AssertionError(f"python-socketio: expected {event!r}, got {name!r} {args!r}")

    def silent(self, duration: float) -> None:
        try:
            name, args = self.queue.get(timeout=duration)
        except queue.Empty:
            return
        raise AssertionError(f"python-socketio: unexpected {name!r} {args!r}")


@pytest.fixture
def make_client() -> Callable[..., tuple[socketio.Client, Inbox]]:
    clients: list[socketio.Client] = []

    def make(server: RelayServer, events: tuple[str, ...] = (), auth: dict | None = None,
             path: str = "socket.io", namespaces: list[str] | None = None,
             connect: bool = True) -> tuple[socketio.Client, Inbox]:
        client = socketio.Client(reconnection=False)
        clients.append(client)
        namespace = (namespaces or ["/"])[0]
        inbox = Inbox(client, events, namespace)
        if connect:
            client.connect(f"http://{HOST}:{server.port}", transports=["websocket"], socketio_path=path,
                           auth=auth, namespaces=namespaces, wait_timeout=WAIT)
        return client, inbox

    yield make
    for client in clients:
        try:
            client.disconnect()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# The codec, through the echo plugin
# ---------------------------------------------------------------------------


def test_connect_over_websocket_and_emit_receive(server, make_client):
    client, inbox = make_client(server, ("auth", "message-back"))
    assert client.transport() == "websocket"
    assert isinstance(client.get_sid(), str) and client.get_sid()
    assert inbox.expect("auth") == ({},)
    client.emit("message", ({"a": 1}, "two", 3))
    assert inbox.expect("message-back") == ({"a": 1}, "two", 3)
    client.emit("message", "plain")
    assert inbox.expect("message-back") == ("plain",)


def test_call_with_an_acknowledgement(server, make_client):
    client, inbox = make_client(server, ("auth",))
    inbox.expect("auth")
    assert client.call("message-with-ack", {"x": [1, 2, {"y": None}]}, timeout=WAIT) == {"x": [1, 2, {"y": None}]}
    assert client.call("message-with-ack", (1, "2", {"3": [False]}), timeout=WAIT) == (1, "2", {"3": [False]})


def test_binary_attachments_both_ways(server, make_client):
    client, inbox = make_client(server, ("auth", "message-back"))
    inbox.expect("auth")
    blob = bytes(range(256)) * 4
    client.emit("message", (blob, {"nested": b"\x00\x01"}))
    assert inbox.expect("message-back") == (blob, {"nested": b"\x00\x01"})
    assert client.call("message-with-ack", {"file": b"abc", "name": "f"}, timeout=WAIT) == {"file": b"abc", "name": "f"}


def test_custom_namespace(server, make_client):
    client, inbox = make_client(server, ("auth", "message-back"), namespaces=["/custom"])
    assert inbox.expect("auth") == ({},)
    client.emit("message", "in custom", namespace="/custom")
    assert inbox.expect("message-back") == ("in custom",)
    assert client.call("message-with-ack", 7, namespace="/custom", timeout=WAIT) == 7


def test_unknown_namespace_is_a_connection_error(server, make_client):
    client, _ = make_client(server, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(f"http://{HOST}:{server.port}", transports=["websocket"], namespaces=["/nope"],
                       wait_timeout=WAIT)


def test_auth_payload_token_is_verified(server, make_client):
    token = server.token("alice")
    client, inbox = make_client(server, ("auth", "message-back"), auth={"token": token}, path="secure.io")
    assert inbox.expect("auth") == ({"token": token},)
    client.emit("message", "authenticated")
    assert inbox.expect("message-back") == ("authenticated",)

    for auth in (None, {"token": "not-a-jwt"}, {"token": server.token("bob", ttl=-120)}):
        refused, _ = make_client(server, connect=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(f"http://{HOST}:{server.port}", transports=["websocket"], socketio_path="secure.io",
                            auth=auth, wait_timeout=REFUSAL_WAIT)


def test_a_bad_token_is_refused_on_an_optional_endpoint(server, make_client):
    client, _ = make_client(server, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(f"http://{HOST}:{server.port}", transports=["websocket"], auth={"token": "garbage"},
                       wait_timeout=REFUSAL_WAIT)


def test_kernel_errors_arrive_as_error_events(server, make_client):
    client, inbox = make_client(server, ("auth", "error"))
    inbox.expect("auth")
    client.emit("no-such-type", {"a": 1})
    (error,) = inbox.expect("error")
    assert error["code"] == "unknown_type" and error["ref"] == "no-such-type"


# ---------------------------------------------------------------------------
# A python-socketio device and a json device in one recording room
# ---------------------------------------------------------------------------


EVENTS = ("joined_session", "device_joined", "device_disconnected", "start_recording", "stop_recording",
          "session_completed", "time_sync", "error")


def test_python_socketio_and_json_devices_share_a_recording_room(server, make_client):
    session = f"s-{uuid.uuid4().hex[:8]}"
    desktop, inbox = make_client(server, EVENTS)
    desktop.emit("join_session", {"sessionId": session, "deviceType": "desktop", "viewType": "front"})
    (joined,) = inbox.expect("joined_session")
    assert joined["success"] is True and joined["deviceId"] == desktop.get_sid()
    assert joined["session"] == {"id": session, "status": "WAITING", "devices": [
        {"deviceId": desktop.get_sid(), "deviceType": "desktop", "viewType": "front"}]}
    inbox.expect("device_joined")

    phone = JsonDevice(server)
    phone.send("join_session", {"sessionId": session, "deviceType": "mobile", "viewType": "side"})
    assert phone.expect("joined_session")["session"]["status"] == "READY"
    assert phone.expect("device_joined")["deviceId"] == phone.id
    (seen,) = inbox.expect("device_joined")
    assert seen["deviceId"] == phone.id and seen["deviceType"] == "mobile" and seen["viewType"] == "side"

    # Clock sync: the answer comes back as the call's acknowledgement.
    t0 = time.time() * 1000
    answer = desktop.call("time_sync", {"t0": t0}, timeout=WAIT)
    assert answer["t0"] == t0 and t0 - 1 <= answer["t1"] <= answer["t2"] <= time.time() * 1000 + 1

    # A json phone may not start; the desktop hears nothing.
    phone.send("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 1000})
    assert phone.expect("error")["code"] == "forbidden"
    inbox.silent(0.3)

    ack = desktop.call("start_recording", {"sessionId": session, "postureLabel": "standing", "duration": 60000},
                       timeout=WAIT)
    (start,) = inbox.expect("start_recording")
    assert phone.expect("start_recording") == start
    assert ack == {**start, "success": True}
    assert start["startAt"] - start["timestamp"] == 500

    desktop.emit("stop_recording", {"sessionId": session})
    (stop,) = inbox.expect("stop_recording")
    assert phone.expect("stop_recording") == stop

    phone.send("upload_completed", {"recordingId": "phone-1", "fileSizeBytes": 2048})
    assert desktop.call("upload_completed", {"recordingId": "desk-1", "fileSizeBytes": 4096}, timeout=WAIT) == \
        {"success": True, "duplicate": False, "take": 1}
    (done,) = inbox.expect("session_completed")
    assert phone.expect("session_completed") == done
    assert done["sessionId"] == session

    desktop.disconnect()
    gone = phone.expect("device_disconnected", timeout=0.9)  # a clean disconnect leaves at once
    assert gone["deviceId"] == joined["deviceId"]


def test_json_desktop_starts_python_socketio_phones(server, make_client):
    session = f"s-{uuid.uuid4().hex[:8]}"
    desktop = JsonDevice(server)
    desktop.send("join_session", {"sessionId": session, "deviceType": "desktop", "viewType": "front"})
    desktop.expect("joined_session")
    desktop.expect("device_joined")
    phones = []
    for _ in range(2):
        phone, inbox = make_client(server, EVENTS)
        phone.emit("join_session", {"sessionId": session, "deviceType": "mobile", "viewType": "side"})
        inbox.expect("joined_session")
        inbox.expect("device_joined")
        for _, earlier in phones:
            earlier.expect("device_joined")
        desktop.expect("device_joined")
        phones.append((phone, inbox))
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "side-bend", "duration": 300})
    start = desktop.expect("start_recording")
    for _, inbox in phones:
        assert inbox.expect("start_recording") == (start,)
    stop = desktop.expect("stop_recording", timeout=3)
    assert stop["reason"] == "duration"
    for _, inbox in phones:
        assert inbox.expect("stop_recording", timeout=3) == (stop,)


# ---------------------------------------------------------------------------
# HTTP long-polling (issue 15): the default transports (polling, then the upgrade) and polling only
# ---------------------------------------------------------------------------


def short_ping_config() -> dict:
    """config() with 1 s pings. python-engineio's client can lose its own close packet in a race
    (its writer exits on the state change before sending it) and then waits for the server's next
    ping to end its last poll: short pings keep that wait (at teardown) to a second."""
    cfg = config()
    for endpoint in cfg["endpoints"]:
        if endpoint["codec"] == "socketio":
            endpoint.setdefault("socketio", {}).update({"pingInterval": 1000, "pingTimeout": 1000})
    return cfg


_polling_server_relay, polling_server = shared_relay("polling_server", short_ping_config)


@pytest.fixture
def connect_with(make_client) -> Callable[..., tuple[socketio.Client, Inbox]]:
    """A python-socketio client connected with the given transports (None: its defaults)."""

    def connect(server: RelayServer, transports: list[str] | None, events: tuple[str, ...] = (),
                auth: dict | None = None, path: str = "socket.io",
                namespaces: list[str] | None = None) -> tuple[socketio.Client, Inbox]:
        client, inbox = make_client(server, events, namespaces=namespaces, connect=False)
        chosen: dict[str, Any] = {} if transports is None else {"transports": transports}
        client.connect(f"http://{HOST}:{server.port}", socketio_path=path, auth=auth, namespaces=namespaces,
                       wait_timeout=WAIT, **chosen)
        return client, inbox

    return connect


def exchange(client: socketio.Client, inbox: Inbox) -> None:
    """Emit and receive, call with an ack, binary attachments both ways."""
    client.emit("message", ({"a": 1}, "two", 3))
    assert inbox.expect("message-back") == ({"a": 1}, "two", 3)
    assert client.call("message-with-ack", (1, "2", {"3": [False]}), timeout=WAIT) == (1, "2", {"3": [False]})
    blob = bytes(range(256)) * 4
    client.emit("message", (blob, {"nested": b"\x00\x01"}))
    assert inbox.expect("message-back") == (blob, {"nested": b"\x00\x01"})
    assert client.call("message-with-ack", {"file": b"abc", "name": "f"}, timeout=WAIT) == {"file": b"abc", "name": "f"}


def test_default_transports_poll_first_then_upgrade_to_websocket(polling_server, connect_with):
    client, inbox = connect_with(polling_server, None, ("auth", "message-back"))
    assert client.eio.upgrades == ["websocket"], "the session did not start with a polling handshake"
    deadline = time.monotonic() + WAIT
    while client.transport() != "websocket" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.transport() == "websocket"
    assert inbox.expect("auth") == ({},)
    exchange(client, inbox)
    assert client.transport() == "websocket"


def test_polling_only_transport(polling_server, connect_with):
    client, inbox = connect_with(polling_server, ["polling"], ("auth", "message-back"))
    assert client.transport() == "polling"
    assert inbox.expect("auth") == ({},)
    exchange(client, inbox)
    time.sleep(0.5)
    assert client.transport() == "polling"


@pytest.mark.parametrize("transports", [None, ["polling"]], ids=["default", "polling"])
def test_custom_namespace_over_polling_and_upgrade(polling_server, connect_with, transports):
    client, inbox = connect_with(polling_server, transports, ("auth", "message-back"), namespaces=["/custom"])
    assert inbox.expect("auth") == ({},)
    client.emit("message", "in custom", namespace="/custom")
    assert inbox.expect("message-back") == ("in custom",)
    assert client.call("message-with-ack", 7, namespace="/custom", timeout=WAIT) == 7


@pytest.mark.parametrize("transports", [None, ["polling"]], ids=["default", "polling"])
def test_auth_payload_token_over_polling_and_upgrade(polling_server, connect_with, transports):
    token = polling_server.token("alice")
    client, inbox = connect_with(polling_server, transports, ("auth", "message-back"), auth={"token": token},
                                 path="secure.io")
    assert inbox.expect("auth") == ({"token": token},)
    client.emit("message", "authenticated")
    assert inbox.expect("message-back") == ("authenticated",)


@pytest.mark.parametrize("transports", [None, ["polling"]], ids=["default", "polling"])
def test_a_refused_connect_over_polling_fails_promptly(polling_server, transports):
    """A CONNECT refused over long-polling (44) makes python-socketio's connect() raise at once,
    every time. (Should the close packet come in the same response as the CONNECT_ERROR,
    python-engineio's reader empties the send queue under its writer, which then waits
    max(pingInterval, pingTimeout) + 5 s before connect() gives up.)"""
    for _ in range(5):
        refused = socketio.Client(reconnection=False)
        started = time.monotonic()
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(f"http://{HOST}:{polling_server.port}", transports=transports or ["polling", "websocket"],
                            socketio_path="secure.io", auth={"token": "not-a-jwt"}, wait_timeout=REFUSAL_WAIT)
        assert time.monotonic() - started < REFUSAL_WAIT + 2


@pytest.mark.parametrize("transports", [None, ["polling"]], ids=["default", "polling"])
def test_python_socketio_over_polling_shares_a_recording_room_with_a_json_device(polling_server, connect_with,
                                                                                  transports):
    session = f"s-{uuid.uuid4().hex[:8]}"
    desktop, inbox = connect_with(polling_server, transports, EVENTS)
    desktop.emit("join_session", {"sessionId": session, "deviceType": "desktop", "viewType": "front"})
    (joined,) = inbox.expect("joined_session")
    assert joined["deviceId"] == desktop.get_sid()
    inbox.expect("device_joined")
    phone = JsonDevice(polling_server)
    phone.send("join_session", {"sessionId": session, "deviceType": "mobile", "viewType": "side"})
    phone.expect("joined_session")
    phone.expect("device_joined")
    assert inbox.expect("device_joined")[0]["deviceId"] == phone.id
    ack = desktop.call("start_recording", {"sessionId": session, "postureLabel": "p", "duration": 60000},
                       timeout=WAIT)
    (start,) = inbox.expect("start_recording")
    assert phone.expect("start_recording") == start and ack == {**start, "success": True}
    desktop.disconnect()
    # A clean leave: the room hears it at once, not after the 30 s resume grace.
    assert phone.expect("device_disconnected", timeout=WAIT)["deviceId"] == joined["deviceId"]


def test_a_polling_client_receives_a_burst_of_events(polling_server, connect_with):
    """40 events wait for one GET: python-engineio's client refuses a payload of more than 16
    packets (`Payload.max_decode_packets`), so the relay must not put more in one response."""
    client, inbox = connect_with(polling_server, ["polling"], ("auth", "message-back"))
    assert inbox.expect("auth") == ({},)
    for n in range(40):
        client.emit("message", n)
    assert [inbox.expect("message-back")[0] for _ in range(40)] == list(range(40))
    assert client.call("message-with-ack", "still connected", timeout=WAIT) == "still connected"

