"""The WebSocket-transport cases of the published Socket.IO v5 protocol test suite
(socketio/socket.io docs/socket.io-protocol/v5-test-suite/test-suite.js), packet by packet,
against a relay started with deploy/socketio-test-suite.yaml (the `echo` plugin, namespaces
"/" and "/custom", pingInterval 300, pingTimeout 200, maxPayload 1000000).

The 10 HTTP long-polling cases of the suite (handshake, heartbeat, close, upgrade) are in
test_socketio_polling.py and test_socketio_upgrade.py, so that all 32 run against that file.
The json-endpoint side (`?EIO=4` on a `json` endpoint closes 1003) is in test_close_codes.py.
"""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import InvalidStatus

from engineio_polling import PollingSession
from relay_helpers import RelayServer
from socketio_helpers import LOCAL_ENV, SOCKETIO_SUITE_YAML, EIOClient

PING_INTERVAL = 0.300
PING_TIMEOUT = 0.200
CONNECT_TIMEOUT = 1.5  # deploy/socketio-test-suite.yaml


@pytest.fixture(scope="module")
def _suite_server(tmp_path_factory: pytest.TempPathFactory) -> RelayServer:
    server = RelayServer(tmp_path_factory.mktemp("socketio-suite"), SOCKETIO_SUITE_YAML.read_text(), env=LOCAL_ENV)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def suite(_suite_server: RelayServer, track_server) -> RelayServer:
    return track_server(_suite_server)


def connected(server: RelayServer) -> EIOClient:
    """The suite's initSocketIOConnection: handshake, `40`, the CONNECT answer and the auth event."""
    socket = EIOClient(server)
    socket.send("40")
    assert socket.recv_packet().startswith("40")
    assert socket.recv_packet() == '42["auth",{}]'
    return socket


def refused(server: RelayServer, path: str) -> str:
    """What happens to an Engine.IO upgrade with a bad query: an HTTP error or a close."""
    try:
        socket = EIOClient(server, path, handshake=False)
    except InvalidStatus as exc:
        return f"http {exc.response.status_code}"
    closed = socket.wait_closed(2)
    return f"close {closed.code}"


# ---------------------------------------------------------------------------
# Engine.IO protocol
# ---------------------------------------------------------------------------


def test_handshake_opens_a_session(suite):
    socket = EIOClient(suite)
    value = socket.open_packet
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(value["sid"], str) and value["sid"]
    assert value["upgrades"] == []
    assert value["pingInterval"] == 300
    assert value["pingTimeout"] == 200
    assert value["maxPayload"] == 1000000


@pytest.mark.parametrize("query", ["transport=websocket", "EIO=abc&transport=websocket", "EIO=3&transport=websocket"])
def test_handshake_with_an_invalid_eio_query_fails(suite, query):
    assert refused(suite, f"/socket.io/?{query}") == "close 1002"


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc", "EIO=4&transport=polling"])
def test_handshake_with_an_invalid_transport_query_fails(suite, query):
    assert refused(suite, f"/socket.io/?{query}") == "close 1002"


def test_heartbeat_sends_ping_packets_every_ping_interval(suite):
    socket = EIOClient(suite)
    arrivals = []
    for _ in range(3):
        assert socket.recv(2) == "2"
        arrivals.append(time.monotonic())
        socket.send("3")
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(PING_INTERVAL - 0.05 <= gap <= PING_INTERVAL + 0.25 for gap in gaps), gaps


def test_heartbeat_closes_the_session_upon_ping_timeout(suite):
    socket = EIOClient(suite)
    socket.send("40")
    assert socket.recv_packet().startswith("40")
    assert socket.recv_packet() == '42["auth",{}]'
    assert socket.recv(2) == "2"  # the first ping; never answered
    pinged = time.monotonic()
    closed = socket.wait_closed(3)
    assert closed.code is None, closed  # a dead peer is dropped (no close frame), like a lost TCP link
    # Closed for the missed pong (pingTimeout after the ping), not the namespace connect time-out.
    assert time.monotonic() - pinged <= PING_TIMEOUT + 0.4, closed


def test_answered_pings_keep_the_session_open_past_the_timeouts(suite):
    socket = connected(suite)
    deadline = time.monotonic() + 4 * (PING_INTERVAL + PING_TIMEOUT)
    pings = 0
    while time.monotonic() < deadline:
        frame = socket.recv(1)
        assert frame == "2", frame
        pings += 1
        socket.send("3")
    socket.send('42["message","still here"]')
    assert socket.recv_packet() == '42["message-back","still here"]'
    assert pings >= 5


