"""RFC 6455 (WebSocket) and RFC 7692 (permessage-deflate) conformance over raw sockets.

Issue 14 item 3: every rule of the protocol the WebSocket engine must enforce, each tested with
a hand-rolled client (``raw_ws_helpers.ConformanceWS``, ``http_upgrade``) against a real
``relay serve``, with the exact outcome expected (HTTP status or close code), and proof that the
other clients of the server are unharmed (``Pair``/``bystanders.check()``, as in
test_close_codes.py).

Already covered elsewhere, not repeated here:
- test_close_codes.py: unmasked client frame, reserved opcode 0x3, RSV1 on a text frame without
  an extension, a ping without FIN, a continuation as the first frame (all 1002); invalid UTF-8
  in one whole text frame (1007); a message of exactly maxMessageBytes accepted and one byte
  more closed 1009; unknown WebSocket paths (404); refused origins under the global
  ``limits.allowedOrigins`` (403).
- test_limits.py: permessage-deflate negotiated / not negotiated by endpoint and offer, a
  compressed round trip with the ``websockets`` client, the limit counted on decompressed bytes
  (4096 passes, 4097 closes 1009).

Where RFC 6455 leaves the relay a choice, the comment at the test says which reading is tested.
"""

from __future__ import annotations

import functools
import json
import random
import struct
import time
from typing import Iterator

import pytest

from raw_ws_helpers import (ConformanceWS, HTTPAnswer, close_payload, deflate_raw, http_upgrade,
                            new_key, parse_extensions, split, vm_status)
from relay_helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, PRESENCE_TYPES, Ending, Frame, Pair,
                           RelayServer, add_endpoint, base_config, json_text, padded_ping,
                           tcp_is_closed_by_peer)

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


# ===========================================================================
# 1. Opening handshake (RFC 6455 §4.1, §4.2.1, §4.2.2, §4.4)
# ===========================================================================


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_handshake_only_get_is_upgraded(rfc, method):
    """§4.2.1 (1): the handshake is an HTTP GET; another method with upgrade headers gets a 4xx."""
    answer = upgrade(rfc, method=method)
    assert 400 <= answer.status < 500, f"{method} upgrade answered {answer.status} {answer.headers}"
    assert "sec-websocket-accept" not in answer.headers


def test_handshake_http_1_0_is_not_upgraded(rfc):
    """§4.1/§4.2.1 (1): the request must be HTTP/1.1 or later; HTTP/1.0 gets a 4xx, no 101."""
    answer = upgrade(rfc, version="HTTP/1.0")
    assert 400 <= answer.status < 500, f"HTTP/1.0 upgrade answered {answer.status} {answer.headers}"
    assert "sec-websocket-accept" not in answer.headers


@pytest.mark.parametrize("headers", [
    pytest.param({"Upgrade": None}, id="no-upgrade-header"),
    pytest.param({"Connection": None}, id="no-connection-header"),
    pytest.param({"Connection": "keep-alive"}, id="connection-without-upgrade-token"),
])
def test_handshake_requires_upgrade_and_connection_headers(rfc, headers):
    """§4.2.1 (3, 4): `Upgrade: websocket` and a `Connection` containing `Upgrade` → else HTTP 400.

    Without any `Upgrade` the request still carries Sec-WebSocket-Key/-Version on a WebSocket
    path: it is a broken handshake, answered 400 as §4.2.1 says (not the 404 of an HTTP route)."""
    assert_status(upgrade(rfc, headers=headers), 400)


@pytest.mark.parametrize("headers", [
    pytest.param({"Connection": "keep-alive, Upgrade"}, id="connection-list"),
    pytest.param({"Connection": "Upgrade, keep-alive"}, id="connection-list-upgrade-first"),
    pytest.param({"Connection": "upgrade"}, id="connection-lowercase"),
    pytest.param({"Upgrade": "WebSocket"}, id="upgrade-mixed-case"),
])
def test_handshake_header_tokens_are_case_insensitive_lists(rfc, headers):
    """§4.2.1 (3, 4): `Connection` is a token list and both values are case-insensitive → 101."""
    client = ConformanceWS.connect(rfc, "/ws", headers)
    assert client.headers.get("upgrade", "").lower() == "websocket", client.headers
    client.send_frame(OP_TEXT, PING)
    app_pong(client)


@pytest.mark.parametrize("key", [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("!!!!not-base64!!!!!!!==", id="not-base64"),
    pytest.param(new_key(15), id="15-bytes"),
    pytest.param(new_key(17), id="17-bytes"),
])
def test_handshake_key_must_be_base64_of_16_bytes(rfc, key):
    """§4.2.1 (5): Sec-WebSocket-Key is the base64 of a 16-byte value → else HTTP 400."""
    assert_status(upgrade(rfc, headers={"Sec-WebSocket-Key": key}), 400)


