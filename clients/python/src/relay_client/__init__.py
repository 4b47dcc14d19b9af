"""asyncio client for Relay endpoints: reconnect with backoff and jitter, exact resume,
requests with time-outs (docs/clients/python.md)."""

from .backoff import Backoff
from .client import RelayClient, TokenHook, TokenTransport
from .errors import RelayClientError
from .message import Message, decode_binary, encode_binary
from .state import Closed, Connecting, Idle, Open, Reconnecting, Session, State

__all__ = [
    "Backoff",
    "Closed",
    "Connecting",
    "Idle",
    "Message",
    "Open",
    "Reconnecting",
    "RelayClient",
    "RelayClientError",
    "Session",
    "State",
    "TokenHook",
    "TokenTransport",
    "decode_binary",
    "encode_binary",
]