def test_close_packet_forcefully_closes_the_session(suite):
    socket = EIOClient(suite)
    socket.send("1")
    closed = socket.wait_closed(2)
    assert closed.code == 1000, closed


def test_websocket_half_of_the_upgrade_probe(suite):
    # Without a long-polling session to take over (no `sid`), a probe ping is still answered and
    # an upgrade packet ignored (the upgrade itself: test_socketio_upgrade.py).
    socket = EIOClient(suite)
    socket.send("2probe")
    assert socket.recv_packet() == "3probe"
    socket.send("5")  # an upgrade packet is ignored, the session goes on
    socket.send("40")
    assert socket.recv_packet().startswith("40{")


# ---------------------------------------------------------------------------
# Socket.IO protocol: connect
# ---------------------------------------------------------------------------


def test_connect_to_the_main_namespace(suite):
    socket = EIOClient(suite)
    socket.send("40")
    data = socket.recv_packet()
    assert data.startswith("40")
    handshake = json.loads(data[2:])
    assert set(handshake) == {"sid"} and isinstance(handshake["sid"], str)
    assert socket.recv_packet() == '42["auth",{}]'


def test_connect_to_the_main_namespace_with_a_payload(suite):
    socket = EIOClient(suite)
    socket.send('40{"token":"123"}')
    data = socket.recv_packet()
    assert data.startswith("40")
    assert set(json.loads(data[2:])) == {"sid"}
    assert socket.recv_packet() == '42["auth",{"token":"123"}]'


def test_connect_to_a_custom_namespace(suite):
    socket = EIOClient(suite)
    socket.send("40/custom,")
    data = socket.recv_packet()
    assert data.startswith("40/custom,")
    handshake = json.loads(data[len("40/custom,"):])
    assert set(handshake) == {"sid"} and isinstance(handshake["sid"], str)
    assert socket.recv_packet() == '42/custom,["auth",{}]'


def test_connect_to_a_custom_namespace_with_a_payload(suite):
    socket = EIOClient(suite)
    socket.send('40/custom,{"token":"abc"}')
    data = socket.recv_packet()
    assert data.startswith("40/custom,")
    assert set(json.loads(data[len("40/custom,"):])) == {"sid"}
    assert socket.recv_packet() == '42/custom,["auth",{"token":"abc"}]'


def test_connect_to_an_unknown_namespace_is_refused(suite):
    socket = EIOClient(suite)
    socket.send("40/random")
    assert socket.recv_packet() == '44/random,{"message":"Invalid namespace"}'
    # The connection itself stays usable for a namespace that exists.
    socket.send("40")
    assert socket.recv_packet().startswith("40{")


def test_connect_with_an_invalid_handshake_closes(suite):
    socket = EIOClient(suite)
    socket.send("4abc")
    closed = socket.wait_closed(2)
    assert closed.code == 1002, closed


def test_no_namespace_connect_closes_after_the_connect_timeout(suite):
    socket = EIOClient(suite)
    closed = socket.wait_closed(CONNECT_TIMEOUT + 2, answer_pings=True)
    assert closed.code == 1008, closed
    assert CONNECT_TIMEOUT - 0.1 <= closed.elapsed <= CONNECT_TIMEOUT + 1.0, closed


# A refused CONNECT sends 44{"message":…} before the 1008 close, so clients get connect_error
# with the reason rather than a bare transport close.
@pytest.mark.parametrize("path,packet", [
    ("/secure.io/?EIO=4&transport=websocket", "40"),
    ("/secure.io/?EIO=4&transport=websocket", '40{"token":"not-a-jwt"}'),
    ("/socket.io/?EIO=4&transport=websocket", '40{"token":"not-a-jwt"}'),
], ids=["required-without-token", "required-bad-token", "optional-bad-token"])
def test_refused_connect_sends_connect_error_before_closing(relay, path, packet):
    server = relay({
        "server": {"host": "127.0.0.1"},
        "endpoints": [{"path": "/socket.io/", "codec": "socketio", "auth": "optional"},
                      {"path": "/secure.io/", "codec": "socketio", "auth": "required"}],
        "plugins": {"echo": {"plugin": "echo"}},
        "routes": [{"endpoint": "/socket.io/", "type": "message", "plugin": "echo"},
                   {"endpoint": "/secure.io/", "type": "message", "plugin": "echo"}],
    })
    socket = EIOClient(server, path)
    socket.send(packet)
    frames = []
    with pytest.raises(AssertionError):
        while True:
            frames.append(socket.recv(2))
    assert frames and frames[0].startswith("44{") and "message" in json.loads(frames[0][2:]), frames


