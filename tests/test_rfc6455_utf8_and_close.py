"""RFC 6455 / RFC 7692 conformance over raw sockets: UTF-8 in text messages, the closing handshake.

What the suite covers and what is tested elsewhere: test_rfc6455_handshake.py's docstring."""

from __future__ import annotations

import struct
import time

import pytest

from raw_ws_helpers import close_payload
from relay_helpers import OP_CLOSE, OP_CONT, OP_TEXT, json_text, tcp_is_closed_by_peer
from rfc6455_support import CLOSE_DEADLINE, CLOSE_TIMEOUT, PING, PREFIX, alive, app_pong, fails_with, ws


# 5. UTF-8 in text messages (RFC 6455 §5.6, §8.1)
# ===========================================================================

INVALID_UTF8 = {
    "byte-FF": b"\xff",
    "lone-continuation-80": b"\x80",
    "surrogate-ED-A0-80": b"\xed\xa0\x80",
    "overlong-C0-AF": b"\xc0\xaf",
    "above-U+10FFFF-F4-90-80-80": b"\xf4\x90\x80\x80",
}



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