@pytest.mark.parametrize("version", [
    pytest.param("8", id="8"),
    pytest.param("12", id="12"),
    pytest.param("14", id="14"),
    pytest.param("13a", id="not-a-number"),
    # A missing version is not a version the server understands either: §4.4's answer (426 with
    # the supported version), which tells a client what to send, rather than §4.2.1's generic 400.
    pytest.param(None, id="missing"),
])
def test_handshake_other_version_is_426_with_supported_version(rfc, version):
    """§4.2.2/§4.4: a Sec-WebSocket-Version other than 13 → HTTP 426 + `Sec-WebSocket-Version: 13`."""
    answer = upgrade(rfc, headers={"Sec-WebSocket-Version": version})
    assert_status(answer, 426)
    offered = [v.strip() for v in (answer.header("sec-websocket-version") or "").split(",")]
    assert "13" in offered, answer.headers


@pytest.mark.parametrize("path,origin,status", [
    pytest.param("/ws/strict", "https://evil.example", 403, id="endpoint-list-refuses"),
    pytest.param("/ws/strict", "http://localhost:1234", 403, id="endpoint-list-replaces-global"),
    pytest.param("/ws", "https://app.example", 403, id="global-list-still-applies-elsewhere"),
    pytest.param("/ws/strict", "https://app.example", 101, id="endpoint-list-allows"),
])
def test_handshake_origin_allow_list_per_endpoint(rfc, path, origin, status):
    """§4.2.2 (§10.2): a refused Origin (the endpoint's `limits.allowedOrigins`) → HTTP 403.

    (The global list and unknown paths → 404 are in test_close_codes.py.)"""
    answer = upgrade(rfc, path, headers={"Origin": origin})
    if status == 101:
        assert answer.status == 101, answer
    else:
        assert_status(answer, status)


@pytest.mark.parametrize("path", ["/ws/open", "/ws/open/room/extra", "/WS"])
def test_handshake_unknown_path_is_404(rfc, path):
    """A valid upgrade to a path no endpoint matches → HTTP 404 (more paths, with the websockets
    client: test_close_codes.py). `:room` needs exactly one segment; paths are case-sensitive.
    (Empty segments are ignored by the route matcher today, so `/ws/z/` is `/ws/z`: not tested.)"""
    assert_status(upgrade(rfc, path), 404)


# ===========================================================================
# 2. Reserved bits and opcodes (RFC 6455 §5.2, RFC 7692 §6)
# ===========================================================================

FRAME_OF = {
    OP_TEXT: PING,
    OP_BINARY: b"\x00\x01",
    OP_PING: b"p",
    OP_PONG: b"p",
    OP_CLOSE: close_payload(1000),
}
OP_NAMES = {OP_CONT: "continuation", OP_TEXT: "text", OP_BINARY: "binary", OP_CLOSE: "close",
            OP_PING: "ping", OP_PONG: "pong"}


@pytest.mark.parametrize("bit,opcode", [
    pytest.param(bit, op, id=f"{bit}-{OP_NAMES[op]}")
    for bit in ("rsv1", "rsv2", "rsv3") for op in FRAME_OF
    if (bit, op) != ("rsv1", OP_TEXT)  # test_close_codes.py: rsv1-without-extension
])
def test_reserved_bit_without_extension_fails_1002(rfc, bystanders, bit, opcode):
    """§5.2: RSV1-3 must be 0 unless an extension defines them → fail the connection, 1002."""
    client = ws(rfc)
    client.send_frame(opcode, FRAME_OF[opcode], **{bit: True})
    fails_with(client, 1002)
    bystanders.check()


@pytest.mark.parametrize("bit,opcode", [
    pytest.param("rsv1", OP_PING, id="rsv1-ping"),
    pytest.param("rsv1", OP_PONG, id="rsv1-pong"),
    pytest.param("rsv1", OP_CLOSE, id="rsv1-close"),
    pytest.param("rsv2", OP_TEXT, id="rsv2-text"),
    pytest.param("rsv3", OP_TEXT, id="rsv3-text"),
])
def test_reserved_bit_not_defined_by_permessage_deflate_fails_1002(rfc, bystanders, bit, opcode):
    """RFC 7692 §6 + RFC 6455 §5.2: deflate defines RSV1 on data frames only → 1002 elsewhere."""
    client = deflate_ws(rfc)
    client.send_frame(opcode, FRAME_OF[opcode], **{bit: True})
    fails_with(client, 1002)
    bystanders.check()


