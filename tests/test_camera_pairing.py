"""Plugin `camera-pairing` (issue 3, SPEC §4 "camera-pairing", seeds 000/001).

Everything over real sockets and real HTTP against a real relay:

1. codes: `cam-create` → `cam-code`, alphabet, length/TTL, uniqueness, retiring;
2. joining: `cam-paired` / `cam-peer-joined`, not_found, conflict;
3. signaling relayed unchanged and in order, forbidden for non-members, size limits;
4. the REST fallback: join, signal, long-poll with sequence numbers, pairing tokens;
5. reconnects: a side that drops and resumes gets every message once, in order;
6. leaving after the grace, clean leaves, idle expiry, held messages;
7. the shipped route files.
"""

from __future__ import annotations

import http.client as httplib
import json
import re
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import Sender
from relay_helpers import (
    HOST, REPO, RawWS, RelayServer, dump_yaml, json_text, relay_env, run_cli, wait_until,
)

CAM_TYPES = ("cam-create", "cam-join", "cam-offer", "cam-answer", "cam-ice", "cam-data")
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
NOT_COUNTED = ("connected", "authenticated", "pong")


def cam_config(grace: float = 2, route_extra: dict[str, dict] | None = None, **plugin: Any) -> dict:
    """A relay with only the camera-pairing plugin on `/ws`; ``plugin`` is its config."""
    route_extra = route_extra or {}
    return {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": grace, "drainTimeout": 2},
        "limits": {"maxMessageBytes": 65536, "messagesPerSecond": 0},
        "endpoints": [{"path": "/ws", "codec": "json", "auth": "optional"}],
        "plugins": {"cameras": {"plugin": "camera-pairing", "config": plugin}},
        "routes": [{"endpoint": "/ws", "type": t, "plugin": "cameras", **route_extra.get(t, {})}
                   for t in CAM_TYPES],
    }


