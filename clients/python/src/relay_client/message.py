"""Messages from the relay, and the binary frame layout."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class Message:
    """One message from the relay: a JSON text frame, or a binary frame (its JSON header plus
    ``payload``, the raw bytes after it)."""

    type: str
    """The message's ``type`` (empty when the relay sent none)."""
    fields: dict[str, Any]
    """Every field, ``type`` included (for a binary frame: its header's)."""
    payload: bytes | None = field(default=None, repr=False)
    """The raw bytes of a binary frame; ``None`` for a text frame."""

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key``, or ``default``."""
        return self.fields.get(key, default)

    @classmethod
    def from_text(cls, text: str | bytes) -> Message | None:
        """The message of a text frame; ``None`` when it is not a JSON object."""
        try:
            fields = json.loads(text)
        except ValueError:
            return None
        if not isinstance(fields, dict):
            return None
        kind = fields.get("type")
        return cls(kind if isinstance(kind, str) else "", fields)

    @classmethod
    def from_binary(cls, frame: bytes) -> Message | None:
        """The message of a binary frame; ``None`` when the frame is malformed."""
        try:
            header, payload = decode_binary(frame)
        except ValueError:
            return None
        message = cls.from_text(header)
        return None if message is None else cls(message.type, message.fields, payload)


def encode_binary(header: dict[str, Any], payload: bytes) -> bytes:
    """A binary frame: ``uint32`` big-endian header length, the JSON header, the payload."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTH.pack(len(head)) + head + payload


def decode_binary(frame: bytes) -> tuple[bytes, bytes]:
    """The JSON header bytes and the payload of a binary frame (``ValueError`` when malformed)."""
    if len(frame) < 4:
        raise ValueError("binary frame shorter than its length prefix")
    (length,) = _LENGTH.unpack_from(frame)
    if 4 + length > len(frame):
        raise ValueError("binary frame header length past the end")
    return frame[4:4 + length], frame[4 + length:]
