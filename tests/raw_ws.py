"""``RawWS``: a WebSocket client on a plain socket for what the ``websockets`` package will not
do (never read, never answer pings, send invalid UTF-8, abort TCP without a close frame)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from relay_config import HOST, PRESENCE_TYPES, RECV_TIMEOUT, json_text
from ws_client import Closed


OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes
    rsv1: bool = False


@dataclass
class Ending:
    kind: str                   # "close" (close frame), "eof" or "reset"
    code: int | None = None
    reason: str = ""
    frames: list[Frame] = field(default_factory=list)


class RawWS:
    """A WebSocket client on a bare socket, with full control over what it does."""

    def __init__(self, port: int, rcvbuf: int | None = None, timeout: float = RECV_TIMEOUT):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.buf = b""
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.pings_seen = 0
        self.close_code: int | None = None

    # -- handshake ------------------------------------------------------
    @classmethod
    def open(cls, port: int, path: str, headers: dict[str, str] | None = None,
             rcvbuf: int | None = None, expect_status: int | None = 101) -> "RawWS":
        ws = cls(port, rcvbuf=rcvbuf)
        ws.handshake(path, headers)
        if expect_status is not None:
            assert ws.status == expect_status, f"upgrade of {path}: HTTP {ws.status}, headers {ws.headers}"
        return ws

    def handshake(self, path: str, headers: dict[str, str] | None = None) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{self.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + RECV_TIMEOUT
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if self.status == 101:
            expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            assert self.headers.get("sec-websocket-accept") == expected, self.headers

    # -- I/O primitives -------------------------------------------------
    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("raw socket read timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("raw socket read timed out") from None
        if not chunk:
            raise EOFError("peer closed the TCP connection")
        self.buf += chunk

    def _take(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False,
                   masked: bool = True) -> None:
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        mask_bit = 0x80 if masked else 0
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, mask_bit | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", b0, mask_bit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mask_bit | 127, n)
        if not masked:
            self.sock.sendall(head + payload)
            return
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj: Any) -> None:
        self.send_text(json_text(obj))

    def send_close(self, code: int = 1000) -> None:
        self.send_frame(OP_CLOSE, struct.pack("!H", code))

    def recv_frame(self, timeout: float = RECV_TIMEOUT) -> Frame:
        deadline = time.monotonic() + timeout
        b0, b1 = self._take(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8, deadline))[0]
        mask = self._take(4, deadline) if b1 & 0x80 else None
        payload = self._take(n, deadline)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return Frame(bool(b0 & 0x80), b0 & 0x0F, payload, bool(b0 & 0x40))

    def recv_message(self, timeout: float = RECV_TIMEOUT, auto_pong: bool = True) -> Frame:
        """Next data message (fragments joined); answers pings; raises Closed on a close frame."""
        deadline = time.monotonic() + timeout
        parts: list[Frame] = []
        while True:
            frame = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if frame.opcode == OP_PING:
                self.pings_seen += 1
                if auto_pong:
                    self.send_frame(OP_PONG, frame.payload)
                continue
            if frame.opcode == OP_PONG:
                continue
            if frame.opcode == OP_CLOSE:
                code = struct.unpack("!H", frame.payload[:2])[0] if len(frame.payload) >= 2 else None
                self.close_code = code
                raise Closed(code, frame.payload[2:].decode(errors="replace"))
            parts.append(frame)
            if frame.fin:
                return self._message(parts)

    def _message(self, parts: list[Frame]) -> Frame:
        """The message the fragments ``parts`` carry."""
        return Frame(True, parts[0].opcode, b"".join(p.payload for p in parts))

    def recv_json(self, timeout: float = RECV_TIMEOUT) -> Any:
        frame = self.recv_message(timeout)
        assert frame.opcode == OP_TEXT, f"expected text, got opcode {frame.opcode}"
        return json.loads(frame.payload)

    def expect(self, type_: str, timeout: float = RECV_TIMEOUT,
               ignore: Iterable[str] = PRESENCE_TYPES) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv_json(max(0.0, deadline - time.monotonic()))
            if msg.get("type") in ignore and msg.get("type") != type_:
                continue
            assert msg.get("type") == type_, f"expected {type_!r}, got {msg!r}"
            return msg

    def wait_end(self, timeout: float, auto_pong: bool = True) -> Ending:
        """Read (and discard) until the server sends a close frame or drops TCP."""
        deadline = time.monotonic() + timeout
        frames: list[Frame] = []
        while True:
            try:
                frame = self.recv_frame(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"connection still open after {timeout}s "
                                     f"({len(frames)} frames read)") from None
            except EOFError:
                return Ending("eof", frames=frames)
            except ConnectionResetError:
                return Ending("reset", frames=frames)
            if frame.opcode == OP_PING:
                self.pings_seen += 1
                if auto_pong:
                    self.send_frame(OP_PONG, frame.payload)
            elif frame.opcode == OP_CLOSE:
                code = struct.unpack("!H", frame.payload[:2])[0] if len(frame.payload) >= 2 else None
                self.close_code = code
                return Ending("close", code, frame.payload[2:].decode(errors="replace"), frames)
            else:
                frames.append(frame)

    def abort(self) -> None:
        """Drop the TCP connection with a reset: no close frame, no FIN handshake."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def tcp_is_closed_by_peer(sock: socket.socket, timeout: float) -> float:
    """Block until the peer closes ``sock``; return how long that took. Data is discarded."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"TCP connection still open after {timeout}s")
        sock.settimeout(remaining)
        try:
            if not sock.recv(4096):
                return time.monotonic() - start
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
