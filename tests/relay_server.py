"""``RelayServer``: one ``relay serve`` subprocess with its config file, logs, HTTP helpers,
metrics and client factories; ``run_cli`` for the other commands; ``Pair`` and ``Collector``."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterable

from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from relay_config import HOST, RELAY_BIN, SECRET, dump_yaml, free_port, json_text, wait_until
from jwt_helpers import claims_for, jwt_encode
from metrics_text import Metrics, metric_key
from ws_client import WSClient
from raw_ws import RawWS


def relay_env(secret: str | None = SECRET, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment without inherited RELAY_* settings, plus the test secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    if secret is not None:
        env["RELAY_JWT_SECRET"] = secret
    env.update(extra or {})
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([str(RELAY_BIN), *args], env=env if env is not None else relay_env(),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


class RelayServer:
    """One `relay serve` subprocess."""

    def __init__(self, workdir: Path, config: dict | str, env: dict[str, str] | None = None,
                 secret: str | None = SECRET, port: int | None = None, pass_port: bool = True,
                 extra_args: Iterable[str] = ()):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "relay.yaml"
        self.secret = secret
        self.port = port or free_port()
        self.pass_port = pass_port
        self.env = relay_env(secret, env)
        self.extra_args = list(extra_args)
        self.stdout_path = workdir / "relay.stdout.log"
        self.stderr_path = workdir / "relay.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.clients: list[Any] = []
        self.write_config(config)

    # -- lifecycle ------------------------------------------------------
    def write_config(self, config: dict | str) -> None:
        text = config if isinstance(config, str) else dump_yaml(config)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config_path)

    def start(self, ready_timeout: float = 20.0) -> "RelayServer":
        assert RELAY_BIN.exists(), f"relay binary not found at {RELAY_BIN} (set RELAY_BIN)"
        args = [str(RELAY_BIN), "serve", "--config", str(self.config_path)]
        if self.pass_port:
            args += ["--port", str(self.port)]
        args += self.extra_args
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, env=self.env, cwd=self.workdir, stdout=self._out,
                                     stderr=self._err, stdin=subprocess.DEVNULL)
        self.wait_healthy(ready_timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"relay exited with {self.proc.returncode} before listening:\n"
                                     f"{self.logs()[-3000:]}")
            try:
                if self.http_get("/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"relay not healthy on port {self.port} after {timeout}s:\n"
                             f"{self.logs()[-3000:]}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"relay still running {timeout}s later") from None

    def close_clients(self) -> None:
        for client in self.clients:
            try:
                client.close()
            except Exception:
                pass
        self.clients.clear()

    def stop(self) -> None:
        self.close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(1.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f:
                f.close()

    def logs(self) -> str:
        out = []
        for p in (self.stderr_path, self.stdout_path):
            if p.exists():
                out.append(p.read_text(errors="replace"))
        return "\n".join(out)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.M).group(1))
        return kb / 1024.0

    # -- HTTP -----------------------------------------------------------
    def http_get(self, path: str, headers: dict[str, str] | None = None,
                 timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def http_request(self, method: str, path: str, body: Any = None,
                     headers: dict[str, str] | None = None,
                     timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        """Any HTTP request; a ``body`` that is not bytes/str is sent as JSON."""
        hdrs = dict(headers or {})
        data: bytes | None = None
        if isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
        elif body is not None:
            data = json_text(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def http_json(self, method: str, path: str, body: Any = None, token: str | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """``http_request`` with an optional bearer token; returns (status, parsed JSON body)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        status, _, raw = self.http_request(method, path, body, hdrs)
        return status, (json.loads(raw) if raw else None)

    def metrics(self) -> Metrics:
        status, _, body = self.http_get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return Metrics(body.decode())

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().total(name, **labels)

    def wait_metric(self, name: str, predicate: Callable[[float], bool], timeout: float = 3.0,
                    **labels: str) -> float:
        """Poll until ``predicate(total(name, **labels))`` holds; return the value."""
        last: list[float] = []

        def check() -> bool:
            last[:] = [self.metric(name, **labels)]
            return predicate(last[0])

        wait_until(check, timeout, 0.1,
                   lambda: f"{metric_key(name, labels)} = {last[0] if last else '?'}")
        return last[0]

    # -- tokens ---------------------------------------------------------
    def token(self, sub: str, ttl: float = 3600, **claims: Any) -> str:
        return jwt_encode(claims_for(sub, ttl, **claims), self.secret)

    # -- WebSocket clients ---------------------------------------------
    @staticmethod
    def target(path: str, **query: Any) -> str:
        """``path`` with ``query`` appended (request-target of an upgrade)."""
        if not query:
            return path
        return path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)

    def url(self, path: str, **query: Any) -> str:
        return f"ws://{HOST}:{self.port}{self.target(path, **query)}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def connect(self, path: str = "/ws", *, token: str | None = None, sub: str | None = None,
                claims: dict | None = None, query: dict | None = None,
                headers: dict[str, str] | None = None, expect_connected: bool = True,
                **ws_kwargs: Any) -> WSClient:
        """Open a WebSocket. ``sub`` mints a token for ?token=; ``expect_connected`` awaits `connected`."""
        if sub is not None:
            token = self.token(sub, **(claims or {}))
        q = dict(query or {})
        if token is not None:
            q["token"] = token
        kwargs = {"open_timeout": 5, "close_timeout": 1, "proxy": None, "max_queue": 1024, "legacy": True,
                  "additional_headers": headers}
        kwargs.update(ws_kwargs)
        conn = ws_connect(self.url(path, **q), **kwargs)
        client = WSClient(conn)
        self.clients.append(client)
        if expect_connected:
            client.hello = client.expect("connected")
        return client

    def raw(self, path: str = "/ws", headers: dict[str, str] | None = None,
            rcvbuf: int | None = None, expect_status: int | None = 101) -> RawWS:
        ws = RawWS.open(self.port, path, headers, rcvbuf, expect_status)
        self.clients.append(ws)
        return ws

    def upgrade_status(self, path: str, **ws_kwargs: Any) -> int:
        """HTTP status of a refused upgrade (101 if it was accepted)."""
        try:
            client = self.connect(path, expect_connected=False, **ws_kwargs)
        except InvalidStatus as exc:
            return exc.response.status_code
        client.close()
        return 101


