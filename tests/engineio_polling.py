"""Raw Engine.IO v4 HTTP long-polling, and a raw Socket.IO v5 client with connection-state
recovery, for the tests of issue 15 (test_socketio_polling, _upgrade, _recovery, _cluster).

- ``shared_relay``: a relay shared by the tests of a module.
- ``encode_payload`` / ``decode_payload``: a polling body (packets joined by the record separator
  0x1E; a binary packet is ``b`` followed by its base64).
- ``http_call`` / ``Background``: one HTTP request on a fresh TCP connection (so that a
  round-robin proxy balances each request), in the foreground or in a thread.
- ``PollingSession``: one Engine.IO long-polling session request by request: the test decides
  when to GET and POST and sees every status, header and body. ``ports`` may name several
  relays (cluster nodes): requests then go to each in turn.
- ``PolledLink`` / ``WebSocketLink``: an Engine.IO session with a background reader that answers
  the server's pings, over either transport, for the Socket.IO layer.
- ``SocketIOClient``: Socket.IO on a link (namespace CONNECT, events, acks, binary attachments)
  with connection-state recovery exactly as socket.io-client 4.6+ speaks it: it remembers the
  ``pid`` of the CONNECT answer, takes the last argument of each event as its offset when that is
  a string, reconnects with ``{"pid":…,"offset":…}`` (no ``offset`` before any event arrived),
  and is ``recovered`` when the answer carries the ``pid`` it sent.
"""

from __future__ import annotations

import base64
import http.client
import json
import queue
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import pytest

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from relay_helpers import HOST, RECV_TIMEOUT, RelayServer, json_text

SEPARATOR = b"\x1e"
SOCKETIO_PATH = "/socket.io/"

Packet = str | bytes


# ---------------------------------------------------------------------------
# A relay shared by the tests of a module
# ---------------------------------------------------------------------------


def shared_relay(name: str, config: Callable[[], dict | str], env: dict[str, str] | None = None) -> tuple[Any, Any]:
    """Two fixtures for a test module: ``_<name>_relay``, one relay on ``config()`` for the whole
    module, and ``name``, that relay attached to each test (its logs on failure, the test's
    clients closed afterwards). Assign both to module attributes."""
    module_name = f"_{name}_relay"

    @pytest.fixture(scope="module", name=module_name)
    def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayServer]:
        server = RelayServer(tmp_path_factory.mktemp(f"relay-{name}"), config(), env=env)
        try:
            yield server.start()
        finally:
            server.stop()

    @pytest.fixture(name=name)
    def attached(request: pytest.FixtureRequest, track_server: Callable[[RelayServer], RelayServer]) -> RelayServer:
        return track_server(request.getfixturevalue(module_name))

    return shared, attached


# ---------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------


def encode_payload(packets: Sequence[Packet]) -> bytes:
    """A polling body: text packets as they are, binary ones as ``b`` + base64, joined by 0x1E."""
    parts = []
    for packet in packets:
        if isinstance(packet, bytes):
            parts.append(b"b" + base64.b64encode(packet))
        else:
            parts.append(packet.encode())
    return SEPARATOR.join(parts)


def decode_payload(body: bytes) -> list[Packet]:
    """The packets of a polling body (``b`` packets decoded to bytes)."""
    packets: list[Packet] = []
    for part in body.split(SEPARATOR):
        text = part.decode()
        if text.startswith("b"):
            packets.append(base64.b64decode(text[1:], validate=True))
        else:
            packets.append(text)
    return packets


# ---------------------------------------------------------------------------
# HTTP, one request per TCP connection
# ---------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)

    def packets(self) -> list[Packet]:
        assert self.status == 200, f"HTTP {self.status}: {self.body[:300]!r}"
        return decode_payload(self.body)

    def error_code(self) -> int:
        """The Engine.IO error code of a refusal (its body is ``{"code":N,"message":…}``)."""
        value = self.json()
        assert isinstance(value, dict) and set(value) >= {"code", "message"}, value
        assert isinstance(value["code"], int) and isinstance(value["message"], str), value
        return value["code"]


