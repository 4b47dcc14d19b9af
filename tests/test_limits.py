"""Connection-level limits: handshake time-out, heartbeat, permessage-deflate
(docs/configuration.md `server`, `endpoints[].compression`; SPEC §3, §3a)."""

from __future__ import annotations

import socket
import time

import pytest

from relay_helpers import (HOST, RelayServer, add_endpoint, base_config, padded_ping,
                           tcp_is_closed_by_peer)


# --- handshake time-out ----------------------------------------------------------

@pytest.fixture
def handshake_server(relay) -> RelayServer:
    return relay(base_config(server={"handshakeTimeout": 1}))


@pytest.mark.parametrize("sent", [b"GET /ws HTT", b"", b"GET /ws HTTP/1.1\r\nHost: x\r\n"],
                         ids=["half-request-line", "nothing", "headers-unfinished"])
def test_incomplete_handshake_is_dropped(handshake_server, sent):
    with socket.create_connection((HOST, handshake_server.port), timeout=5) as sock:
        if sent:
            sock.sendall(sent)
        elapsed = tcp_is_closed_by_peer(sock, timeout=5)
    assert 0.5 <= elapsed <= 3.0, f"dropped after {elapsed:.2f}s with handshakeTimeout 1"
    # the server itself is fine
    assert handshake_server.connect("/ws").ping()["type"] == "pong"


def test_handshake_timeout_does_not_affect_established_connections(handshake_server):
    client = handshake_server.connect("/ws")
    client.assert_silent(1.6)
    assert client.ping()["type"] == "pong"


# --- heartbeat ----------------------------------------------------------------------

@pytest.fixture
def heartbeat_server(relay) -> RelayServer:
    return relay(base_config(server={"heartbeatInterval": 1, "closeTimeout": 1}))


def test_peer_that_never_answers_pings_is_closed(heartbeat_server):
    raw = heartbeat_server.raw("/ws")
    assert raw.recv_json()["type"] == "connected"
    start = time.monotonic()
    ending = raw.wait_end(timeout=6, auto_pong=False)
    elapsed = time.monotonic() - start
    assert raw.pings_seen >= 1, "the server never sent a WebSocket ping"
    assert elapsed <= 4.5, f"dead peer closed only after {elapsed:.2f}s (heartbeatInterval 1)"
    assert ending.kind in ("close", "eof", "reset"), ending


def test_peer_answering_pings_stays_connected(heartbeat_server):
    raw = heartbeat_server.raw("/ws")
    assert raw.recv_json()["type"] == "connected"
    with pytest.raises(TimeoutError):
        raw.recv_message(timeout=3.5, auto_pong=True)
    assert raw.pings_seen >= 2
    raw.send_json({"type": "ping"})
    assert raw.expect("pong")["type"] == "pong"


def test_websockets_client_with_defaults_stays_connected(heartbeat_server):
    client = heartbeat_server.connect("/ws", ping_interval=20, ping_timeout=20)
    client.assert_silent(3.5)
    assert client.ping()["type"] == "pong"


# --- permessage-deflate --------------------------------------------------------------

@pytest.fixture(scope="module")
def _deflate_server(tmp_path_factory):
    cfg = add_endpoint(base_config(), "/ws/z", compression={"enabled": True})
    server = RelayServer(tmp_path_factory.mktemp("relay-deflate"), cfg)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def deflate_server(_deflate_server, track_server):
    return track_server(_deflate_server)


OFFER = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}


def test_deflate_negotiated_on_enabled_endpoint(deflate_server):
    raw = deflate_server.raw("/ws/z", headers=OFFER)
    ext = raw.headers.get("sec-websocket-extensions", "")
    assert "permessage-deflate" in ext, raw.headers


def test_deflate_not_negotiated_on_plain_endpoint(deflate_server):
    raw = deflate_server.raw("/ws", headers=OFFER)
    assert "permessage-deflate" not in raw.headers.get("sec-websocket-extensions", ""), raw.headers
    assert raw.recv_json()["type"] == "connected"


def test_deflate_not_negotiated_when_not_offered(deflate_server):
    raw = deflate_server.raw("/ws/z")
    assert "sec-websocket-extensions" not in raw.headers, raw.headers
    assert raw.recv_json()["type"] == "connected"


def test_compressed_round_trip(deflate_server, topic):
    a = deflate_server.connect("/ws/z", compression="deflate")
    b = deflate_server.connect("/ws/z", compression="deflate")
    assert "permessage-deflate" in a.response_headers.get("Sec-WebSocket-Extensions", "")
    a.subscribe(topic)
    b.subscribe(topic)
    data = "compressible " * 250
    a.publish(topic, data)
    assert b.expect("message")["data"] == data


def test_uncompressed_client_on_plain_endpoint(deflate_server):
    client = deflate_server.connect("/ws", compression="deflate")
    assert "Sec-WebSocket-Extensions" not in client.response_headers
    assert client.ping()["type"] == "pong"


def test_size_limit_counts_decompressed_bytes(deflate_server):
    client = deflate_server.connect("/ws/z", compression="deflate")
    client.send_text(padded_ping(4096))  # compresses to a few dozen bytes
    assert client.expect("pong")["type"] == "pong"
    client.send_text(padded_ping(4097))
    assert client.expect_close() == 1009