@pytest.fixture(scope="module")
def _cam_server(tmp_path_factory: pytest.TempPathFactory) -> RelayServer:
    # The module's tests join unknown and taken codes on purpose, all from 127.0.0.1: the join
    # limit per address (tests/test_security_pairing.py) is set out of their way.
    server = RelayServer(tmp_path_factory.mktemp("relay-cam"),
                         cam_config(codeTTL=30, idleTimeout=60, pollRecheckInterval=30, joinFailures=100000))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def cam(_cam_server: RelayServer, track_server) -> RelayServer:
    return track_server(_cam_server)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def http(server: RelayServer, method: str, path: str, body: Any = None, token: str | None = None,
         raw: bytes | None = None, timeout: float = 15) -> tuple[int, Any]:
    headers = {}
    data = raw
    if body is not None:
        data = json_text(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn = httplib.HTTPConnection(HOST, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def rest_create(server: RelayServer) -> dict:
    status, body = http(server, "POST", "/cam/create")
    assert status == 200, body
    assert body["side"] == "desktop" and body["token"], body
    return body


def rest_join(server: RelayServer, code: str, token: str | None = None) -> tuple[int, Any]:
    return http(server, "POST", f"/cam/join/{code}", token=token)


def rest_signal(server: RelayServer, code: str, token: str | None, source: str, type_: str,
                payload: Any) -> tuple[int, Any]:
    return http(server, "POST", f"/cam/signal/{code}", {"source": source, "type": type_, "payload": payload},
                token=token)


def rest_poll(server: RelayServer, code: str, token: str | None, source: str, after: int = 0,
              wait: float = 0) -> tuple[int, Any]:
    query = urllib.parse.urlencode({"source": source, "after": after, "wait": wait})
    return http(server, "GET", f"/cam/signal/{code}?{query}", token=token, timeout=wait + 15)


def assert_rest_error(status: int, body: Any, http_status: int, code: str) -> None:
    assert status == http_status, (status, body)
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body


def ws_create(client) -> dict:
    client.send_json({"type": "cam-create"})
    return client.expect("cam-code")


def ws_pair(server: RelayServer) -> tuple[Any, Any, str]:
    desktop = server.connect("/ws")
    code = ws_create(desktop)["code"]
    phone = server.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    assert phone.expect("cam-paired") == {"type": "cam-paired", "code": code}
    assert desktop.expect("cam-peer-joined") == {"type": "cam-peer-joined", "code": code}
    return desktop, phone, code


def expect_error(client, code: str, ref: str) -> dict:
    error = client.expect("error")
    assert error["code"] == code and error["ref"] == ref, error
    return error


class Tracker:
    """A raw-socket WebSocket client that counts what it received (for `lastSeen`)."""

    def __init__(self, server: RelayServer, path: str = "/ws"):
        self.server = server
        self.path = path
        self.count = 0
        self.received: list[dict] = []
        self.hello = self.open()
        self.client_id = self.hello["clientId"]

    def open(self, **query: Any) -> dict:
        self.ws: RawWS = self.server.raw(self.server.target(self.path, **query))
        return self.ws.expect("connected", ignore=())

    def send(self, obj: dict) -> None:
        self.ws.send_json(obj)

    def recv(self, timeout: float = 5.0) -> dict:
        msg = self.ws.recv_json(timeout)
        if msg.get("type") not in NOT_COUNTED:
            self.count += 1
            self.received.append(msg)
        return msg

    def recv_until(self, predicate, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.0, deadline - time.monotonic()))
            if predicate(msg):
                return msg

    def drop(self) -> None:
        self.ws.abort()

    def resume(self) -> dict:
        self.hello = self.open(resume=self.hello["resumeToken"], lastSeen=self.count)
        return self.hello


# ---------------------------------------------------------------------------
# 1. codes
# ---------------------------------------------------------------------------


def test_create_answers_code_from_unambiguous_alphabet_with_expiry(cam):
    desktop = cam.connect("/ws")
    before = int(time.time() * 1000)
    msg = ws_create(desktop)
    assert set(msg) == {"type", "code", "expiresAt"}, msg
    assert re.fullmatch(f"[{ALPHABET}]{{6}}", msg["code"]), msg
    assert before + 29_000 <= msg["expiresAt"] <= int(time.time() * 1000) + 31_000, msg  # codeTTL 30 s


def test_code_length_and_ttl_are_configurable(relay):
    server = relay(cam_config(codeLength=9, codeTTL=5))
    before = int(time.time() * 1000)
    msg = ws_create(server.connect("/ws"))
    assert re.fullmatch(f"[{ALPHABET}]{{9}}", msg["code"]), msg
    assert before + 4_000 <= msg["expiresAt"] <= int(time.time() * 1000) + 6_000, msg
    rest = rest_create(server)
    assert re.fullmatch(f"[{ALPHABET}]{{9}}", rest["code"]), rest


def test_codes_are_unique_among_live_codes(relay):
    # 961 possible codes: 200 random draws would collide without the store's uniqueness check.
    server = relay(cam_config(codeLength=2))
    codes = [rest_create(server)["code"] for _ in range(200)]
    assert len(set(codes)) == 200
    assert all(re.fullmatch(f"[{ALPHABET}]{{2}}", c) for c in codes)


def test_exhausted_code_space_is_a_conflict_until_a_code_is_freed(relay):
    server = relay(cam_config(codeLength=1))
    created = [rest_create(server) for _ in range(len(ALPHABET))]
    assert sorted(c["code"] for c in created) == sorted(ALPHABET)
    status, body = http(server, "POST", "/cam/create")
    assert_rest_error(status, body, 409, "conflict")
    desktop = server.connect("/ws")
    desktop.send_json({"type": "cam-create"})
    expect_error(desktop, "conflict", "cam-create")
    # the creator of one code leaves: exactly that code is free again
    freed = created[7]
    status, _ = http(server, "POST", f"/cam/leave/{freed['code']}", token=freed["token"])
    assert status == 200
    assert ws_create(desktop)["code"] == freed["code"]


def test_new_code_retires_the_old_one(cam):
    desktop = cam.connect("/ws")
    old = ws_create(desktop)["code"]
    new = ws_create(desktop)["code"]
    assert new != old
    phone = cam.connect("/ws")
    phone.send_json({"type": "cam-join", "code": old})
    expect_error(phone, "not_found", "cam-join")
    phone.send_json({"type": "cam-join", "code": new})
    phone.expect("cam-paired")
    desktop.expect("cam-peer-joined")
    # a paired code is retired too: its phone hears that the desktop is gone
    third = ws_create(desktop)["code"]
    assert phone.expect("cam-peer-left") == {"type": "cam-peer-left", "code": new, "reason": "retired"}
    phone.send_json({"type": "cam-offer", "code": new, "payload": {}})
    expect_error(phone, "not_found", "cam-offer")
    assert third not in (old, new)


# ---------------------------------------------------------------------------
# 2. joining
# ---------------------------------------------------------------------------


def test_join_pairs_both_sides(cam):
    desktop, phone, code = ws_pair(cam)  # asserts cam-paired and cam-peer-joined exactly
    desktop.assert_silent(0.3)
    phone.assert_silent(0.1)


def test_join_accepts_lower_case_and_repeated_join_is_harmless(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    phone = cam.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code.lower()})
    assert phone.expect("cam-paired") == {"type": "cam-paired", "code": code}
    desktop.expect("cam-peer-joined")
    phone.send_json({"type": "cam-join", "code": code})
    assert phone.expect("cam-paired") == {"type": "cam-paired", "code": code}
    desktop.assert_silent(0.3)  # no second cam-peer-joined


def test_join_unknown_code_is_not_found(cam):
    phone = cam.connect("/ws")
    for code in ("ZZZZZZ", "0OIL1", "", "ab/cd"):
        phone.send_json({"type": "cam-join", "code": code})
        expect_error(phone, "not_found", "cam-join")
    phone.send_json({"type": "cam-join"})
    expect_error(phone, "invalid_message", "cam-join")
    phone.send_json({"type": "cam-join", "code": 1234})
    expect_error(phone, "invalid_message", "cam-join")
    status, body = rest_join(cam, "ZZZZZZ")
    assert_rest_error(status, body, 404, "not_found")
    assert phone.ping()["type"] == "pong"


