"""Plugin `camera-pairing`: reconnects (a side that drops and resumes gets every message once, in
order), leaving after the grace, clean leaves, idle expiry, held messages, and the shipped route
files."""

from __future__ import annotations

import re
import time

from camera_pairing_support import (CAM_TYPES, Tracker, assert_rest_error, cam_config, expect_error, http,
    rest_create, rest_join, rest_poll, rest_signal, ws_create, ws_pair)
from cluster_helpers import Sender
from relay_helpers import REPO, dump_yaml, run_cli


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