def test_rsv1_on_continuation_with_permessage_deflate_fails_1002(rfc, bystanders):
    """RFC 7692 §6.1: RSV1 is set on the first frame of a message only → continuation → 1002."""
    client = deflate_ws(rfc)
    first, rest = split(client.deflate.compress(PING), 2)
    client.send_frame(OP_TEXT, first, fin=False, rsv1=True)
    client.send_frame(OP_CONT, rest, fin=True, rsv1=True)
    fails_with(client, 1002)
    bystanders.check()


@pytest.mark.parametrize("opcode", [0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF],
                         ids=lambda op: f"opcode-{op:#x}")
def test_reserved_opcode_fails_1002(rfc, bystanders, opcode):
    """§5.2: opcodes 3-7 (data) and 0xB-0xF (control) are reserved → 1002 (0x3: test_close_codes.py)."""
    client = ws(rfc)
    client.send_frame(opcode, b"x")
    fails_with(client, 1002)
    bystanders.check()


# ===========================================================================
# 3. Control frames (RFC 6455 §5.5)
# ===========================================================================


@pytest.mark.parametrize("opcode,payload", [
    pytest.param(OP_PING, b"p" * 126, id="ping-126"),
    pytest.param(OP_PONG, b"p" * 126, id="pong-126"),
    pytest.param(OP_CLOSE, close_payload(1000, b"r" * 124), id="close-126"),
])
def test_control_frame_over_125_bytes_fails_1002(rfc, bystanders, opcode, payload):
    """§5.5: control frames have a payload of 125 bytes or less → 1002."""
    client = ws(rfc)
    client.send_frame(opcode, payload)
    fails_with(client, 1002)
    bystanders.check()


@pytest.mark.parametrize("opcode", [OP_PONG, OP_CLOSE], ids=["pong", "close"])
def test_fragmented_control_frame_fails_1002(rfc, bystanders, opcode):
    """§5.5: control frames must not be fragmented (FIN set) → 1002 (ping: test_close_codes.py)."""
    client = ws(rfc)
    client.send_frame(opcode, FRAME_OF[opcode], fin=False)
    fails_with(client, 1002)
    bystanders.check()


@pytest.mark.parametrize("payload", [
    pytest.param(b"", id="0-bytes"),
    pytest.param(b"hello", id="5-bytes"),
    pytest.param(bytes(random.Random(6455).randrange(256) for _ in range(125)), id="125-bytes-binary"),
])
def test_ping_is_answered_with_pong_carrying_its_payload(rfc, payload):
    """§5.5.2/§5.5.3: a ping gets a pong with identical Application data."""
    client = ws(rfc)
    client.send_frame(OP_PING, payload)
    pong = client.recv_control(OP_PONG)
    assert pong.fin and pong.payload == payload, pong
    client.send_frame(OP_TEXT, PING)
    app_pong(client)


def test_ping_between_fragments_is_answered_and_message_arrives_whole(rfc):
    """§5.4/§5.5.2: control frames may be injected between fragments; each ping is answered at
    once (before the message is finished) and the fragmented message is still handled whole."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, b'{"type"', fin=False)
    alive(client, b"mid-1")
    client.send_frame(OP_CONT, b':"pi', fin=False)
    alive(client, b"")
    client.send_frame(OP_CONT, b'ng"}', fin=True)
    app_pong(client)


def test_unsolicited_pong_is_ignored(rfc):
    """§5.5.3: an unsolicited pong (also between fragments) is ignored; no answer, no close."""
    client = ws(rfc)
    client.send_frame(OP_PONG, b"unsolicited")
    client.send_frame(OP_PONG, b"")
    client.send_frame(OP_TEXT, b'{"type":', fin=False)
    client.send_frame(OP_PONG, b"between fragments")
    client.send_frame(OP_CONT, b'"ping"}', fin=True)
    assert app_pong(client)["type"] == "pong"
    alive(client)


# ===========================================================================
# 4. Fragmentation (RFC 6455 §5.4)
# ===========================================================================


def test_continuation_after_a_complete_message_fails_1002(rfc, bystanders):
    """§5.4: a continuation frame with no fragmented message open → 1002 (the very first frame
    being a continuation: test_close_codes.py)."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, PING)
    app_pong(client)
    client.send_frame(OP_CONT, PING)
    fails_with(client, 1002)
    bystanders.check()


@pytest.mark.parametrize("first,second", [
    pytest.param(OP_TEXT, OP_TEXT, id="text-inside-text"),
    pytest.param(OP_TEXT, OP_BINARY, id="binary-inside-text"),
    pytest.param(OP_BINARY, OP_TEXT, id="text-inside-binary"),
])
def test_new_data_frame_inside_fragmented_message_fails_1002(rfc, bystanders, first, second):
    """§5.4: the fragments of a message are not interleaved with another message → 1002."""
    client = ws(rfc)
    client.send_frame(first, b'{"type":', fin=False)
    client.send_frame(second, PING)
    fails_with(client, 1002)
    bystanders.check()