class Pair:
    """Two subscribers of one topic on a server: proves that other clients are unaffected."""

    def __init__(self, server: RelayServer, topic: str, path: str = "/ws"):
        self.topic = topic
        self.a = server.connect(path)
        self.b = server.connect(path)
        self.a.subscribe(topic)
        self.b.subscribe(topic)
        self.n = 0

    def check(self) -> None:
        self.n += 1
        self.a.publish(self.topic, {"check": self.n})
        msg = self.b.expect("message")
        assert msg["data"] == {"check": self.n} and msg["from"] == self.a.client_id, msg
        self.a.ping()


class Collector(threading.Thread):
    """Reads JSON messages from a WSClient in the background until ``stop(msg)`` or a deadline."""

    def __init__(self, client: WSClient, stop: Callable[[dict], bool], timeout: float):
        super().__init__(daemon=True)
        self.client = client
        self.stop_when = stop
        self.timeout = timeout
        self.received: list[tuple[float, dict]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                msg = self.client.recv_json(max(0.0, deadline - time.monotonic()))
                self.received.append((time.time(), msg))
                if self.stop_when(msg):
                    return
        except BaseException as exc:  # reported by result()
            self.error = exc

    def result(self) -> list[tuple[float, dict]]:
        self.join(self.timeout + 5)
        if self.error is not None:
            raise AssertionError(f"collector failed after {len(self.received)} messages: {self.error}")
        return self.received
