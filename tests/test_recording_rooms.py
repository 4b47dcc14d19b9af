"""The recording-rooms plugin over real sockets, against deploy/recording-rooms.yaml: Socket.IO
devices (/socket.io/, raw Engine.IO frames) and json devices (/ws/recording) in the same
sessions, seed 002's events and payloads, the server-side auto-stop, idempotent uploads and
session completion, departures after the resume grace, statuses, permissions and time_sync.
"""

from __future__ import annotations

import time
import uuid

import pytest
import yaml

from recording_helpers import JsonDevice, SocketIODevice, error_of, join
from relay_helpers import REPO, RelayServer
from socketio_helpers import LOCAL_ENV, RECORDING_YAML

RESUME_GRACE = 1.0
LEAD_MS = 500  # startLead in deploy/recording-rooms.yaml


@pytest.fixture(scope="module")
def _recording_server(tmp_path_factory: pytest.TempPathFactory) -> RelayServer:
    env = {**LOCAL_ENV, "RELAY_SERVER_RESUME_GRACE": str(RESUME_GRACE)}
    server = RelayServer(tmp_path_factory.mktemp("recording"), RECORDING_YAML.read_text(), env=env)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def rec(_recording_server: RelayServer, track_server) -> RelayServer:
    return track_server(_recording_server)


@pytest.fixture
def session() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def now_ms() -> float:
    return time.time() * 1000


def room(rec: RelayServer, session: str, *kinds: str) -> list:
    """Devices joined to ``session``: kinds like "sio:desktop", "json:mobile". Every device has
    consumed the device_joined of those that joined after it."""
    devices = []
    for kind in kinds:
        codec, device_type = kind.split(":")
        device = SocketIODevice(rec) if codec == "sio" else JsonDevice(rec)
        join(device, session, device_type, "front" if device_type == "desktop" else "side")
        for earlier in devices:
            assert earlier.expect("device_joined")["deviceId"] == device.id
        devices.append(device)
    return devices


# ---------------------------------------------------------------------------
# join_session
# ---------------------------------------------------------------------------


def test_join_session_answers_and_announces_over_both_codecs(rec, session):
    desktop = SocketIODevice(rec)
    before = now_ms()
    desktop.send("join_session", {"sessionId": session, "deviceType": "desktop", "viewType": "front"})
    joined = desktop.expect("joined_session")
    assert joined["success"] is True
    assert joined["deviceId"] == desktop.id
    assert joined["session"]["id"] == session and joined["session"]["status"] == "WAITING"
    assert before - 1 <= joined["timestamp"] <= now_ms() + 1
    own = desktop.expect("device_joined")
    assert own == {"deviceId": desktop.id, "deviceType": "desktop", "viewType": "front",
                   "timestamp": own["timestamp"], "status": "WAITING"}

    phone = JsonDevice(rec)
    phone.send("join_session", {"sessionId": session, "deviceType": "mobile", "viewType": "side"})
    joined = phone.expect("joined_session")
    assert joined["success"] is True and joined["deviceId"] == phone.id
    assert joined["session"]["status"] == "READY"
    assert [d["deviceId"] for d in joined["session"]["devices"]] == [desktop.id, phone.id]
    for device in (desktop, phone):
        announced = device.expect("device_joined")
        assert announced["deviceId"] == phone.id
        assert announced["deviceType"] == "mobile" and announced["viewType"] == "side"
        assert announced["status"] == "READY"


