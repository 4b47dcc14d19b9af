"""RFC 6455 / RFC 7692 conformance over raw sockets: permessage-deflate.

What the suite covers and what is tested elsewhere: test_rfc6455_handshake.py's docstring."""

from __future__ import annotations

import functools
import json
import random

import pytest

from raw_ws_helpers import ConformanceWS, deflate_raw, parse_extensions, split, vm_status
from relay_helpers import OP_CONT, OP_TEXT, PRESENCE_TYPES, Frame, RelayServer, padded_ping
from rfc6455_support import CLOSE_DEADLINE, PING, PREFIX, Z_LIMIT, alive, app_pong, deflate_ws, fails_with, ws


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
