"""Plugin `camera-pairing`: the REST fallback (join, signal, long-poll with sequence numbers,
pairing tokens, bounded mailboxes) and pairings that mix WebSocket and REST sides."""

from __future__ import annotations

import re
import threading
import time

from camera_pairing_support import (ALPHABET, assert_rest_error, cam_config, expect_error, http, rest_create,
    rest_join, rest_poll, rest_signal, ws_create)


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
