"""Issue 16 over Socket.IO's HTTP long-polling (issue 15's second transport): origins matched by
component, refusals logged and counted, client addresses from trusted proxies only, token lifetime
(`token_expiring`, `refresh` answered by its ack) and the server API's disconnect. Real relay, real
HTTP; every bad input gets Engine.IO's documented refusal, is counted, and harms no other session.
"""

from __future__ import annotations

import json
import time

from engineio_polling import PollingSession, http_call, polling_target
from relay_helpers import HOST, b64url_decode
from security_helpers import refusal_count, refusals

KEY = "polling-test-api-key-0123456789"
SLOW = {"pingInterval": 5000, "pingTimeout": 5000, "connectTimeout": 5000}


def polling_security_config(**limits) -> dict:
    endpoints = [
        {"path": "/socket.io/", "codec": "socketio", "auth": "optional", "socketio": SLOW,
         "limits": {"allowedOrigins": ["http://127.0.0.1:*", "https://*.example.com"], **limits}},
        {"path": "/secure.io/", "codec": "socketio", "auth": "required", "socketio": SLOW},
    ]
    return {
        "server": {"host": HOST, "logFormat": "json", "trustedProxies": ["127.0.0.1/32"]},
        "auth": {"leeway": 0, "refreshWindow": 60},
        "limits": {"messagesPerSecond": 0},
        "endpoints": endpoints,
        "plugins": {"echo": {"plugin": "echo"}},
        "routes": [{"endpoint": e["path"], "type": t, "plugin": "echo"}
                   for e in endpoints for t in ("message", "message-with-ack")],
    }


def connected(server, path: str = "/socket.io/", payload: str = "", headers: dict | None = None) -> PollingSession:
    """A polling session with the main namespace connected."""
    session = PollingSession(server.port, path, headers=headers, server=server)
    session.send("40" + payload)
    got = session.packets_until(lambda got: len(got) >= 2)
    assert got[0].startswith("40{"), got
    return session


def roundtrip(session: PollingSession, text: str) -> None:
    session.send(f'42["message","{text}"]')
    assert session.packets_until(lambda got: len(got) >= 1) == [f'42["message-back","{text}"]']


def exp_ms(token: str) -> int:
    return json.loads(b64url_decode(token.split(".")[1]))["exp"] * 1000


HOSTILE = ["http://127.0.0.1:8080.evil.example", "http://127.0.0.1:80@evil.example", "https://example.com.evil.net",
           "https://evilexample.com", "null", "http://127.0.0.1:" + "9" * 5000]


def test_hostile_origins_on_long_polling_are_refused_logged_counted_and_others_unharmed(relay):
    server = relay(polling_security_config())
    victim = connected(server, headers={"Origin": "http://127.0.0.1:5173"})
    for origin in HOSTILE:
        reply = http_call(server.port, "GET", polling_target(), headers={"Origin": origin})
        assert reply.status == 403 and reply.error_code() == 4, (origin[:60], reply.status, reply.body)
        assert "access-control-allow-origin" not in reply.headers
    # The session's own requests from a hostile origin are refused the same way.
    reply = victim.call("POST", '42["message","x"]', headers={"Origin": HOSTILE[0]}).run()
    assert reply.status == 403 and reply.error_code() == 4
    assert refusal_count(server, "origin") == len(HOSTILE) + 1
    lines = refusals(server, "origin")
    assert lines[0]["url.path"] == "/socket.io/" and lines[0]["http.request.header.origin"] == HOSTILE[0], lines[0]
    assert lines[0]["client.address"] == HOST, lines[0]
    assert len(lines[-2]["http.request.header.origin"]) < 300, "a long origin is clipped in the log"
    allowed = http_call(server.port, "GET", polling_target(), headers={"Origin": "https://cam.example.com"})
    assert allowed.status == 200 and allowed.headers["access-control-allow-origin"] == "https://cam.example.com"
    roundtrip(victim, "unharmed")


