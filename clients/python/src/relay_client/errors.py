"""The error every RelayClient call raises."""

from __future__ import annotations


class RelayClientError(Exception):
    """Why a call or the connection failed; match on ``code``.

    Codes:

    - ``authentication_failed``: the relay closed with 1008 before ``connected`` (bad, expired or
      missing token, connection limit). Not retried.
    - ``revoked``: the relay closed an open connection with 1008 for another reason than an
      expired token (the product's backend revoked the user through the server API). Not
      retried.
    - ``upgrade_refused``: the relay answered the upgrade with an HTTP 4xx (404 unknown path, 403
      origin refused). Not retried.
    - ``gave_up``: ``max_attempts`` consecutive attempts failed.
    - ``server``: an ``error`` frame whose ``ref`` is the request's type answered a request;
      ``server_code`` is its ``code`` (``forbidden``, ``not_found``, …).
    - ``timeout``: no reply within the request's time-out.
    - ``queue_full``: the send queue (used while disconnected) is full.
    - ``invalid_message``: what was sent is not a JSON object with a string ``type``.
    - ``closed``: the client was closed, or the connection was lost with ``reconnect=False``.
    """

    def __init__(self, code: str, message: str, *, close_code: int | None = None,
                 server_code: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.close_code = close_code
        self.server_code = server_code
