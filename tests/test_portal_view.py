"""Plugin `portal-view` (issue 4, SPEC §4 "portal-view", seed 003) over real sockets.

Roles from token claims (this module) and from the authorization hook
(test_portal_view_hook.py); the seed's permission table row by row; `sync-response`
with `to`; `request-sync` stamped with the requester's clientId; the REST broadcast;
presence on join and leave (after the resume grace); late-join state.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any

import pytest

from relay_helpers import HOST, REPO, RelayServer, WSClient, run_cli

API_KEY = "portal-view-test-api-key"
ENDPOINT = "/ws/portal-view/:portalViewId"
TYPES = ("portal-view-update", "item-update", "sync-response", "request-sync")
CONTROLLER_TYPES = ("portal-view-update", "item-update", "sync-response")
PRESENCE = ("presence",)


def pv_config(plugin_config: dict | None = None, endpoint: str = ENDPOINT, resume_grace: float = 1) -> dict:
    """One auth-required portal-view endpoint routed to an instance `portal` (short resume grace)."""
    return {
        "server": {"host": HOST, "heartbeatInterval": 30, "resumeGrace": resume_grace, "drainTimeout": 3},
        "auth": {"authTimeout": 2},
        "limits": {"maxMessageBytes": 65536, "messagesPerSecond": 0},
        "endpoints": [{"path": endpoint, "codec": "json", "auth": "required"}],
        "plugins": {"portal": {"plugin": "portal-view", "config": plugin_config or {}}},
        "routes": [{"endpoint": endpoint, "type": t, "plugin": "portal"} for t in TYPES],
    }


def post(server: RelayServer, path: str, body: Any, headers: dict[str, str] | None = None
         ) -> tuple[int, Any]:
    """POST ``body`` (JSON-encoded unless bytes/str) to the relay; returns (status, parsed JSON body)."""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    conn = http.client.HTTPConnection(HOST, server.port, timeout=5)
    try:
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def bearer(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def join(server: RelayServer, view: str, role: str | None, sub: str | None = None,
         expect_connected: bool = True, **claims: Any) -> WSClient:
    """Connect to ``view`` with a token whose `portalViews` claim grants ``role`` (None: no entry)."""
    if "portalViews" not in claims:
        claims["portalViews"] = {view: role} if role else {"some-other-view": "OWNER"}
    return server.connect(f"/ws/portal-view/{view}", sub=sub or f"user-{uuid.uuid4().hex[:8]}",
                          claims=claims, expect_connected=expect_connected)


def next_msg(client: WSClient, type_: str, timeout: float = 5.0) -> dict:
    """The next message other than presence must be ``type_``."""
    return client.expect(type_, timeout, ignore=PRESENCE)


def pong(client: WSClient) -> dict:
    """Application ping; returns the pong (presence messages in between are skipped)."""
    client.send_json({"type": "ping"})
    return next_msg(client, "pong")


def presence(client: WSClient, controllers: int, viewers: int, timeout: float = 5.0) -> dict:
    """Skip messages until a presence with exactly these counts arrives."""
    want = {"type": "presence", "controllers": controllers, "viewers": viewers}
    return client.recv_until(lambda m: m == want, timeout)


@pytest.fixture(scope="module")
def _pv_server(tmp_path_factory: pytest.TempPathFactory) -> RelayServer:
    server = RelayServer(tmp_path_factory.mktemp("relay-pv"), pv_config(), env={"RELAY_API_KEY": API_KEY})
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pv(_pv_server: RelayServer, track_server) -> RelayServer:
    return track_server(_pv_server)


@pytest.fixture
def view() -> str:
    return f"pv-{uuid.uuid4().hex[:10]}"


class Room:
    """Two controllers and two viewers in one view, with every join's presence consumed."""

    def __init__(self, server: RelayServer, view: str):
        self.server, self.view = server, view
        self.c1 = join(server, view, "OWNER")
        self.c2 = join(server, view, "EDITOR")
        self.v1 = join(server, view, "VIEWER")
        self.v2 = join(server, view, "VIEWER")
        for client in self.everyone:
            presence(client, 2, 2)

    @property
    def everyone(self) -> list[WSClient]:
        return [self.c1, self.c2, self.v1, self.v2]

    def others(self, sender: WSClient) -> list[WSClient]:
        return [c for c in self.everyone if c is not sender]


