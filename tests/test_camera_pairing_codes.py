"""Plugin `camera-pairing` over real sockets against a real relay: codes (`cam-create` → `cam-code`,
alphabet, length and TTL, uniqueness, retiring), joining (`cam-paired` / `cam-peer-joined`,
not_found, conflict), and signaling relayed unchanged and in order, forbidden for non-members,
within the size limits."""

from __future__ import annotations

import re
import time

from camera_pairing_support import (ALPHABET, Tracker, assert_rest_error, cam_config, expect_error, http,
    rest_create, rest_join, rest_poll, rest_signal, ws_create, ws_pair)
from relay_helpers import json_text


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
