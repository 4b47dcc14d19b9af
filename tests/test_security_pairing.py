"""Pairing codes cannot be guessed at speed (issue 16, item 7): failed joins (unknown, expired or
already paired codes) are limited per client address across REST and WebSocket (default 10 per
minute), then HTTP 429 / `rate_limited` with a retry time, counted, on one relay and across
cluster nodes. Real relays, real sockets; other addresses and their pairings are unharmed."""

from __future__ import annotations

import json
import random
import time

from cluster_helpers import Cluster, cam_config
from relay_helpers import HOST, deep_merge
from security_helpers import refusal_count, refusals

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def guess() -> str:
    return "".join(random.choice(ALPHABET) for _ in range(6))


def config(**plugin) -> dict:
    cfg = cam_config(**plugin)
    return deep_merge(cfg, {"server": {"logFormat": "json", "trustedProxies": ["127.0.0.1/32"]}})


def rest_join(server, code: str, address: str | None = None):
    headers = {"X-Forwarded-For": address} if address else {}
    return server.http_request("POST", f"/cam/join/{code}", headers=headers)


def test_rest_and_websocket_failures_share_one_limit_then_429_with_a_retry_time(relay):
    server = relay(config())
    phone = server.connect("/ws")
    for _ in range(6):
        status, _, _ = rest_join(server, guess())
        assert status == 404
    for _ in range(4):
        phone.send_json({"type": "cam-join", "code": guess()})
        assert phone.expect("error")["code"] == "not_found"
    # The 11th attempt, over either way, is refused before the code is even looked at.
    status, headers, body = rest_join(server, guess())
    assert status == 429, body
    error = json.loads(body)["error"]
    assert error["code"] == "rate_limited" and 1 <= error["retryAfter"] <= 60, error
    assert 1 <= int(headers["retry-after"]) <= 60, headers
    phone.send_json({"type": "cam-join", "code": guess()})
    refused = phone.expect("error")
    assert refused["code"] == "rate_limited" and refused["ref"] == "cam-join" and 1 <= refused["retryAfter"] <= 60, refused
    # Even a live code is refused to this address now.
    desktop = server.connect("/ws")
    desktop.send_json({"type": "cam-create"})
    code = desktop.expect("cam-code")["code"]
    assert rest_join(server, code)[0] == 429
    assert server.metric("relay_failed_attempts_total", plugin="cameras", attempt="join") == 10
    assert refusal_count(server, "too_many_failures") == 3
    line = refusals(server, "too_many_failures")[0]
    assert line["client.address"] == HOST and "join" in line["relay.refusal.detail"], line
    assert server.metric("relay_errors_total", code="rate_limited") >= 3
    # Another address pairs with that code as usual.
    status, _, body = rest_join(server, code, address="198.51.100.20")
    assert status == 200, body
    desktop.expect("cam-peer-joined")


def test_guessing_at_speed_gets_ten_answers_then_only_429(relay):
    server = relay(config())
    started = time.monotonic()
    statuses = [rest_join(server, guess(), address="203.0.113.50")[0] for _ in range(600)]
    elapsed = time.monotonic() - started
    assert statuses.count(404) == 10 and statuses.count(429) == 590, {s: statuses.count(s) for s in set(statuses)}
    assert statuses[:10] == [404] * 10
    print(f"600 guesses from one address: 10 answered 404, 590 answered 429, in {elapsed:.2f} s")


def test_the_limit_ends_with_its_window_and_successes_do_not_count(relay):
    server = relay(config(joinFailures=3, joinFailureWindow=2))
    desktop = server.connect("/ws")
    for _ in range(2):
        desktop.send_json({"type": "cam-create"})
        code = desktop.recv_until(lambda m: m.get("type") == "cam-code")["code"]
        assert rest_join(server, code)[0] == 200  # successes are free
    for _ in range(3):
        assert rest_join(server, guess())[0] == 404
    assert rest_join(server, guess())[0] == 429
    time.sleep(2.2)
    assert rest_join(server, guess())[0] == 404


def test_malformed_joins_are_answered_and_not_counted_as_guesses(relay):
    server = relay(config(joinFailures=2))
    phone = server.connect("/ws")
    phone.send_json({"type": "cam-join"})
    assert phone.expect("error")["code"] == "invalid_message"
    phone.send_json({"type": "cam-join", "code": 12})
    assert phone.expect("error")["code"] == "invalid_message"
    assert server.metric("relay_failed_attempts_total", plugin="cameras", attempt="join") == 0
    phone.ping()


def test_the_limit_is_shared_by_the_nodes_of_a_cluster(cluster):
    nodes: Cluster = cluster(2, config(joinFailures=4))
    for server in (nodes.a, nodes.b, nodes.a, nodes.b):
        assert rest_join(server, guess())[0] == 404
    assert rest_join(nodes.a, guess())[0] == 429
    assert rest_join(nodes.b, guess())[0] == 429
    # Another address, on either node, is not limited.
    assert rest_join(nodes.b, guess(), address="198.51.100.30")[0] == 404