# ---------------------------------------------------------------------------
# 1/2a. Endpoint, token, role from claims
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("granted,role", [("OWNER", "controller"), ("EDITOR", "controller"),
                                          ("VIEWER", "viewer"), ("viewer", "viewer")])
def test_connected_carries_the_role_from_the_claim(pv, view, granted, role):
    client = join(pv, view, granted)
    assert client.hello["role"] == role, client.hello
    assert client.hello["clientId"] and client.hello["resumeToken"], client.hello
    assert pong(client)["type"] == "pong"


@pytest.mark.parametrize("case", ["no-entry", "unknown-role", "not-a-map", "no-claim"])
def test_no_access_closes_1008(pv, view, case):
    claims = {
        "no-entry": {"portalViews": {"another-view": "OWNER"}},
        "unknown-role": {"portalViews": {view: "GUEST"}},
        "not-a-map": {"portalViews": "OWNER"},
        "no-claim": {"roles": ["OWNER"]},
    }[case]
    client = pv.connect(f"/ws/portal-view/{view}", sub="u", claims=claims, expect_connected=False)
    assert client.expect_close() == 1008
    assert not any('"connected"' in str(m) for m in client.close_messages), client.close_messages


def test_missing_token_is_refused_1008(pv, view):
    client = pv.connect(f"/ws/portal-view/{view}", expect_connected=False)
    client.send_json({"type": "ping"})  # anything but `auth` first: refused
    assert client.expect_close() == 1008


def test_other_token_sources_bearer_header_and_first_message(pv, view):
    token = pv.token("u-header", portalViews={view: "EDITOR"})
    by_header = pv.connect(f"/ws/portal-view/{view}", headers={"Authorization": f"Bearer {token}"})
    assert by_header.hello["role"] == "controller"

    by_message = pv.connect(f"/ws/portal-view/{view}", expect_connected=False)
    by_message.send_json({"type": "auth", "token": pv.token("u-msg", portalViews={view: "VIEWER"})})
    assert by_message.expect("authenticated")["userId"] == "u-msg"
    hello = by_message.expect("connected")
    assert hello["role"] == "viewer", hello


def test_claim_name_is_configurable(relay, view):
    server = relay(pv_config({"claim": "access.views"}))
    client = server.connect(f"/ws/portal-view/{view}", sub="u1", claims={"access": {"views": {view: "EDITOR"}}})
    assert client.hello["role"] == "controller"
    # the default claim name no longer counts
    refused = server.connect(f"/ws/portal-view/{view}", sub="u2", claims={"portalViews": {view: "OWNER"}},
                             expect_connected=False)
    assert refused.expect_close() == 1008


def test_claim_keyed_by_library_id(relay):
    endpoint = "/ws/library/:libraryId/portal-view/:portalViewId"
    server = relay(pv_config({"claim": "libraries", "claimKey": "libraryId"}, endpoint=endpoint),
                   env={"RELAY_API_KEY": API_KEY})
    owner = server.connect("/ws/library/lib1/portal-view/pv1", sub="owner", claims={"libraries": {"lib1": "OWNER"}})
    assert owner.hello["role"] == "controller"
    viewer = server.connect("/ws/library/lib1/portal-view/pv1", sub="viewer", claims={"libraries": {"lib1": "VIEWER"}})
    assert viewer.hello["role"] == "viewer"
    refused = server.connect("/ws/library/lib2/portal-view/pv1", sub="owner", claims={"libraries": {"lib1": "OWNER"}},
                             expect_connected=False)
    assert refused.expect_close() == 1008
    # a role in lib2 naming the same view id lands in lib2's view, never in lib1's
    outsider = server.connect("/ws/library/lib2/portal-view/pv1", sub="other", claims={"libraries": {"lib2": "OWNER"}})
    presence(owner, 1, 1)
    presence(outsider, 1, 0)
    owner.send_json({"type": "item-update", "payload": {"n": 1}})
    assert next_msg(viewer, "item-update")["payload"] == {"n": 1}
    outsider.assert_silent(0.3)

    status, body = post(server, "/api/portal-views/pv1/broadcast?libraryId=lib1", {"payload": {"n": 2}}, bearer())
    assert (status, body) == (200, {"delivered": 2})
    assert next_msg(viewer, "portal-view-update")["payload"] == {"n": 2}
    assert next_msg(owner, "portal-view-update")["payload"] == {"n": 2}
    outsider.assert_silent(0.3)
    status, body = post(server, "/api/portal-views/pv1/broadcast", {"payload": {"n": 3}}, bearer())
    assert status == 400 and body["error"]["code"] == "invalid_message", body


