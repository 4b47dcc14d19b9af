"""Shared pieces of the ML-service examples: the binary frame layout, auth and resume.

Wire contract (docs/plugins/ml-alerts.md): binary frames are a uint32 big-endian header
length, a UTF-8 JSON header ``{"type":"video-frame","streamId":…,"timestamp":…,"seq":…}``
and the raw bytes; JSON frames carry the bytes base64-encoded in ``data``.
"""

from __future__ import annotations

import base64
import json
import struct
import urllib.parse
import urllib.request
from typing import Any

from websockets.asyncio.client import ClientConnection

HEADER_LENGTH = struct.Struct(">I")
# Messages the kernel does not count in `lastSeen` (docs/protocol.md, "Resume").
NOT_COUNTED = ("connected", "authenticated", "pong")


def encode_binary(header: dict, payload: bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return HEADER_LENGTH.pack(len(head)) + head + payload


def decode_binary(data: bytes) -> tuple[dict, bytes]:
    if len(data) < 4:
        raise ValueError("binary frame shorter than its header length")
    (length,) = HEADER_LENGTH.unpack_from(data)
    if 4 + length > len(data):
        raise ValueError("binary frame header length past the end")
    return json.loads(data[4:4 + length]), data[4 + length:]


def decode_frame(message: str | bytes) -> tuple[dict, bytes] | None:
    """A video frame's header and raw bytes, from either form; ``None`` for other messages."""
    if isinstance(message, bytes):
        header, payload = decode_binary(message)
        return (header, payload) if header.get("type") == "video-frame" else None
    body = json.loads(message)
    if body.get("type") != "video-frame":
        return None
    return body, base64.b64decode(body["data"])


def api_base(ws_url: str) -> str:
    """http(s)://host:port of a ws(s):// URL."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def rest(method: str, url: str, token: str, body: Any = None, timeout: float = 10) -> Any:
    """A REST call with the bearer token; returns the JSON answer (raises on HTTP errors)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Session:
    """Authentication and resume on one endpoint, across reconnects.

    ``count`` is what the relay calls ``lastSeen``: every message received since the first
    ``connected`` except ``connected``, ``authenticated`` and ``pong``.
    """

    def __init__(self, token: str):
        self.token = token
        self.resume_token: str | None = None
        self.client_id: str | None = None
        self.count = 0

    async def start(self, ws: ClientConnection) -> bool:
        """First-message auth (docs/plugins/ml-alerts.md, "Authentication"), then resume if this is a reconnect.

        Returns whether the earlier identity was resumed (its subscriptions are intact)."""
        await ws.send(json.dumps({"type": "auth", "token": self.token}))
        await self._expect(ws, "authenticated")
        hello = await self._expect(ws, "connected")
        resumed = False
        if self.resume_token is not None:
            await ws.send(json.dumps({"type": "resume", "token": self.resume_token, "lastSeen": self.count}))
            hello = await self._expect(ws, "connected")
            resumed = bool(hello.get("resumed"))
        if not resumed:
            self.count = 0
        self.resume_token = hello["resumeToken"]
        self.client_id = hello["clientId"]
        return resumed

    def received(self, message: str | bytes) -> None:
        """Counts a received message for ``lastSeen``."""
        if isinstance(message, bytes):
            self.count += 1
            return
        kind = json.loads(message).get("type")
        if kind not in NOT_COUNTED:
            self.count += 1
        elif kind == "connected":
            self.resume_token = json.loads(message)["resumeToken"]

    async def _expect(self, ws: ClientConnection, kind: str) -> dict:
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                self.count += 1
                continue
            body = json.loads(message)
            if body.get("type") == kind:
                return body
            if body.get("type") == "error":
                raise RuntimeError(f"relay refused: {body}")
            self.received(message)
