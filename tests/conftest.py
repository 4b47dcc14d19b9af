"""Fixtures for the Relay integration tests.

- ``relay``: a factory starting a fresh ``relay serve`` with a given config
  (default: the base config) and environment; killed at teardown.
- ``srv``: one base-config server shared by the tests of a module (tests use
  unique topics and metric deltas, so they do not see each other).
- ``topic``: a unique topic name.

When a test fails, the stderr/stdout of every server it used is appended to
its report.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

import pytest

from relay_helpers import RELAY_BIN, RelayServer, base_config


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