# ---------------------------------------------------------------------------
# 3. The seed's permission table
# ---------------------------------------------------------------------------


def test_ping_from_both_roles(pv, view):
    room = Room(pv, view)
    for client in (room.c1, room.v1):
        answer = pong(client)
        assert isinstance(answer["timestamp"], int), answer


@pytest.mark.parametrize("type_", CONTROLLER_TYPES)
def test_controller_types_reach_every_other_connection(pv, view, type_):
    room = Room(pv, view)
    sent = {"type": type_, "payload": {"currentItem": 2, "note": "é"}}
    room.c1.send_json(sent)
    for client in room.others(room.c1):  # viewers and the other controller, unchanged
        assert next_msg(client, type_) == sent
    room.c1.assert_silent(0.3)  # not echoed to the sender
    pong(room.c1)


@pytest.mark.parametrize("type_", CONTROLLER_TYPES)
def test_controller_types_from_a_viewer_are_forbidden(pv, view, type_):
    room = Room(pv, view)
    room.v1.send_json({"type": type_, "payload": {"x": 1}})
    error = next_msg(room.v1, "error")
    assert error["code"] == "forbidden" and error["ref"] == type_, error
    assert pong(room.v1)["type"] == "pong"  # the connection stays open
    for client in room.others(room.v1):
        client.assert_silent(0.3)


def test_request_sync_reaches_the_controllers_with_the_requester_id(pv, view):
    room = Room(pv, view)
    room.v1.send_json({"type": "request-sync", "clientId": "spoofed", "reason": "startup"})
    for controller in (room.c1, room.c2):
        msg = next_msg(controller, "request-sync")
        assert msg == {"type": "request-sync", "clientId": room.v1.client_id, "reason": "startup"}, msg
    room.v2.assert_silent(0.3)  # viewers do not get it
    room.v1.assert_silent(0.1)


def test_request_sync_from_a_controller_is_forbidden(pv, view):
    room = Room(pv, view)
    room.c1.send_json({"type": "request-sync"})
    error = next_msg(room.c1, "error")
    assert error["code"] == "forbidden" and error["ref"] == "request-sync", error
    assert pong(room.c1)["type"] == "pong"
    room.c2.assert_silent(0.3)


def test_sync_response_with_to_reaches_that_one_viewer(pv, view):
    room = Room(pv, view)
    room.v2.send_json({"type": "request-sync"})
    asked = next_msg(room.c1, "request-sync")
    next_msg(room.c2, "request-sync")
    answer = {"type": "sync-response", "to": asked["clientId"], "payload": {"currentItem": 7}}
    room.c1.send_json(answer)
    assert next_msg(room.v2, "sync-response") == answer
    for client in (room.v1, room.c2, room.c1):
        client.assert_silent(0.3)


def test_sync_response_to_a_client_outside_the_view(pv, view):
    room = Room(pv, view)
    elsewhere = join(pv, f"{view}-other", "VIEWER")
    room.c1.send_json({"type": "sync-response", "to": elsewhere.client_id, "payload": {}})
    error = next_msg(room.c1, "error")
    assert error["code"] == "not_found" and error["ref"] == "sync-response", error
    room.c1.send_json({"type": "sync-response", "to": 42, "payload": {}})
    error = next_msg(room.c1, "error")
    assert error["code"] == "invalid_message", error
    elsewhere.assert_silent(0.3, ignore=PRESENCE)
    room.v1.assert_silent(0.1)


def test_views_are_isolated(pv, view):
    a = Room(pv, view)
    b_viewer = join(pv, f"{view}-b", "VIEWER")
    presence(b_viewer, 0, 1)
    a.c1.send_json({"type": "portal-view-update", "payload": {"n": 1}})
    next_msg(a.v1, "portal-view-update")
    b_viewer.assert_silent(0.3)


