"""Origin allow-lists matched by component (issue 16, item 1): real upgrades over real sockets
against a running relay with hostile `Origin` values (suffix, prefix, userinfo, paths, case,
trailing dot, IDN/punycode, `null`, very long values, two headers), each refused with HTTP 403
whose body names the failed check, logged once and counted in `relay_refusals_total{reason}`,
while the clients already connected carry on. CORS on the REST API uses the same matching, and
`relay check` refuses patterns that are not of the documented form."""

from __future__ import annotations

import socket
import time

import pytest

from engineio_polling import shared_relay
from raw_ws_helpers import http_upgrade, read_http_answer, upgrade_request
from relay_helpers import HOST, Pair, base_config, dump_yaml, run_cli
from security_helpers import refusal_count, refusals

ALLOWED = [
    "http://127.0.0.1:*",
    "http://localhost:*",
    "https://*.example.com",
    "https://app.example.org",
    "http://[::1]:*",
    "https://xn--bcher-kva.example",
]


def origin_config() -> dict:
    cfg = base_config(limits={"allowedOrigins": ALLOWED}, server={"logFormat": "json"})
    cfg["endpoints"].append({"path": "/ws/sandboxed", "codec": "json", "auth": "none",
                             "limits": {"allowedOrigins": ["null"]}})
    cfg["routes"].append({"endpoint": "/ws/sandboxed", "type": "publish", "plugin": "chat"})
    return cfg


_origin_relay, srv = shared_relay("srv", origin_config)


# Each is refused: (origin, what the 403 body must say).
HOSTILE = [
    # a host that only starts or ends like an allowed one
    ("http://127.0.0.1:8080.evil.example", "scheme://host[:port]"),
    ("http://localhost.evil.example:8080", "allowedOrigins"),
    ("https://example.com.evil.net", "allowedOrigins"),
    ("https://app.example.org.evil.net", "allowedOrigins"),
    ("https://a.example.com.evil.net", "allowedOrigins"),
    ("https://evilexample.com", "allowedOrigins"),
    ("https://evil-app.example.org", "allowedOrigins"),
    ("http://evil127.0.0.1:8080", "allowedOrigins"),
    # the wildcard's own domain is not one of its subdomains
    ("https://example.com", "allowedOrigins"),
    # userinfo, paths, queries, fragments
    ("http://127.0.0.1:80@evil.example", "scheme://host[:port]"),
    ("http://user@localhost:8080", "scheme://host[:port]"),
    ("https://evil.example@app.example.org", "scheme://host[:port]"),
    ("http://localhost:8080/", "scheme://host[:port]"),
    ("http://localhost:8080/path", "scheme://host[:port]"),
    ("http://localhost:8080?x=1", "scheme://host[:port]"),
    ("http://localhost:8080#top", "scheme://host[:port]"),
    ("http://localhost:8080\\@evil.example", "scheme://host[:port]"),
    # a trailing dot is another name
    ("http://localhost.:8080", "scheme://host[:port]"),
    ("https://app.example.org.", "scheme://host[:port]"),
    # case does not smuggle a suffix through
    ("HTTPS://APP.EXAMPLE.ORG.EVIL.NET", "allowedOrigins"),
    # IDN: only the punycode form names a host; raw UTF-8 is malformed
    ("https://bücher.example".encode().decode("latin-1"), "scheme://host[:port]"),
    ("https://xn--bcher-kva.example.evil", "allowedOrigins"),
    # ports: digits only, at most 65535, not empty, not the pattern's star
    ("http://127.0.0.1:*", "scheme://host[:port]"),
    ("http://localhost:+80", "scheme://host[:port]"),
    ("http://localhost:99999", "scheme://host[:port]"),
    ("http://localhost:", "scheme://host[:port]"),
    ("http://[::1]x:80", "scheme://host[:port]"),
    # another scheme
    ("ws://localhost:8080", "allowedOrigins"),
    ("https://localhost:8080", "allowedOrigins"),
    # null is refused unless a list says null
    ("null", "allowedOrigins"),
    ("NULL", "scheme://host[:port]"),
    # very long values
    ("http://" + "a" * 5000 + ".localhost:8080", "scheme://host[:port]"),
    ("http://localhost:" + "9" * 5000, "scheme://host[:port]"),
    ("https://" + ".".join(["a"] * 200) + ".example.com", "scheme://host[:port]"),
]

ACCEPTED = [
    "http://127.0.0.1:5173",
    "http://localhost",
    "http://localhost:80",
    "HTTP://LocalHost:8080",
    "https://a.example.com",
    "https://a.b.example.com",
    "https://app.example.org",
    "https://app.example.org:443",
    "https://APP.EXAMPLE.ORG",
    "http://[::1]:3000",
    "https://xn--bcher-kva.example",
]