def test_fragmented_message_with_empty_fragments_is_reassembled(rfc):
    """§5.4: any number of fragments, empty ones included, make one message."""
    client = ws(rfc)
    client.send_fragments(OP_TEXT, [b""] + [bytes([b]) for b in PING] + [b""])
    app_pong(client)


# ===========================================================================
# 5. UTF-8 in text messages (RFC 6455 §5.6, §8.1)
# ===========================================================================

INVALID_UTF8 = {
    "byte-FF": b"\xff",
    "lone-continuation-80": b"\x80",
    "surrogate-ED-A0-80": b"\xed\xa0\x80",
    "overlong-C0-AF": b"\xc0\xaf",
    "above-U+10FFFF-F4-90-80-80": b"\xf4\x90\x80\x80",
}
PREFIX = b'{"type":"ping","x":"'


@pytest.mark.parametrize("seq", list(INVALID_UTF8.values()), ids=list(INVALID_UTF8))
@pytest.mark.parametrize("mode", ["whole-message", "unfinished-first-fragment"])
def test_invalid_utf8_fails_1007(rfc, bystanders, seq, mode):
    """§8.1: text must be valid UTF-8 → 1007. Checked incrementally: a first fragment (FIN=0)
    holding the bad sequence is enough; no further fragment is ever sent."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, PREFIX + seq + b'"}', fin=(mode == "whole-message"))
    fails_with(client, 1007)
    bystanders.check()


@pytest.mark.parametrize("head,tail", [
    pytest.param(b"\xed", b"\xa0\x80", id="surrogate-ED|A0-80"),
    pytest.param(b"\xf4", b"\x90\x80\x80", id="above-max-F4|90-80-80"),
    pytest.param(b"\xe2\x82", b"(", id="E2-82|ascii"),
    pytest.param(b"\xf0\x9f", b"\x98\x80\x80", id="extra-continuation-F0-9F|98-80-80"),
])
def test_invalid_utf8_split_across_fragments_fails_1007(rfc, bystanders, head, tail):
    """§8.1 across fragments: the first fragment ends in a valid prefix (the connection stays open);
    the next fragment completes an invalid sequence → 1007 before the message is finished."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, PREFIX + head, fin=False)
    alive(client)
    client.send_frame(OP_CONT, tail + b"more", fin=False)
    fails_with(client, 1007)
    bystanders.check()


def test_multibyte_characters_split_across_fragments_are_accepted(rfc):
    """§5.6/§8.1: a valid character may be split between fragments (here: every byte alone)."""
    text = json_text({"type": "ping", "x": "é€😀"}).encode()
    client = ws(rfc)
    client.send_fragments(OP_TEXT, [bytes([b]) for b in text])
    app_pong(client)


def test_utf8_truncated_at_message_end_fails_1007(rfc, bystanders):
    """§8.1: a message ending inside a character is invalid → 1007 (not a JSON error)."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, PING + b"\xe2\x82")
    fails_with(client, 1007)
    bystanders.check()


def test_utf8_truncated_at_fragmented_message_end_fails_1007(rfc, bystanders):
    """§8.1: an incomplete character at the end of a fragment is fine until the final fragment
    ends the message without completing it → 1007."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, PING + b"\xe2\x82", fin=False)
    alive(client)
    client.send_frame(OP_CONT, b"", fin=True)
    fails_with(client, 1007)
    bystanders.check()


# ===========================================================================
# 6. Closing handshake (RFC 6455 §5.5.1, §7.1, §7.4)
# ===========================================================================


def test_close_with_one_byte_payload_fails_1002(rfc, bystanders):
    """§5.5.1: a close body, when present, starts with a 2-byte code → 1 byte → 1002."""
    client = ws(rfc)
    client.send_close_payload(b"\x03")
    fails_with(client, 1002)
    bystanders.check()


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_close_with_invalid_or_reserved_code_fails_1002(rfc, bystanders, code):
    """§7.4.1/§7.4.2: 0-999, 1004-1006, 1015, 1016-2999 and >= 5000 are never sent → 1002.
    (1012-1014 are IANA-registered since RFC 6455; they are not tested either way.)"""
    client = ws(rfc)
    client.send_close_payload(close_payload(code, b"bye"))
    fails_with(client, 1002)
    bystanders.check()


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999])
def test_valid_close_is_answered_and_server_closes_tcp(rfc, code):
    """§5.5.1/§7.1.1: a valid close is answered with a close (echoing the code, or 1000), then
    the server closes the TCP connection first, without waiting for closeTimeout."""
    client = ws(rfc)
    client.send_close_payload(close_payload(code, b"bye"))
    ending = client.wait_end(CLOSE_DEADLINE)
    assert ending.kind == "close" and ending.code in (code, 1000), ending
    elapsed = tcp_is_closed_by_peer(client.sock, timeout=CLOSE_TIMEOUT + 2)
    assert elapsed < 0.5, f"TCP closed {elapsed:.2f}s after the closing handshake finished"


