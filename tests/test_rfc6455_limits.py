"""RFC 6455 / RFC 7692 conformance over raw sockets: size limits.

What the suite covers and what is tested elsewhere: test_rfc6455_handshake.py's docstring."""

from __future__ import annotations


import pytest

from raw_ws_helpers import split
from relay_helpers import OP_BINARY, OP_CONT, OP_TEXT, padded_ping
from rfc6455_support import LIMIT, Z_LIMIT, alive, app_pong, deflate_ws, fails_with, ws


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