class HTTPCall:
    """One HTTP request on its own TCP connection; ``abort`` cuts it (no answer is read)."""

    def __init__(self, port: int, method: str, target: str, body: bytes | str | None = None,
                 headers: dict[str, str] | None = None, timeout: float = RECV_TIMEOUT):
        self.port, self.method, self.target, self.timeout = port, method, target, timeout
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = {"Connection": "close", **(headers or {})}
        self.conn: http.client.HTTPConnection | None = None

    def run(self) -> Reply:
        self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            self.conn.request(self.method, self.target, body=self.body, headers=self.headers)
            resp = self.conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            self.conn.close()

    def abort(self) -> None:
        """Resets the TCP connection (the server sees the client vanish)."""
        conn = self.conn
        sock = conn.sock if conn is not None else None
        if sock is None:
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def http_call(port: int, method: str, target: str, body: bytes | str | None = None,
              headers: dict[str, str] | None = None, timeout: float = RECV_TIMEOUT) -> Reply:
    return HTTPCall(port, method, target, body, headers, timeout).run()


def websocket_upgrade(port: int, target: str, timeout: float = RECV_TIMEOUT) -> Reply:
    """The HTTP answer to a WebSocket upgrade request for ``target`` (a refusal's status and
    body; 101 when it was accepted)."""
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(b"relay-issue-15-k").decode()}
    call = HTTPCall(port, "GET", target, None, headers, timeout)
    call.headers = headers  # no `Connection: close`: this is an upgrade
    return call.run()


class Background(threading.Thread):
    """An ``HTTPCall`` in a thread: ``result()`` waits for its reply (or re-raises its error)."""

    def __init__(self, call: HTTPCall):
        super().__init__(daemon=True)
        self.call = call
        self.reply: Reply | None = None
        self.error: BaseException | None = None
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self.start()

    def run(self) -> None:
        try:
            self.reply = self.call.run()
        except BaseException as exc:  # reported by result()
            self.error = exc
        self.finished_at = time.monotonic()

    def done(self) -> bool:
        return not self.is_alive()

    def result(self, timeout: float = RECV_TIMEOUT) -> Reply:
        self.join(timeout)
        assert not self.is_alive(), f"{self.call.method} {self.call.target} not answered within {timeout}s"
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply

    @property
    def elapsed(self) -> float:
        assert self.finished_at is not None
        return self.finished_at - self.started_at


# ---------------------------------------------------------------------------
# Engine.IO long-polling, request by request
# ---------------------------------------------------------------------------


def polling_target(path: str = SOCKETIO_PATH, sid: str | None = None, **query: Any) -> str:
    params = {"EIO": "4", "transport": "polling", **{k: str(v) for k, v in query.items()}}
    if sid is not None:
        params["sid"] = sid
    return f"{path}?{urllib.parse.urlencode(params)}"


