"""``WSClient``: the ``websockets`` sync client with JSON helpers; every receive has a deadline."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable

from websockets.exceptions import ConnectionClosed

from relay_config import PRESENCE_TYPES, RECV_TIMEOUT, json_text


class Closed(AssertionError):
    def __init__(self, code: int | None, reason: str = ""):
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


def _close_info(exc: ConnectionClosed) -> Closed:
    rcvd = exc.rcvd
    return Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")


def receive_until(receive: Callable[[float], Any], predicate: Callable[[Any], bool],
                  timeout: float = RECV_TIMEOUT) -> Any:
    """Calls ``receive(seconds left)`` until a message satisfies ``predicate`` and returns it; fails
    with the last messages seen when ``timeout`` passes first. The one receive-until loop of the
    tests: clients that count or keep what they receive pass their own ``receive``."""
    deadline = time.monotonic() + timeout
    seen: list[Any] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching message within {timeout}s; saw {seen[-5:]!r}")
        try:
            msg = receive(remaining)
        except Closed:
            raise
        except (AssertionError, TimeoutError):  # the receive's own time-out
            raise AssertionError(f"no matching message within {timeout}s; saw {seen[-5:]!r}") from None
        if predicate(msg):
            return msg
        seen.append(msg)


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
        return receive_until(self.recv_json, predicate, timeout)

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
