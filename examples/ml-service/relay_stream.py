"""Shared pieces of the ML-service examples: video frames in either form, and the REST calls.

Wire contract (docs/plugins/ml-alerts.md): binary frames are a uint32 big-endian header
length, a UTF-8 JSON header ``{"type":"video-frame","streamId":…,"timestamp":…,"seq":…}``
and the raw bytes; JSON frames carry the bytes base64-encoded in ``data``. The connection
itself (auth, reconnect, resume) is the `relay_client` package's (clients/python).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from typing import Any

from relay_client import Message


def decode_frame(message: Message) -> tuple[dict, bytes] | None:
    """A video frame's header and raw bytes, from either form; ``None`` for other messages."""
    if message.type != "video-frame":
        return None
    if message.payload is not None:
        return message.fields, message.payload
    return message.fields, base64.b64decode(message["data"])


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