# ---------------------------------------------------------------------------
# 4. REST broadcast
# ---------------------------------------------------------------------------


def test_rest_broadcast_reaches_everyone_in_the_view(pv, view):
    room = Room(pv, view)
    status, body = post(pv, f"/api/portal-views/{view}/broadcast", {"payload": {"currentItem": 3}}, bearer())
    assert (status, body) == (200, {"delivered": 4})
    for client in room.everyone:
        assert next_msg(client, "portal-view-update") == {"type": "portal-view-update", "payload": {"currentItem": 3}}
    # the X-API-Key header works too
    status, body = post(pv, f"/api/portal-views/{view}/broadcast", {"payload": {"n": 4}}, {"X-API-Key": API_KEY})
    assert status == 200, body
    assert next_msg(room.v1, "portal-view-update")["payload"] == {"n": 4}


@pytest.mark.parametrize("headers", [{}, bearer("wrong-key"), {"X-API-Key": "wrong-key"}])
def test_rest_broadcast_without_the_right_key_is_401(pv, view, headers):
    viewer = join(pv, view, "VIEWER")
    status, body = post(pv, f"/api/portal-views/{view}/broadcast", {"payload": {"n": 1}}, headers)
    assert status == 401 and body["error"]["code"] == "unauthenticated", (status, body)
    viewer.assert_silent(0.3, ignore=PRESENCE)


@pytest.mark.parametrize("body,code", [
    (b"{not json", "bad_json"),
    ([1, 2], "invalid_message"),
    ({}, "invalid_message"),
    ({"payload": "text"}, "invalid_message"),
    ({"payload": {"n": 1}, "extra": True}, "invalid_message"),
    ({"data": {"n": 1}}, "invalid_message"),
])
def test_rest_broadcast_with_a_bad_body_is_400(pv, view, body, code):
    viewer = join(pv, view, "VIEWER")
    status, answer = post(pv, f"/api/portal-views/{view}/broadcast", body, bearer())
    assert status == 400 and answer["error"]["code"] == code, (status, answer)
    assert answer["error"]["message"], answer
    viewer.assert_silent(0.3, ignore=PRESENCE)


def test_rest_broadcast_to_an_empty_view(pv, view):
    status, body = post(pv, f"/api/portal-views/{view}/broadcast", {"payload": {"n": 1}}, bearer())
    assert (status, body) == (200, {"delivered": 0})


# ---------------------------------------------------------------------------
# 5. Presence
# ---------------------------------------------------------------------------


def test_a_viewer_joining_without_a_controller_learns_so(pv, view):
    viewer = join(pv, view, "VIEWER")
    assert viewer.expect("presence") == {"type": "presence", "controllers": 0, "viewers": 1}
    controller = join(pv, view, "OWNER")
    assert controller.expect("presence") == {"type": "presence", "controllers": 1, "viewers": 1}
    assert viewer.expect("presence") == {"type": "presence", "controllers": 1, "viewers": 1}


def test_presence_on_a_clean_leave_is_immediate(pv, view):
    viewer = join(pv, view, "VIEWER")
    controller = join(pv, view, "EDITOR")
    presence(viewer, 1, 1)
    controller.close()
    assert viewer.expect("presence", timeout=0.8) == {"type": "presence", "controllers": 0, "viewers": 1}


def test_presence_on_a_drop_waits_for_the_resume_grace(pv, view):
    viewer = join(pv, view, "VIEWER")
    token = pv.token("dropper", portalViews={view: "OWNER"})
    raw = pv.raw(pv.target(f"/ws/portal-view/{view}", token=token))
    assert raw.expect("connected", ignore=())["role"] == "controller"
    presence(viewer, 1, 1)
    dropped_at = time.monotonic()
    raw.abort()
    viewer.assert_silent(0.6)  # grace is 1 s: nobody hears of it yet
    assert viewer.expect("presence", timeout=3) == {"type": "presence", "controllers": 0, "viewers": 1}
    assert time.monotonic() - dropped_at >= 0.9


