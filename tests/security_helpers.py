"""Helpers for the security tests (issue 16, tests/test_security_*.py).

- ``json_logs``: the JSON log lines of a relay started with ``server.logFormat: json``.
- ``refusals``: the ``request refused`` lines among them (one per refused upgrade or request).
- ``refusal_count``: ``relay_refusals_total{reason}``.
"""

from __future__ import annotations

import json
from typing import Any

from relay_helpers import RelayServer


def json_logs(server: RelayServer) -> list[dict[str, Any]]:
    """Every JSON object line the relay logged (stderr)."""
    lines = []
    for line in server.stderr_path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def refusals(server: RelayServer, reason: str | None = None) -> list[dict[str, Any]]:
    """The ``request refused`` WARN lines (of ``reason``, when given)."""
    return [line for line in json_logs(server)
            if line.get("message") == "request refused" and line.get("level") == "warning"
            and (reason is None or line.get("relay.refusal.reason") == reason)]


def refusal_count(server: RelayServer, reason: str) -> float:
    return server.metric("relay_refusals_total", reason=reason)
