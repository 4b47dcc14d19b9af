"""Helpers for the cluster-mode tests (issue 7, SPEC §2 "Scale-out").

Several ``relay serve`` processes (nodes) share one PostgreSQL database and deliver to each
other through it. Everything here is real: real processes, real sockets, a real PostgreSQL
(``scripts/postgres.sh``), 127.0.0.1 only.

- ``psql`` / ``create_database`` / ``drop_database``: a fresh database per test, through the
  ``psql`` command line (no Python driver needed).
- ``PgServer``: a throwaway PostgreSQL of a test's own (``scripts/postgres.sh``), for tests
  that stop and start the database.
- ``with_cluster``: a config with the ``cluster`` section; ``Cluster``: the running nodes.
- ``Roamer``: a raw-socket client that counts what it received (for ``lastSeen``) and can
  drop and resume on any node.
- Small plugin configs for the cluster tests (camera pairing, portal view, ml alerts,
  recording rooms, and the base pubsub config of relay_helpers).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable

import yaml

from relay_helpers import (
    HOST, REPO, RECV_TIMEOUT, RawWS, RelayServer, base_config, deep_merge, free_port, receive_until, wait_until,
)

POSTGRES_SH = REPO / "scripts" / "postgres.sh"
NODE_IDS = ("a", "b", "c", "d", "e")

# Fast failure detection for tests: heartbeat every 0.5 s, a node is dead after 2 s of silence.
HEARTBEAT = 0.5
NODE_TIMEOUT = 2.0

NOT_COUNTED = ("connected", "authenticated", "pong")

# How long the tests let a new client or subscription become known to the other nodes before
# relying on it. The read-your-writes tests (test_cluster.py §2a) check that no such pause is
# needed; the others pause so that each checks its own subject.
SETTLE = 1.0


def settle() -> None:
    time.sleep(SETTLE)


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


def psql(url: str, sql: str, timeout: float = 30) -> str:
    """Runs ``sql`` with psql against ``url``; returns stdout (unaligned, tuples only)."""
    result = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"psql failed ({result.returncode}) on {sql!r}:\n{result.stderr}")
    return result.stdout


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` with its database replaced by ``name``."""
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def create_database(admin_url: str, prefix: str = "relay_it") -> tuple[str, str]:
    """A fresh, empty database; returns (name, URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    psql(admin_url, f'CREATE DATABASE "{name}"')
    return name, database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PgServer:
    """A throwaway PostgreSQL server of one test's own, via scripts/postgres.sh.

    Its directory is under /tmp (the server runs as user `postgres` when the tests run as root,
    and pytest's own tmp directories are private to root)."""

    def __init__(self, port: int | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="relay-it-pg-", dir="/tmp"))
        self.port = port or free_port()
        self.url = f"postgres://postgres@{HOST}:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 90) -> str:
        result = subprocess.run(["bash", str(POSTGRES_SH), *args], capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"postgres.sh {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    def start(self) -> "PgServer":
        url = self._run("start", str(self.dir), str(self.port))
        assert url == self.url, (url, self.url)
        return self

    def stop(self) -> None:
        self._run("stop", str(self.dir))

    def running(self) -> bool:
        return subprocess.run(["bash", str(POSTGRES_SH), "status", str(self.dir)],
                              capture_output=True, timeout=30).returncode == 0

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            subprocess.run(["rm", "-rf", str(self.dir)], timeout=60)

    def log(self) -> str:
        path = self.dir / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------


def as_dict(config: dict | str | None) -> dict:
    if config is None:
        return base_config()
    if isinstance(config, str):
        return yaml.safe_load(config)
    return config


def with_cluster(config: dict | str | None, node_id: str | None, heartbeat: float = HEARTBEAT,
                 node_timeout: float = NODE_TIMEOUT, resume_grace: float | None = None,
                 **cluster_extra: Any) -> dict:
    """``config`` (dict, YAML text or None for the base config) as one node of a cluster:
    `cluster.backend: postgres`, bound to 127.0.0.1, no `store.path`."""
    cfg = deep_merge(as_dict(config), {})
    cfg.setdefault("server", {})["host"] = HOST
    cfg["server"].pop("port", None)
    if resume_grace is not None:
        cfg["server"]["resumeGrace"] = resume_grace
    store = cfg.get("store")
    if isinstance(store, dict):
        store.pop("path", None)
        if not store:
            cfg.pop("store")
    cluster = {"backend": "postgres", "heartbeatInterval": heartbeat, "nodeTimeout": node_timeout}
    if node_id is not None:
        cluster["nodeId"] = node_id
    cluster.update(cluster_extra)
    cfg["cluster"] = cluster
    return cfg


CAM_TYPES = ("cam-create", "cam-join", "cam-offer", "cam-answer", "cam-ice", "cam-data")


def cam_config(**plugin: Any) -> dict:
    """The camera-pairing plugin alone on `/ws` (as tests/test_camera_pairing_*.py)."""
    return {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": 2, "drainTimeout": 2},
        "limits": {"maxMessageBytes": 65536, "messagesPerSecond": 0},
        "endpoints": [{"path": "/ws", "codec": "json", "auth": "optional"}],
        "plugins": {"cameras": {"plugin": "camera-pairing", "config": plugin}},
        "routes": [{"endpoint": "/ws", "type": t, "plugin": "cameras"} for t in CAM_TYPES],
    }


PV_ENDPOINT = "/ws/portal-view/:portalViewId"
PV_TYPES = ("portal-view-update", "item-update", "sync-response", "request-sync")
API_KEY = "cluster-test-api-key"


def pv_config(**plugin: Any) -> dict:
    """The portal-view plugin alone (as tests/test_portal_view.py); REST needs RELAY_API_KEY."""
    return {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": 1, "drainTimeout": 3},
        "auth": {"authTimeout": 2},
        "limits": {"maxMessageBytes": 65536, "messagesPerSecond": 0},
        "endpoints": [{"path": PV_ENDPOINT, "codec": "json", "auth": "required"}],
        "plugins": {"portal": {"plugin": "portal-view", "config": plugin}},
        "routes": [{"endpoint": PV_ENDPOINT, "type": t, "plugin": "portal"} for t in PV_TYPES],
    }


ML_WS = "/api/streams/ws"


def ml_config(**plugin: Any) -> dict:
    """The ml-alerts plugin alone (as tests/test_ml_alerts_*.py), records in the cluster's store."""
    routes = [{"endpoint": ML_WS, "type": t, "plugin": "ml"} for t in ("register", "subscribe", "unsubscribe")]
    routes += [{"endpoint": ML_WS, "type": "video-frame", "plugin": "ml", "binary": True, "overflow": "drop-oldest"},
               {"endpoint": ML_WS, "type": "alert", "plugin": "ml", "overflow": "close"}]
    return {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": 1, "drainTimeout": 2},
        "auth": {"authTimeout": 2},
        "limits": {"maxMessageBytes": 1 << 20, "messagesPerSecond": 0},
        "endpoints": [{"path": ML_WS, "codec": "json", "auth": "required"}],
        "plugins": {"ml": {"plugin": "ml-alerts", "config": plugin}},
        "routes": routes,
    }


def recording_config() -> dict:
    """deploy/recording-rooms.yaml (Socket.IO on /socket.io/, json on /ws/recording)."""
    return yaml.safe_load((REPO / "deploy" / "recording-rooms.yaml").read_text())


# ---------------------------------------------------------------------------
# The nodes
# ---------------------------------------------------------------------------


def readyz(server: RelayServer, timeout: float = 3.0) -> tuple[int, str]:
    """(status, body) of GET /readyz; (0, error) when the request itself fails."""
    try:
        status, _, body = server.http_get("/readyz", timeout=timeout)
        return status, body.decode(errors="replace")
    except OSError as exc:
        return 0, repr(exc)


def wait_ready(server: RelayServer, timeout: float = 30.0, want: int = 200) -> float:
    """Polls /readyz until it answers ``want``; returns how long that took."""
    start = time.monotonic()
    last: list[Any] = []

    def check() -> bool:
        if not server.alive():
            raise AssertionError(f"relay on port {server.port} exited ({server.proc.returncode}):\n"
                                 f"{server.logs()[-3000:]}")
        last[:] = readyz(server)
        return last[0] == want

    wait_until(check, timeout, 0.1, lambda: f"/readyz of port {server.port} answered {last}, want {want}")
    return time.monotonic() - start


class Cluster:
    """The nodes of one cluster (``nodes[0]`` is node `a`, ...) sharing ``database_url``."""

    def __init__(self, start_node: Callable[[str], RelayServer], database_url: str):
        self._start_node = start_node
        self.database_url = database_url
        self.nodes: list[RelayServer] = []
        self.node_ids: list[str] = []

    def add_node(self, node_id: str | None = None, wait: bool = True) -> RelayServer:
        node_id = node_id or NODE_IDS[len(self.nodes)]
        server = self._start_node(node_id)
        self.nodes.append(server)
        self.node_ids.append(node_id)
        if wait:
            wait_ready(server)
        return server

    def __getitem__(self, index: int) -> RelayServer:
        return self.nodes[index]

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def a(self) -> RelayServer:
        return self.nodes[0]

    @property
    def b(self) -> RelayServer:
        return self.nodes[1]

    @property
    def c(self) -> RelayServer:
        return self.nodes[2]

    @staticmethod
    def kill9(server: RelayServer) -> None:
        """SIGKILL: no drain, no goodbye, sockets reset by the kernel."""
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


class Roamer:
    """A raw-socket client that counts what it received (``lastSeen``, SPEC §3a: every message
    since the first `connected` except `connected`, `authenticated` and `pong`), and can drop
    (TCP reset, no close frame) and resume on any node."""

    def __init__(self, server: RelayServer, path: str = "/ws", **query: Any):
        self.path = path
        self.count = 0
        self.received: list[dict] = []
        self.hellos: list[dict] = []
        self.server = server
        self.hello = self.open(server, **query)
        self.client_id = self.hello["clientId"]

    def open(self, server: RelayServer, **query: Any) -> dict:
        self.server = server
        self.ws: RawWS = server.raw(server.target(self.path, **query))
        hello = self.ws.expect("connected", ignore=())
        self.hellos.append(hello)
        return hello

    def send(self, obj: dict) -> None:
        self.ws.send_json(obj)

    send_json = send

    def recv(self, timeout: float = RECV_TIMEOUT) -> dict:
        msg = self.ws.recv_json(timeout)
        if msg.get("type") not in NOT_COUNTED:
            self.count += 1
            self.received.append(msg)
        return msg

    def recv_until(self, predicate: Callable[[dict], bool], timeout: float = RECV_TIMEOUT) -> dict:
        return receive_until(self.recv, predicate, timeout)

    def expect(self, type_: str, timeout: float = RECV_TIMEOUT, ignore: tuple[str, ...] = ("joined", "left")) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.recv(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no {type_!r} within {timeout}s") from None
            if msg.get("type") in ignore and msg.get("type") != type_:
                continue
            assert msg.get("type") == type_, f"expected {type_!r}, got {msg!r}"
            return msg

    def assert_silent(self, duration: float, ignore: tuple[str, ...] = ()) -> None:
        """Nothing (but pongs and types in ``ignore``) arrives for ``duration`` seconds."""
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = self.recv(remaining)
            except TimeoutError:
                return
            if msg.get("type") != "pong" and msg.get("type") not in ignore:
                raise AssertionError(f"unexpected message: {msg!r}")

    def subscribe(self, topic: str) -> None:
        self.send({"type": "subscribe", "topic": topic})
        self.recv_until(lambda m: m.get("type") == "subscribed" and m.get("topic") == topic)

    def drop(self) -> None:
        self.ws.abort()

    def resume_on(self, server: RelayServer) -> dict:
        """Reconnects to ``server`` with ``?resume=<token>&lastSeen=<count>``."""
        self.hello = self.open(server, resume=self.hello["resumeToken"], lastSeen=self.count)
        return self.hello

    def directs(self) -> list[Any]:
        """`data` of every `direct` received, in order."""
        return [m["data"] for m in self.received if m.get("type") == "direct"]


class Sender(threading.Thread):
    """Calls ``send(n)`` for n in 0..count-1, ``interval`` seconds apart; ``sent`` counts."""

    def __init__(self, send: Callable[[int], None], count: int, interval: float):
        super().__init__(daemon=True)
        self.send_one, self.count, self.interval = send, count, interval
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        try:
            for n in range(self.count):
                self.send_one(n)
                self.sent += 1
                time.sleep(self.interval)
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = 60) -> None:
        self.join(timeout)
        assert not self.is_alive(), "sender still running"
        assert self.error is None, f"sender failed after {self.sent}: {self.error!r}"
        assert self.sent == self.count


def direct(sender: Any, to: str, data: Any) -> None:
    """Pubsub `direct` from a WSClient or a Roamer."""
    sender.send_json({"type": "direct", "to": to, "data": data})


def mentions_cluster(text: str) -> bool:
    """Whether a /readyz body names what is missing (the cluster, its database or the store,
    which is that database in a cluster)."""
    return re.search(r"cluster|database|postgres|store", text, re.I) is not None


def metric_delta(server: RelayServer, name: str, **labels: str) -> Callable[[], float]:
    """Returns a function giving how much ``name{labels}`` grew since now."""
    before = server.metric(name, **labels)
    return lambda: server.metric(name, **labels) - before


def dump_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def sequence_problems(got: list[int], total: int) -> str:
    """What is wrong with ``got`` compared with 0..total-1: missing, repeated, first divergence."""
    index = next((i for i, (g, w) in enumerate(zip(got, range(total))) if g != w), min(len(got), total))
    return (f"missing {sorted(set(range(total)) - set(got))}, "
            f"repeated {sorted({n for n in got if got.count(n) > 1})}, "
            f"first divergence at index {index}: got {got[max(0, index - 3):index + 8]}")

