"""A blocking WebSocket client for TLS that reads and writes its socket from one thread.

``websockets.sync`` reads on a background thread while the caller writes, and Python's SSL
sockets are not safe for a read and a write at once: about one TLS handshake in 25 never
sends its request (python-engineio#461 and python-socketio#1568 describe the same race).
This client runs ``websockets.asyncio`` on a private event loop in the calling thread, and
offers what ``WSClient`` needs of a connection: ``send``, ``recv(timeout=)``, ``close`` and
``response``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import websockets.asyncio.client


class TLSConnection:
    """One WebSocket over TLS, driven step by step on its own event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: websockets.asyncio.client.ClientConnection):
        self._loop = loop
        self._connection = connection

    @classmethod
    def open(cls, url: str, context: ssl.SSLContext, origin: str | None = None, timeout: float = 5.0
             ) -> TLSConnection:
        """Connects to `url`; raises what ``websockets`` raises for a refused handshake
        (``InvalidStatus`` with the response)."""
        loop = asyncio.new_event_loop()
        try:
            connection = loop.run_until_complete(websockets.asyncio.client.connect(
                url, ssl=context, origin=origin, open_timeout=timeout, proxy=None))
        except BaseException:
            loop.close()
            raise
        return cls(loop, connection)

    @property
    def response(self) -> Any:
        return self._connection.response

    def send(self, message: str | bytes) -> None:
        self._loop.run_until_complete(self._connection.send(message))

    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message; ``TimeoutError`` after `timeout` seconds, like the sync client."""
        return self._loop.run_until_complete(asyncio.wait_for(self._connection.recv(), timeout))

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._connection.close())
        finally:
            self._loop.close()