def test_repeated_join_is_idempotent_and_reports_the_status(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    phone.send("join_session", {"sessionId": session, "deviceType": "mobile", "viewType": "side"})
    again = phone.expect("joined_session")
    assert again["deviceId"] == phone.id and again["session"]["status"] == "READY"
    desktop.silent(0.3)
    phone.silent(0.1)


def test_joining_another_session_leaves_the_first(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    other = f"{session}-b"
    join(phone, other, "mobile", "side")
    gone = desktop.expect("device_disconnected")
    assert gone["deviceId"] == phone.id and gone["status"] == "WAITING"


def test_join_requires_session_id_and_device_type(rec, session):
    device = JsonDevice(rec)
    device.send("join_session", {"deviceType": "desktop"})
    error = error_of(device)
    assert error["code"] == "invalid_message" and error["ref"] == "join_session"
    sio = SocketIODevice(rec)
    sio.send("join_session", {"sessionId": session})
    error = error_of(sio)
    assert error["code"] == "invalid_message"
    sio.send("join_session", {"sessionId": "", "deviceType": "desktop"})
    assert error_of(sio)["code"] == "invalid_message"


# ---------------------------------------------------------------------------
# start_recording / stop_recording
# ---------------------------------------------------------------------------


def test_start_reaches_every_device_with_the_same_values(rec, session):
    desktop, phone, tablet = room(rec, session, "sio:desktop", "json:mobile", "sio:mobile")
    before = now_ms()
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "standing", "duration": 60000})
    starts = [device.expect("start_recording") for device in (desktop, phone, tablet)]
    first = starts[0]
    assert all(start == first for start in starts), starts
    assert first["postureLabel"] == "standing" and first["duration"] == 60000
    assert before - 1 <= first["timestamp"] <= now_ms() + 1
    assert first["startAt"] - first["timestamp"] == LEAD_MS
    assert first["take"] == 1 and first["sessionId"] == session
    desktop.send("stop_recording", {"sessionId": session})
    for device in (desktop, phone, tablet):
        assert device.expect("stop_recording")["reason"] == "requested"


def test_json_desktop_controls_socketio_phones(rec, session):
    desktop, phone = room(rec, session, "json:desktop", "sio:mobile")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "sitting", "duration": 60000})
    assert desktop.expect("start_recording") == phone.expect("start_recording")
    desktop.send("stop_recording", {"sessionId": session})
    stop_desktop, stop_phone = desktop.expect("stop_recording"), phone.expect("stop_recording")
    assert stop_desktop == stop_phone and isinstance(stop_phone["timestamp"], int)


def test_only_controllers_may_start_and_stop(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    phone.send("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 1000})
    error = error_of(phone)
    assert error["code"] == "forbidden" and error["ref"] == "start_recording"
    desktop.silent(0.3)
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 60000})
    desktop.expect("start_recording")
    phone.expect("start_recording")
    phone.send("stop_recording", {"sessionId": session})
    assert error_of(phone)["code"] == "forbidden"
    desktop.silent(0.2)


def test_start_needs_enough_devices_and_a_joined_session(rec, session):
    outsider = SocketIODevice(rec)
    outsider.send("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 1000})
    assert error_of(outsider)["code"] == "forbidden"
    (desktop,) = room(rec, session, "sio:desktop")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 1000})
    error = error_of(desktop)
    assert error["code"] == "conflict" and "devices" in error["message"]
    desktop.send("start_recording", {"sessionId": "another", "postureLabel": "x", "duration": 1000})
    assert error_of(desktop)["code"] == "forbidden"


@pytest.mark.parametrize("body", [
    {"postureLabel": "x"},
    {"postureLabel": "x", "duration": -5},
    {"postureLabel": "x", "duration": "long"},
    {"postureLabel": "x", "duration": 3600001},
    {"duration": 1000},
])
def test_start_validates_its_fields(rec, session, body):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    desktop.send("start_recording", {"sessionId": session, **body})
    assert error_of(desktop)["code"] == "invalid_message"
    phone.silent(0.2)


def test_start_while_recording_is_a_conflict(rec, session):
    desktop, phone = room(rec, session, "json:desktop", "json:mobile")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "a", "duration": 60000})
    desktop.expect("start_recording")
    phone.expect("start_recording")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "b", "duration": 60000})
    assert error_of(desktop)["code"] == "conflict"
    phone.silent(0.2)


def test_server_stops_the_recording_after_its_duration(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    sent = time.monotonic()
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "timed", "duration": 400})
    start = desktop.expect("start_recording")
    phone.expect("start_recording")
    stops = [device.expect("stop_recording", timeout=3) for device in (desktop, phone)]
    elapsed = time.monotonic() - sent
    assert stops[0] == stops[1]
    assert stops[0]["reason"] == "duration" and stops[0]["take"] == 1
    assert stops[0]["timestamp"] >= start["startAt"] + 400
    assert (LEAD_MS + 400) / 1000 - 0.05 <= elapsed <= (LEAD_MS + 400) / 1000 + 0.5, elapsed
    # The desktop's own timer (seed 002) stops too, later: nothing happens, no error.
    ack = desktop.call("stop_recording", {"sessionId": session})
    assert ack == [{"success": True, "stopped": False}]
    desktop.silent(0.2)
    phone.silent(0.1)