# ---------------------------------------------------------------------------
# Socket.IO protocol: disconnect
# ---------------------------------------------------------------------------


def test_disconnect_from_the_main_namespace(suite):
    socket = connected(suite)
    socket.send("41")
    # Nothing answers the disconnect; the Engine.IO session goes on with its pings.
    assert socket.recv(2) == "2"


def test_connect_then_disconnect_from_a_custom_namespace(suite):
    socket = connected(suite)
    assert socket.recv(2) == "2"  # ping
    socket.send("40/custom")
    assert socket.recv_packet().startswith("40/custom,")
    assert socket.recv_packet() == '42/custom,["auth",{}]'
    socket.send("41/custom")
    socket.send('42["message","message to main namespace"]')
    assert socket.recv_packet() == '42["message-back","message to main namespace"]'


def test_event_for_a_disconnected_namespace_closes(suite):
    socket = connected(suite)
    socket.send("40/custom,")
    assert socket.recv_packet().startswith("40/custom,")
    assert socket.recv_packet() == '42/custom,["auth",{}]'
    socket.send("41/custom,")
    socket.send('42/custom,["message","gone"]')
    closed = socket.wait_closed(2, answer_pings=True)
    assert closed.code == 1002, closed


# ---------------------------------------------------------------------------
# Socket.IO protocol: message
# ---------------------------------------------------------------------------


def test_plain_text_packet(suite):
    socket = connected(suite)
    socket.send('42["message",1,"2",{"3":[true]}]')
    assert socket.recv_packet() == '42["message-back",1,"2",{"3":[true]}]'


def test_packet_with_binary_attachments(suite):
    socket = connected(suite)
    socket.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    socket.send(bytes([1, 2, 3]))
    socket.send(bytes([4, 5, 6]))
    packets = socket.recv_packets(3)
    assert packets[0] == '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
    assert packets[1] == bytes([1, 2, 3])
    assert packets[2] == bytes([4, 5, 6])


def test_plain_text_packet_with_an_ack(suite):
    socket = connected(suite)
    socket.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert socket.recv_packet() == '43456[1,"2",{"3":[false]}]'


def test_packet_with_binary_attachments_and_an_ack(suite):
    socket = connected(suite)
    socket.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    socket.send(bytes([1, 2, 3]))
    socket.send(bytes([4, 5, 6]))
    packets = socket.recv_packets(3)
    assert packets[0] == '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
    assert packets[1] == bytes([1, 2, 3])
    assert packets[2] == bytes([4, 5, 6])


def test_messages_in_a_custom_namespace_stay_in_it(suite):
    socket = connected(suite)
    socket.send("40/custom,")
    assert socket.recv_packet().startswith("40/custom,")
    assert socket.recv_packet() == '42/custom,["auth",{}]'
    socket.send('42/custom,7["message-with-ack",{"a":1}]')
    assert socket.recv_packet() == '43/custom,7[{"a":1}]'
    socket.send('42/custom,["message","x"]')
    assert socket.recv_packet() == '42/custom,["message-back","x"]'


@pytest.mark.parametrize("packet", ["4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]'],
                         ids=["unknown-packet-type", "invalid-payload-format", "invalid-ack-id"])
def test_invalid_format_closes_the_connection(suite, packet):
    socket = connected(suite)
    socket.send(packet)
    closed = socket.wait_closed(2, answer_pings=True)
    assert closed.code == 1002, closed


def test_a_malformed_packet_affects_no_other_connection(suite):
    bystander = connected(suite)
    offender = connected(suite)
    offender.send("42{}")
    offender.wait_closed(2, answer_pings=True)
    bystander.send('42["message","fine"]')
    assert bystander.recv_packet() == '42["message-back","fine"]'


def test_long_polling_next_to_websocket_sessions(suite):
    # A long-polling session, and a malformed polling body, leave WebSocket sessions alone.
    socket = connected(suite)
    session = PollingSession(suite.port, server=suite)
    session.send("40")
    assert session.packets_until(lambda got: len(got) >= 2)[1] == '42["auth",{}]'
    assert session.post_raw(b"\x1e").status == 400
    socket.send('42["message","after polling"]')
    assert socket.recv_packet() == '42["message-back","after polling"]'