def test_join_expired_code_is_not_found(relay):
    server = relay(cam_config(codeTTL=0.6))
    desktop = server.connect("/ws")
    code = ws_create(desktop)["code"]
    rest = rest_create(server)
    rest_code = rest["code"]
    assert desktop.expect("cam-code-expired", timeout=3) == {"type": "cam-code-expired", "code": code,
                                                            "reason": "code-expired"}
    # a REST desktop finds the same notice in its mailbox, then the code is gone for it too
    status, body = rest_poll(server, rest_code, rest["token"], "desktop", after=0, wait=3)
    assert status == 200 and body["messages"] == [
        {"seq": 1, "type": "cam-code-expired", "code": rest_code, "payload": None, "reason": "code-expired"}], body
    status, body = rest_poll(server, rest_code, rest["token"], "desktop", after=1)
    assert_rest_error(status, body, 404, "not_found")
    phone = server.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    expect_error(phone, "not_found", "cam-join")
    status, body = rest_join(server, rest_code)
    assert_rest_error(status, body, 404, "not_found")


def test_join_of_a_paired_code_is_a_conflict(cam):
    desktop, phone, code = ws_pair(cam)
    intruder = cam.connect("/ws")
    intruder.send_json({"type": "cam-join", "code": code})
    expect_error(intruder, "conflict", "cam-join")
    status, body = rest_join(cam, code)
    assert_rest_error(status, body, 409, "conflict")
    desktop.assert_silent(0.3)  # no cam-peer-joined for the refused joiners