def test_a_manual_stop_cancels_nothing_else_and_the_auto_stop_stays_quiet(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "short", "duration": 300})
    desktop.expect("start_recording")
    phone.expect("start_recording")
    desktop.send("stop_recording", {"sessionId": session})
    assert phone.expect("stop_recording")["reason"] == "requested"
    desktop.expect("stop_recording")
    # The auto-stop of that take comes due (lead + duration) and finds it stopped.
    phone.silent(1.2)


# ---------------------------------------------------------------------------
# upload_completed / session_completed and statuses
# ---------------------------------------------------------------------------


def status_of(device, session: str) -> str:
    """The session's status, from a repeated (idempotent) join_session."""
    device.send("join_session", {"sessionId": session, "deviceType": "desktop", "viewType": "front"})
    return device.expect("joined_session")["session"]["status"]


def test_uploads_are_idempotent_and_complete_the_session_once(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    assert status_of(desktop, session) == "READY"
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "p", "duration": 60000})
    desktop.expect("start_recording")
    phone.expect("start_recording")
    assert status_of(desktop, session) == "RECORDING"
    desktop.send("stop_recording", {"sessionId": session})
    desktop.expect("stop_recording")
    phone.expect("stop_recording")
    assert status_of(desktop, session) == "UPLOADING"

    phone.send("upload_completed", {"recordingId": "rec-phone", "fileSizeBytes": 1234})
    phone.send("upload_completed", {"recordingId": "rec-phone", "fileSizeBytes": 1234})
    desktop.silent(0.3)
    phone.silent(0.1)
    assert status_of(desktop, session) == "UPLOADING"
    ack = desktop.call("upload_completed", {"recordingId": "rec-desktop", "fileSizeBytes": 99})
    assert ack == [{"success": True, "duplicate": False, "take": 1}]
    for device in (desktop, phone):
        done = device.expect("session_completed")
        assert done["sessionId"] == session and done["take"] == 1 and isinstance(done["timestamp"], int)
    assert desktop.call("upload_completed", {"recordingId": "rec-desktop", "fileSizeBytes": 99}) == \
        [{"success": True, "duplicate": True, "take": 1}]
    phone.send("upload_completed", {"recordingId": "rec-phone", "fileSizeBytes": 1234})
    desktop.silent(0.3)
    phone.silent(0.1)
    assert status_of(desktop, session) == "COMPLETED"


def test_uploads_before_the_stop_complete_at_the_stop(rec, session):
    desktop, phone = room(rec, session, "json:desktop", "sio:mobile")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "p", "duration": 60000})
    desktop.expect("start_recording")
    phone.expect("start_recording")
    phone.send("upload_completed", {"recordingId": "a", "fileSizeBytes": 1})
    desktop.send("upload_completed", {"recordingId": "b", "fileSizeBytes": 2})
    desktop.silent(0.3)
    desktop.send("stop_recording", {"sessionId": session})
    for device in (desktop, phone):
        device.expect("stop_recording")
        device.expect("session_completed")


def test_only_devices_present_at_the_start_must_upload(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "p", "duration": 60000})
    desktop.expect("start_recording")
    phone.expect("start_recording")
    (late,) = [SocketIODevice(rec)]
    join(late, session, "mobile", "side")
    desktop.expect("device_joined")
    phone.expect("device_joined")
    desktop.send("stop_recording", {"sessionId": session})
    for device in (desktop, phone, late):
        device.expect("stop_recording")
    late.send("upload_completed", {"recordingId": "late", "fileSizeBytes": 5})
    error = error_of(late)
    assert error["code"] == "conflict" and error["ref"] == "upload_completed"
    phone.send("upload_completed", {"recordingId": "p", "fileSizeBytes": 5})
    desktop.send("upload_completed", {"recordingId": "d", "fileSizeBytes": 5})
    for device in (desktop, phone, late):
        device.expect("session_completed")


