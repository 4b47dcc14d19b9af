"""Constants, small utilities and the base route file of the integration tests (127.0.0.1 only)."""

from __future__ import annotations

import copy
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

import yaml


HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
RELAY_BIN = Path(os.environ.get("RELAY_BIN", REPO / ".build" / "debug" / "relay"))

# 40 bytes; the server requires >= 32.
SECRET = "integration-test-secret-0123456789abcdef"
assert len(SECRET) == 40

# Default receive deadline (seconds) for a single expected message.
RECV_TIMEOUT = 5.0

PUBSUB_TYPES = ("subscribe", "unsubscribe", "publish", "direct")
PRESENCE_TYPES = ("joined", "left")


# ---------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05,
               message: str | Callable[[], str] = "condition not met") -> Any:
    """Poll ``predicate`` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s: {text}")
        time.sleep(interval)


def deep_merge(base: dict, override: dict) -> dict:
    """Return ``base`` updated recursively with ``override`` (dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def pubsub_routes(endpoint: str, plugin: str = "chat", **extra: Any) -> list[dict]:
    return [{"endpoint": endpoint, "type": t, "plugin": plugin, **extra} for t in PUBSUB_TYPES]


BASE_ENDPOINTS = ("/ws", "/ws/secure", "/ws/open/:room")


def base_config(**overrides: Any) -> dict:
    """The base config of the brief; ``overrides`` are deep-merged into it."""
    cfg = {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": 3, "drainTimeout": 3},
        "auth": {"authTimeout": 2},
        "limits": {"maxMessageBytes": 4096, "messagesPerSecond": 0},
        "endpoints": [
            {"path": "/ws", "codec": "json", "auth": "optional"},
            {"path": "/ws/secure", "codec": "json", "auth": "required"},
            {"path": "/ws/open/:room", "codec": "json", "auth": "none"},
        ],
        "plugins": {"chat": {"plugin": "pubsub", "config": {"presence": True}}},
        "routes": [r for ep in BASE_ENDPOINTS for r in pubsub_routes(ep)],
    }
    return deep_merge(cfg, overrides)


def add_endpoint(cfg: dict, path: str, auth: str = "optional", routes: list[dict] | None = None,
                 **endpoint_extra: Any) -> dict:
    """Append an endpoint (and its routes, default: the four pubsub routes) to ``cfg``."""
    cfg["endpoints"].append({"path": path, "codec": "json", "auth": auth, **endpoint_extra})
    cfg["routes"].extend(routes if routes is not None else pubsub_routes(path))
    return cfg


def dump_yaml(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)


def json_text(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def padded_ping(total_bytes: int) -> str:
    """A ping message whose UTF-8 encoding is exactly ``total_bytes`` long."""
    skeleton = json_text({"type": "ping", "pad": ""})
    pad = total_bytes - len(skeleton.encode())
    assert pad >= 0, total_bytes
    text = json_text({"type": "ping", "pad": "x" * pad})
    assert len(text.encode()) == total_bytes
    return text
