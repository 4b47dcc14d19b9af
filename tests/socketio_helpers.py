"""Helpers for talking Engine.IO v4 / Socket.IO v5 to the relay over raw WebSocket frames.

``EIOClient`` is a ``websockets`` sync connection to ``/socket.io/?EIO=4&transport=websocket``
that hands back each frame as it arrived (``str`` for text, ``bytes`` for binary), with a
deadline on every receive. ``SIOClient`` adds the Socket.IO layer: namespace connect, events,
acknowledgements, answering server pings, so a test can join recording rooms as a browser's
``io(url, {transports: ['websocket']})`` would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from relay_helpers import HOST, REPO, RECV_TIMEOUT, RelayServer, json_text

SOCKETIO_SUITE_YAML = REPO / "deploy" / "socketio-test-suite.yaml"
RECORDING_YAML = REPO / "deploy" / "recording-rooms.yaml"
EIO_PATH = "/socket.io/?EIO=4&transport=websocket"

# The shipped route files bind 0.0.0.0; tests listen on 127.0.0.1 only.
LOCAL_ENV = {"RELAY_SERVER_HOST": HOST}


def start_from_file(relay: Any, path: Path, env: dict[str, str] | None = None) -> RelayServer:
    """Start a relay on a shipped route file (its port overridden, bound to 127.0.0.1)."""
    return relay(path.read_text(), env={**LOCAL_ENV, **(env or {})})


class ClosedByServer(AssertionError):
    def __init__(self, code: int | None, reason: str, elapsed: float):
        super().__init__(f"closed by the server (code={code}, reason={reason!r}) after {elapsed:.3f}s")
        self.code = code
        self.reason = reason
        self.elapsed = elapsed


class EIOClient:
    """One raw Engine.IO WebSocket connection; frames in and out as they are on the wire."""

    def __init__(self, server: RelayServer, path: str = EIO_PATH, handshake: bool = True,
                 **ws_kwargs: Any):
        kwargs = {"open_timeout": 5, "close_timeout": 1, "proxy": None, "max_size": 2**24, "legacy": True}
        kwargs.update(ws_kwargs)
        self.opened = time.monotonic()
        self.conn = ws_connect(f"ws://{HOST}:{server.port}{path}", **kwargs)
        server.clients.append(self)
        self.open_packet: dict | None = None
        if handshake:
            first = self.recv()
            assert isinstance(first, str) and first.startswith("0"), f"expected the open packet, got {first!r}"
            self.open_packet = json.loads(first[1:])

    # -- frames -----------------------------------------------------------------
    def send(self, frame: str | bytes) -> None:
        self.conn.send(frame)

    def recv(self, timeout: float = RECV_TIMEOUT) -> str | bytes:
        """The next frame; raises ``ClosedByServer`` when the connection ends instead."""
        try:
            return self.conn.recv(timeout=timeout)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise ClosedByServer(rcvd.code if rcvd else None, rcvd.reason if rcvd else "",
                                 time.monotonic() - self.opened) from None

    def recv_packets(self, count: int, timeout: float = RECV_TIMEOUT, skip_pings: bool = True) -> list[str | bytes]:
        """The next ``count`` frames, ignoring Engine.IO pings (``2``) like the suite's waitForPackets."""
        deadline = time.monotonic() + timeout
        packets: list[str | bytes] = []
        while len(packets) < count:
            frame = self.recv(max(0.0, deadline - time.monotonic()))
            if skip_pings and frame == "2":
                continue
            packets.append(frame)
        return packets

    def recv_packet(self, timeout: float = RECV_TIMEOUT, skip_pings: bool = True) -> str | bytes:
        return self.recv_packets(1, timeout, skip_pings)[0]

    def wait_closed(self, timeout: float, answer_pings: bool = False) -> ClosedByServer:
        """Read until the server ends the connection; returns how (code, reason, elapsed since open)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"connection still open after {timeout}s")
            try:
                frame = self.recv(remaining)
            except ClosedByServer as closed:
                return closed
            except TimeoutError:
                continue
            if answer_pings and frame == "2":
                self.send("3")

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


class SIOClient(EIOClient):
    """A Socket.IO client on raw frames: connects a namespace, emits, waits for events and acks,
    and answers the server's Engine.IO pings while it waits."""

    def __init__(self, server: RelayServer, namespace: str = "/", auth: dict | None = None,
                 path: str = EIO_PATH, **ws_kwargs: Any):
        super().__init__(server, path, **ws_kwargs)
        self.namespace = namespace
        self.prefix = "" if namespace == "/" else namespace + ","
        self.next_ack = 1
        self.events: list[tuple[str, list[Any]]] = []   # received while waiting for something else
        self.acks: dict[int, list[Any]] = {}
        payload = json_text(auth) if auth is not None else ""
        self.send(f"40{self.prefix}{payload}")
        answer = self.recv_packet()
        assert isinstance(answer, str) and answer.startswith(f"40{self.prefix}"), f"namespace connect refused: {answer!r}"
        self.sid = json.loads(answer[len(f"40{self.prefix}"):])["sid"]

    # -- sending ----------------------------------------------------------------
    def emit(self, event: str, *args: Any, ack: bool = False) -> int | None:
        """``42[event, ...args]`` (with an ack id when ``ack``); returns the ack id."""
        ack_id = None
        if ack:
            ack_id = self.next_ack
            self.next_ack += 1
        self.send(f"42{self.prefix}{'' if ack_id is None else ack_id}{json_text([event, *args])}")
        return ack_id

    def emit_raw(self, text: str) -> None:
        self.send(text)

    # -- receiving --------------------------------------------------------------
    def _read_one(self, deadline: float) -> None:
        frame = self.recv(max(0.0, deadline - time.monotonic()))
        if frame == "2":
            self.send("3")
            return
        assert isinstance(frame, str), f"unexpected binary frame {frame!r}"
        body = frame
        if not body.startswith("4"):
            raise AssertionError(f"unexpected Engine.IO packet {frame!r}")
        kind = body[1]
        rest = body[2:]
        if rest.startswith(self.prefix) and self.prefix:
            rest = rest[len(self.prefix):]
        elif self.prefix == "" and rest.startswith("/"):
            raise AssertionError(f"packet for another namespace: {frame!r}")
        digits = ""
        while rest and rest[0].isdigit():
            digits += rest[0]
            rest = rest[1:]
        if kind == "2":
            data = json.loads(rest)
            self.events.append((data[0], data[1:]))
        elif kind == "3":
            self.acks[int(digits)] = json.loads(rest)
        else:
            raise AssertionError(f"unexpected Socket.IO packet {frame!r}")

    def expect(self, event: str, timeout: float = RECV_TIMEOUT, skip: tuple[str, ...] = ()) -> Any:
        """The first argument of the next ``event``; events named in ``skip`` are passed over,
        anything else fails the test."""
        deadline = time.monotonic() + timeout
        while True:
            while self.events:
                name, args = self.events.pop(0)
                if name == event:
                    return args[0] if args else None
                if name not in skip:
                    raise AssertionError(f"expected event {event!r}, got {name!r} {args!r}")
            self._read_one(deadline)

    def expect_ack(self, ack_id: int, timeout: float = RECV_TIMEOUT) -> list[Any]:
        deadline = time.monotonic() + timeout
        while ack_id not in self.acks:
            self._read_one(deadline)
        return self.acks.pop(ack_id)

    def call(self, event: str, *args: Any, timeout: float = RECV_TIMEOUT) -> list[Any]:
        """Emit with an ack and wait for it (every ack argument)."""
        ack_id = self.emit(event, *args, ack=True)
        return self.expect_ack(ack_id, timeout)

    def nothing_more(self, wait: float = 0.3) -> None:
        """Assert no event arrives within ``wait`` seconds (pings are answered)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                self._read_one(deadline)
            except TimeoutError:
                break
        assert not self.events, f"unexpected events: {self.events!r}"
