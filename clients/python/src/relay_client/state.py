"""Connection states and sessions, as RelayClient.states() reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import RelayClientError


@dataclass(frozen=True)
class Session:
    """The identity a ``connected`` frame gave the client.

    ``start`` is ``"new"`` (first connection), ``"resumed"`` (the relay resumed the identity and
    replays ``replayed`` missed messages, in order, before anything newer) or ``"resume_failed"``:
    the relay could not resume ``previous_client_id`` (grace over, token used, relay restarted),
    this is a new identity and the old one's subscriptions and other server-side state are gone:
    rebuild them.
    """

    client_id: str
    start: Literal["new", "resumed", "resume_failed"]
    replayed: int = 0
    previous_client_id: str | None = None
    connected: dict[str, Any] = field(default_factory=dict, repr=False)
    """The whole ``connected`` frame (plugins add fields, e.g. ``role``)."""


@dataclass(frozen=True)
class Idle:
    """Made, not connected yet."""


@dataclass(frozen=True)
class Connecting:
    """Opening a socket; ``attempt`` is 0 for a first connection, n for the n-th retry."""

    attempt: int


@dataclass(frozen=True)
class Open:
    """The relay sent ``connected``: messages flow."""

    session: Session


@dataclass(frozen=True)
class Reconnecting:
    """The connection was lost (``close_code`` of the relay's close frame, ``None`` without one);
    retry ``attempt`` starts after ``delay`` seconds."""

    attempt: int
    delay: float
    close_code: int | None


@dataclass(frozen=True)
class Closed:
    """For good: after ``close()`` (``error`` is ``None``) or a failure retrying cannot mend."""

    error: RelayClientError | None


State = Idle | Connecting | Open | Reconnecting | Closed
"""A connection state."""
