"""The integration tests' shared helpers, by module (everything talks to 127.0.0.1 only):

- ``relay_config``: constants (``HOST``, ``SECRET``, ``RECV_TIMEOUT``), ``free_port``, ``wait_until`` and
  the base route file (``base_config``, ``add_endpoint``, ``pubsub_routes``);
- ``jwt_helpers``: tokens (``jwt_encode``, ``claims_for``, ``public_jwk``);
- ``metrics_text``: ``Metrics``, the parsed Prometheus exposition;
- ``ws_client``: ``WSClient``, a JSON WebSocket client whose every receive has a deadline;
- ``raw_ws``: ``RawWS``, a WebSocket client on a plain socket for misbehaving on purpose;
- ``relay_server``: ``RelayServer``, one ``relay serve`` process, and ``run_cli``.

Tests import what they use from here."""

from __future__ import annotations

from relay_config import (BASE_ENDPOINTS, HOST, PRESENCE_TYPES, PUBSUB_TYPES, RECV_TIMEOUT, RELAY_BIN, REPO,
    SECRET, add_endpoint, base_config, deep_merge, dump_yaml, free_port, json_text, padded_ping,
    pubsub_routes, wait_until)
from jwt_helpers import b64url, b64url_decode, claims_for, jwt_decode_hs256, jwt_encode, public_jwk
from metrics_text import Metrics, metric_key
from ws_client import Closed, WSClient, receive_until
from raw_ws import (Ending, Frame, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWS, WS_GUID,
    tcp_is_closed_by_peer)
from relay_server import Collector, Pair, RelayServer, relay_env, run_cli

__all__ = [
    "BASE_ENDPOINTS",
    "Closed",
    "Collector",
    "Ending",
    "Frame",
    "HOST",
    "Metrics",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "PRESENCE_TYPES",
    "PUBSUB_TYPES",
    "Pair",
    "RECV_TIMEOUT",
    "RELAY_BIN",
    "REPO",
    "RawWS",
    "RelayServer",
    "SECRET",
    "WSClient",
    "WS_GUID",
    "add_endpoint",
    "b64url",
    "b64url_decode",
    "base_config",
    "claims_for",
    "deep_merge",
    "dump_yaml",
    "free_port",
    "json_text",
    "jwt_decode_hs256",
    "jwt_encode",
    "metric_key",
    "padded_ping",
    "public_jwk",
    "pubsub_routes",
    "receive_until",
    "relay_env",
    "run_cli",
    "tcp_is_closed_by_peer",
    "wait_until",
]