def test_empty_close_is_answered_and_server_closes_tcp(rfc):
    """§5.5.1: a close without a body is answered with a close (empty, or 1000; never 1005 on the
    wire, §7.4.1), then TCP is closed."""
    client = ws(rfc)
    client.send_close_payload(b"")
    ending = client.wait_end(CLOSE_DEADLINE)
    assert ending.kind == "close" and ending.code in (None, 1000), ending
    tcp_is_closed_by_peer(client.sock, timeout=1.0)


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xed\xa0\x80", b"\xe2\x82"],
                         ids=["byte-FF", "surrogate", "truncated"])
def test_close_reason_not_utf8_fails_1007(rfc, bystanders, reason):
    """§5.5.1: the close reason is UTF-8 → otherwise 1007."""
    client = ws(rfc)
    client.send_close_payload(close_payload(1000, reason))
    fails_with(client, 1007)
    bystanders.check()


@pytest.mark.parametrize("trigger", ["leave", "protocol-error"])
def test_server_close_not_answered_tcp_closed_after_close_timeout(rfc, trigger):
    """§7.1.1/§7.1.2: after its own close frame the server waits for the peer's at most
    server.closeTimeout (1 s here), then closes TCP. For a clean close (`leave` → 1000) it does
    wait for the peer (TCP not closed at once); after a protocol error (§7.1.7) it may drop at once."""
    client = ws(rfc)
    if trigger == "leave":
        client.send_frame(OP_TEXT, b'{"type":"leave"}')
    else:
        client.send_frame(0x4, b"x")
    start = time.monotonic()
    frame = client.recv_control(OP_CLOSE, CLOSE_DEADLINE)
    assert struct.unpack("!H", frame.payload[:2])[0] == (1000 if trigger == "leave" else 1002), frame
    tcp_is_closed_by_peer(client.sock, timeout=CLOSE_TIMEOUT + 3)
    elapsed = time.monotonic() - start
    assert elapsed <= CLOSE_TIMEOUT + 1.0, f"TCP closed {elapsed:.2f}s after the server's close"
    if trigger == "leave":
        assert elapsed >= CLOSE_TIMEOUT * 0.5, f"server dropped TCP {elapsed:.2f}s after its close " \
                                               f"without waiting for the peer's (closeTimeout {CLOSE_TIMEOUT}s)"