def test_joining_your_own_code_is_a_conflict(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    desktop.send_json({"type": "cam-join", "code": code})
    expect_error(desktop, "conflict", "cam-join")
    created = rest_create(cam)
    status, body = rest_join(cam, created["code"], token=created["token"])
    assert_rest_error(status, body, 409, "conflict")
    # both codes can still be joined by someone else
    phone = cam.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    phone.expect("cam-paired")
    assert rest_join(cam, created["code"])[0] == 200


# ---------------------------------------------------------------------------
# 3. signaling
# ---------------------------------------------------------------------------


def test_signaling_is_relayed_unchanged_and_in_order_both_ways(cam):
    desktop = Tracker(cam)
    desktop.send({"type": "cam-create"})
    code = desktop.recv_until(lambda m: m["type"] == "cam-code")["code"]
    phone = Tracker(cam)
    phone.send({"type": "cam-join", "code": code})
    phone.recv_until(lambda m: m["type"] == "cam-paired")
    desktop.recv_until(lambda m: m["type"] == "cam-peer-joined")

    # odd spacing, key order and extra members: the peer gets the exact bytes
    texts = [f'{{ "payload": {{"sdp": "v=0 {n}", "z": [1, 2.50]}}, "type":"cam-offer" , "code":"{code}", "x": {n} }}'
             for n in range(1)]
    texts += [f'{{"type":"cam-ice","code":"{code}","payload":{{"candidate":"c{n}","sdpMLineIndex":{n % 3}}}}}'
              for n in range(60)]
    texts += [f'{{"type":"cam-data","code":"{code}","payload":{{"dart":[{n},{n + 1}]}}}}' for n in range(5)]
    for text in texts:
        desktop.ws.send_text(text)
    got = [phone.ws.recv_message().payload.decode() for _ in texts]
    assert got == texts

    back = [json_text({"type": t, "code": code, "payload": {"n": n}})
            for n, t in enumerate(["cam-answer"] + ["cam-ice"] * 20 + ["cam-data"])]
    for text in back:
        phone.ws.send_text(text)
    assert [desktop.ws.recv_message().payload.decode() for _ in back] == back


def test_signaling_from_outside_the_pairing_is_forbidden(cam):
    desktop, phone, code = ws_pair(cam)
    outsider = cam.connect("/ws")
    for type_ in ("cam-offer", "cam-answer", "cam-ice", "cam-data"):
        outsider.send_json({"type": type_, "code": code, "payload": {"evil": True}})
        expect_error(outsider, "forbidden", type_)
    # an outsider with a code of its own is still not in this one
    ws_create(outsider)
    outsider.send_json({"type": "cam-offer", "code": code, "payload": {}})
    expect_error(outsider, "forbidden", "cam-offer")
    desktop.assert_silent(0.3)
    phone.assert_silent(0.1)
    desktop.send_json({"type": "cam-offer", "code": code, "payload": "ok"})
    assert phone.expect("cam-offer")["payload"] == "ok"


def test_signaling_to_unknown_code_or_without_code(cam):
    client = cam.connect("/ws")
    client.send_json({"type": "cam-ice", "code": "XXXXXX", "payload": {}})
    expect_error(client, "not_found", "cam-ice")
    client.send_json({"type": "cam-ice", "payload": {}})
    expect_error(client, "invalid_message", "cam-ice")


def test_large_cam_data_obeys_the_route_size_limit(relay):
    server = relay(cam_config(route_extra={"cam-data": {"maxMessageBytes": 2048}}, maxSignalBytes=2048))
    desktop, phone, code = ws_pair(server)
    small = json_text({"type": "cam-data", "code": code, "payload": "x" * 1500})
    big = json_text({"type": "cam-data", "code": code, "payload": "x" * 3000})
    desktop.send_text(big)
    expect_error(desktop, "too_large", "cam-data")
    desktop.send_text(small)
    assert phone.expect("cam-data")["payload"] == "x" * 1500
    phone.assert_silent(0.2)  # the big one never arrived
    # the REST fallback has its own limit (maxSignalBytes)
    created = rest_create(server)
    status, body = rest_signal(server, created["code"], created["token"], "desktop", "cam-data", "x" * 3000)
    assert_rest_error(status, body, 413, "too_large")


# ---------------------------------------------------------------------------
# 4. REST fallback and mixed pairings
# ---------------------------------------------------------------------------


def test_websocket_desktop_with_rest_phone(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    status, joined = rest_join(cam, code)
    assert status == 200 and joined["code"] == code and joined["side"] == "phone", joined
    phone_token = joined["token"]
    assert desktop.expect("cam-peer-joined") == {"type": "cam-peer-joined", "code": code}

    # phone → desktop over REST: {type, code, payload}, in order
    for n, type_ in enumerate(["cam-offer", "cam-ice", "cam-ice", "cam-data"]):
        assert rest_signal(cam, code, phone_token, "phone", type_, {"n": n}) == (200, {"ok": True})
    for n, type_ in enumerate(["cam-offer", "cam-ice", "cam-ice", "cam-data"]):
        assert desktop.expect(type_) == {"type": type_, "code": code, "payload": {"n": n}}

    # desktop → phone over WebSocket, read by long-poll with sequence numbers from 1
    desktop.send_json({"type": "cam-answer", "code": code, "payload": {"sdp": "answer"}})
    desktop.send_json({"type": "cam-ice", "code": code, "payload": {"candidate": "d1"}})
    status, body = rest_poll(cam, code, phone_token, "phone", after=0, wait=5)
    assert status == 200
    assert body == {"messages": [
        {"seq": 1, "type": "cam-answer", "code": code, "payload": {"sdp": "answer"}},
        {"seq": 2, "type": "cam-ice", "code": code, "payload": {"candidate": "d1"}},
    ]}


def test_rest_desktop_with_websocket_phone(cam):
    created = rest_create(cam)
    code, desktop_token = created["code"], created["token"]
    assert re.fullmatch(f"[{ALPHABET}]{{6}}", code) and created["expiresAt"] > time.time() * 1000
    phone = cam.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    phone.expect("cam-paired")
    status, body = rest_poll(cam, code, desktop_token, "desktop", after=0, wait=5)
    assert status == 200
    assert body["messages"] == [{"seq": 1, "type": "cam-peer-joined", "code": code, "payload": None}]
    phone.send_json({"type": "cam-offer", "code": code, "payload": {"sdp": "o"}})
    status, body = rest_poll(cam, code, desktop_token, "desktop", after=1, wait=5)
    assert body["messages"] == [{"seq": 2, "type": "cam-offer", "code": code, "payload": {"sdp": "o"}}]
    assert rest_signal(cam, code, desktop_token, "desktop", "cam-answer", {"sdp": "a"})[0] == 200
    assert phone.expect("cam-answer") == {"type": "cam-answer", "code": code, "payload": {"sdp": "a"}}


def test_rest_desktop_with_rest_phone(cam):
    created = rest_create(cam)
    code = created["code"]
    status, joined = rest_join(cam, code)
    assert status == 200
    d_token, p_token = created["token"], joined["token"]
    assert d_token != p_token
    assert rest_signal(cam, code, p_token, "phone", "cam-offer", "o")[0] == 200
    assert rest_signal(cam, code, d_token, "desktop", "cam-answer", "a")[0] == 200
    _, body = rest_poll(cam, code, d_token, "desktop", after=0, wait=2)
    assert [(m["seq"], m["type"], m["payload"]) for m in body["messages"]] == [
        (1, "cam-peer-joined", None), (2, "cam-offer", "o")]
    _, body = rest_poll(cam, code, p_token, "phone", after=0, wait=2)
    assert [(m["seq"], m["type"], m["payload"]) for m in body["messages"]] == [(1, "cam-answer", "a")]


def test_long_poll_times_out_with_an_empty_list(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    _, joined = rest_join(cam, code)
    start = time.monotonic()
    status, body = rest_poll(cam, code, joined["token"], "phone", after=0, wait=1.0)
    elapsed = time.monotonic() - start
    assert status == 200 and body == {"messages": []}, body
    assert 0.9 <= elapsed <= 3.0, elapsed
    # wait=0 answers at once
    start = time.monotonic()
    assert rest_poll(cam, code, joined["token"], "phone", after=0, wait=0) == (200, {"messages": []})
    assert time.monotonic() - start < 0.5


def test_long_poll_wakes_up_when_a_message_arrives(cam):
    # pollRecheckInterval is 30 s on this server: only the wake-up can answer early
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    _, joined = rest_join(cam, code)
    result: dict = {}

    def poll() -> None:
        start = time.monotonic()
        result["answer"] = rest_poll(cam, code, joined["token"], "phone", after=0, wait=10)
        result["elapsed"] = time.monotonic() - start

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    desktop.send_json({"type": "cam-answer", "code": code, "payload": 1})
    poller.join(15)
    status, body = result["answer"]
    assert status == 200 and [m["payload"] for m in body["messages"]] == [1], body
    assert 0.4 <= result["elapsed"] < 2.0, result


def test_long_poll_retry_neither_loses_nor_repeats(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    _, joined = rest_join(cam, code)
    token = joined["token"]
    desktop.expect("cam-peer-joined")
    for n in range(3):
        desktop.send_json({"type": "cam-ice", "code": code, "payload": n})
    desktop.ping()
    _, first = rest_poll(cam, code, token, "phone", after=0, wait=2)
    assert [(m["seq"], m["payload"]) for m in first["messages"]] == [(1, 0), (2, 1), (3, 2)]
    # the answer was "lost": the same poll again gets the same messages, nothing lost
    _, retry = rest_poll(cam, code, token, "phone", after=0, wait=2)
    assert retry == first
    # acknowledging 2 forgets 1..2 and returns 3 again (not yet acknowledged)
    _, partial = rest_poll(cam, code, token, "phone", after=2, wait=2)
    assert [(m["seq"], m["payload"]) for m in partial["messages"]] == [(3, 2)]
    # acknowledging 3: nothing new, nothing repeated
    assert rest_poll(cam, code, token, "phone", after=3, wait=0.3) == (200, {"messages": []})
    desktop.send_json({"type": "cam-ice", "code": code, "payload": 3})
    _, nxt = rest_poll(cam, code, token, "phone", after=3, wait=2)
    assert [(m["seq"], m["payload"]) for m in nxt["messages"]] == [(4, 3)]
    # acknowledged messages may be forgotten: polling from 0 again returns only the unacknowledged
    _, again = rest_poll(cam, code, token, "phone", after=0, wait=2)
    assert [m["seq"] for m in again["messages"]] == [4]
    # a sequence number never handed out, or a malformed one, is refused
    status, body = rest_poll(cam, code, token, "phone", after=9, wait=0)
    assert_rest_error(status, body, 400, "invalid_message")
    for query in ("after=-1", "after=x", "wait=soon", "source=tablet"):
        status, body = http(cam, "GET", f"/cam/signal/{code}?{query}", token=token)
        assert_rest_error(status, body, 400, "invalid_message")


def test_rest_sides_need_their_pairing_token(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    _, joined = rest_join(cam, code)
    phone_token = joined["token"]
    desktop.expect("cam-peer-joined")
    desktop.send_json({"type": "cam-offer", "code": code, "payload": "secret sdp"})
    desktop.ping()

    # knowing the code alone: cannot read, inject or leave
    status, body = rest_poll(cam, code, None, "phone")
    assert_rest_error(status, body, 401, "unauthenticated")
    status, body = rest_signal(cam, code, None, "phone", "cam-answer", "forged")
    assert_rest_error(status, body, 401, "unauthenticated")
    status, body = http(cam, "POST", f"/cam/leave/{code}")
    assert_rest_error(status, body, 401, "unauthenticated")
    # a wrong token, or another pairing's token
    other = rest_create(cam)
    for token in ("not-a-token", other["token"]):
        status, body = rest_poll(cam, code, token, "phone")
        assert_rest_error(status, body, 403, "forbidden")
        status, body = rest_signal(cam, code, token, "phone", "cam-answer", "forged")
        assert_rest_error(status, body, 403, "forbidden")
    # the phone's token is the phone side only
    status, body = rest_poll(cam, code, phone_token, "desktop")
    assert_rest_error(status, body, 403, "forbidden")
    status, body = rest_signal(cam, code, phone_token, "desktop", "cam-offer", "forged")
    assert_rest_error(status, body, 403, "forbidden")
    desktop.assert_silent(0.3)  # nothing forged arrived
    # the token also works as ?token=
    status, body = http(cam, "GET", f"/cam/signal/{code}?source=phone&after=0&token={phone_token}")
    assert status == 200 and [m["payload"] for m in body["messages"]] == ["secret sdp"], body


def test_rest_signal_validation(cam):
    created = rest_create(cam)
    code, token = created["code"], created["token"]
    status, body = rest_signal(cam, code, token, "desktop", "cam-hack", {})
    assert_rest_error(status, body, 400, "invalid_message")
    status, body = rest_signal(cam, code, token, "laptop", "cam-offer", {})
    assert_rest_error(status, body, 400, "invalid_message")
    status, body = http(cam, "POST", f"/cam/signal/{code}", raw=b"{not json", token=token)
    assert_rest_error(status, body, 400, "bad_json")
    status, body = rest_signal(cam, "ZZZZZZ", token, "desktop", "cam-offer", {})
    assert_rest_error(status, body, 404, "not_found")


def test_rest_mailbox_is_bounded_and_tells_the_sender(relay):
    server = relay(cam_config(mailboxMessages=3))
    desktop = server.connect("/ws")
    code = ws_create(desktop)["code"]
    _, joined = rest_join(server, code)
    desktop.expect("cam-peer-joined")
    for n in range(3):
        desktop.send_json({"type": "cam-ice", "code": code, "payload": n})
    desktop.send_json({"type": "cam-ice", "code": code, "payload": 3})
    expect_error(desktop, "rate_limited", "cam-ice")
    _, body = rest_poll(server, code, joined["token"], "phone", after=0)
    assert [m["payload"] for m in body["messages"]] == [0, 1, 2]
    _, body = rest_poll(server, code, joined["token"], "phone", after=3)  # acknowledges: room again
    desktop.send_json({"type": "cam-ice", "code": code, "payload": 4})
    _, body = rest_poll(server, code, joined["token"], "phone", after=3, wait=2)
    assert [(m["seq"], m["payload"]) for m in body["messages"]] == [(4, 4)]


# ---------------------------------------------------------------------------
# 5. reconnects (seed 001)
# ---------------------------------------------------------------------------


def test_desktop_resumes_while_rest_phone_keeps_sending(cam):
    total = 120
    desktop = Tracker(cam)
    desktop.send({"type": "cam-create"})
    code = desktop.recv_until(lambda m: m["type"] == "cam-code")["code"]
    _, joined = rest_join(cam, code)
    phone_token = joined["token"]
    desktop.recv_until(lambda m: m["type"] == "cam-peer-joined")

    def post(n: int) -> None:
        type_ = "cam-offer" if n == 0 else "cam-ice"
        status, body = rest_signal(cam, code, phone_token, "phone", type_, {"n": n})
        assert status == 200, body

    sender = Sender(post, total, 0.004)
    sender.start()
    desktop.recv_until(lambda m: m["type"] == "cam-ice" and m["payload"]["n"] >= 20)
    first_id = desktop.client_id
    desktop.drop()  # no close frame: the socket is gone, the identity stays for the grace
    time.sleep(0.4)  # the phone keeps posting offer/ICE meanwhile
    hello = desktop.resume()
    assert hello["clientId"] == first_id and hello["resumed"] is True, hello
    assert hello["replayed"] >= 1, hello
    desktop.recv_until(lambda m: m.get("payload", {}).get("n") == total - 1, timeout=15)
    sender.finish()
    relayed = [m for m in desktop.received if m["type"] in ("cam-offer", "cam-ice")]
    assert [m["payload"]["n"] for m in relayed] == list(range(total))  # all, in order, once
    assert all(m["code"] == code for m in relayed)
    assert relayed[0]["type"] == "cam-offer"

    # the resumed desktop still reaches the phone
    desktop.send({"type": "cam-answer", "code": code, "payload": "answer"})
    _, body = rest_poll(cam, code, phone_token, "phone", after=0, wait=5)
    assert [(m["type"], m["payload"]) for m in body["messages"]] == [("cam-answer", "answer")]


def test_websocket_phone_resumes_while_desktop_keeps_sending(cam):
    total = 150
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    phone = Tracker(cam)
    phone.send({"type": "cam-join", "code": code})
    phone.recv_until(lambda m: m["type"] == "cam-paired")
    desktop.expect("cam-peer-joined")
    sender = Sender(lambda n: desktop.send_json({"type": "cam-data", "code": code, "payload": n}), total, 0.003)
    sender.start()
    phone.recv_until(lambda m: m["type"] == "cam-data" and m["payload"] >= 30)
    phone.drop()
    time.sleep(0.3)
    hello = phone.resume()
    assert hello["resumed"] is True and hello["replayed"] >= 1, hello
    phone.recv_until(lambda m: m.get("payload") == total - 1, timeout=15)
    sender.finish()
    assert [m["payload"] for m in phone.received if m["type"] == "cam-data"] == list(range(total))
    # and the phone is still a side of the pairing
    phone.send({"type": "cam-answer", "code": code, "payload": "back"})
    assert desktop.expect("cam-answer")["payload"] == "back"
    desktop.assert_silent(0.2)  # no cam-peer-left: it came back within the grace


# ---------------------------------------------------------------------------
# 6. leaving, idle expiry, held messages
# ---------------------------------------------------------------------------


def test_peer_left_only_after_the_resume_grace(relay):
    server = relay(cam_config(grace=1.5))
    desktop = server.connect("/ws")
    code = ws_create(desktop)["code"]
    phone = Tracker(server)
    phone.send({"type": "cam-join", "code": code})
    phone.recv_until(lambda m: m["type"] == "cam-paired")
    desktop.expect("cam-peer-joined")
    dropped = time.monotonic()
    phone.drop()  # no close frame: the phone may still resume
    left = desktop.expect("cam-peer-left", timeout=6)
    waited = time.monotonic() - dropped
    assert left == {"type": "cam-peer-left", "code": code, "reason": "left"}, left
    assert 1.2 <= waited <= 4.0, f"cam-peer-left {waited:.2f}s after the drop; grace is 1.5 s"
    # the pairing and its code are gone
    desktop.send_json({"type": "cam-offer", "code": code, "payload": {}})
    expect_error(desktop, "not_found", "cam-offer")
    other = server.connect("/ws")
    other.send_json({"type": "cam-join", "code": code})
    expect_error(other, "not_found", "cam-join")


def test_clean_leave_tells_the_other_side_at_once(cam):
    desktop, phone, code = ws_pair(cam)
    start = time.monotonic()
    phone.send_json({"type": "leave"})
    phone.expect_close()
    assert desktop.expect("cam-peer-left", timeout=2) == {"type": "cam-peer-left", "code": code, "reason": "left"}
    assert time.monotonic() - start < 1.0  # resumeGrace is 2 s: not the grace


def test_rest_phone_hears_that_the_desktop_left(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    _, joined = rest_join(cam, code)
    token = joined["token"]
    desktop.conn.close(code=1000)
    _, body = rest_poll(cam, code, token, "phone", after=0, wait=5)
    assert body["messages"] == [{"seq": 1, "type": "cam-peer-left", "code": code, "payload": None,
                                 "reason": "left"}]
    # once acknowledged, the pairing is gone for the REST side too
    status, body = rest_poll(cam, code, token, "phone", after=1)
    assert_rest_error(status, body, 404, "not_found")
    status, body = rest_signal(cam, code, token, "phone", "cam-offer", {})
    assert_rest_error(status, body, 404, "not_found")


def test_rest_leave_tells_the_websocket_side(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    _, joined = rest_join(cam, code)
    desktop.expect("cam-peer-joined")
    status, body = http(cam, "POST", f"/cam/leave/{code}", token=joined["token"])
    assert (status, body) == (200, {"ok": True})
    assert desktop.expect("cam-peer-left") == {"type": "cam-peer-left", "code": code, "reason": "left"}
    status, body = rest_poll(cam, code, joined["token"], "phone")
    assert_rest_error(status, body, 404, "not_found")


def test_idle_pairing_expires(relay):
    server = relay(cam_config(idleTimeout=1))
    desktop, phone, code = ws_pair(server)
    start = time.monotonic()
    notice = {"type": "cam-peer-left", "code": code, "reason": "idle"}
    assert desktop.expect("cam-peer-left", timeout=4) == notice
    assert phone.expect("cam-peer-left", timeout=1) == notice
    assert 0.8 <= time.monotonic() - start <= 3.0
    desktop.send_json({"type": "cam-offer", "code": code, "payload": {}})
    expect_error(desktop, "not_found", "cam-offer")


def test_activity_keeps_a_pairing_alive(relay):
    server = relay(cam_config(idleTimeout=1.2))
    desktop, phone, code = ws_pair(server)
    for n in range(8):  # 2.4 s of signaling, twice the idle time
        desktop.send_json({"type": "cam-data", "code": code, "payload": n})
        assert phone.expect("cam-data")["payload"] == n
        time.sleep(0.3)
    # a REST side's polls count as activity too
    desktop_b = server.connect("/ws")
    code_b = ws_create(desktop_b)["code"]
    _, joined = rest_join(server, code_b)
    desktop_b.expect("cam-peer-joined")
    polls_until = time.monotonic() + 2.5
    while time.monotonic() < polls_until:
        status, body = rest_poll(server, code_b, joined["token"], "phone", after=0, wait=0.4)
        assert (status, body) == (200, {"messages": []}), body
    # meanwhile the silent first pairing expired; the polled one did not
    assert desktop.expect("cam-peer-left", timeout=1) == {"type": "cam-peer-left", "code": code, "reason": "idle"}
    desktop_b.assert_silent(0.1)
    # the REST phone stops polling: its pairing expires and the desktop hears it
    assert desktop_b.expect("cam-peer-left", timeout=4) == {"type": "cam-peer-left", "code": code_b,
                                                            "reason": "idle"}


def test_messages_sent_before_the_phone_joins_are_held_and_delivered_in_order(cam):
    desktop = cam.connect("/ws")
    code = ws_create(desktop)["code"]
    sent = [{"type": "cam-offer", "code": code, "payload": {"sdp": "offer"}}]
    sent += [{"type": "cam-ice", "code": code, "payload": {"candidate": f"c{n}"}} for n in range(5)]
    for msg in sent:
        desktop.send_json(msg)
    desktop.ping()  # every held message was accepted (no error before the pong)
    phone = cam.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    assert phone.expect("cam-paired") == {"type": "cam-paired", "code": code}
    assert [phone.recv_json() for _ in sent] == sent
    # and messages after the join follow them
    desktop.send_json({"type": "cam-ice", "code": code, "payload": {"candidate": "late"}})
    assert phone.expect("cam-ice")["payload"] == {"candidate": "late"}


def test_join_in_the_middle_of_a_stream_keeps_every_message_in_order(cam):
    # held messages and live ones must not overtake each other around the join
    for phone_kind in ("websocket", "rest"):
        total = 50
        desktop = cam.connect("/ws")
        code = ws_create(desktop)["code"]
        sender = Sender(lambda n: desktop.send_json({"type": "cam-ice", "code": code, "payload": n}), total, 0.003)
        sender.start()
        time.sleep(0.05)
        if phone_kind == "websocket":
            phone = cam.connect("/ws")
            phone.send_json({"type": "cam-join", "code": code})
            phone.expect("cam-paired")
            got = [phone.expect("cam-ice", timeout=5)["payload"] for _ in range(total)]
        else:
            _, joined = rest_join(cam, code)
            got, after = [], 0
            while len(got) < total:
                status, body = rest_poll(cam, code, joined["token"], "phone", after=after, wait=2)
                assert status == 200 and body["messages"], body
                assert [m["seq"] for m in body["messages"]] == list(range(after + 1, after + 1 + len(body["messages"])))
                got += [m["payload"] for m in body["messages"]]
                after = body["messages"][-1]["seq"]
        sender.finish()
        assert got == list(range(total)), (phone_kind, got)
        desktop.expect("cam-peer-joined")  # and no error: nothing was refused


def test_held_messages_wait_in_a_rest_phones_mailbox(cam):
    created = rest_create(cam)
    code = created["code"]
    assert rest_signal(cam, code, created["token"], "desktop", "cam-offer", "o")[0] == 200
    assert rest_signal(cam, code, created["token"], "desktop", "cam-ice", "i1")[0] == 200
    _, joined = rest_join(cam, code)
    _, body = rest_poll(cam, code, joined["token"], "phone", after=0)
    assert [(m["seq"], m["type"], m["payload"]) for m in body["messages"]] == [
        (1, "cam-offer", "o"), (2, "cam-ice", "i1")]


def test_held_messages_are_bounded(relay):
    server = relay(cam_config(holdMessages=3))
    desktop = server.connect("/ws")
    code = ws_create(desktop)["code"]
    for n in range(3):
        desktop.send_json({"type": "cam-ice", "code": code, "payload": n})
    desktop.send_json({"type": "cam-ice", "code": code, "payload": 3})
    expect_error(desktop, "rate_limited", "cam-ice")  # the sender is told, nothing silent
    phone = server.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    phone.expect("cam-paired")
    assert [phone.expect("cam-ice")["payload"] for _ in range(3)] == [0, 1, 2]
    phone.assert_silent(0.3)


# ---------------------------------------------------------------------------
# 7. route files and settings
# ---------------------------------------------------------------------------


def test_product_route_file_is_valid_and_serves_camera_pairing(relay):
    path = REPO / "deploy" / "camera-pairing.yaml"
    result = run_cli("check", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    routes = run_cli("routes", str(path)).stdout
    for type_ in CAM_TYPES:
        assert re.search(rf"^/ws\s+{type_} -> \S+ \(camera-pairing\)", routes, re.M), routes
    assert "camera-pairing" in routes and "pubsub" not in routes, routes
    for line in ("HTTP POST /cam/join/:code", "HTTP POST /cam/signal/:code", "HTTP GET /cam/signal/:code",
                 "HTTP POST /cam/create"):
        assert line in routes, routes
    server = relay(path.read_text())
    desktop = server.connect("/ws")
    code = ws_create(desktop)["code"]
    assert rest_join(server, code)[0] == 200
    desktop.expect("cam-peer-joined")


def test_default_route_file_enables_camera_pairing_on_ws():
    routes = run_cli("routes", str(REPO / "routes.yaml"))
    assert routes.returncode == 0, routes.stderr
    for type_ in CAM_TYPES:
        assert re.search(rf"^/ws\s+{type_} -> \S+ \(camera-pairing\)", routes.stdout, re.M), routes.stdout
    assert "HTTP GET /cam/signal/:code" in routes.stdout


def test_unknown_or_invalid_settings_are_reported(tmp_path):
    for config, needle in (({"codeLenght": 4}, "codeLenght"), ({"codeLength": 0}, "codeLength"),
                           ({"restPrefix": "cam/"}, "restPrefix")):
        file = tmp_path / "bad.yaml"
        file.write_text(dump_yaml(cam_config(**config)))
        result = run_cli("check", str(file))
        assert result.returncode != 0
        assert needle in result.stdout + result.stderr, result.stdout + result.stderr