def test_hostile_origins_are_refused_with_403_logged_counted_and_others_unharmed(srv, topic):
    pair = Pair(srv, topic)
    before = refusal_count(srv, "origin")
    logged = len(refusals(srv, "origin"))
    for origin, says in HOSTILE:
        answer = http_upgrade(srv.port, "/ws", headers={"Origin": origin})
        assert answer.status == 403, (origin, answer.status, answer.body)
        body = answer.body.decode()
        assert body.startswith("origin refused") and says in body, (origin, body)
        assert origin not in body, "the 403 body must not echo the origin"
    pair.check()
    srv.wait_metric("relay_refusals_total", lambda v: v == before + len(HOSTILE), reason="origin")
    lines = refusals(srv, "origin")[logged:]
    assert len(lines) == len(HOSTILE), lines[-3:]
    first = lines[0]
    assert first["url.path"] == "/ws" and first["client.address"] == HOST, first
    assert first["http.request.header.origin"] == HOSTILE[0][0], first
    assert first["relay.refusal.detail"].startswith("origin refused"), first
    # Client-chosen values are clipped in the log.
    assert all(len(line.get("http.request.header.origin", "")) <= 260 for line in lines)


@pytest.mark.parametrize("origin", ACCEPTED)
def test_allowed_origins_upgrade(srv, origin):
    client = srv.connect("/ws", origin=origin)
    assert client.ping()["type"] == "pong"


def test_null_is_accepted_only_where_the_list_says_null(srv):
    assert http_upgrade(srv.port, "/ws/sandboxed", headers={"Origin": "null"}).status == 101
    assert http_upgrade(srv.port, "/ws/sandboxed", headers={"Origin": "http://localhost:8080"}).status == 403
    assert http_upgrade(srv.port, "/ws", headers={"Origin": "null"}).status == 403


def test_two_origin_headers_are_refused(srv):
    request, _ = upgrade_request(srv.port, "/ws", headers={"Origin": "http://localhost:8080"})
    request = request.replace(b"\r\n\r\n", b"\r\nOrigin: http://evil.example\r\n\r\n")
    with socket.create_connection((HOST, srv.port), timeout=5) as sock:
        sock.sendall(request)
        answer, _ = read_http_answer(sock)
    assert answer.status == 403 and b"more than one Origin" in answer.body, (answer.status, answer.body)


def test_requests_without_origin_are_not_affected(srv):
    assert http_upgrade(srv.port, "/ws").status == 101


def test_cors_uses_the_same_matching(srv):
    evil = {"Origin": "http://127.0.0.1:8080.evil.example", "Access-Control-Request-Method": "POST"}
    status, headers, _ = srv.http_request("OPTIONS", "/healthz", headers=evil)
    assert "access-control-allow-origin" not in headers, (status, headers)
    good = {"Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "POST"}
    status, headers, _ = srv.http_request("OPTIONS", "/healthz", headers=good)
    assert status == 204 and headers.get("access-control-allow-origin") == "http://127.0.0.1:8080", (status, headers)


def test_a_refused_upgrade_costs_little_even_when_long(srv):
    started = time.monotonic()
    for _ in range(20):
        assert http_upgrade(srv.port, "/ws", headers={"Origin": "http://" + "b" * 60000 + ".localhost:1"}).status == 403
    assert time.monotonic() - started < 10


BAD_PATTERNS = [
    "http://*:8080",               # a wildcard host of no domain
    "http://local*:8080",          # a star inside a label
    "https://*example.com",        # a star that is not a whole label
    "https://a.*.example.com",     # a star that is not the first label
    "http://localhost:8*",         # a port that is not digits or a lone star
    "http://localhost/",           # a path
    "http://user@localhost",       # userinfo
    "https://bücher.example",      # IDN not in its xn-- form
    "http://*.0.0.1:*",            # a wildcard over an IP address
    "http://localhost.",           # a trailing dot
    "localhost:8080",              # no scheme
]


def test_relay_check_refuses_patterns_that_are_not_of_the_form(tmp_path):
    cfg = base_config(limits={"allowedOrigins": ["http://localhost:*"] + BAD_PATTERNS})
    (tmp_path / "r.yaml").write_text(dump_yaml(cfg))
    result = run_cli("check", "r.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for pattern in BAD_PATTERNS:
        assert f"'{pattern}' is not an origin pattern" in result.stderr, (pattern, result.stderr)
    assert "'http://localhost:*' is not" not in result.stderr


def test_relay_check_warns_about_a_star_that_admits_every_origin(tmp_path):
    cfg = base_config(limits={"allowedOrigins": ["*"]})
    (tmp_path / "r.yaml").write_text(dump_yaml(cfg))
    result = run_cli("check", "r.yaml", cwd=tmp_path)
    assert result.returncode == 0 and "warning: limits.allowedOrigins: '*' lets every web site" in result.stderr, result.stderr
    assert run_cli("check", "--strict", "r.yaml", cwd=tmp_path).returncode == 1
