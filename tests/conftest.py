"""Fixtures for the Relay integration tests.

- ``relay``: a factory starting a fresh ``relay serve`` with a given config
  (default: the base config) and environment; killed at teardown.
- ``srv``: one base-config server shared by the tests of a module (tests use
  unique topics and metric deltas, so they do not see each other).
- ``topic``: a unique topic name.
- ``rfc``, ``pmd``, ``bystanders``: the RFC 6455 conformance tests' server and clients
  (rfc6455_support.py); ``ml``: a relay for the ml-alerts tests (ml_alerts_support.py);
  ``cam``: the camera-pairing tests' server (camera_pairing_support.py).

When a test fails, the stderr/stdout of every server it used is appended to
its report.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

import pytest

from relay_helpers import RELAY_BIN, RelayServer, base_config

pytest_plugins = ("rfc6455_support", "ml_alerts_support", "camera_pairing_support", "round_robin_proxy")


def _servers_of(node: pytest.Item) -> list[RelayServer]:
    if not hasattr(node, "_relay_servers"):
        node._relay_servers = []
    return node._relay_servers


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in getattr(item, "_relay_servers", []):
            report.sections.append((f"relay log (port {server.port})", server.logs()[-6000:]))


@pytest.fixture(scope="session", autouse=True)
def relay_binary() -> None:
    if not RELAY_BIN.exists():
        pytest.fail(f"relay binary not found at {RELAY_BIN}; build it or set RELAY_BIN", pytrace=False)


@pytest.fixture
def relay(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Callable[..., RelayServer]:
    """``relay(config=None, **kwargs)`` starts a server (see RelayServer for kwargs)."""
    started: list[RelayServer] = []

    def start(config: dict | str | None = None, *, start: bool = True, **kwargs: Any) -> RelayServer:
        workdir = tmp_path_factory.mktemp("relay")
        server = RelayServer(workdir, base_config() if config is None else config, **kwargs)
        started.append(server)
        _servers_of(request.node).append(server)
        return server.start() if start else server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def _shared_server(tmp_path_factory: pytest.TempPathFactory) -> RelayServer:
    server = RelayServer(tmp_path_factory.mktemp("relay-shared"), base_config())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def srv(_shared_server: RelayServer, track_server: Callable[[RelayServer], RelayServer]
        ) -> RelayServer:
    """The module's base-config server; the test's clients are closed afterwards."""
    return track_server(_shared_server)


@pytest.fixture
def track_server(request: pytest.FixtureRequest) -> Callable[[RelayServer], RelayServer]:
    """For module-scoped servers: attach one to the test (logs on failure, clients closed)."""
    used: list[RelayServer] = []

    def track(server: RelayServer) -> RelayServer:
        assert server.alive(), "relay server died:\n" + server.logs()[-3000:]
        _servers_of(request.node).append(server)
        used.append(server)
        return server

    yield track
    for server in used:
        server.close_clients()


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------
# Cluster mode (issue 7): PostgreSQL and several relay nodes
# ---------------------------------------------------------------------------
#
# - ``pg``: the admin URL of the test PostgreSQL (RELAY_TEST_DATABASE_URL; scripts/test.sh
#   starts one with scripts/postgres.sh). Missing or unreachable: the tests fail, never skip.
# - ``pg_database``: a fresh database for the test (dropped afterwards).
# - ``cluster``: ``cluster(n=2, config=None, resume_grace=None, node_timeout=2, heartbeat=0.5,
#   database_url=None, env=None, cluster_settings=None, **RelayServer kwargs)`` starts n nodes
#   (`a`, `b`, `c`, …; ``cluster_settings`` adds keys to their `cluster` section) with
#   `cluster.backend: postgres` on one fresh database (or ``database_url``) and waits until
#   every node's /readyz answers 200.
# - ``pg_server``: a throwaway PostgreSQL of the test's own (for stopping and starting it).

import os as _os

from cluster_helpers import (HEARTBEAT, NODE_TIMEOUT, Cluster, PgServer, create_database, drop_database,
                             psql, wait_ready, with_cluster)


@pytest.fixture(scope="session")
def pg() -> str:
    url = _os.environ.get("RELAY_TEST_DATABASE_URL")
    if not url:
        pytest.fail("RELAY_TEST_DATABASE_URL is not set: the cluster tests need a PostgreSQL admin URL "
                    "(scripts/test.sh starts one; or: scripts/postgres.sh start /tmp/relay-pg 55433 and "
                    "RELAY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:55433/postgres)", pytrace=False)
    try:
        psql(url, "SELECT 1")
    except AssertionError as exc:
        pytest.fail(f"RELAY_TEST_DATABASE_URL={url} is not reachable: {exc}", pytrace=False)
    return url


@pytest.fixture
def pg_database(pg: str) -> str:
    name, url = create_database(pg)
    yield url
    drop_database(pg, name)


@pytest.fixture
def pg_server() -> PgServer:
    server = PgServer().start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg: str
            ) -> Callable[..., Cluster]:
    started: list[Any] = []
    databases: list[str] = []

    def make(n: int = 2, config: dict | str | None = None, *, resume_grace: float | None = None,
             node_timeout: float = NODE_TIMEOUT, heartbeat: float = HEARTBEAT,
             database_url: str | None = None, env: dict[str, str] | None = None,
             ready_timeout: float = 30.0, cluster_settings: dict[str, Any] | None = None, **kwargs: Any) -> Cluster:
        if database_url is None:
            name, database_url = create_database(pg)
            databases.append(name)

        def start_node(node_id: str) -> RelayServer:
            cfg = with_cluster(config, node_id, heartbeat, node_timeout, resume_grace, **(cluster_settings or {}))
            node_env = {"RELAY_DATABASE_URL": database_url, **(env or {})}
            server = RelayServer(tmp_path_factory.mktemp(f"node-{node_id}"), cfg, env=node_env, **kwargs)
            started.append(server)
            _servers_of(request.node).append(server)
            return server.start()

        nodes = Cluster(start_node, database_url)
        for _ in range(n):
            nodes.add_node(wait=False)
        for node in nodes:
            wait_ready(node, ready_timeout)
        return nodes

    yield make
    for server in started:
        server.stop()
    for name in databases:
        drop_database(pg, name)
