"""RFC 6455 (WebSocket) and RFC 7692 (permessage-deflate) conformance over raw sockets
(tests/test_rfc6455_*.py; this file: the opening handshake).

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


import socket

import pytest

from raw_ws_helpers import ConformanceWS, new_key, read_http_answer, upgrade_request
from relay_helpers import HOST, OP_TEXT
from rfc6455_support import PING, app_pong, assert_status, upgrade


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


def test_an_upgrade_after_a_plain_request_on_the_same_connection_is_sent_to_a_fresh_one(rfc):
    """RFC 6455 does not require the upgrade to be a connection's first request, but SwiftNIO's
    upgrader only looks at the first (apple/swift-nio#680). A later one gets 307 to the same
    target with `Connection: close`, the connection closes, and the same request on a new
    connection is upgraded (docs/reverse-proxy.md)."""
    with socket.create_connection((HOST, rfc.port), timeout=5) as sock:
        sock.sendall(f"GET /readyz HTTP/1.1\r\nHost: {HOST}:{rfc.port}\r\n\r\n".encode())
        ready, rest = read_http_answer(sock)
        assert ready.status == 200 and rest == b"", (ready, rest)
        request, _ = upgrade_request(rfc.port, "/ws?x=1")
        sock.sendall(request)
        redirect, rest = read_http_answer(sock)
        assert_status(redirect, 307)
        assert redirect.header("location") == "/ws?x=1" and redirect.header("connection") == "close", redirect.headers
        sock.settimeout(5)
        assert rest + sock.recv(1024) == b"", "the connection should close after the 307"
    client = ConformanceWS.connect(rfc, "/ws?x=1")
    client.send_frame(OP_TEXT, PING)
    app_pong(client)
