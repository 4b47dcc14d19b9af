"""Client addresses behind reverse proxies (issue 16, item 4; SPEC §3b): `server.trustedProxies`.
Only when the TCP peer is a trusted proxy are `X-Forwarded-For` / `Forwarded` (the rightmost
untrusted hop) and `X-Forwarded-Proto` believed; per-IP connection limits, refusal logs and
plugins' REST requests then use that address. Tested over real sockets with the proxy trusted,
untrusted, and with spoofed headers."""

from __future__ import annotations

from relay_helpers import HOST, base_config
from security_helpers import refusal_count, refusals

FULL = "too many connections from this address"


def proxy_config(trusted: list[str] | None) -> dict:
    server = {"logFormat": "json"}
    if trusted is not None:
        server["trustedProxies"] = trusted
    cfg = base_config(server=server, limits={"connectionsPerIP": 1})
    cfg["plugins"]["tokens"] = {"plugin": "dev-tokens", "config": {"path": "/dev/token"}}
    return cfg


def open_ws(server, headers: dict[str, str]):
    """A raw client through the 'proxy' (this test) with forwarding headers; its connected frame,
    or the close that refused it."""
    ws = server.raw("/ws/open/room", headers=headers)
    try:
        return ws, ws.expect("connected", ignore=("joined",))
    except AssertionError as refused:
        return ws, refused


def is_refused(result) -> bool:
    from relay_helpers import Closed
    _, outcome = result
    return isinstance(outcome, Closed) and outcome.code == 1008 and outcome.reason == FULL


def test_a_trusted_proxy_forwards_client_addresses_and_the_limit_counts_them(relay):
    server = relay(proxy_config(["127.0.0.1/32", "10.0.0.0/8"]))
    first = open_ws(server, {"X-Forwarded-For": "203.0.113.5"})
    second = open_ws(server, {"X-Forwarded-For": "203.0.113.6"})
    assert not is_refused(first) and not is_refused(second), (first, second)
    # The same client again, through a chain of trusted proxies: over its limit.
    third = open_ws(server, {"X-Forwarded-For": "203.0.113.5, 10.1.2.3"})
    assert is_refused(third), third
    # Forwarded (RFC 7239) when there is no X-Forwarded-For, IPv6 with a port.
    v6 = open_ws(server, {"Forwarded": 'for="[2001:db8::17]:4711";proto=https, for=10.9.9.9'})
    v6_again = open_ws(server, {"Forwarded": 'for="[2001:db8::17]"'})
    assert not is_refused(v6) and is_refused(v6_again), (v6, v6_again)
    lines = refusals(server, "ip_limit")
    assert [line["client.address"] for line in lines] == ["203.0.113.5", "2001:db8::17"], lines
    assert refusal_count(server, "ip_limit") == 2


def test_addresses_a_client_writes_itself_are_not_believed(relay):
    server = relay(proxy_config(["127.0.0.1/32"]))
    # The proxy (trusted) appended the address it saw; what the client wrote is to its left.
    spoofed = open_ws(server, {"X-Forwarded-For": "198.51.100.1, 192.0.2.44"})
    again = open_ws(server, {"X-Forwarded-For": "198.51.100.2, 192.0.2.44"})
    assert not is_refused(spoofed) and is_refused(again), (spoofed, again)
    assert refusals(server, "ip_limit")[-1]["client.address"] == "192.0.2.44"
    # A hop that is no address ends the walk at the proxy itself.
    garbage = open_ws(server, {"X-Forwarded-For": "unknown"})
    garbage_again = open_ws(server, {"X-Forwarded-For": "_hidden, not-an-ip"})
    assert not is_refused(garbage) and is_refused(garbage_again), (garbage, garbage_again)
    assert refusals(server, "ip_limit")[-1]["client.address"] == HOST


def test_an_untrusted_peer_cannot_choose_its_address(relay):
    for trusted in (None, ["10.0.0.0/8"]):
        server = relay(proxy_config(trusted))
        first = open_ws(server, {"X-Forwarded-For": "203.0.113.5", "Forwarded": "for=203.0.113.5"})
        second = open_ws(server, {"X-Forwarded-For": "203.0.113.6", "Forwarded": "for=203.0.113.6"})
        assert not is_refused(first) and is_refused(second), (trusted, first, second)
        line = refusals(server, "ip_limit")[-1]
        assert line["client.address"] == HOST and "url.scheme" not in line, line
        # The client that got its place is unharmed.
        ws, _ = first
        ws.send_json({"type": "ping"})
        assert ws.expect("pong")["type"] == "pong"


def test_refusal_logs_carry_the_forwarded_address_and_scheme_only_from_a_trusted_proxy(relay):
    trusted = relay(proxy_config(["127.0.0.1/32"]))
    untrusted = relay(proxy_config([]))
    headers = {"Origin": "https://evil.example", "X-Forwarded-For": "203.0.113.77", "X-Forwarded-Proto": "https"}
    for server in (trusted, untrusted):
        answer = server.raw("/ws", headers=headers, expect_status=None)
        assert answer.status == 403
    line = refusals(trusted, "origin")[-1]
    assert line["client.address"] == "203.0.113.77" and line["url.scheme"] == "https", line
    line = refusals(untrusted, "origin")[-1]
    assert line["client.address"] == HOST and "url.scheme" not in line, line


def test_plugins_rest_requests_see_the_forwarded_address(relay):
    # dev-tokens answers the relay's own machine only: a remote client behind a local proxy is
    # remote, not loopback.
    server = relay(proxy_config(["127.0.0.1/32"]))
    status, body = server.http_json("POST", "/dev/token", {"sub": "x"}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 403 and body["error"]["code"] == "forbidden", body
    status, body = server.http_json("POST", "/dev/token", {"sub": "x"})
    assert status == 200 and "token" in body, body
    # Without the proxy trusted, the header changes nothing.
    plain = relay(proxy_config(None))
    status, body = plain.http_json("POST", "/dev/token", {"sub": "x"}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 200, body


def test_relay_check_refuses_networks_that_are_not_cidr(tmp_path):
    from relay_helpers import dump_yaml, run_cli
    cfg = proxy_config(["10.0.0.0/8", "10.0.0.0/33", "fd00::/129", "not-an-ip", "10.0.0/8", "::1"])
    (tmp_path / "r.yaml").write_text(dump_yaml(cfg))
    result = run_cli("check", "r.yaml", cwd=tmp_path)
    assert result.returncode == 1
    for bad in ("10.0.0.0/33", "fd00::/129", "not-an-ip", "10.0.0/8"):
        assert f"'{bad}' is not an IP address or CIDR network" in result.stderr, (bad, result.stderr)
    assert "'::1' is not" not in result.stderr and "'10.0.0.0/8' is not" not in result.stderr
