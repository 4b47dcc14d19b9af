"""Shared helpers for the Relay integration tests.

Everything here talks to 127.0.0.1 only.  Three layers:

- ``RelayServer``: one ``relay serve`` subprocess with its config file, logs,
  HTTP helpers, metrics parsing and client factories.
- ``WSClient``: a thin wrapper around the ``websockets`` sync client with
  JSON helpers where every receive has a deadline.
- ``RawWS``: a hand-rolled WebSocket client on a plain socket for what the
  ``websockets`` package will not do (never read, never answer pings, send
  invalid UTF-8, abort the TCP connection without a close frame).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
RELAY_BIN = Path(os.environ.get("RELAY_BIN", REPO / ".build" / "debug" / "relay"))

# 40 bytes; the server requires >= 32.
SECRET = "integration-test-secret-0123456789abcdef"
assert len(SECRET) == 40

# Default receive deadline (seconds) for a single expected message.
RECV_TIMEOUT = 5.0

PUBSUB_TYPES = ("subscribe", "unsubscribe", "publish", "direct")
PRESENCE_TYPES = ("joined", "left")


# ---------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05,
               message: str | Callable[[], str] = "condition not met") -> Any:
    """Poll ``predicate`` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s: {text}")
        time.sleep(interval)


def deep_merge(base: dict, override: dict) -> dict:
    """Return ``base`` updated recursively with ``override`` (dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def pubsub_routes(endpoint: str, plugin: str = "chat", **extra: Any) -> list[dict]:
    return [{"endpoint": endpoint, "type": t, "plugin": plugin, **extra} for t in PUBSUB_TYPES]


BASE_ENDPOINTS = ("/ws", "/ws/secure", "/ws/open/:room")


def base_config(**overrides: Any) -> dict:
    """The base config of the brief; ``overrides`` are deep-merged into it."""
    cfg = {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": 3, "drainTimeout": 3},
        "auth": {"authTimeout": 2},
        "limits": {"maxMessageBytes": 4096, "messagesPerSecond": 0},
        "endpoints": [
            {"path": "/ws", "codec": "json", "auth": "optional"},
            {"path": "/ws/secure", "codec": "json", "auth": "required"},
            {"path": "/ws/open/:room", "codec": "json", "auth": "none"},
        ],
        "plugins": {"chat": {"plugin": "pubsub", "config": {"presence": True}}},
        "routes": [r for ep in BASE_ENDPOINTS for r in pubsub_routes(ep)],
    }
    return deep_merge(cfg, overrides)


def add_endpoint(cfg: dict, path: str, auth: str = "optional", routes: list[dict] | None = None,
                 **endpoint_extra: Any) -> dict:
    """Append an endpoint (and its routes, default: the four pubsub routes) to ``cfg``."""
    cfg["endpoints"].append({"path": path, "codec": "json", "auth": auth, **endpoint_extra})
    cfg["routes"].extend(routes if routes is not None else pubsub_routes(path))
    return cfg


def dump_yaml(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)


def json_text(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def padded_ping(total_bytes: int) -> str:
    """A ping message whose UTF-8 encoding is exactly ``total_bytes`` long."""
    skeleton = json_text({"type": "ping", "pad": ""})
    pad = total_bytes - len(skeleton.encode())
    assert pad >= 0, total_bytes
    text = json_text({"type": "ping", "pad": "x" * pad})
    assert len(text.encode()) == total_bytes
    return text


# ---------------------------------------------------------------------------
# JWT (hand-rolled so the tests depend on nothing but `cryptography`)
# ---------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(claims: dict, key: Any = SECRET, alg: str = "HS256",
               headers: dict | None = None) -> str:
    """Sign ``claims``. ``key``: str/bytes for HS256, a cryptography private key for RS256/ES256."""
    header = {"alg": alg, "typ": "JWT", **(headers or {})}
    signing_input = f"{b64url(json_text(header).encode())}.{b64url(json_text(claims).encode())}".encode()
    if alg == "HS256":
        raw_key = key.encode() if isinstance(key, str) else key
        signature = hmac.new(raw_key, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "none":
        signature = b""
    else:
        raise ValueError(alg)
    return f"{signing_input.decode()}.{b64url(signature)}"


def jwt_decode_hs256(token: str, secret: str = SECRET) -> tuple[dict, dict]:
    """Verify an HS256 token; return (header, claims). Raises AssertionError on a bad signature."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWT: {token!r}"
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(expected, b64url_decode(parts[2])), "HS256 signature does not verify"
    return header, claims