def test_a_new_take_waits_for_the_uploads_of_present_devices(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "one", "duration": 60000})
    desktop.expect("start_recording")
    phone.expect("start_recording")
    desktop.send("stop_recording", {"sessionId": session})
    desktop.expect("stop_recording")
    phone.expect("stop_recording")
    desktop.send("upload_completed", {"recordingId": "d1", "fileSizeBytes": 5})
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "two", "duration": 60000})
    error = error_of(desktop)
    assert error["code"] == "conflict" and phone.id in error["message"]
    phone.send("upload_completed", {"recordingId": "p1", "fileSizeBytes": 5, "take": 1})
    desktop.expect("session_completed")
    phone.expect("session_completed")
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "two", "duration": 60000})
    second = desktop.expect("start_recording")
    assert second["take"] == 2 and phone.expect("start_recording") == second
    phone.send("upload_completed", {"recordingId": "p1", "fileSizeBytes": 5, "take": 1})
    assert error_of(phone)["code"] == "conflict"


def test_upload_needs_a_joined_device_and_valid_fields(rec, session):
    outsider = JsonDevice(rec)
    outsider.send("upload_completed", {"recordingId": "r", "fileSizeBytes": 1})
    assert error_of(outsider)["code"] == "forbidden"
    desktop, phone = room(rec, session, "json:desktop", "json:mobile")
    phone.send("upload_completed", {"recordingId": "r", "fileSizeBytes": 1})
    assert error_of(phone)["code"] == "conflict"  # nothing recorded yet
    for body in ({"fileSizeBytes": 1}, {"recordingId": "r"}, {"recordingId": "r", "fileSizeBytes": -1},
                 {"recordingId": "r", "fileSizeBytes": 1.5}):
        phone.send("upload_completed", body)
        assert error_of(phone)["code"] == "invalid_message", body
    desktop.silent(0.2)


def test_failed_socketio_calls_are_acknowledged_with_the_error(rec, session):
    outsider = SocketIODevice(rec)
    ack = outsider.call("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 10})
    assert ack[0]["success"] is False and ack[0]["error"]["code"] == "forbidden"
    assert error_of(outsider)["code"] == "forbidden"


# ---------------------------------------------------------------------------
# Leaving
# ---------------------------------------------------------------------------


def test_a_dropped_device_is_announced_after_the_resume_grace(rec, session):
    (desktop,) = room(rec, session, "sio:desktop")
    phone = rec.raw("/ws/recording")
    phone_id = phone.expect("connected")["clientId"]
    phone.send_json({"type": "join_session", "sessionId": session, "deviceType": "mobile", "viewType": "side"})
    phone.expect("joined_session")
    assert desktop.expect("device_joined")["deviceId"] == phone_id
    phone.abort()
    dropped = time.monotonic()
    desktop.silent(RESUME_GRACE * 0.6)
    gone = desktop.expect("device_disconnected", timeout=RESUME_GRACE + 3)
    assert time.monotonic() - dropped >= RESUME_GRACE - 0.05
    assert gone["deviceId"] == phone_id and gone["status"] == "WAITING"
    assert isinstance(gone["timestamp"], int)


def test_a_device_that_resumes_within_the_grace_stays(rec, session):
    (desktop,) = room(rec, session, "sio:desktop")
    phone = rec.raw("/ws/recording")
    hello = phone.expect("connected")
    phone.send_json({"type": "join_session", "sessionId": session, "deviceType": "mobile", "viewType": "side"})
    phone.expect("joined_session")
    desktop.expect("device_joined")
    phone.abort()
    back = rec.connect("/ws/recording", query={"resume": hello["resumeToken"]}, expect_connected=False)
    assert back.expect("connected")["resumed"] is True
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "p", "duration": 60000})
    start = desktop.expect("start_recording")
    assert back.recv_until(lambda m: m.get("type") == "start_recording")["startAt"] == start["startAt"]
    desktop.silent(RESUME_GRACE + 0.3)