class PollingSession:
    """One Engine.IO long-polling session. ``ports``: one relay, or several taken in turn (one
    per request). ``server`` (optional) closes the session at the end of the test."""

    def __init__(self, ports: int | Sequence[int], path: str = SOCKETIO_PATH, query: dict | None = None,
                 headers: dict[str, str] | None = None, handshake: bool = True, server: Any = None):
        self.ports = [ports] if isinstance(ports, int) else list(ports)
        self.turn = 0
        self.path = path
        self.query = dict(query or {})
        self.headers = dict(headers or {})
        self.sid: str | None = None
        self.open_packet: dict | None = None
        self.handshake_reply: Reply | None = None
        self.early: list[Packet] = []  # packets that came with the open packet
        self.requests: list[tuple[str, int]] = []  # (method, port) of every request, in order
        if server is not None:
            server.clients.append(self)
        if handshake:
            self.handshake()

    # -- addressing -------------------------------------------------------------
    def next_port(self) -> int:
        port = self.ports[self.turn % len(self.ports)]
        self.turn += 1
        return port

    def target(self, with_sid: bool = True) -> str:
        return polling_target(self.path, self.sid if with_sid else None, **self.query)

    def call(self, method: str, body: bytes | str | None = None, port: int | None = None,
             timeout: float = RECV_TIMEOUT, headers: dict[str, str] | None = None, with_sid: bool = True) -> HTTPCall:
        port = self.next_port() if port is None else port
        self.requests.append((method, port))
        return HTTPCall(port, method, self.target(with_sid), body, {**self.headers, **(headers or {})}, timeout)

    # -- requests -----------------------------------------------------------------
    def handshake(self, port: int | None = None) -> dict:
        reply = self.call("GET", port=port, with_sid=False).run()
        self.handshake_reply = reply
        assert reply.status == 200, f"polling handshake: HTTP {reply.status} {reply.body[:300]!r}"
        packets = decode_payload(reply.body)
        first = packets[0]
        assert isinstance(first, str) and first.startswith("0"), f"expected the open packet, got {reply.body!r}"
        self.open_packet = json.loads(first[1:])
        self.sid = self.open_packet["sid"]
        self.early = packets[1:]
        return self.open_packet

    def get(self, port: int | None = None, timeout: float = RECV_TIMEOUT) -> Reply:
        return self.call("GET", port=port, timeout=timeout).run()

    def get_async(self, port: int | None = None, timeout: float = RECV_TIMEOUT) -> Background:
        return Background(self.call("GET", port=port, timeout=timeout))

    def poll(self, port: int | None = None, timeout: float = RECV_TIMEOUT) -> list[Packet]:
        """A GET that must succeed: its packets."""
        return self.get(port, timeout).packets()

    def post(self, *packets: Packet, port: int | None = None, timeout: float = RECV_TIMEOUT) -> Reply:
        return self.call("POST", encode_payload(packets), port=port, timeout=timeout).run()

    def post_raw(self, body: bytes | str, port: int | None = None, timeout: float = RECV_TIMEOUT) -> Reply:
        return self.call("POST", body, port=port, timeout=timeout).run()

    def send(self, *packets: Packet, port: int | None = None) -> None:
        """A POST that must be taken: 200 ``ok``."""
        reply = self.post(*packets, port=port)
        assert reply.status == 200 and reply.body == b"ok", f"POST: HTTP {reply.status} {reply.body[:300]!r}"

    def packets_until(self, predicate: Callable[[list[Packet]], bool], timeout: float = RECV_TIMEOUT,
                      answer_pings: bool = True) -> list[Packet]:
        """GETs until the packets received so far (pings left out and answered) satisfy ``predicate``."""
        deadline = time.monotonic() + timeout
        got: list[Packet] = list(self.early)
        self.early = []
        while not predicate(got):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out after {timeout}s; got {got!r}"
            for packet in self.poll(timeout=remaining + 1):
                if packet == "2":
                    if answer_pings:
                        self.send("3")
                    continue
                if packet == "6":
                    continue
                got.append(packet)
        return got

    def close(self) -> None:
        """Best effort: the client's close packet."""
        if self.sid is None:
            return
        try:
            self.post("1", timeout=2)
        except Exception:
            pass


# ---------------------------------------------------------------------------
# Engine.IO links for the Socket.IO layer (a reader thread answers pings)
# ---------------------------------------------------------------------------


class LinkClosed(AssertionError):
    """The Engine.IO session ended: ``how`` says how (close packet, HTTP status, close code)."""

    def __init__(self, how: str):
        super().__init__(f"Engine.IO session ended: {how}")
        self.how = how


_END = object()