def test_resume_within_the_grace_keeps_role_and_room_without_presence(pv, view):
    viewer = join(pv, view, "VIEWER")
    token = pv.token("resumer", portalViews={view: "OWNER"})
    raw = pv.raw(pv.target(f"/ws/portal-view/{view}", token=token))
    hello = raw.expect("connected", ignore=())
    raw.expect("presence", ignore=())
    presence(viewer, 1, 1)
    raw.abort()
    again = pv.raw(pv.target(f"/ws/portal-view/{view}", token=token, resume=hello["resumeToken"], lastSeen=1))
    resumed = again.expect("connected", ignore=())
    assert resumed["resumed"] is True and resumed["clientId"] == hello["clientId"], resumed
    again.send_json({"type": "item-update", "payload": {"n": 1}})
    assert next_msg(viewer, "item-update")["payload"] == {"n": 1}
    viewer.assert_silent(1.5)  # past the grace: no presence, it never left


# ---------------------------------------------------------------------------
# 6. Late joiners
# ---------------------------------------------------------------------------


def test_a_late_viewer_gets_the_latest_state_on_join(pv, view):
    controller = join(pv, view, "OWNER")
    controller.send_json({"type": "portal-view-update", "payload": {"currentItem": 1}})
    controller.send_json({"type": "portal-view-update", "payload": {"currentItem": 2, "showHealth": True}})
    pong(controller)  # both handled
    viewer = join(pv, view, "VIEWER")
    assert viewer.recv_json() == {"type": "portal-view-update", "payload": {"currentItem": 2, "showHealth": True}}
    assert viewer.expect("presence") == {"type": "presence", "controllers": 1, "viewers": 1}
    # a REST broadcast is the latest state too
    status, _ = post(pv, f"/api/portal-views/{view}/broadcast", {"payload": {"currentItem": 9}}, bearer())
    assert status == 200
    late = join(pv, view, "VIEWER")
    assert late.recv_json() == {"type": "portal-view-update", "payload": {"currentItem": 9}}
    # a controller joining does not get it
    second = join(pv, view, "EDITOR")
    assert second.recv_json()["type"] == "presence"


def test_a_viewer_of_a_view_without_state_gets_none(pv, view):
    viewer = join(pv, view, "VIEWER")
    assert viewer.recv_json()["type"] == "presence"


def test_late_join_state_can_be_turned_off(relay, view):
    server = relay(pv_config({"keepLatestState": False}))
    controller = join(server, view, "OWNER")
    controller.send_json({"type": "portal-view-update", "payload": {"currentItem": 2}})
    pong(controller)
    viewer = join(server, view, "VIEWER")
    assert viewer.recv_json() == {"type": "presence", "controllers": 1, "viewers": 1}
    viewer.assert_silent(0.3)


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    {"roleSource": "hook"},                                   # hook required
    {"roleSource": "magic"},
    {"claimm": "portalViews"},                                # unknown key
    {"stateTTL": 0},
    {"hook": {"url": "ftp://backend/authorize"}, "roleSource": "hook"},
    {"hook": {"url": "http://backend/authorize", "onFailure": "shrug"}, "roleSource": "hook"},
    {"controllerRoles": ["OWNER"], "viewerRoles": ["owner"]},
])
def test_bad_configuration_is_rejected_by_check(relay, config):
    server = relay(pv_config(config), start=False)
    result = run_cli("check", str(server.config_path))
    assert result.returncode != 0, result.stdout + result.stderr
    assert "plugins.portal.config" in result.stdout + result.stderr, result.stdout + result.stderr


# ---------------------------------------------------------------------------
# 7. Route files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("route_file", ["deploy/portal-view.yaml", "routes.yaml"])
def test_shipped_route_files_serve_portal_views(relay, view, route_file):
    server = relay((REPO / route_file).read_text(), env={"RELAY_API_KEY": API_KEY})
    controller = join(server, view, "EDITOR")
    viewer = join(server, view, "VIEWER")
    assert (controller.hello["role"], viewer.hello["role"]) == ("controller", "viewer")
    controller.send_json({"type": "portal-view-update", "payload": {"currentItem": 5}})
    assert next_msg(viewer, "portal-view-update")["payload"] == {"currentItem": 5}
    status, body = post(server, f"/api/portal-views/{view}/broadcast", {"payload": {"currentItem": 6}}, bearer())
    assert (status, body) == (200, {"delivered": 2})
    assert next_msg(viewer, "portal-view-update")["payload"] == {"currentItem": 6}