def test_server_close_answered_tcp_closed_promptly(rfc):
    """§7.1.1: once the peer answers the server's close, the server closes TCP at once."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, b'{"type":"leave"}')
    frame = client.recv_control(OP_CLOSE, CLOSE_DEADLINE)
    client.send_close_payload(frame.payload[:2])
    elapsed = tcp_is_closed_by_peer(client.sock, timeout=CLOSE_TIMEOUT + 3)
    assert elapsed < 0.5, f"TCP closed {elapsed:.2f}s after the client answered the close"


# ===========================================================================
# 7. Size limits (RFC 6455 §10.4, §7.4.1 code 1009; docs/configuration.md maxMessageBytes)
# ===========================================================================


@pytest.mark.parametrize("opcode,length,fin", [
    pytest.param(OP_TEXT, 10_000_000, True, id="text-10MB"),
    pytest.param(OP_BINARY, 10_000_000, True, id="binary-10MB"),
    pytest.param(OP_TEXT, 2 ** 62, True, id="text-2^62"),
    pytest.param(OP_TEXT, LIMIT + 1, True, id="text-limit+1-16bit-length"),
    pytest.param(OP_TEXT, 10_000_000, False, id="first-fragment-10MB"),
])
def test_frame_over_limit_fails_1009_on_its_header(rfc, bystanders, opcode, length, fin):
    """§10.4: a frame announcing more than maxMessageBytes → 1009 as soon as its header is read;
    only the header is sent, so a server that buffers the payload first never answers."""
    client = ws(rfc)
    client.send_header_only(opcode, length, fin=fin)
    fails_with(client, 1009)
    bystanders.check()


def test_compressed_frame_header_over_limit_fails_1009(rfc, bystanders):
    """§10.4 with RFC 7692: a compressed frame of 10 MB inflates to far more than 64 KB (deflate
    needs at least ~15 bits per output byte), so its header alone is enough → 1009."""
    client = deflate_ws(rfc)
    client.send_header_only(OP_TEXT, 10_000_000, rsv1=True)
    fails_with(client, 1009)
    bystanders.check()


@pytest.mark.parametrize("third", ["whole-fragment", "header-only"])
def test_fragments_summing_over_limit_fail_1009_at_the_crossing_fragment(rfc, bystanders, third):
    """§10.4: fragments that each fit but sum over the limit → 1009 at the fragment that crosses
    it (2000 + 2000 fit in 4096; the third crosses), before the message is finished."""
    client = ws(rfc)
    client.send_frame(OP_TEXT, b'{"type":"ping","pad":"' + b"x" * 1978, fin=False)
    client.send_frame(OP_CONT, b"x" * 2000, fin=False)
    alive(client)  # 4000 bytes so far: still within the limit
    if third == "whole-fragment":
        client.send_frame(OP_CONT, b"x" * 2000, fin=False)
    else:
        client.send_header_only(OP_CONT, 2000, fin=False)
    fails_with(client, 1009)
    bystanders.check()


def test_fragmented_message_of_exactly_the_limit_is_accepted(rfc):
    """The limit is inclusive for a fragmented message too: 4096 bytes in three fragments pass."""
    client = ws(rfc)
    client.send_fragments(OP_TEXT, split(padded_ping(LIMIT).encode(), 3))
    app_pong(client)


def test_endpoint_limit_overrides_global_and_is_inclusive(rfc, bystanders):
    """An endpoint's `limits.maxMessageBytes` (64 KiB on /ws/z, plain frames): exactly the limit
    passes, one byte more → 1009."""
    client = ws(rfc, "/ws/z")
    client.send_frame(OP_TEXT, padded_ping(Z_LIMIT).encode())
    app_pong(client)
    client.send_frame(OP_TEXT, padded_ping(Z_LIMIT + 1).encode())
    fails_with(client, 1009)
    bystanders.check()


# ===========================================================================
# 8. permessage-deflate (RFC 7692)
# ===========================================================================


def offer_answer(client: ConformanceWS) -> dict[str, str | None]:
    exts = parse_extensions(client.headers.get("sec-websocket-extensions"))
    assert [name for name, _ in exts] == ["permessage-deflate"], client.headers
    return exts[0][1]


class Feed:
    """A publisher on ``path`` and a permessage-deflate subscriber: large server-compressed messages."""

    def __init__(self, server: RelayServer, topic: str, receiver: ConformanceWS, path: str):
        self.topic = topic
        self.receiver = receiver
        self.publisher = ws(server, path)
        for client in (receiver, self.publisher):
            client.send_json({"type": "subscribe", "topic": topic})
            client.expect("subscribed")

    def roundtrip(self, data: str) -> Frame:
        """Publish ``data``; the receiver's `message` frame (inflated; ``rsv1``: it was compressed)."""
        self.publisher.send_json({"type": "publish", "topic": self.topic, "data": data})
        while True:
            frame = self.receiver.recv_message()
            msg = json.loads(frame.payload)
            if msg.get("type") not in PRESENCE_TYPES:
                break
        assert msg["type"] == "message" and msg["data"] == data, msg
        return frame



def far_apart_repeats(seed: int, block: int = 1500) -> str:
    """Text whose only redundancy is a repeat ``block`` bytes back (beyond a 2**10 window)."""
    rnd = random.Random(seed)
    chunk = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(block))
    return chunk + chunk


def test_deflate_default_endpoint_answers_no_context_takeover_both_ways(rfc, topic):
    """RFC 7692 §7.1.1: an endpoint with noContextTakeover (the default) answers
    server_no_context_takeover and client_no_context_takeover (allowed without an offer), and
    its compressed messages inflate each with a fresh inflater."""
    client = deflate_ws(rfc, "/ws/z")
    params = offer_answer(client)
    assert "server_no_context_takeover" in params and "client_no_context_takeover" in params, params
    feed = Feed(rfc, topic, client, "/ws/z")
    data = "compressible text " * 80
    frames = [feed.roundtrip(data) for _ in range(3)]
    assert all(f.rsv1 for f in frames), "the server never compressed a 1.4 KB message"


def test_deflate_server_no_context_takeover_offer_is_honoured(rfc, topic):
    """RFC 7692 §7.1.1.1: an accepted offer with server_no_context_takeover is answered with it,
    and the server then compresses each message on its own (a fresh inflater decodes each)."""
    client = deflate_ws(rfc, "/ws/zk", "permessage-deflate; server_no_context_takeover")
    assert "server_no_context_takeover" in offer_answer(client)
    feed = Feed(rfc, topic, client, "/ws/zk")
    data = "the same text again and again " * 50
    frames = [feed.roundtrip(data) for _ in range(3)]
    assert all(f.rsv1 for f in frames), "the server never compressed a 1.5 KB message"


