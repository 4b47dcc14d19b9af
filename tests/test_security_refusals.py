"""Diagnosable refusals (issue 16, item 5): every refused upgrade, connection or request logs
one WARN line (`request refused`) with the reason, path, origin, client address and (where
known) user, and counts `relay_refusals_total{reason}`; HTTP refusals say in their body which
check failed. `relay serve` refuses to start (and SIGHUP to reload) a route file whose endpoints
verify tokens with no key configured, naming the endpoint and the variables; `relay check` warns.
Real relays, real sockets."""

from __future__ import annotations

import signal
import subprocess
import time

from raw_ws_helpers import http_upgrade
from relay_helpers import (HOST, RELAY_BIN, SECRET, Pair, base_config, claims_for, dump_yaml, jwt_encode, relay_env, run_cli,
                           wait_until)
from security_helpers import json_logs, refusal_count, refusals


def refusal_config(**limits) -> dict:
    cfg = base_config(server={"logFormat": "json", "maxConnections": 50}, limits=limits)
    return cfg


def test_each_refusal_is_logged_once_with_its_context_and_counted(relay, topic):
    server = relay(refusal_config(connectionsPerUser=1))
    pair = Pair(server, topic)
    origin = "http://localhost:3000"
    # HTTP refusals of upgrades: the body names the check.
    answer = http_upgrade(server.port, "/nowhere", headers={"Origin": origin})
    assert answer.status == 404 and answer.body == b"no WebSocket endpoint at this path\n", answer
    answer = http_upgrade(server.port, "/ws", headers={"Sec-WebSocket-Version": "8"})
    assert answer.status == 426 and b"version 13" in answer.body, answer
    answer = http_upgrade(server.port, "/ws", headers={"Sec-WebSocket-Key": "short"})
    assert answer.status == 400 and b"Sec-WebSocket-Key" in answer.body, answer
    # Refused connections: a bad token, a message before auth, too many connections for a user.
    bad = server.raw(server.target("/ws/secure", token="not-a-token"), headers={"Origin": origin})
    assert bad.wait_end(3).code == 1008
    early = server.raw("/ws/secure")
    early.send_json({"type": "ping"})
    assert early.wait_end(3).code == 1008
    alice = server.connect("/ws/secure", sub="alice")
    second = server.raw(server.target("/ws/secure", token=server.token("alice")), headers={"Origin": origin})
    ending = second.wait_end(3)
    assert (ending.code, ending.reason) == (1008, "too many connections for this user"), ending
    silent = server.raw("/ws/secure")
    assert silent.wait_end(4).reason == "authentication timed out"
    expected = {"unknown_path": 1, "unsupported_version": 1, "malformed_upgrade": 1, "token": 1,
                "auth_required": 1, "user_limit": 1, "auth_timeout": 1}
    for reason, count in expected.items():
        assert refusal_count(server, reason) == count, reason
        lines = refusals(server, reason)
        assert len(lines) == count, (reason, lines)
        assert lines[0]["client.address"] == HOST and lines[0]["relay.refusal.detail"], lines[0]
    assert refusals(server, "unknown_path")[0]["url.path"] == "/nowhere"
    assert refusals(server, "unknown_path")[0]["http.request.header.origin"] == origin
    token_line = refusals(server, "token")[0]
    assert token_line["url.path"] == "/ws/secure" and token_line["http.request.header.origin"] == origin, token_line
    assert token_line["relay.refusal.detail"] == "malformed token" and "not-a-token" not in str(token_line), token_line
    user_line = refusals(server, "user_limit")[0]
    assert user_line["enduser.id"] == "alice", user_line
    # Nobody else noticed, and the old HummingbirdWebSocket message is gone for good.
    alice.ping()
    pair.check()
    assert not any("Inappropriate operation" in str(line) for line in json_logs(server))


