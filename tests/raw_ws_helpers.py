"""Raw-socket tools for the RFC 6455 / RFC 7692 conformance tests (test_rfc6455_*.py).

``relay_helpers.RawWS`` covers a well-behaved client. What the conformance tests also need:

- ``http_upgrade``: send a hand-written (possibly broken) upgrade request and read the HTTP
  answer (status, headers, body) without assuming it is a 101.
- ``ConformanceWS``: a RawWS that can set RSV2/RSV3, send a frame *header* without its payload,
  send fragmented messages, and speak permessage-deflate (RFC 7692) with the parameters the
  server answered: it compresses with ``zlib.compressobj(wbits=-N)`` (the trailing
  ``00 00 ff ff`` stripped, RSV1 on the first frame) and inflates the server's compressed
  messages (``00 00 ff ff`` appended), with a fresh inflater per message when the server
  answered ``server_no_context_takeover`` (so a server that keeps its context anyway fails).
- ``closing_frames``: read frames until a close frame or the end of TCP.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any, Iterable

from relay_helpers import (HOST, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RECV_TIMEOUT, WS_GUID,
                           Closed, Frame, RawWS, RelayServer)

DEFLATE_TAIL = b"\x00\x00\xff\xff"


# ---------------------------------------------------------------------------
# Masking and framing
# ---------------------------------------------------------------------------


def apply_mask(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` (fast enough for megabytes)."""
    n = len(data)
    if n == 0:
        return b""
    repeated = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv1: bool = False, rsv2: bool = False,
                 rsv3: bool = False, mask: bytes | None = None) -> bytes:
    """The header of one frame (RFC 6455 §5.2), with the masking key when ``mask`` is given."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        head = struct.pack("!BB", b0, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", b0, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", b0, mask_bit | 127, length)
    return head + (mask or b"")


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


# ---------------------------------------------------------------------------
# HTTP upgrade requests written by hand
# ---------------------------------------------------------------------------


@dataclass
class HTTPAnswer:
    status: int
    reason: str
    headers: dict[str, str]          # lower-case name -> value (repeated fields joined with ", ")
    body: bytes = b""
    version: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def new_key(n_bytes: int = 16) -> str:
    return base64.b64encode(os.urandom(n_bytes)).decode()


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def upgrade_request(port: int, path: str = "/ws", *, method: str = "GET", version: str = "HTTP/1.1",
                    headers: dict[str, str | None] | None = None) -> tuple[bytes, str | None]:
    """A valid upgrade request with ``headers`` overriding (value None: removing) the defaults.

    Returns (request bytes, the Sec-WebSocket-Key sent or None)."""
    fields: dict[str, str | None] = {
        "Host": f"{HOST}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": new_key(),
        "Sec-WebSocket-Version": "13",
    }
    for name, value in (headers or {}).items():
        existing = next((k for k in fields if k.lower() == name.lower()), name)
        fields.pop(existing, None)
        fields[name] = value
    lines = [f"{method} {path} {version}"] + [f"{k}: {v}" for k, v in fields.items() if v is not None]
    key = next((v for k, v in fields.items() if k.lower() == "sec-websocket-key"), None)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), key


def read_http_answer(sock: socket.socket, timeout: float = RECV_TIMEOUT) -> tuple[HTTPAnswer, bytes]:
    """Read one HTTP response head (and its Content-Length body); returns (answer, bytes after it)."""
    deadline = time.monotonic() + timeout
    buf = b""

    def more() -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no complete HTTP answer within {timeout}s; got {buf[:300]!r}")
        sock.settimeout(remaining)
        try:
            return sock.recv(65536)
        except socket.timeout:
            return more()
        except ConnectionResetError:
            return b""

    while b"\r\n\r\n" not in buf:
        chunk = more()
        if not chunk:
            raise AssertionError(f"connection closed before a complete HTTP answer; got {buf[:300]!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    answer = HTTPAnswer(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, version=parts[0])
    if answer.status != 101:
        length = int(headers.get("content-length", "0") or 0)
        while len(rest) < length and (chunk := more()):
            rest += chunk
        answer.body, rest = rest[:length], rest[length:]
    return answer, rest


def http_upgrade(port: int, path: str = "/ws", *, method: str = "GET", version: str = "HTTP/1.1",
                 headers: dict[str, str | None] | None = None, timeout: float = RECV_TIMEOUT) -> HTTPAnswer:
    """Send one hand-written upgrade request on a fresh socket; return the HTTP answer."""
    request, _ = upgrade_request(port, path, method=method, version=version, headers=headers)
    if method not in ("GET", "HEAD") and not any(k.lower() == "content-length" for k in (headers or {})):
        request = request[:-2] + b"Content-Length: 0\r\n\r\n"
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        answer, _ = read_http_answer(sock, timeout)
    return answer


# ---------------------------------------------------------------------------
# permessage-deflate (RFC 7692)
# ---------------------------------------------------------------------------


def parse_extensions(header: str | None) -> list[tuple[str, dict[str, str | None]]]:
    """``Sec-WebSocket-Extensions`` -> [(name, {param: value or None})]."""
    out: list[tuple[str, dict[str, str | None]]] = []
    for item in (header or "").split(","):
        parts = [p.strip() for p in item.split(";") if p.strip()]
        if not parts:
            continue
        params: dict[str, str | None] = {}
        for p in parts[1:]:
            name, eq, value = p.partition("=")
            params[name.strip().lower()] = value.strip().strip('"') if eq else None
        out.append((parts[0].lower(), params))
    return out


@dataclass
class Deflate:
    """The client's side of one negotiated permessage-deflate (RFC 7692 §7)."""

    params: dict[str, str | None]
    compressor: Any = None
    decompressor: Any = None

    @property
    def client_bits(self) -> int:
        value = self.params.get("client_max_window_bits")
        return int(value) if value else 15

    @property
    def server_bits(self) -> int:
        value = self.params.get("server_max_window_bits")
        return int(value) if value else 15

    @property
    def client_no_context(self) -> bool:
        return "client_no_context_takeover" in self.params

    @property
    def server_no_context(self) -> bool:
        return "server_no_context_takeover" in self.params

    def compress(self, data: bytes, *, keep_context: bool | None = None) -> bytes:
        """One message's compressed payload (RFC 7692 §7.2.1: tail 00 00 ff ff removed).

        ``keep_context`` defaults to what was negotiated; True with client_no_context_takeover
        answered would violate the agreement (the tests never do that)."""
        keep = (not self.client_no_context) if keep_context is None else keep_context
        if self.compressor is None or not keep:
            # zlib cannot deflate with an 8-bit window; 9 is what RFC 7692 §7.1.2.2 clients do too
            self.compressor = zlib.compressobj(9, zlib.DEFLATED, -max(9, self.client_bits))
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(DEFLATE_TAIL)
        return out[:-4]

    def decompress(self, payload: bytes) -> bytes:
        """One server message: a fresh inflater per message when the server promised no takeover,
        and never a window larger than the negotiated server_max_window_bits."""
        if self.decompressor is None or self.server_no_context:
            self.decompressor = zlib.decompressobj(wbits=-self.server_bits)
        # Small output steps: zlib then checks every distance against the window it was given
        # (with one big output buffer it resolves distances within that buffer, any window).
        out, data = [], payload + DEFLATE_TAIL
        while data:
            out.append(self.decompressor.decompress(data, 64))
            data = self.decompressor.unconsumed_tail
        return b"".join(out)


