"""Starts a release relay for the benchmark tools (tls-idle.py, polling-bench.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

HOST = "127.0.0.1"


def start_relay(relay: str, config: Path, port: int, directory: Path,
                env: dict[str, str] | None = None) -> subprocess.Popen:
    """`relay serve --config config --port port` in `directory`, without inherited RELAY_*
    settings (plus `env`), once it accepts connections on 127.0.0.1."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    environment.update(env or {})
    binary = str(Path(relay).resolve())  # the relay runs in `directory`
    process = subprocess.Popen([binary, "serve", "--config", str(config), "--port", str(port)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=directory)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("relay did not start") from None
            time.sleep(0.1)
