"""The server API for the product's backend (issue 16, item 3; SPEC §3b): `POST
/api/server/disconnect`, `GET /api/server/clients`, `GET /api/server/info`, with the server API
key, on one relay and across two cluster nodes on a real PostgreSQL (also for a client whose node
was killed). Disconnected clients get the close code and reason asked for (default 1008
`revoked`), their plugins hear they left at once, and their resume tokens are void; bad calls get
their REST error, are counted, and leave every other client alone."""

from __future__ import annotations

import time


from cluster_helpers import Cluster, Roamer, settle
from relay_helpers import HOST, Pair, base_config, wait_until
from security_helpers import refusal_count, refusals

KEY = "server-api-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def api(server, method: str, path: str, body=None, headers=AUTH):
    return server.http_json(method, path, body, headers=headers)


def api_config() -> dict:
    return base_config(server={"logFormat": "json"})


def test_disconnect_by_user_closes_every_connection_ends_identities_and_leaves_others(relay, topic):
    server = relay(api_config(), env={"RELAY_API_KEY": KEY})
    pair = Pair(server, topic)
    watcher = server.connect("/ws")
    watcher.subscribe(topic + "-presence")
    alice_secure = server.connect("/ws/secure", sub="alice")
    alice_open = server.connect("/ws", sub="alice")
    alice_open.subscribe(topic + "-presence")
    watcher.expect("joined")
    bob = server.connect("/ws", sub="bob")
    status, body = api(server, "POST", "/api/server/disconnect", {"userId": "alice"})
    assert (status, body) == (200, {"disconnected": 2}), (status, body)
    for client in (alice_secure, alice_open):
        assert client.expect_close(timeout=3) == 1008 and client.close_reason == "revoked"
    # The plugins heard it at once (no resume grace): presence says alice left.
    left = watcher.expect("left", timeout=2)
    assert left["clientId"] == alice_open.client_id, left
    # The resume tokens are void.
    again = server.connect("/ws", sub="alice", query={"resume": alice_open.hello["resumeToken"], "lastSeen": 1})
    assert again.hello["resumed"] is False and again.hello["clientId"] != alice_open.client_id, again.hello
    bob.ping()
    pair.check()


def test_disconnect_by_client_with_a_code_and_reason(relay):
    server = relay(api_config(), env={"RELAY_API_KEY": KEY})
    first = server.connect("/ws", sub="carol")
    second = server.connect("/ws", sub="carol")
    status, body = api(server, "POST", "/api/server/disconnect", {"clientId": first.client_id, "code": 1000, "reason": "moved"})
    assert (status, body) == (200, {"disconnected": 1}), body
    assert first.expect_close(timeout=3) == 1000 and first.close_reason == "moved"
    second.ping()
    assert api(server, "POST", "/api/server/disconnect", {"clientId": "nobody"}) == (200, {"disconnected": 0})


def test_clients_and_info_on_one_relay(relay):
    server = relay(api_config(), env={"RELAY_API_KEY": KEY})
    before = time.time() * 1000
    secure = server.connect("/ws/secure", sub="dora")
    dropping = server.raw(server.target("/ws", token=server.token("dora")))
    dropping_id = dropping.expect("connected")["clientId"]
    server.connect("/ws", sub="eve")
    server.connect("/ws")
    after = time.time() * 1000
    status, body = api(server, "GET", "/api/server/clients?userId=dora")
    assert status == 200, body
    listed = sorted(body["clients"], key=lambda c: c["endpoint"])
    assert [c["clientId"] for c in listed] == [dropping_id, secure.client_id], listed
    assert [c["endpoint"] for c in listed] == ["/ws", "/ws/secure"]
    for entry in listed:
        assert entry["node"] is None and entry["connected"] is True and entry["codec"] == "json", entry
        assert before - 1000 <= entry["connectedAt"] <= after + 1000, (entry, before, after)
    assert api(server, "GET", "/api/server/clients?userId=nobody") == (200, {"clients": []})
    status, info = api(server, "GET", "/api/server/info")
    assert status == 200 and info["node"] is None, info
    assert info["connections"] == info["nodes"][0]["connections"] >= 4, info
    assert info["sessions"] == info["nodes"][0]["sessions"] >= 4, info
    # A dropped client waiting to resume is listed, not connected.
    dropping.abort()

    def waiting() -> list:
        return [c for c in api(server, "GET", "/api/server/clients?userId=dora")[1]["clients"] if not c["connected"]]

    dropped = wait_until(waiting, 3)
    assert dropped[0]["clientId"] == dropping_id and dropped[0]["connectedAt"] is None, dropped


BAD_CALLS = [
    ("POST", "/api/server/disconnect", "not json", 400, "bad_json"),
    ("POST", "/api/server/disconnect", [1, 2], 400, "invalid_message"),
    ("POST", "/api/server/disconnect", {}, 400, "invalid_message"),
    ("POST", "/api/server/disconnect", {"userId": "a", "clientId": "b"}, 400, "invalid_message"),
    ("POST", "/api/server/disconnect", {"userId": ""}, 400, "invalid_message"),
    ("POST", "/api/server/disconnect", {"userId": 7}, 400, "invalid_message"),
    ("POST", "/api/server/disconnect", {"userId": "a", "code": 4000}, 400, "invalid_message"),
    ("POST", "/api/server/disconnect", {"userId": "a", "code": "1008"}, 400, "invalid_message"),
    ("POST", "/api/server/disconnect", {"userId": "a", "reason": "x" * 124}, 400, "invalid_message"),
    ("POST", "/api/server/disconnect", "x" * 20000, 413, None),
    ("GET", "/api/server/clients", None, 400, "invalid_message"),
    ("GET", "/api/server/clients?userId=", None, 400, "invalid_message"),
]