def test_long_polling_sessions_count_per_forwarded_address(relay):
    server = relay(polling_security_config(connectionsPerIP=1))
    first = connected(server, headers={"X-Forwarded-For": "198.51.100.7"})
    refused = http_call(server.port, "GET", polling_target(), headers={"X-Forwarded-For": "198.51.100.7"})
    assert refused.status == 403 and refused.error_code() == 4, (refused.status, refused.body)
    other = connected(server, headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.8"})
    assert refusal_count(server, "ip_limit") == 1
    line = refusals(server, "ip_limit")[0]
    assert line["client.address"] == "198.51.100.7" and line["url.path"] == "/socket.io/", line
    roundtrip(first, "first")
    roundtrip(other, "other")


def test_a_connect_refused_over_long_polling_is_logged_and_counted(relay):
    server = relay(polling_security_config())
    session = PollingSession(server.port, "/secure.io/", server=server)
    session.send("40")
    assert session.packets_until(bool)[0].startswith("44{")
    session.send('40{"token":"not-a-jwt"}')
    assert session.packets_until(bool)[0].startswith("44{")
    assert refusal_count(server, "auth_required") == 1 and refusal_count(server, "token") == 1
    assert refusals(server, "token")[0]["relay.refusal.detail"] == "malformed token"
    # The session waits for a CONNECT that works.
    session.send('40{"token":"%s"}' % server.token("carol"))
    assert session.packets_until(bool)[0].startswith("40{")
    roundtrip(session, "retried")


def test_token_expiring_and_refresh_by_ack_over_long_polling(relay):
    server = relay(polling_security_config())
    short = server.token("dave", ttl=3)
    session = connected(server, "/secure.io/", '{"token":"%s"}' % short)
    warning = session.packets_until(lambda got: any("token_expiring" in p for p in got), timeout=3)
    assert f'42["token_expiring",{{"type":"token_expiring","expiresAt":{exp_ms(short)}}}]' in warning, warning
    errors = server.metric("relay_errors_total", code="forbidden")
    session.send('421["refresh",{"token":"%s"}]' % server.token("erin"))
    answer = session.packets_until(bool)
    assert answer[0].startswith("431[") and json.loads(answer[0][3:])[0]["code"] == "forbidden", answer
    assert server.metric("relay_errors_total", code="forbidden") == errors + 1
    fresh = server.token("dave", ttl=3600)
    session.send('422["refresh",{"token":"%s"}]' % fresh)
    answer = session.packets_until(bool)
    assert answer == [f'432[{{"type":"refreshed","expiresAt":{exp_ms(fresh)}}}]'], answer
    time.sleep(max(0.0, exp_ms(short) / 1000 - time.time()) + 1.2)
    roundtrip(session, "after-exp")


def test_the_server_api_lists_and_disconnects_long_polling_clients(relay):
    server = relay(polling_security_config(), env={"RELAY_API_KEY": KEY})
    session = connected(server, "/secure.io/", '{"token":"%s"}' % server.token("frank"))
    bystander = connected(server, "/secure.io/", '{"token":"%s"}' % server.token("grace"))
    headers = {"X-API-Key": KEY}
    status, body = server.http_json("GET", "/api/server/clients?userId=frank", None, None, headers)
    assert status == 200 and [c["endpoint"] for c in body["clients"]] == ["/secure.io/"], body
    status, body = server.http_json("POST", "/api/server/disconnect", {"userId": "frank"}, None, headers)
    assert (status, body) == (200, {"disconnected": 1})
    got = session.packets_until(lambda got: bool(got) and got[-1] in ("1", "41"), timeout=5)
    assert got[-1] in ("1", "41"), got
    status, body = server.http_json("GET", "/api/server/clients?userId=frank", None, None, headers)
    assert status == 200 and body["clients"] == [], body
    roundtrip(bystander, "unharmed")
