"""RFC 6455 / RFC 7692 conformance over raw sockets: reserved bits and opcodes, control frames, fragmentation.

What the suite covers and what is tested elsewhere: test_rfc6455_handshake.py's docstring."""

from __future__ import annotations

import random

import pytest

from raw_ws_helpers import close_payload, split
from relay_helpers import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT
from rfc6455_support import PING, alive, app_pong, deflate_ws, fails_with, ws


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