def _int_b64(n: int, length: int | None = None) -> str:
    length = length or (n.bit_length() + 7) // 8
    return b64url(n.to_bytes(length, "big"))


def public_jwk(private_key: Any, kid: str) -> dict:
    """The public JWK of an RSA (RS256) or P-256 (ES256) private key from `cryptography`."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if isinstance(private_key, rsa.RSAPrivateKey):
        numbers = private_key.public_key().public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        numbers = private_key.public_key().public_numbers()
        return {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": _int_b64(numbers.x, 32), "y": _int_b64(numbers.y, 32)}
    raise TypeError(type(private_key))


def claims_for(sub: str, ttl: float = 3600, **claims: Any) -> dict:
    now = int(time.time())
    out: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + int(ttl)}
    out.update(claims)
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------------------
# Prometheus text parsing
# ---------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def metric_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}"


class Metrics(dict):
    """``metric_key(name, labels) -> value`` plus the label-subset helpers the tests need."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = []
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(maxsplit=3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                elif len(parts) >= 4 and parts[1] == "HELP":
                    self.helps[parts[2]] = parts[3]
                continue
            m = _SAMPLE_RE.match(line)
            if not m:
                continue
            name, label_text, value_text = m.groups()
            labels = dict(_LABEL_RE.findall(label_text or ""))
            try:
                value = float(value_text)
            except ValueError:
                continue
            self.samples.append((name, labels, value))
            self[metric_key(name, labels)] = value

    def total(self, name: str, **labels: str) -> float:
        """Sum of every sample called ``name`` whose labels include ``labels``."""
        return sum(v for n, l, v in self.samples
                   if n == name and all(l.get(k) == str(val) for k, val in labels.items()))

    def has_family(self, family: str) -> bool:
        if family in self.types:
            return True
        suffixes = ("", "_total", "_bucket", "_sum", "_count", "_created")
        return any(n == family + s for n, _, _ in self.samples for s in suffixes)


# ---------------------------------------------------------------------------
# websockets-based client
# ---------------------------------------------------------------------------


class Closed(AssertionError):
    def __init__(self, code: int | None, reason: str = ""):
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


def _close_info(exc: ConnectionClosed) -> Closed:
    rcvd = exc.rcvd
    return Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")


class WSClient:
    """A ``websockets`` sync connection with JSON helpers; every receive has a deadline."""

    def __init__(self, conn: Any):
        self.conn = conn
        self.hello: dict | None = None  # the `connected` frame, when awaited
        self.close_messages: list[Any] = []  # what arrived before the close, see expect_close
        self.close_reason = ""

    # -- identity -------------------------------------------------------
    @property
    def client_id(self) -> str:
        assert self.hello is not None, "no connected frame received"
        return self.hello["clientId"]

    @property
    def response_headers(self) -> Any:
        return self.conn.response.headers

    # -- sending --------------------------------------------------------
    def send_text(self, text: str) -> None:
        self.conn.send(text)

    def send_json(self, obj: Any) -> None:
        self.conn.send(json_text(obj))

    def send_bytes(self, data: bytes) -> None:
        self.conn.send(data)

    # -- receiving ------------------------------------------------------
    def recv_raw(self, timeout: float = RECV_TIMEOUT) -> str | bytes:
        try:
            return self.conn.recv(timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"no message within {timeout}s") from None
        except ConnectionClosed as exc:
            raise _close_info(exc) from None

    def recv_json(self, timeout: float = RECV_TIMEOUT) -> Any:
        data = self.recv_raw(timeout)
        assert isinstance(data, str), f"expected a text frame, got binary {data[:64]!r}"
        return json.loads(data)

    def expect(self, type_: str, timeout: float = RECV_TIMEOUT,
               ignore: Iterable[str] = PRESENCE_TYPES) -> dict:
        """The next message not in ``ignore`` must have type ``type_``."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv_json(max(0.0, deadline - time.monotonic()))
            if isinstance(msg, dict) and msg.get("type") in ignore and msg.get("type") != type_:
                continue
            assert isinstance(msg, dict) and msg.get("type") == type_, \
                f"expected a {type_!r} message, got {msg!r}"
            return msg

    def recv_until(self, predicate: Callable[[Any], bool], timeout: float = RECV_TIMEOUT) -> Any:
        """Skip messages until one satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message within {timeout}s; saw {seen[-5:]!r}")
            try:
                msg = self.recv_json(remaining)
            except Closed:
                raise
            except AssertionError:  # time-out
                raise AssertionError(f"no matching message within {timeout}s; saw {seen[-5:]!r}") from None
            if predicate(msg):
                return msg
            seen.append(msg)

    def assert_silent(self, duration: float, ignore: Iterable[str] = ()) -> None:
        """No message (other than types in ``ignore``) arrives for ``duration`` seconds."""
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data = self.conn.recv(timeout=remaining)
            except TimeoutError:
                return
            except ConnectionClosed as exc:
                raise _close_info(exc) from None
            msg = json.loads(data) if isinstance(data, str) else data
            if isinstance(msg, dict) and msg.get("type") in ignore:
                continue
            raise AssertionError(f"unexpected message: {msg!r}")

    def ping(self, timeout: float = RECV_TIMEOUT) -> dict:
        """Application-level ping; returns the pong. Proves the connection still works."""
        self.send_json({"type": "ping"})
        pong = self.expect("pong", timeout)
        return pong

    def expect_close(self, timeout: float = RECV_TIMEOUT) -> int | None:
        """Wait for the server to close; return its close code (None: no close frame)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"connection still open after {timeout}s; got {self.close_messages[-5:]!r}")
            try:
                self.close_messages.append(self.conn.recv(timeout=remaining))
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                self.close_reason = exc.rcvd.reason if exc.rcvd else ""
                return exc.rcvd.code if exc.rcvd else None

    # -- pubsub conveniences -------------------------------------------
    def subscribe(self, topic: str) -> dict:
        self.send_json({"type": "subscribe", "topic": topic})
        return self.expect("subscribed")

    def publish(self, topic: str, data: Any) -> None:
        self.send_json({"type": "publish", "topic": topic, "data": data})

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# Raw socket WebSocket client
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------


def relay_env(secret: str | None = SECRET, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment without inherited RELAY_* settings, plus the test secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    if secret is not None:
        env["RELAY_JWT_SECRET"] = secret
    env.update(extra or {})
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([str(RELAY_BIN), *args], env=env if env is not None else relay_env(),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


class RelayServer:
    """One `relay serve` subprocess."""

    def __init__(self, workdir: Path, config: dict | str, env: dict[str, str] | None = None,
                 secret: str | None = SECRET, port: int | None = None, pass_port: bool = True,
                 extra_args: Iterable[str] = ()):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "relay.yaml"
        self.secret = secret
        self.port = port or free_port()
        self.pass_port = pass_port
        self.env = relay_env(secret, env)
        self.extra_args = list(extra_args)
        self.stdout_path = workdir / "relay.stdout.log"
        self.stderr_path = workdir / "relay.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.clients: list[Any] = []
        self.write_config(config)

    # -- lifecycle ------------------------------------------------------
    def write_config(self, config: dict | str) -> None:
        text = config if isinstance(config, str) else dump_yaml(config)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config_path)

    def start(self, ready_timeout: float = 20.0) -> "RelayServer":
        assert RELAY_BIN.exists(), f"relay binary not found at {RELAY_BIN} (set RELAY_BIN)"
        args = [str(RELAY_BIN), "serve", "--config", str(self.config_path)]
        if self.pass_port:
            args += ["--port", str(self.port)]
        args += self.extra_args
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, env=self.env, cwd=self.workdir, stdout=self._out,
                                     stderr=self._err, stdin=subprocess.DEVNULL)
        self.wait_healthy(ready_timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"relay exited with {self.proc.returncode} before listening:\n"
                                     f"{self.logs()[-3000:]}")
            try:
                if self.http_get("/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"relay not healthy on port {self.port} after {timeout}s:\n"
                             f"{self.logs()[-3000:]}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"relay still running {timeout}s later") from None

    def close_clients(self) -> None:
        for client in self.clients:
            try:
                client.close()
            except Exception:
                pass
        self.clients.clear()

    def stop(self) -> None:
        self.close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(1.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f:
                f.close()

    def logs(self) -> str:
        out = []
        for p in (self.stderr_path, self.stdout_path):
            if p.exists():
                out.append(p.read_text(errors="replace"))
        return "\n".join(out)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.M).group(1))
        return kb / 1024.0

    # -- HTTP -----------------------------------------------------------
    def http_get(self, path: str, headers: dict[str, str] | None = None,
                 timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def http_request(self, method: str, path: str, body: Any = None,
                     headers: dict[str, str] | None = None,
                     timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        """Any HTTP request; a ``body`` that is not bytes/str is sent as JSON."""
        hdrs = dict(headers or {})
        data: bytes | None = None
        if isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        elif body is not None:
            data = json_text(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def http_json(self, method: str, path: str, body: Any = None, token: str | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """``http_request`` with an optional bearer token; returns (status, parsed JSON body)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        status, _, raw = self.http_request(method, path, body, hdrs)
        return status, (json.loads(raw) if raw else None)

    def metrics(self) -> Metrics:
        status, _, body = self.http_get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return Metrics(body.decode())

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().total(name, **labels)

    def wait_metric(self, name: str, predicate: Callable[[float], bool], timeout: float = 3.0,
                    **labels: str) -> float:
        """Poll until ``predicate(total(name, **labels))`` holds; return the value."""
        last: list[float] = []

        def check() -> bool:
            last[:] = [self.metric(name, **labels)]
            return predicate(last[0])

        wait_until(check, timeout, 0.1,
                   lambda: f"{metric_key(name, labels)} = {last[0] if last else '?'}")
        return last[0]

    # -- tokens ---------------------------------------------------------
    def token(self, sub: str, ttl: float = 3600, **claims: Any) -> str:
        return jwt_encode(claims_for(sub, ttl, **claims), self.secret)

    # -- WebSocket clients ---------------------------------------------
    @staticmethod
    def target(path: str, **query: Any) -> str:
        """``path`` with ``query`` appended (request-target of an upgrade)."""
        if not query:
            return path
        return path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)

    def url(self, path: str, **query: Any) -> str:
        return f"ws://{HOST}:{self.port}{self.target(path, **query)}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def connect(self, path: str = "/ws", *, token: str | None = None, sub: str | None = None,
                claims: dict | None = None, query: dict | None = None,
                headers: dict[str, str] | None = None, expect_connected: bool = True,
                **ws_kwargs: Any) -> WSClient:
        """Open a WebSocket. ``sub`` mints a token for ?token=; ``expect_connected`` awaits `connected`."""
        if sub is not None:
            token = self.token(sub, **(claims or {}))
        q = dict(query or {})
        if token is not None:
            q["token"] = token
        kwargs = {"open_timeout": 5, "close_timeout": 1, "proxy": None, "max_queue": 1024, "legacy": True,
                  "additional_headers": headers}
        kwargs.update(ws_kwargs)
        conn = ws_connect(self.url(path, **q), **kwargs)
        client = WSClient(conn)
        self.clients.append(client)
        if expect_connected:
            client.hello = client.expect("connected")
        return client

    def raw(self, path: str = "/ws", headers: dict[str, str] | None = None,
            rcvbuf: int | None = None, expect_status: int | None = 101) -> RawWS:
        ws = RawWS.open(self.port, path, headers, rcvbuf, expect_status)
        self.clients.append(ws)
        return ws

    def upgrade_status(self, path: str, **ws_kwargs: Any) -> int:
        """HTTP status of a refused upgrade (101 if it was accepted)."""
        try:
            client = self.connect(path, expect_connected=False, **ws_kwargs)
        except InvalidStatus as exc:
            return exc.response.status_code
        client.close()
        return 101


