"""Recording-room devices over either codec, with one interface for the tests.

``JsonDevice`` speaks the `json` codec on /ws/recording (`{"type":"join_session",…}`);
``SocketIODevice`` speaks Socket.IO events on /socket.io/ (raw frames, see socketio_helpers).
Both send ``(type, body)`` and receive ``(type, body)`` where ``body`` is the object without
its ``type`` (json) or the event's first argument (Socket.IO), so a test can mix them in a room
and compare what each got.
"""

from __future__ import annotations

import json
import time
from typing import Any

import abc

from websockets.exceptions import ConnectionClosed

from relay_helpers import RECV_TIMEOUT, RelayServer
from socketio_helpers import SIOClient

JSON_PATH = "/ws/recording"


class RecordingDevice(abc.ABC):
    """What both codecs share: waiting for a given type, asserting silence."""

    codec = "?"

    @abc.abstractmethod
    def recv(self, timeout: float = RECV_TIMEOUT) -> tuple[str, Any]:
        """The next message as (type, body); each codec's device implements it."""

    def expect(self, type_: str, timeout: float = RECV_TIMEOUT, skip: tuple[str, ...] = ()) -> dict:
        """The body of the next message of ``type_``; types in ``skip`` are passed over."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                name, body = self.recv(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"{self.codec} device: no {type_!r} within {timeout}s") from None
            if name == type_:
                return body
            if name not in skip:
                raise AssertionError(f"{self.codec} device: expected {type_!r}, got {name!r} {body!r}")

    def silent(self, duration: float = 0.4) -> None:
        """Nothing arrives for ``duration`` seconds."""
        try:
            name, body = self.recv(duration)
        except TimeoutError:
            return
        raise AssertionError(f"{self.codec} device: unexpected {name!r} {body!r}")


class JsonDevice(RecordingDevice):
    codec = "json"

    def __init__(self, server: RelayServer, token: str | None = None, path: str = JSON_PATH):
        self.client = server.connect(path, token=token)
        self.id = self.client.client_id

    def send(self, type_: str, body: dict | None = None) -> None:
        self.client.send_json({"type": type_, **(body or {})})

    def recv(self, timeout: float = RECV_TIMEOUT) -> tuple[str, dict]:
        try:
            data = self.client.conn.recv(timeout=timeout)
        except ConnectionClosed as exc:
            raise AssertionError(f"json device closed: {exc}") from None
        msg = json.loads(data)
        return msg["type"], {k: v for k, v in msg.items() if k != "type"}

    def close(self) -> None:
        self.client.close()


class SocketIODevice(RecordingDevice):
    codec = "socketio"

    def __init__(self, server: RelayServer, token: str | None = None):
        self.client = SIOClient(server, auth={"token": token} if token else None)
        self.id = self.client.sid

    def send(self, type_: str, body: dict | None = None) -> None:
        self.client.emit(type_, body or {})

    def call(self, type_: str, body: dict | None = None, timeout: float = RECV_TIMEOUT) -> list[Any]:
        """Emit with an acknowledgement request; returns the ack's arguments (events that arrive
        meanwhile are kept for ``recv``)."""
        ack_id = self.client.emit(type_, body or {}, ack=True)
        return self.client.expect_ack(ack_id, timeout)

    def recv(self, timeout: float = RECV_TIMEOUT) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.client.events:
            self.client._read_one(deadline)
        name, args = self.client.events.pop(0)
        return name, (args[0] if args else None)

    def close(self) -> None:
        self.client.close()


def join(device: Any, session: str, device_type: str, view_type: str | None = "front",
         skip: tuple[str, ...] = ("device_joined",)) -> dict:
    """``join_session``; returns ``joined_session`` (the device's own ``device_joined`` follows
    and is consumed too)."""
    body = {"sessionId": session, "deviceType": device_type}
    if view_type is not None:
        body["viewType"] = view_type
    device.send("join_session", body)
    joined = device.expect("joined_session", skip=skip)
    own = device.expect("device_joined", skip=skip[:0])
    assert own["deviceId"] == joined["deviceId"], (own, joined)
    return joined


def error_of(device: Any, timeout: float = RECV_TIMEOUT) -> dict:
    """The next error (json `error` message, or Socket.IO `error` event)."""
    return device.expect("error", timeout)