def test_bad_calls_get_their_rest_error_and_are_counted(relay, topic):
    server = relay(api_config(), env={"RELAY_API_KEY": KEY})
    pair = Pair(server, topic)
    victim = server.connect("/ws", sub="a")
    before = {code: server.metric("relay_errors_total", code=code) for code in ("bad_json", "invalid_message")}
    for method, path, body, status, code in BAD_CALLS:
        got, answer = api(server, method, path, body)
        assert got == status, (method, path, body, got, answer)
        if code is not None:
            assert answer["error"]["code"] == code, (body, answer)
    assert server.metric("relay_errors_total", code="bad_json") - before["bad_json"] == 1
    assert server.metric("relay_errors_total", code="invalid_message") - before["invalid_message"] == 10
    victim.ping()
    pair.check()


def test_without_the_api_key_every_call_is_refused_logged_and_counted(relay):
    server = relay(api_config(), env={"RELAY_API_KEY": KEY})
    client = server.connect("/ws", sub="frank")
    calls = [("GET", "/api/server/info", None), ("GET", "/api/server/clients?userId=frank", None),
             ("POST", "/api/server/disconnect", {"userId": "frank"})]
    for headers in ({}, {"Authorization": "Bearer guess-zq81"}, {"X-API-Key": KEY[:-1]}, {"Authorization": KEY}):
        for method, path, body in calls:
            status, answer = api(server, method, path, body, headers=headers)
            assert status == 401 and answer["error"]["code"] == "unauthenticated", (headers, path, answer)
    assert refusal_count(server, "api_key") == 12
    lines = refusals(server, "api_key")
    assert len(lines) == 12 and lines[0]["url.path"] == "/api/server/info" and lines[0]["client.address"] == HOST, lines[0]
    assert all(KEY[:-1] not in str(line) and "guess-zq81" not in str(line) for line in lines), "the log must not carry keys"
    assert api(server, "GET", "/api/server/info", headers={"X-API-Key": KEY})[0] == 200
    client.ping()


def test_without_a_configured_key_the_api_is_closed(relay):
    server = relay(api_config())
    status, answer = api(server, "GET", "/api/server/info")
    assert status == 401 and "RELAY_API_KEY" in answer["error"]["message"], answer


# ---------------------------------------------------------------------------
# Across cluster nodes (PostgreSQL)
# ---------------------------------------------------------------------------


def test_disconnect_clients_and_info_work_across_two_nodes(cluster):
    nodes: Cluster = cluster(2, api_config(), env={"RELAY_API_KEY": KEY})
    a, b = nodes.a, nodes.b
    on_a = Roamer(a, token=a.token("grace"))
    on_b = Roamer(b, token=b.token("grace"))
    heidi = b.connect("/ws", sub="heidi")
    settle()
    # Listed on either node, each with its node.
    for server in (a, b):
        status, body = api(server, "GET", "/api/server/clients?userId=grace")
        assert status == 200 and "unreachableNodes" not in body, body
        assert sorted((c["clientId"], c["node"]) for c in body["clients"]) == sorted([(on_a.client_id, "a"), (on_b.client_id, "b")]), body
    status, info = api(b, "GET", "/api/server/info")
    assert status == 200 and info["node"] == "b", info
    assert sorted(n["node"] for n in info["nodes"]) == ["a", "b"], info
    by_node = {n["node"]: n for n in info["nodes"]}
    assert by_node["a"]["connections"] >= 1 and by_node["b"]["connections"] >= 2, info
    assert info["connections"] == by_node["a"]["connections"] + by_node["b"]["connections"]
    # Disconnected from node a: the client on node b is closed too.
    status, body = api(a, "POST", "/api/server/disconnect", {"userId": "grace"})
    assert (status, body) == (200, {"disconnected": 2}), body
    for roamer in (on_a, on_b):
        ending = roamer.ws.wait_end(5)
        assert (ending.kind, ending.code, ending.reason) == ("close", 1008, "revoked"), ending
    heidi.ping()
    # Their resume tokens are void on every node.
    for roamer, server in ((on_a, b), (on_b, a)):
        hello = Roamer(server, token=server.token("grace"), resume=roamer.hello["resumeToken"], lastSeen=0).hello
        assert hello["resumed"] is False and hello["clientId"] != roamer.client_id, hello


def test_disconnect_ends_the_identity_of_a_client_whose_node_died(cluster):
    nodes: Cluster = cluster(2, api_config(), env={"RELAY_API_KEY": KEY}, resume_grace=60)
    a, b = nodes.a, nodes.b
    orphan = Roamer(b, token=b.token("ivan"))
    settle()
    Cluster.kill9(b)
    # Node a reaps b after nodeTimeout; ivan's identity may still resume (grace 60 s)…
    wait_until(lambda: [n["node"] for n in api(a, "GET", "/api/server/info")[1]["nodes"]] == ["a"], 10)
    time.sleep(1.5)
    status, body = api(a, "POST", "/api/server/disconnect", {"userId": "ivan"})
    assert (status, body) == (200, {"disconnected": 1}), body
    # …until the disconnect: now its resume token is void.
    hello = Roamer(a, token=a.token("ivan"), resume=orphan.hello["resumeToken"], lastSeen=0).hello
    assert hello["resumed"] is False, hello