def test_deflate_client_context_takeover_is_decoded(rfc, bystanders):
    """RFC 7692 §7.1.1.2: without client_no_context_takeover in the answer the client may keep
    its LZ77 window across messages; the server must inflate with the kept context (the second
    identical message is almost only a back-reference into the first)."""
    client = deflate_ws(rfc, "/ws/zk")
    assert "client_no_context_takeover" not in offer_answer(client), \
        "/ws/zk has noContextTakeover: false and the client did not ask for it"
    message = padded_ping(1500).encode()
    for _ in range(3):
        client.send_compressed(message, keep_context=True)
        app_pong(client)
    bystanders.check()


def test_deflate_client_no_context_takeover_offer(rfc):
    """RFC 7692 §7.1.1.2: the client may offer client_no_context_takeover; the server accepts the
    offer (it may or may not echo the parameter) and inflates each message on its own."""
    client = deflate_ws(rfc, "/ws/zk", "permessage-deflate; client_no_context_takeover")
    offer_answer(client)
    for _ in range(2):
        client.send_compressed(padded_ping(800).encode(), keep_context=False)
        app_pong(client)


def test_deflate_client_max_window_bits_absent_from_offer_is_absent_from_answer(pmd):
    """RFC 7692 §7.1.2.2: no client_max_window_bits in the offer → none in the answer."""
    client = deflate_ws(pmd, "/ws/z", "permessage-deflate")
    assert "client_max_window_bits" not in offer_answer(client)


@pytest.mark.parametrize("offer,bound", [
    pytest.param("permessage-deflate; client_max_window_bits", 15, id="client-bits-no-value"),
    pytest.param("permessage-deflate; client_max_window_bits=10", 10, id="client-bits-10"),
    pytest.param("permessage-deflate; client_max_window_bits=9", 9, id="client-bits-9"),
])
def test_deflate_client_max_window_bits_answer_within_offer(pmd, offer, bound):
    """RFC 7692 §7.1.2.2: an answered client_max_window_bits is 8..15 and never above the offered
    value; the client then compresses with that window and is understood."""
    client = deflate_ws(pmd, "/ws/z", offer)
    value = offer_answer(client).get("client_max_window_bits", "15")
    assert value is not None and value.isdigit() and 8 <= int(value) <= bound, offer_answer(client)
    client.send_compressed(padded_ping(2000).encode())
    app_pong(client)


@pytest.mark.parametrize("bits", [10, 9])
def test_deflate_server_max_window_bits_is_honoured(pmd, topic, bits):
    """RFC 7692 §7.1.2.1: accepting server_max_window_bits=N means answering a value <= N and
    compressing within it: an inflater with that window decodes text whose only repeat lies
    1500 bytes back (beyond 2**N)."""
    client = deflate_ws(pmd, "/ws/zk", f"permessage-deflate; server_max_window_bits={bits}")
    value = offer_answer(client).get("server_max_window_bits")
    assert value is not None and value.isdigit() and 8 <= int(value) <= bits, offer_answer(client)
    feed = Feed(pmd, topic, client, "/ws/zk")
    for seed in range(2):
        assert feed.roundtrip(far_apart_repeats(seed)).rsv1, "a 3 KB message was not compressed"


@pytest.mark.parametrize("offer", [
    pytest.param("permessage-deflate; server_max_window_bits=8", id="server-bits-8"),
    pytest.param("permessage-deflate; server_max_window_bits=8, permessage-deflate", id="server-bits-8-then-plain"),
])
def test_deflate_window_the_server_cannot_use_does_not_break_the_handshake(pmd, offer):
    """RFC 7692 §7.1.2.1/§7: zlib cannot deflate with an 8-bit window. The server either answers
    a value <= 8 that it honours, or declines that offer (taking the next one, or none); the
    upgrade succeeds either way and the connection works."""
    client = ws(pmd, "/ws/zk", offer)
    exts = parse_extensions(client.headers.get("sec-websocket-extensions"))
    for name, params in exts:
        assert name == "permessage-deflate", exts
        if "server_max_window_bits" in params:
            assert int(params["server_max_window_bits"] or 99) <= 8, exts
    client.send_frame(OP_TEXT, PING)
    app_pong(client)
    assert pmd.alive()