def test_a_clean_socketio_disconnect_leaves_at_once(rec, session):
    desktop, phone = room(rec, session, "json:desktop", "sio:mobile")
    phone.client.send("41")
    gone = desktop.expect("device_disconnected", timeout=RESUME_GRACE * 0.8)
    assert gone["deviceId"] == phone.id


def test_a_clean_json_close_leaves_at_once(rec, session):
    desktop, phone = room(rec, session, "sio:desktop", "json:mobile")
    phone.close()
    gone = desktop.expect("device_disconnected", timeout=RESUME_GRACE * 0.8)
    assert gone["deviceId"] == phone.id


# ---------------------------------------------------------------------------
# time_sync
# ---------------------------------------------------------------------------


def test_time_sync_over_json_answers_an_event(rec):
    device = JsonDevice(rec)
    answers = []
    for _ in range(5):
        t0 = now_ms()
        device.send("time_sync", {"t0": t0})
        answer = device.expect("time_sync")
        t3 = now_ms()
        assert answer["t0"] == t0
        assert t0 - 1 <= answer["t1"] <= answer["t2"] <= t3 + 1
        answers.append(answer)
    assert any(a["t1"] != int(a["t1"]) for a in answers), "t1 should carry sub-millisecond fractions"


def test_time_sync_over_socketio_answers_the_ack_when_asked(rec):
    device = SocketIODevice(rec)
    t0 = now_ms()
    (answer,) = device.call("time_sync", {"t0": t0})
    t3 = now_ms()
    assert answer["t0"] == t0 and t0 - 1 <= answer["t1"] <= answer["t2"] <= t3 + 1
    device.silent(0.2)  # answered once, as the ack only
    device.send("time_sync", {"t0": 42})
    event = device.expect("time_sync")
    assert event["t0"] == 42 and event["t1"] <= event["t2"]


def test_time_sync_needs_a_numeric_t0(rec):
    device = SocketIODevice(rec)
    device.send("time_sync", {"t0": "now"})
    assert error_of(device)["code"] == "invalid_message"
    device.send("time_sync", {})
    assert error_of(device)["code"] == "invalid_message"


# ---------------------------------------------------------------------------
# Configuration: controllers by claim, limits
# ---------------------------------------------------------------------------


def test_controllers_by_claim(relay, session):
    cfg = yaml.safe_load(RECORDING_YAML.read_text())
    cfg["plugins"]["recording"]["config"].update(
        {"controllerDeviceTypes": [], "controllerClaims": {"role": ["operator"]}, "maxDevices": 2})
    server = relay(cfg, env=LOCAL_ENV)
    operator = SocketIODevice(server, token=server.token("op", role="operator"))
    join(operator, session, "mobile", "side")
    viewer = JsonDevice(server, token=server.token("viewer", role="viewer"))
    join(viewer, session, "desktop", "front")
    operator.expect("device_joined")
    viewer.send("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 60000})
    error = error_of(viewer)
    assert error["code"] == "forbidden" and "role" in error["message"]
    operator.send("start_recording", {"sessionId": session, "postureLabel": "x", "duration": 60000})
    assert operator.expect("start_recording") == viewer.expect("start_recording")
    third, neighbour = JsonDevice(server), JsonDevice(server)
    join(third, f"{session}-other", "mobile")
    join(neighbour, f"{session}-other", "mobile")
    third.expect("device_joined")
    third.send("join_session", {"sessionId": session, "deviceType": "mobile"})
    assert error_of(third)["code"] == "conflict"  # maxDevices: 2
    neighbour.silent(0.3)  # a refused move leaves the device where it was



def test_the_default_route_file_serves_recording_rooms_on_both_codecs(relay, session):
    server = relay((REPO / "routes.yaml").read_text(), env=LOCAL_ENV)
    desktop = SocketIODevice(server)
    join(desktop, session, "desktop")
    phone = JsonDevice(server)
    join(phone, session, "mobile", "side")
    assert desktop.expect("device_joined")["deviceId"] == phone.id
    desktop.send("start_recording", {"sessionId": session, "postureLabel": "p", "duration": 60000})
    assert desktop.expect("start_recording") == phone.expect("start_recording")