def test_capacity_and_join_refusals_are_logged(relay):
    cfg = refusal_config()
    cfg["server"]["maxConnections"] = 2
    cfg["endpoints"].append({"path": "/ws/view/:portalViewId", "codec": "json", "auth": "required"})
    cfg["plugins"]["portal"] = {"plugin": "portal-view", "config": {}}
    cfg["routes"].append({"endpoint": "/ws/view/:portalViewId", "type": "portal-view-update", "plugin": "portal"})
    server = relay(cfg)
    # The portal-view plugin refuses a token with no role for the view.
    stranger = server.raw(server.target("/ws/view/pv1", token=server.token("mallory")))
    assert stranger.wait_end(3).code == 1008
    line = refusals(server, "join_refused")[0]
    assert line["enduser.id"] == "mallory" and line["url.path"] == "/ws/view/:portalViewId", line
    stranger.close()
    wait_until(lambda: server.metric("relay_connections_active") == 0, 3)
    first, second = server.connect("/ws"), server.connect("/ws")
    third = server.raw("/ws")
    assert third.wait_end(3).code == 1013
    assert refusal_count(server, "capacity") == 1 and refusals(server, "capacity")
    first.ping()
    second.ping()


def keyless(auth_mode: str = "optional") -> dict:
    return {
        "server": {"host": HOST},
        "endpoints": [{"path": "/ws", "codec": "json", "auth": "none"},
                      {"path": "/ws/members", "codec": "json", "auth": auth_mode}],
        "plugins": {"chat": {"plugin": "pubsub"}},
        "routes": [{"endpoint": "/ws", "type": "publish", "plugin": "chat"},
                   {"endpoint": "/ws/members", "type": "publish", "plugin": "chat"}],
    }


def serve(tmp_path, cfg: dict, env: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "r.yaml").write_text(dump_yaml(cfg))
    return subprocess.run([str(RELAY_BIN), "serve", "--config", "r.yaml", "--port", "0"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=20)


def test_serve_refuses_endpoints_that_verify_tokens_without_keys(tmp_path):
    for mode in ("optional", "required"):
        result = serve(tmp_path, keyless(mode), relay_env(secret=None))
        assert result.returncode == 1, result.stderr
        assert f"endpoints[1].auth: endpoint /ws/members has auth: {mode} but no token key is configured" in result.stderr, result.stderr
        for variable in ("RELAY_JWT_SECRET", "RELAY_AUTH_JWT_SECRET_FILE", "RELAY_JWKS_FILE", "auth: none"):
            assert variable in result.stderr, (variable, result.stderr)
        assert result.stderr.count("has auth:") == 1, result.stderr


def test_serve_starts_when_a_key_source_exists(relay, tmp_path):
    (tmp_path / "secret.txt").write_text(SECRET)
    with_file = keyless()
    with_file["auth"] = {"jwtSecretFile": str(tmp_path / "secret.txt")}
    assert relay(with_file, secret=None).alive()
    assert relay(keyless(), secret=SECRET).alive()
    only_none = keyless()
    only_none["endpoints"][1]["auth"] = "none"
    assert relay(only_none, secret=None).alive()


def test_check_warns_where_the_secrets_are_not(tmp_path):
    (tmp_path / "r.yaml").write_text(dump_yaml(keyless()))
    result = run_cli("check", "r.yaml", env=relay_env(secret=None), cwd=tmp_path)
    assert result.returncode == 0 and "warning: endpoints[1].auth: endpoint /ws/members has auth: optional" in result.stderr, result.stderr
    assert run_cli("check", "--strict", "r.yaml", env=relay_env(secret=None), cwd=tmp_path).returncode == 1
    quiet = run_cli("check", "--strict", "r.yaml", env=relay_env(), cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr


def test_a_reload_that_would_leave_endpoints_without_keys_is_refused(relay, tmp_path):
    (tmp_path / "secret.txt").write_text(SECRET)
    cfg = keyless("required")
    cfg["auth"] = {"jwtSecretFile": str(tmp_path / "secret.txt")}
    server = relay(cfg, secret=None)
    client = server.connect("/ws/members", token=jwt_encode(claims_for("alice")))
    del cfg["auth"]
    server.write_config(cfg)
    server.signal(signal.SIGHUP)
    wait_until(lambda: "no token key is configured" in server.logs(), 5, message="the refused reload was not logged")
    # The old routes and keys stay: a token still connects.
    time.sleep(0.3)
    assert server.connect("/ws/members", token=jwt_encode(claims_for("bob"))).hello["resumed"] is False
    client.ping()