@pytest.mark.parametrize("offer", [
    pytest.param("permessage-deflate; foo=bar", id="unknown-parameter"),
    pytest.param("permessage-deflate; server_max_window_bits=16", id="server-bits-16"),
    pytest.param("permessage-deflate; server_max_window_bits=7", id="server-bits-7"),
    pytest.param("permessage-deflate; client_max_window_bits=16", id="client-bits-16"),
    pytest.param("permessage-deflate; server_max_window_bits=ten", id="server-bits-not-a-number"),
    pytest.param("permessage-deflate; server_no_context_takeover=1", id="no-context-takeover-with-value"),
    pytest.param("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                 id="duplicate-parameter"),
])
def test_deflate_invalid_offer_is_declined(pmd, offer):
    """RFC 7692 §7: an offer with an unknown parameter, an invalid value or a duplicate is
    declined: 101 without permessage-deflate, and the connection works uncompressed."""
    client = ws(pmd, "/ws/zk", offer)
    assert "permessage-deflate" not in client.headers.get("sec-websocket-extensions", ""), client.headers
    client.send_frame(OP_TEXT, PING)
    app_pong(client)
    assert pmd.alive()


def test_deflate_fragmented_compressed_message_with_ping_between(rfc):
    """RFC 7692 §6.1 + RFC 6455 §5.4: a compressed message in three fragments (RSV1 on the first)
    with a ping between them: the ping is answered at once, the message inflated whole."""
    client = deflate_ws(rfc, "/ws/z")
    parts = split(client.deflate.compress(padded_ping(3000).encode()), 3)
    client.send_frame(OP_TEXT, parts[0], fin=False, rsv1=True)
    alive(client, b"between")
    client.send_frame(OP_CONT, parts[1], fin=False)
    client.send_frame(OP_CONT, parts[2], fin=True)
    app_pong(client)


def test_deflate_compressed_invalid_utf8_fails_1007(rfc, bystanders):
    """RFC 6455 §8.1 after RFC 7692 inflation: compressed text that inflates to invalid UTF-8 → 1007."""
    client = deflate_ws(rfc, "/ws/z")
    client.send_compressed(PREFIX + b"\xed\xa0\x80" + b'"}')
    fails_with(client, 1007)
    bystanders.check()


@functools.lru_cache(maxsize=None)
def bomb(inflated: int) -> bytes:
    """A JSON text message of ``inflated`` bytes deflated to about a thousandth of it."""
    body = b'{"type":"ping","pad":"' + b"x" * (inflated - 24) + b'"}'
    return deflate_raw(body)


@pytest.mark.parametrize("fragments", [1, 4], ids=["one-frame", "four-fragments"])
def test_deflate_decompression_bomb_fails_1009(rfc, bystanders, fragments):
    """RFC 7692 §8.1 + §10.4: the limit counts inflated bytes: 10 MB of text deflated to ~10 KB on
    a 64 KiB endpoint → 1009."""
    client = deflate_ws(rfc, "/ws/z")
    payload = bomb(10_000_000)
    assert len(payload) < Z_LIMIT // 4
    client.send_fragments(OP_TEXT, split(payload, fragments), rsv1=True)
    fails_with(client, 1009)
    bystanders.check()


def test_deflate_inflation_stops_at_the_limit(rfc, bystanders):
    """RFC 7692 §8.1: inflation stops at the limit instead of inflating the whole bomb: 50 MB
    deflated to ~48 KB (a frame within the 64 KiB limit) → 1009 and the relay's peak RSS
    (VmHWM) grows by far less than 50 MB."""
    payload = bomb(50_000_000)
    assert len(payload) < Z_LIMIT
    client = deflate_ws(rfc, "/ws/z")
    before = vm_status(rfc.proc.pid, "VmHWM")
    client.send_frame(OP_TEXT, payload, rsv1=True)
    fails_with(client, 1009, timeout=CLOSE_DEADLINE + 2)
    grown_mib = (vm_status(rfc.proc.pid, "VmHWM") - before) / 1024
    assert grown_mib < 16, f"peak RSS grew {grown_mib:.1f} MiB while rejecting a 50 MB bomb"
    bystanders.check()


CORRUPT = {
    "invalid-block-type": b"\xff\xff\xff\xff\xff\xff",
    "distance-too-far-back": deflate_raw(b"0123456789abcdef" * 8, zdict=b"0123456789abcdef" * 8),
    "random-bytes": bytes(random.Random(7692).randrange(256) for _ in range(200)),
    "bad-stored-block-length": b"\x00\x05\x00\x00\x00hello",
}


@pytest.mark.parametrize("payload", list(CORRUPT.values()), ids=list(CORRUPT))
def test_deflate_corrupt_data_fails_1007_or_1002_without_harm(rfc, bystanders, payload):
    """RFC 7692 §6.2: data that does not inflate fails the connection (1007 for bad payload data, or
    1002); never a crash: bystanders and a new compressed connection still work."""
    client = deflate_ws(rfc, "/ws/z")
    client.send_frame(OP_TEXT, payload, rsv1=True)
    ending = client.wait_end(CLOSE_DEADLINE)
    assert ending.kind == "close" and ending.code in (1007, 1002), ending
    bystanders.check()
    again = deflate_ws(rfc, "/ws/z")
    again.send_compressed(PING)
    app_pong(again)
