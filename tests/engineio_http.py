"""Engine.IO v4 long-polling over raw HTTP for the Socket.IO tests: ``shared_relay`` (a relay shared
by the tests of a module), polling bodies (``encode_payload`` / ``decode_payload``), one HTTP
request per TCP connection (``http_call``, ``Background``) and ``PollingSession``, a session driven
request by request."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import pytest

from relay_helpers import HOST, RECV_TIMEOUT, RelayServer


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