class Link:
    """What both transports share: a queue of received packets, filled by a reader thread."""

    kind = "?"

    def __init__(self, auto_pong: bool = True):
        self.auto_pong = auto_pong
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.ended: str | None = None
        self.pings = 0
        self.stopping = False

    def recv(self, timeout: float = RECV_TIMEOUT) -> Packet:
        """The next packet (not a ping when auto_pong); ``TimeoutError`` when none came in time;
        ``LinkClosed`` once the session has ended."""
        try:
            item = self.inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            raise TimeoutError(f"no Engine.IO packet within {timeout:.2f}s") from None
        if item is _END:
            self.inbox.put(_END)
            raise LinkClosed(self.ended or "ended")
        return item

    def _end(self, how: str) -> None:
        if self.ended is None:
            self.ended = how
        self.inbox.put(_END)

    def wait_ended(self, timeout: float) -> str:
        """Reads (discarding) until the session ends; returns how it ended."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.kind} session still open after {timeout}s")
            try:
                self.recv(remaining)
            except LinkClosed as closed:
                return closed.how
            except TimeoutError:
                continue

    def send(self, *packets: Packet) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PolledLink(Link):
    """An Engine.IO session over long-polling: a thread keeps one GET pending and queues what it
    brings; POSTs (the test's and the pongs) go one at a time."""

    kind = "polling"

    def __init__(self, session: PollingSession, auto_pong: bool = True):
        super().__init__(auto_pong)
        self.session = session
        self.sid = session.sid
        self.open_packet = session.open_packet
        self.post_lock = threading.Lock()
        self.current: HTTPCall | None = None
        for packet in session.early:
            self._take(packet)
        session.early = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @classmethod
    def open(cls, ports: int | Sequence[int], path: str = SOCKETIO_PATH, query: dict | None = None,
             headers: dict[str, str] | None = None, server: Any = None, auto_pong: bool = True) -> "PolledLink":
        link = cls(PollingSession(ports, path, query, headers), auto_pong)
        if server is not None:
            server.clients.append(link)
        return link

    def _take(self, packet: Packet) -> bool:
        """Handles one packet; False once the session has ended."""
        if packet == "2":
            self.pings += 1
            if self.auto_pong:
                # from another thread: this one must go on polling even while a POST waits
                threading.Thread(target=self._pong, daemon=True).start()
                return True
        if packet == "6":
            return True
        if packet == "1":
            self._end("close packet")
            return False
        self.inbox.put(packet)
        return True

    def _pong(self) -> None:
        try:
            self.send("3")
        except (AssertionError, OSError, http.client.HTTPException):
            pass

    def _run(self) -> None:
        settings = self.open_packet or {}
        wait = (settings.get("pingInterval", 25000) + settings.get("pingTimeout", 20000)) / 1000 + 10
        while not self.stopping:
            call = self.session.call("GET", timeout=wait)
            self.current = call
            try:
                reply = call.run()
            except (OSError, http.client.HTTPException) as exc:
                self._end(f"GET failed: {exc!r}")
                return
            if self.stopping:
                return
            if reply.status != 200:
                self._end(f"HTTP {reply.status} {reply.body[:200]!r}")
                return
            for packet in decode_payload(reply.body):
                if not self._take(packet):
                    return

    def send(self, *packets: Packet) -> None:
        with self.post_lock:
            reply = self.session.post(*packets)
        if reply.status != 200 or reply.body != b"ok":
            raise LinkClosed(f"POST answered HTTP {reply.status} {reply.body[:200]!r}")

    def drop(self) -> None:
        """Vanishes: no more requests, the pending GET's connection reset."""
        self.stopping = True
        if self.current is not None:
            self.current.abort()
        self.thread.join(5)

    def close(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        try:
            with self.post_lock:
                self.session.post("1", timeout=2)
        except Exception:
            pass
        self.thread.join(5)


class WebSocketLink(Link):
    """An Engine.IO session over WebSocket (from the start, or ``sid`` to upgrade a polling one:
    then no open packet is awaited)."""

    kind = "websocket"

    def __init__(self, port: int, path: str = SOCKETIO_PATH, query: dict | None = None, sid: str | None = None,
                 headers: dict[str, str] | None = None, handshake: bool = True, auto_pong: bool = True,
                 server: Any = None):
        super().__init__(auto_pong)
        params = {"EIO": "4", "transport": "websocket", **{k: str(v) for k, v in (query or {}).items()}}
        if sid is not None:
            params["sid"] = sid
        self.conn = ws_connect(f"ws://{HOST}:{port}{path}?{urllib.parse.urlencode(params)}", open_timeout=5,
                               close_timeout=1, proxy=None, max_size=2**24, additional_headers=headers,
                               legacy=True)
        if server is not None:
            server.clients.append(self)
        self.sid = sid
        self.open_packet: dict | None = None
        self.close_code: int | None = None
        if handshake and sid is None:
            first = self.conn.recv(timeout=RECV_TIMEOUT)
            assert isinstance(first, str) and first.startswith("0"), f"expected the open packet, got {first!r}"
            self.open_packet = json.loads(first[1:])
            self.sid = self.open_packet["sid"]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                frame = self.conn.recv()
            except ConnectionClosed as exc:
                self.close_code = exc.rcvd.code if exc.rcvd else None
                self._end(f"closed (code={self.close_code})")
                return
            except Exception as exc:
                self._end(f"failed: {exc!r}")
                return
            if frame == "2":
                self.pings += 1
                if self.auto_pong:
                    try:
                        self.conn.send("3")
                    except Exception:
                        pass
                    continue
            self.inbox.put(frame)

    def send(self, *packets: Packet) -> None:
        try:
            for packet in packets:
                self.conn.send(packet)
        except ConnectionClosed as exc:
            raise LinkClosed(f"send failed: {exc}") from None

    def drop(self) -> None:
        """Vanishes: TCP reset, no close frame."""
        self.stopping = True
        sock = self.conn.socket
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        try:
            self.conn.close()
        except Exception:
            pass

    def close(self) -> None:
        self.stopping = True
        try:
            self.conn.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# Socket.IO
# ---------------------------------------------------------------------------


class ConnectRefused(AssertionError):
    def __init__(self, payload: Any):
        super().__init__(f"CONNECT refused: {payload!r}")
        self.payload = payload


@dataclass
class Event:
    name: str
    args: list[Any]          # every argument, the offset included when there is one
    offset: str | None       # the offset this event carried (recovery on), else None

    @property
    def data(self) -> list[Any]:
        """The arguments without the offset."""
        return self.args[:-1] if self.offset is not None else self.args


def _deconstruct(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, (bytes, bytearray)):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, list):
        return [_deconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: _deconstruct(v, attachments) for k, v in value.items()}
    return value


def _reconstruct(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, dict):
        if value.get("_placeholder") is True and isinstance(value.get("num"), int):
            return attachments[value["num"]]
        return {k: _reconstruct(v, attachments) for k, v in value.items()}
    if isinstance(value, list):
        return [_reconstruct(v, attachments) for v in value]
    return value


@dataclass
class SocketIOPacket:
    kind: int
    namespace: str
    ack_id: int | None
    data: Any
    attachments: int = 0


def parse_socketio(text: str) -> SocketIOPacket:
    """A Socket.IO packet from an Engine.IO message packet (``4…``)."""
    assert text.startswith("4") and len(text) >= 2, f"not a Socket.IO packet: {text!r}"
    kind = int(text[1])
    rest = text[2:]
    attachments = 0
    if kind in (5, 6):
        count, _, rest = rest.partition("-")
        attachments = int(count)
    namespace = "/"
    if rest.startswith("/"):
        namespace, comma, tail = rest.partition(",")
        rest = tail if comma else ""
    digits = ""
    while rest and rest[0].isdigit():
        digits += rest[0]
        rest = rest[1:]
    data = json.loads(rest) if rest else None
    return SocketIOPacket(kind, namespace, int(digits) if digits else None, data, attachments)


class SocketIOClient:
    """A Socket.IO client in one namespace on an Engine.IO link, recovering its session as
    socket.io-client 4.6+ does. ``connect(link)`` again (on a new link, after a drop) sends the
    remembered ``pid`` and last ``offset``."""

    def __init__(self, namespace: str = "/", auth: dict | None = None):
        self.namespace = namespace
        self.prefix = "" if namespace == "/" else namespace + ","
        self.auth = auth
        self.link: Link | None = None
        self.sid: str | None = None
        self.pid: str | None = None
        self.offset: str | None = None
        self.recovered: bool | None = None
        self.answer: dict | None = None
        self.events: list[Event] = []      # received, not yet taken by expect()
        self.received: list[Event] = []    # everything received, in order
        self.acks: dict[int, list[Any]] = {}
        self.next_ack = 1
        self.connect_packets: list[str] = []

    # -- connecting -----------------------------------------------------------------
    def connect_payload(self) -> dict:
        """What socket.io-client sends: ``Object.assign({pid, offset}, auth)`` once it has a pid."""
        payload: dict[str, Any] = {}
        if self.pid is not None:
            payload["pid"] = self.pid
            if self.offset is not None:
                payload["offset"] = self.offset
        payload.update(self.auth or {})
        return payload

    def connect(self, link: Link, timeout: float = RECV_TIMEOUT) -> dict:
        self.link = link
        payload = self.connect_payload()
        packet = f"40{self.prefix}{json_text(payload) if payload else ''}"
        self.connect_packets.append(packet)
        link.send(packet)
        deadline = time.monotonic() + timeout
        while True:
            raw = link.recv(max(0.0, deadline - time.monotonic()))
            assert isinstance(raw, str), f"binary packet before the CONNECT answer: {raw!r}"
            parsed = parse_socketio(raw)
            if parsed.namespace != self.namespace:
                continue
            if parsed.kind == 4:
                raise ConnectRefused(parsed.data)
            assert parsed.kind == 0, f"expected the CONNECT answer, got {raw!r}"
            answer = parsed.data
            assert isinstance(answer, dict) and isinstance(answer.get("sid"), str), raw
            pid = answer.get("pid")
            self.recovered = bool(pid) and pid == self.pid
            self.pid = pid
            self.sid = answer["sid"]
            self.answer = answer
            return answer

    # -- sending -------------------------------------------------------------------
    def emit(self, event: str, *args: Any, ack: bool = False) -> int | None:
        ack_id = None
        if ack:
            ack_id = self.next_ack
            self.next_ack += 1
        attachments: list[bytes] = []
        data = _deconstruct([event, *args], attachments)
        ack_text = "" if ack_id is None else str(ack_id)
        if attachments:
            self.link.send(f"45{len(attachments)}-{self.prefix}{ack_text}{json_text(data)}", *attachments)
        else:
            self.link.send(f"42{self.prefix}{ack_text}{json_text(data)}")
        return ack_id

    def send_raw(self, *packets: Packet) -> None:
        self.link.send(*packets)

    def disconnect(self) -> None:
        """A clean leave: DISCONNECT, then the Engine.IO close."""
        try:
            self.link.send(f"41{self.prefix}")
        except (AssertionError, OSError):
            pass
        self.link.close()

    def drop(self) -> None:
        self.link.drop()

    # -- receiving -----------------------------------------------------------------
    def _read_one(self, deadline: float) -> None:
        raw = self.link.recv(max(0.0, deadline - time.monotonic()))
        assert isinstance(raw, str), f"unexpected binary packet {raw!r}"
        packet = parse_socketio(raw)
        attachments = [self._attachment(deadline) for _ in range(packet.attachments)]
        if packet.namespace != self.namespace:
            raise AssertionError(f"packet for another namespace: {raw!r}")
        data = _reconstruct(packet.data, attachments)
        if packet.kind in (2, 5):
            assert isinstance(data, list) and data and isinstance(data[0], str), raw
            args = data[1:]
            offset = None
            if self.pid is not None and args and isinstance(args[-1], str):
                offset = args[-1]
                self.offset = offset
            event = Event(data[0], args, offset)
            self.events.append(event)
            self.received.append(event)
        elif packet.kind in (3, 6):
            self.acks[packet.ack_id] = data
        elif packet.kind == 1:
            raise LinkClosed("DISCONNECT from the server")
        else:
            raise AssertionError(f"unexpected Socket.IO packet {raw!r}")

    def _attachment(self, deadline: float) -> bytes:
        raw = self.link.recv(max(0.0, deadline - time.monotonic()))
        assert isinstance(raw, bytes), f"expected a binary attachment, got {raw!r}"
        return raw

    def _read_until(self, ready: Callable[[], Any], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            self._read_one(deadline)

    def next_event(self, timeout: float = RECV_TIMEOUT) -> Event:
        self._read_until(lambda: self.events, timeout)
        return self.events.pop(0)

    def expect(self, name: str, timeout: float = RECV_TIMEOUT, skip: tuple[str, ...] = ()) -> Event:
        """The next event called ``name``; events in ``skip`` are passed over, others fail."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(0.0, deadline - time.monotonic()))
            if event.name == name:
                return event
            if event.name not in skip:
                raise AssertionError(f"expected event {name!r}, got {event.name!r} {event.args!r}")

    def collect(self, name: str, count: int, timeout: float = RECV_TIMEOUT,
                skip: tuple[str, ...] = ()) -> list[Event]:
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            try:
                got.append(self.expect(name, max(0.0, deadline - time.monotonic()), skip))
            except TimeoutError:
                raise AssertionError(f"{len(got)} of {count} {name!r} events within {timeout}s: "
                                     f"{[e.args for e in got[-5:]]!r}") from None
        return got

    def expect_ack(self, ack_id: int, timeout: float = RECV_TIMEOUT) -> list[Any]:
        self._read_until(lambda: ack_id in self.acks, timeout)
        return self.acks.pop(ack_id)

    def call(self, event: str, *args: Any, timeout: float = RECV_TIMEOUT) -> list[Any]:
        return self.expect_ack(self.emit(event, *args, ack=True), timeout)

    def silent(self, duration: float, skip: tuple[str, ...] = ()) -> None:
        """No event (but those in ``skip``) arrives within ``duration`` seconds."""
        deadline = time.monotonic() + duration
        while True:
            while self.events:
                event = self.events.pop(0)
                if event.name not in skip:
                    raise AssertionError(f"unexpected event {event.name!r} {event.args!r}")
            if time.monotonic() >= deadline:
                return
            try:
                self._read_one(deadline)
            except TimeoutError:
                return

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