class Pair:
    """Two subscribers of one topic on a server: proves that other clients are unaffected."""

    def __init__(self, server: RelayServer, topic: str, path: str = "/ws"):
        self.topic = topic
        self.a = server.connect(path)
        self.b = server.connect(path)
        self.a.subscribe(topic)
        self.b.subscribe(topic)
        self.n = 0

    def check(self) -> None:
        self.n += 1
        self.a.publish(self.topic, {"check": self.n})
        msg = self.b.expect("message")
        assert msg["data"] == {"check": self.n} and msg["from"] == self.a.client_id, msg
        self.a.ping()


class Collector(threading.Thread):
    """Reads JSON messages from a WSClient in the background until ``stop(msg)`` or a deadline."""

    def __init__(self, client: WSClient, stop: Callable[[dict], bool], timeout: float):
        super().__init__(daemon=True)
        self.client = client
        self.stop_when = stop
        self.timeout = timeout
        self.received: list[tuple[float, dict]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                msg = self.client.recv_json(max(0.0, deadline - time.monotonic()))
                self.received.append((time.time(), msg))
                if self.stop_when(msg):
                    return
        except BaseException as exc:  # reported by result()
            self.error = exc

    def result(self) -> list[tuple[float, dict]]:
        self.join(self.timeout + 5)
        if self.error is not None:
            raise AssertionError(f"collector failed after {len(self.received)} messages: {self.error}")
        return self.received