def deflate_raw(data: bytes, wbits: int = 15, zdict: bytes | None = None) -> bytes:
    """``data`` as one context-free permessage-deflate payload."""
    c = zlib.compressobj(9, zlib.DEFLATED, -wbits, zdict=zdict) if zdict else zlib.compressobj(9, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


# ---------------------------------------------------------------------------
# The conformance client
# ---------------------------------------------------------------------------


class ConformanceWS(RawWS):
    """RawWS plus RSV2/RSV3, header-only frames, fragments and permessage-deflate."""

    def __init__(self, port: int, rcvbuf: int | None = None, timeout: float = RECV_TIMEOUT):
        super().__init__(port, rcvbuf, timeout)
        self.deflate: Deflate | None = None
        self.backlog: list[Frame] = []      # data messages read while looking for a control frame

    @classmethod
    def connect(cls, server: RelayServer, path: str = "/ws", headers: dict[str, str] | None = None,
                expect_connected: bool = True) -> "ConformanceWS":
        """Upgrade (101 required), negotiate what the server answered, await `connected`."""
        ws = cls(server.port)
        server.clients.append(ws)
        ws.handshake(path, headers)
        assert ws.status == 101, f"upgrade of {path}: HTTP {ws.status}, headers {ws.headers}"
        for name, params in parse_extensions(ws.headers.get("sec-websocket-extensions")):
            if name == "permessage-deflate":
                ws.deflate = Deflate(params)
        if expect_connected:
            hello = ws.recv_json()
            assert hello.get("type") == "connected", hello
        return ws

    def handshake(self, path: str, headers: dict[str, str | None] | None = None) -> None:
        """Like RawWS.handshake, but ``headers`` replace the default fields (None: leave one out)."""
        request, key = upgrade_request(self.port, path, headers=headers)
        self.sock.sendall(request)
        answer, self.buf = read_http_answer(self.sock)
        self.status, self.headers = answer.status, answer.headers
        if self.status == 101:
            assert key is not None and self.headers.get("sec-websocket-accept") == accept_for(key), self.headers

    # -- sending --------------------------------------------------------
    def send_frame(self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False,
                   masked: bool = True, rsv2: bool = False, rsv3: bool = False) -> None:
        mask = os.urandom(4) if masked else None
        head = frame_header(opcode, len(payload), fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask=mask)
        self.sock.sendall(head + (apply_mask(mask, payload) if mask else payload))

    def send_header_only(self, opcode: int, length: int, fin: bool = True, rsv1: bool = False) -> None:
        """Announce a frame of ``length`` bytes and send none of them."""
        self.sock.sendall(frame_header(opcode, length, fin=fin, rsv1=rsv1, mask=os.urandom(4)))

    def send_fragments(self, opcode: int, parts: Iterable[bytes], rsv1: bool = False, last_fin: bool = True) -> None:
        """One message in fragments: ``opcode`` then continuations; RSV1 (if any) on the first only."""
        parts = list(parts)
        for i, part in enumerate(parts):
            self.send_frame(opcode if i == 0 else OP_CONT, part,
                            fin=last_fin and i == len(parts) - 1, rsv1=rsv1 and i == 0)

    def send_compressed(self, data: bytes, opcode: int = OP_TEXT, fragments: int = 1,
                        keep_context: bool | None = None) -> None:
        assert self.deflate is not None, "permessage-deflate was not negotiated"
        payload = self.deflate.compress(data, keep_context=keep_context)
        self.send_fragments(opcode, split(payload, fragments), rsv1=True)

    def send_close_payload(self, payload: bytes) -> None:
        self.send_frame(OP_CLOSE, payload)

    # -- receiving ------------------------------------------------------
    def recv_message(self, timeout: float = RECV_TIMEOUT, auto_pong: bool = True) -> Frame:
        """Next data message (fragments joined, inflated when RSV1; read before, while looking
        for a control frame, or now); pings are answered."""
        if self.backlog:
            return self.backlog.pop(0)
        return super().recv_message(timeout, auto_pong)

    def _message(self, parts: list[Frame]) -> Frame:
        payload = b"".join(p.payload for p in parts)
        compressed = parts[0].rsv1
        if compressed:
            assert self.deflate is not None, "server set RSV1 without a negotiated permessage-deflate"
            payload = self.deflate.decompress(payload)
        return Frame(True, parts[0].opcode, payload, compressed)

    def recv_control(self, opcode: int, timeout: float = RECV_TIMEOUT) -> Frame:
        """The next control frame of ``opcode``; data messages on the way go to the backlog."""
        deadline = time.monotonic() + timeout
        parts: list[Frame] = []
        while True:
            try:
                frame = self.recv_frame(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no frame with opcode {opcode:#x} within {timeout}s") from None
            if frame.opcode == opcode:
                return frame
            if frame.opcode == OP_CLOSE:
                code = struct.unpack("!H", frame.payload[:2])[0] if len(frame.payload) >= 2 else None
                raise Closed(code, frame.payload[2:].decode(errors="replace"))
            if frame.opcode == OP_PING:
                self.send_frame(OP_PONG, frame.payload)
            elif frame.opcode != OP_PONG:
                parts.append(frame)
                if frame.fin:
                    self.backlog.append(self._message(parts))
                    parts = []


def split(data: bytes, n: int) -> list[bytes]:
    """``data`` in ``n`` consecutive pieces (the last ones may be empty when data is short)."""
    if n <= 1:
        return [data]
    size = -(-len(data) // n)
    return [data[i * size:(i + 1) * size] for i in range(n)]


def vm_status(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` value in KiB (VmRSS, VmHWM, ...)."""
    with open(f"/proc/{pid}/status") as f:
        m = re.search(rf"^{field_name}:\s+(\d+)\s+kB", f.read(), re.M)
    assert m, field_name
    return int(m.group(1))
