"""The server, fixtures and helpers of the RFC 6455 / RFC 7692 conformance tests
(tests/test_rfc6455_*.py): one module-wide relay with /ws, /ws/z, /ws/zk and /ws/strict per test
module, and raw clients."""

from __future__ import annotations

from typing import Iterator

import pytest

from raw_ws_helpers import ConformanceWS, HTTPAnswer, http_upgrade
from relay_helpers import OP_PING, OP_PONG, Ending, Pair, RelayServer, add_endpoint, base_config


# ---------------------------------------------------------------------------
# The server under test
# ---------------------------------------------------------------------------

CLOSE_TIMEOUT = 1.0          # server.closeTimeout of the test server (seconds)
LIMIT = 4096                 # limits.maxMessageBytes of /ws (base config)
Z_LIMIT = 65536              # limits.maxMessageBytes of the permessage-deflate endpoints
CLOSE_DEADLINE = 2.0         # a violation must be answered with its close frame within this
HTTP_DEADLINE = 3.0

PING = b'{"type":"ping"}'


def rfc_config() -> dict:
    cfg = base_config(server={"closeTimeout": CLOSE_TIMEOUT})
    # the endpoint's default: no context takeover either way (docs/configuration.md)
    add_endpoint(cfg, "/ws/z", compression={"enabled": True}, limits={"maxMessageBytes": Z_LIMIT})
    # context takeover allowed: the server honours what the client offers
    add_endpoint(cfg, "/ws/zk", compression={"enabled": True, "noContextTakeover": False},
                 limits={"maxMessageBytes": Z_LIMIT})
    # an endpoint-level origin allow-list replacing the global one
    add_endpoint(cfg, "/ws/strict", limits={"allowedOrigins": ["https://app.example"]})
    return cfg


class ServerSlot:
    """A module-wide server that is started again when a test killed it (the test fails)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str] | None = None):
        self.factory = tmp_path_factory
        self.name = name
        self.env = env
        self.server: RelayServer | None = None
        self.dead: list[RelayServer] = []

    def get(self) -> RelayServer:
        if self.server is None or not self.server.alive():
            if self.server is not None:
                self.dead.append(self.server)
            self.server = RelayServer(self.factory.mktemp(self.name), rfc_config(), env=self.env).start()
        return self.server

    def stop(self) -> None:
        for server in [self.server, *self.dead]:
            if server is not None:
                server.stop()


@pytest.fixture(scope="module")
def _rfc_slot(tmp_path_factory) -> Iterator[ServerSlot]:
    slot = ServerSlot(tmp_path_factory, "relay-rfc")
    yield slot
    slot.stop()


@pytest.fixture(scope="module")
def _negotiation_slot(tmp_path_factory) -> Iterator[ServerSlot]:
    # Offers that crash today's relay: no 8 s backtrace per crash (the assertion is still logged).
    slot = ServerSlot(tmp_path_factory, "relay-pmd", env={"SWIFT_BACKTRACE": "enable=no"})
    yield slot
    slot.stop()


def _attached(slot: ServerSlot, track_server) -> Iterator[RelayServer]:
    server = track_server(slot.get())
    yield server
    server.close_clients()
    if not server.alive():
        slot.get()  # the next test gets a fresh server
        pytest.fail(f"the relay died during this test:\n{server.logs()[-2500:]}", pytrace=False)


@pytest.fixture
def rfc(_rfc_slot, track_server) -> Iterator[RelayServer]:
    """The module's server (closeTimeout 1 s, /ws, /ws/z, /ws/zk, /ws/strict)."""
    yield from _attached(_rfc_slot, track_server)


@pytest.fixture
def pmd(_negotiation_slot, track_server) -> Iterator[RelayServer]:
    """Same configuration, used for permessage-deflate offers (crash-prone today)."""
    yield from _attached(_negotiation_slot, track_server)


@pytest.fixture
def bystanders(rfc, topic) -> Pair:
    """Two subscribers on /ws; ``check()`` proves they still work after a violation."""
    return Pair(rfc, topic)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def ws(server: RelayServer, path: str = "/ws", offer: str | None = None) -> ConformanceWS:
    """A connected raw client (``connected`` already read); ``offer``: Sec-WebSocket-Extensions."""
    return ConformanceWS.connect(server, path, {"Sec-WebSocket-Extensions": offer} if offer else None)


def deflate_ws(server: RelayServer, path: str = "/ws/z", offer: str = "permessage-deflate") -> ConformanceWS:
    client = ws(server, path, offer)
    assert client.deflate is not None, f"permessage-deflate not negotiated: {client.headers}"
    return client


def fails_with(client: ConformanceWS, code: int, timeout: float = CLOSE_DEADLINE) -> Ending:
    """The server answers the violation with a close frame of ``code`` and delivers nothing else."""
    ending = client.wait_end(timeout)
    assert (ending.kind, ending.code) == ("close", code), \
        f"expected a close frame with {code}, got {ending}"
    assert not ending.frames, f"data delivered before the close: {ending.frames}"
    return ending


def alive(client: ConformanceWS, payload: bytes = b"still-open") -> None:
    """A control ping is answered: the connection is open (usable between fragments too)."""
    client.send_frame(OP_PING, payload)
    pong = client.recv_control(OP_PONG, CLOSE_DEADLINE)
    assert pong.payload == payload, pong


def app_pong(client: ConformanceWS) -> dict:
    msg = client.recv_json()
    assert msg.get("type") == "pong", msg
    return msg


def assert_status(answer: HTTPAnswer, status: int) -> None:
    assert answer.status == status, f"expected HTTP {status}, got {answer.status} {answer.headers}"
    assert "sec-websocket-accept" not in answer.headers, answer.headers


def upgrade(server: RelayServer, path: str = "/ws", **kwargs) -> HTTPAnswer:
    return http_upgrade(server.port, path, timeout=HTTP_DEADLINE, **kwargs)

# The start of a ping message, for payloads built byte by byte.
PREFIX = b'{"type":"ping","x":"'
