"""The built-in plugins across cluster nodes (issue 7, SPEC §2 "Scale-out", §4): a desktop on
node A pairs with a phone on node B, a portal-view broadcast reaches viewers on every node,
recording-room devices spread over nodes start together, alerts reach dashboards on every node
and the alert history is shared.

Real processes, real sockets, a real PostgreSQL (a fresh database per test).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from typing import Any

import pytest

from cluster_helpers import (
    API_KEY, ML_WS, Cluster, Roamer, cam_config, ml_config, pv_config, recording_config, settle,
)
from recording_helpers import JsonDevice, SocketIODevice, join as join_session
from relay_helpers import RelayServer, WSClient

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


# ---------------------------------------------------------------------------
# camera pairing
# ---------------------------------------------------------------------------


def cam_create(client: WSClient) -> str:
    client.send_json({"type": "cam-create"})
    return client.expect("cam-code")["code"]


def cam_join(phone: WSClient, desktop: WSClient, code: str) -> None:
    phone.send_json({"type": "cam-join", "code": code})
    assert phone.expect("cam-paired") == {"type": "cam-paired", "code": code}
    assert desktop.expect("cam-peer-joined") == {"type": "cam-peer-joined", "code": code}


def rest_create(server: RelayServer) -> tuple[int, Any]:
    return server.http_json("POST", "/cam/create")


def test_camera_pairing_across_nodes_with_signaling_both_ways(cluster):
    nodes = cluster(2, cam_config(codeTTL=30))
    desktop = nodes.a.connect("/ws")
    code = cam_create(desktop)
    phone = nodes.b.connect("/ws")
    cam_join(phone, desktop, code)

    sent = [{"type": "cam-offer", "code": code, "payload": {"sdp": "v=0 offer"}}]
    sent += [{"type": "cam-ice", "code": code, "payload": {"candidate": f"c{n}", "sdpMLineIndex": n % 3}}
             for n in range(40)]
    sent += [{"type": "cam-data", "code": code, "payload": {"dart": [n, n + 1]}} for n in range(5)]
    for msg in sent:
        desktop.send_json(msg)
    assert [phone.recv_json(10) for _ in sent] == sent

    back = [{"type": t, "code": code, "payload": {"n": n}}
            for n, t in enumerate(["cam-answer"] + ["cam-ice"] * 20 + ["cam-data"])]
    for msg in back:
        phone.send_json(msg)
    assert [desktop.recv_json(10) for _ in back] == back
    desktop.assert_silent(0.3)
    phone.assert_silent(0.1)

    # relayed unchanged: odd spacing, key order and extra members arrive as sent
    text = f'{{ "payload": {{"sdp": "v=0", "z": [1, 2.50]}}, "type":"cam-offer" , "code":"{code}", "x": 7 }}'
    desktop.send_text(text)
    assert phone.recv_raw() == text


def test_signaling_sent_before_the_remote_phone_joins_is_held(cluster):
    nodes = cluster(2, cam_config(codeTTL=30))
    desktop = nodes.a.connect("/ws")
    code = cam_create(desktop)
    early = [{"type": "cam-offer", "code": code, "payload": {"n": n}} for n in range(3)]
    for msg in early:
        desktop.send_json(msg)
    desktop.ping()
    phone = nodes.b.connect("/ws")
    phone.send_json({"type": "cam-join", "code": code})
    assert phone.expect("cam-paired") == {"type": "cam-paired", "code": code}
    assert [phone.recv_json() for _ in early] == early


def test_pairing_codes_are_unique_cluster_wide(cluster):
    # 961 possible codes: 2 × 150 random draws on two nodes collide without a shared check.
    nodes = cluster(2, cam_config(codeLength=2, codeTTL=60))
    codes: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[Any] = []

    def create_many(server: RelayServer, into: list[str]) -> None:
        for _ in range(150):
            status, body = rest_create(server)
            if status != 200:
                errors.append((status, body))
                return
            into.append(body["code"])

    threads = [threading.Thread(target=create_many, args=(node, codes[name]))
               for name, node in (("a", nodes.a), ("b", nodes.b))]
    for thread in threads:
        thread.start()
    # and over WebSocket, interleaved with the REST calls
    ws_codes = [cam_create(nodes.a.connect("/ws")) for _ in range(10)]
    ws_codes += [cam_create(nodes.b.connect("/ws")) for _ in range(10)]
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]
    every = codes["a"] + codes["b"] + ws_codes
    assert len(every) == 320
    duplicates = sorted({c for c in every if every.count(c) > 1})
    assert not duplicates, f"{len(duplicates)} codes handed out twice: {duplicates[:10]}"
    assert all(re.fullmatch(f"[{ALPHABET}]{{2}}", c) for c in every)


def test_exhausted_code_space_is_shared_by_the_nodes(cluster):
    nodes = cluster(2, cam_config(codeLength=1, codeTTL=60))
    created = []
    for n in range(len(ALPHABET)):
        status, body = rest_create(nodes[n % 2])
        assert status == 200, (n, status, body)
        created.append(body["code"])
    assert sorted(created) == sorted(ALPHABET)
    for node in nodes:
        status, body = rest_create(node)
        assert status == 409 and body["error"]["code"] == "conflict", (status, body)


def test_phone_resumes_on_the_other_node_and_gets_what_the_desktop_sent(cluster):
    nodes = cluster(2, cam_config(codeTTL=30), resume_grace=5)
    desktop = nodes.a.connect("/ws")
    code = cam_create(desktop)
    phone = Roamer(nodes.b)
    phone.send({"type": "cam-join", "code": code})
    phone.recv_until(lambda m: m["type"] == "cam-paired")
    desktop.expect("cam-peer-joined")
    phone.drop()
    time.sleep(0.3)
    for n in range(10):
        desktop.send_json({"type": "cam-ice", "code": code, "payload": {"n": n}})
    desktop.ping()
    hello = phone.resume_on(nodes.a)
    assert hello["resumed"] is True and hello["clientId"] == phone.client_id, hello
    try:
        phone.recv_until(lambda m: m.get("payload", {}).get("n") == 9)
    finally:
        got = [m["payload"]["n"] for m in phone.received if m["type"] == "cam-ice"]
        assert got == list(range(10)), f"resumed with {hello}; cam-ice received: {got}"
    phone.send({"type": "cam-answer", "code": code, "payload": "back"})
    assert desktop.expect("cam-answer")["payload"] == "back"
    desktop.assert_silent(0.3)  # no cam-peer-left: it came back within the grace


def test_killed_node_peer_is_announced_left_after_node_timeout_and_grace(cluster):
    grace, node_timeout = 2.0, 2.0
    nodes = cluster(2, cam_config(codeTTL=30), resume_grace=grace, node_timeout=node_timeout)
    desktop = nodes.a.connect("/ws")
    code = cam_create(desktop)
    phone = nodes.b.connect("/ws")
    cam_join(phone, desktop, code)
    Cluster.kill9(nodes.a)
    killed = time.monotonic()
    left = phone.expect("cam-peer-left", timeout=node_timeout + grace + 6)
    waited = time.monotonic() - killed
    assert left["type"] == "cam-peer-left" and left["code"] == code, left
    assert grace - 0.5 <= waited <= node_timeout + grace + 3.0, \
        f"cam-peer-left {waited:.2f}s after the kill; nodeTimeout {node_timeout}s + resumeGrace {grace}s"
    # the pairing is gone everywhere
    phone.send_json({"type": "cam-answer", "code": code, "payload": {}})
    error = phone.expect("error")
    assert error["code"] == "not_found" and error["ref"] == "cam-answer", error


# ---------------------------------------------------------------------------
# portal view
# ---------------------------------------------------------------------------

PRESENCE = ("presence",)


def pv_join(server: RelayServer, view: str, role: str) -> WSClient:
    return server.connect(f"/ws/portal-view/{view}", sub=f"user-{uuid.uuid4().hex[:8]}",
                          claims={"portalViews": {view: role}})


def broadcast(server: RelayServer, view: str, payload: Any) -> tuple[int, Any]:
    return server.http_json("POST", f"/api/portal-views/{view}/broadcast", {"payload": payload},
                            headers={"Authorization": f"Bearer {API_KEY}"})


@pytest.fixture
def view() -> str:
    return f"pv-{uuid.uuid4().hex[:10]}"


def test_portal_view_rest_broadcast_reaches_viewers_on_every_node(cluster, view):
    nodes = cluster(3, pv_config(), env={"RELAY_API_KEY": API_KEY})
    controller = pv_join(nodes.a, view, "OWNER")
    viewers = [pv_join(nodes.b, view, "VIEWER"), pv_join(nodes.c, view, "VIEWER")]
    settle()
    status, body = broadcast(nodes.a, view, {"currentItem": 3})
    assert status == 200, body
    print(f"broadcast via node a answered {body}")
    for client in [controller, *viewers]:
        assert client.expect("portal-view-update", ignore=PRESENCE) == \
            {"type": "portal-view-update", "payload": {"currentItem": 3}}
    # through another node, same result
    status, body = broadcast(nodes.c, view, {"n": 4})
    assert status == 200, body
    for client in [controller, *viewers]:
        assert client.expect("portal-view-update", ignore=PRESENCE)["payload"] == {"n": 4}
    for client in [controller, *viewers]:
        client.assert_silent(0.3, ignore=PRESENCE)  # once each


def test_portal_view_broadcast_reaches_a_viewer_that_just_connected_on_another_node(cluster, view):
    # read-your-writes (see test_cluster.py §2a): no pause between the join and the broadcast
    nodes = cluster(2, pv_config(), env={"RELAY_API_KEY": API_KEY})
    for n in range(3):
        viewer = pv_join(nodes.b, view, "VIEWER")
        status, body = broadcast(nodes.a, view, {"n": n})
        assert status == 200, body
        # (a late joiner first gets the latest state, i.e. the previous broadcast)
        viewer.recv_until(lambda m: m == {"type": "portal-view-update", "payload": {"n": n}}, timeout=3)


def test_portal_view_messages_and_sync_across_nodes(cluster, view):
    nodes = cluster(3, pv_config(), env={"RELAY_API_KEY": API_KEY})
    controller = pv_join(nodes.a, view, "OWNER")
    on_b = pv_join(nodes.b, view, "VIEWER")
    on_c = pv_join(nodes.c, view, "VIEWER")
    settle()
    controller.send_json({"type": "portal-view-update", "payload": {"page": 2}})
    for viewer in (on_b, on_c):
        assert viewer.expect("portal-view-update", ignore=PRESENCE)["payload"] == {"page": 2}
    # a viewer on b asks; the controller on a answers that viewer only
    on_b.send_json({"type": "request-sync"})
    request = controller.expect("request-sync", ignore=PRESENCE)
    assert request["clientId"] == on_b.client_id, request
    controller.send_json({"type": "sync-response", "to": on_b.client_id, "payload": {"state": "s"}})
    answer = on_b.expect("sync-response", ignore=PRESENCE)
    assert answer["payload"] == {"state": "s"}, answer
    on_c.assert_silent(0.4, ignore=PRESENCE)


def test_portal_view_presence_counts_the_whole_cluster(cluster, view):
    nodes = cluster(3, pv_config(), env={"RELAY_API_KEY": API_KEY})
    clients = [pv_join(nodes.a, view, "OWNER"), pv_join(nodes.b, view, "VIEWER"), pv_join(nodes.c, view, "VIEWER")]
    want = {"type": "presence", "controllers": 1, "viewers": 2}
    for client in clients:
        client.recv_until(lambda m: m == want, timeout=5)


# ---------------------------------------------------------------------------
# recording rooms
# ---------------------------------------------------------------------------


def now_ms() -> float:
    return time.time() * 1000


def test_recording_devices_on_three_nodes_start_together(cluster):
    nodes = cluster(3, recording_config(), resume_grace=2)
    session = f"s-{uuid.uuid4().hex[:10]}"
    desktop = SocketIODevice(nodes.a)
    phone = JsonDevice(nodes.b)
    tablet = SocketIODevice(nodes.c)
    devices = [desktop, phone, tablet]
    join_session(desktop, session, "desktop", "front")
    settle()
    join_session(phone, session, "mobile", "side")
    assert desktop.expect("device_joined")["deviceId"] == phone.id
    settle()
    join_session(tablet, session, "mobile", "back")
    for earlier in (desktop, phone):
        assert earlier.expect("device_joined")["deviceId"] == tablet.id

    # every node answers time_sync from the same clock (one host)
    for device in devices:
        t0 = now_ms()
        device.send("time_sync", {"t0": t0})
        answer = device.expect("time_sync")
        assert answer["t0"] == t0 and t0 - 1 <= answer["t1"] <= answer["t2"] <= now_ms() + 1, answer

    arrivals: dict[str, float] = {}
    starts: dict[str, dict] = {}

    def wait_start(name: str, device: Any) -> None:
        starts[name] = device.expect("start_recording", timeout=10)
        arrivals[name] = now_ms()

    sent = now_ms()
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "standing", "duration": 300})
    threads = [threading.Thread(target=wait_start, args=(n, d)) for n, d in
               (("desktop@a", desktop), ("phone@b", phone), ("tablet@c", tablet))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(starts) == 3, f"start_recording reached only {sorted(starts)}"
    first = starts["desktop@a"]
    assert all(s == first for s in starts.values()), starts
    assert first["postureLabel"] == "standing" and first["duration"] == 300
    spread = max(arrivals.values()) - min(arrivals.values())
    print(f"start_recording arrivals after the send (ms): "
          f"{ {k: round(v - sent, 1) for k, v in arrivals.items()} }, spread {spread:.1f} ms, "
          f"lead {first['startAt'] - first['timestamp']} ms")
    late = {k: round(v - first["startAt"], 1) for k, v in arrivals.items() if v > first["startAt"]}
    assert not late, f"start_recording arrived after startAt (ms late): {late}"

    # the server's auto-stop reaches every node once, and the uploads complete the session
    stops = [device.expect("stop_recording", timeout=5) for device in devices]
    assert all(s == stops[0] for s in stops), stops
    for n, device in enumerate(devices):
        device.send("upload_completed", {"recordingId": f"rec-{n}", "fileSizeBytes": 100 + n})
    for device in devices:
        done = device.expect("session_completed", timeout=5)
        assert done["sessionId"] == session, done
    for device in devices:
        device.silent(0.3)


def test_recording_device_on_a_killed_node_is_announced_disconnected(cluster):
    grace, node_timeout = 1.0, 2.0
    nodes = cluster(2, recording_config(), resume_grace=grace, node_timeout=node_timeout)
    session = f"s-{uuid.uuid4().hex[:10]}"
    desktop = JsonDevice(nodes.b)
    phone = JsonDevice(nodes.a)
    join_session(desktop, session, "desktop", "front")
    settle()
    join_session(phone, session, "mobile", "side")
    assert desktop.expect("device_joined")["deviceId"] == phone.id
    settle()
    Cluster.kill9(nodes.a)
    gone = desktop.expect("device_disconnected", timeout=node_timeout + grace + 6)
    assert gone["deviceId"] == phone.id, gone


# ---------------------------------------------------------------------------
# ml alerts
# ---------------------------------------------------------------------------

SERVICE = {"role": "ml-service"}


def ml_auth(server: RelayServer, sub: str, **claims: Any) -> WSClient:
    client = server.connect(ML_WS, expect_connected=False)
    client.send_json({"type": "auth", "token": server.token(sub, **claims)})
    assert client.expect("authenticated", ignore=())["userId"] == sub
    client.hello = client.expect("connected", ignore=())
    return client


def ml_subscribe(client: WSClient, stream: str, **fields: Any) -> None:
    client.send_json({"type": "subscribe", "streamId": stream, **fields})
    client.expect("subscribed", ignore=("stream-status",))


def register_stream(server: RelayServer, token: str, name: str = "cam") -> str:
    status, body = server.http_json("POST", "/api/streams/register", {"deviceName": name, "deviceType": "mobile"},
                                    token=token)
    assert status == 200, body
    return body["streamId"]


def test_alert_on_one_node_reaches_dashboards_on_others_and_history_is_shared(cluster):
    nodes = cluster(3, ml_config())
    alice = nodes.a.token("alice")
    stream = register_stream(nodes.a, alice)
    # the stream registered via a is listed via b
    status, body = nodes.b.http_json("GET", "/api/streams/list", token=alice)
    assert status == 200 and stream in [s["id"] for s in body["streams"]], body

    dashboards = [ml_auth(nodes.b, "alice"), ml_auth(nodes.c, "alice")]
    for dashboard in dashboards:
        ml_subscribe(dashboard, stream, consumes=["alert"])
    service = ml_auth(nodes.a, "ml-1", **SERVICE)
    ml_subscribe(service, stream, clientType="ml-service", consumes=["video-frame"], produces=["alert"])

    for n in range(5):
        service.send_json({"type": "alert", "streamId": stream, "severity": "high", "message": f"alert {n}",
                           "metadata": {"n": n}})
    got = [[d.expect("alert", timeout=10, ignore=("stream-status",)) for _ in range(5)] for d in dashboards]
    for alerts in got:
        assert [a["message"] for a in alerts] == [f"alert {n}" for n in range(5)], alerts
    assert got[0] == got[1]  # the same ids and timestamps everywhere

    # the history on b (and c) has what was written via a, newest first
    for node in (nodes.b, nodes.c):
        status, page = node.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
        assert status == 200, page
        assert [a["message"] for a in page["alerts"]] == [f"alert {n}" for n in range(4, -1, -1)], page
        assert [a["id"] for a in page["alerts"]] == [a["id"] for a in reversed(got[0])]
    for dashboard in dashboards:
        dashboard.assert_silent(0.3, ignore=("stream-status",))
