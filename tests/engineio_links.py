"""Engine.IO sessions with a background reader that answers the server's pings, over long-polling
(``PolledLink``) or WebSocket (``WebSocketLink``), for the Socket.IO layer."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import struct
import threading
import time
import urllib.parse
from abc import ABC, abstractmethod
from typing import Any, Sequence

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from engineio_http import HTTPCall, Packet, PollingSession, SOCKETIO_PATH, decode_payload
from relay_helpers import HOST, RECV_TIMEOUT


# ---------------------------------------------------------------------------
# Engine.IO links for the Socket.IO layer (a reader thread answers pings)
# ---------------------------------------------------------------------------


class LinkClosed(AssertionError):
    """The Engine.IO session ended: ``how`` says how (close packet, HTTP status, close code)."""

    def __init__(self, how: str):
        super().__init__(f"Engine.IO session ended: {how}")
        self.how = how


_END = object()


class Link(ABC):
    """What both transports share: a queue of received packets, filled by a reader thread; each
    transport sends, drops and closes in its own way."""

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

    @abstractmethod
    def send(self, *packets: Packet) -> None:
        """Sends `packets` to the relay."""

    @abstractmethod
    def drop(self) -> None:
        """Vanishes without a word (the network is gone)."""

    @abstractmethod
    def close(self) -> None:
        """Closes the transport as a client does."""


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

    def upgrade(self, port: int) -> "WebSocketLink":
        """Engine.IO's upgrade as socket.io-client makes it, with the WebSocket to ``port``:
        ``2probe``, polling paused once ``3probe`` came (the pending GET returns with a noop),
        then ``5``. Packets polled but not read yet stay first in line."""
        link = WebSocketLink(port, self.session.path, query=self.session.query, sid=self.sid, auto_pong=self.auto_pong)
        link.send("2probe")
        assert link.recv() == "3probe"
        self.stopping = True
        self.thread.join(RECV_TIMEOUT)
        assert not self.thread.is_alive(), "the pending poll was not answered after the probe"
        while not self.inbox.empty():
            packet = self.inbox.get()
            if packet is not _END:
                link.inbox.put(packet)
        link.send("5")
        return link

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
