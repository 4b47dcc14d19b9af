"""``SocketIOClient``: Socket.IO v5 on an Engine.IO link (namespace CONNECT, events, acks, binary
attachments) with connection-state recovery exactly as socket.io-client 4.6+ speaks it."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from engineio_http import Packet
from engineio_links import Link, LinkClosed
from relay_helpers import RECV_TIMEOUT, json_text


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


class DirectStream(threading.Thread):
    """``total`` numbered pubsub directs (``{"to": to, "data": n}``) from ``sender``, ``pause``
    seconds apart, sent on a thread that starts at once; ``finish`` waits for it and raises what
    went wrong there."""

    def __init__(self, sender: SocketIOClient, to: str, total: int, pause: float = 0.0):
        super().__init__(daemon=True)
        self.sender, self.to, self.total, self.pause = sender, to, total, pause
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            for n in range(self.total):
                self.sender.emit("direct", {"to": self.to, "data": n})
                if self.pause:
                    time.sleep(self.pause)
        except BaseException as exc:  # raised again by finish(), in the test's thread
            self.error = exc

    def finish(self, timeout: float) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"the sender had not sent {self.total} directs after {timeout}s"
        if self.error is not None:
            raise self.error
