"""Operations: health, metrics, SIGHUP / `relay reload`, SIGTERM drain, JSON logs (SPEC §2)."""

from __future__ import annotations

import json
import signal
import time

import pytest

from relay_helpers import base_config, dump_yaml, run_cli, wait_until

METRIC_FAMILIES = ("relay_connections_active", "relay_messages_in_total", "relay_messages_out_total",
                   "relay_drops_total", "relay_errors_total", "relay_delivery_latency_seconds")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints(srv, path):
    status, _, _ = srv.http_get(path)
    assert status == 200


def test_metrics_exposes_the_documented_families(srv, topic):
    # some traffic first, so that labelled series exist
    a = srv.connect("/ws")
    b = srv.connect("/ws")
    a.subscribe(topic)
    b.subscribe(topic)
    a.publish(topic, 1)
    b.expect("message")
    a.send_text("{nope")
    a.expect("error")
    status, headers, body = srv.http_get("/metrics")
    assert status == 200
    assert headers.get("content-type", "").startswith("text/plain"), headers
    metrics = srv.metrics()
    missing = [f for f in METRIC_FAMILIES if not metrics.has_family(f)]
    assert not missing, f"missing metric families {missing} in:\n{metrics.text[:3000]}"
    assert metrics.total("relay_errors_total", code="bad_json") >= 1
    assert metrics.total("relay_messages_in_total") >= 1
    assert metrics.total("relay_messages_out_total") >= 1


def test_connections_active_follows_connections(relay):
    server = relay()  # a fresh server: no lingering connections of other tests
    assert server.metric("relay_connections_active") == 0
    clients = [server.connect(path) for path in ("/ws", "/ws/open/a", "/ws")]
    server.wait_metric("relay_connections_active", lambda v: v == 3)
    for c in clients:
        c.close()
    server.wait_metric("relay_connections_active", lambda v: v == 0)


# --- SIGHUP reload ------------------------------------------------------------------------

def config_without_direct_on_ws() -> dict:
    cfg = base_config()
    cfg["routes"] = [r for r in cfg["routes"] if not (r["endpoint"] == "/ws" and r["type"] == "direct")]
    return cfg


def direct_outcome(sender, receiver) -> str:
    """Send a direct message; return "delivered" or the error code the sender got."""
    sender.send_json({"type": "direct", "to": receiver.client_id, "data": "hup"})
    sender.send_json({"type": "ping"})
    reply = sender.recv_until(lambda m: m.get("type") in ("error", "pong"))
    if reply["type"] == "error":
        sender.expect("pong")
        return reply["code"]
    assert receiver.expect("direct")["data"] == "hup"
    return "delivered"


@pytest.mark.parametrize("trigger", ["sighup", "relay-reload"])
def test_reload_adds_route_without_dropping_connections(relay, trigger):
    server = relay(config_without_direct_on_ws())
    a = server.connect("/ws")
    b = server.connect("/ws")
    assert direct_outcome(a, b) == "unknown_type"

    server.write_config(base_config())
    if trigger == "sighup":
        server.signal(signal.SIGHUP)
    else:
        result = run_cli("reload", "--pid", str(server.proc.pid))
        assert result.returncode == 0, result.stderr
    wait_until(lambda: direct_outcome(a, b) == "delivered", 5, 0.1,
               "the route added by SIGHUP never took effect")
    # the same connections are still open and keep their identity
    assert a.ping()["type"] == "pong" and b.ping()["type"] == "pong"
    assert server.alive()


def test_sighup_with_invalid_file_keeps_old_routes(relay, topic):
    server = relay(base_config())
    a = server.connect("/ws")
    b = server.connect("/ws")
    a.subscribe(topic)
    b.subscribe(topic)

    # invalid (unknown key) AND without the publish routes: nothing of it may be applied
    broken = base_config()
    broken["routes"] = [r for r in broken["routes"] if r["type"] != "publish"]
    broken["server"]["bogusKey"] = 1
    server.write_config(dump_yaml(broken))
    server.signal(signal.SIGHUP)
    time.sleep(1.0)  # nothing observable happens on a rejected reload; give it time to (wrongly) act

    assert server.alive()
    a.publish(topic, "still-routed")
    assert b.expect("message")["data"] == "still-routed"
    assert direct_outcome(a, b) == "delivered"
    assert server.http_get("/healthz")[0] == 200

    # a YAML syntax error is rejected the same way
    server.write_config("routes: [unclosed\n")
    server.signal(signal.SIGHUP)
    time.sleep(1.0)
    a.publish(topic, "after-syntax-error")
    assert b.expect("message")["data"] == "after-syntax-error"


# --- SIGTERM --------------------------------------------------------------------------

def test_sigterm_closes_clients_with_1001_and_exits_within_drain(relay):
    server = relay()  # drainTimeout 3
    clients = [server.connect(path, **kw) for path, kw in
               [("/ws", {}), ("/ws/open/x", {}), ("/ws/secure", {"sub": "zed"})]]
    start = time.monotonic()
    server.signal(signal.SIGTERM)
    for client in clients:
        assert client.expect_close(timeout=5) == 1001
    code = server.wait_exit(timeout=max(0.1, 3 + 2 - (time.monotonic() - start)))
    assert code >= 0, f"relay died from signal {-code}"
    with pytest.raises(OSError):
        server.http_get("/healthz", timeout=1)


# --- logs ----------------------------------------------------------------------------------

def test_json_log_format(relay):
    server = relay(base_config(server={"logFormat": "json", "logLevel": "debug"}))
    client = server.connect("/ws")
    client.ping()
    client.send_text("{nope")
    client.expect("error")
    client.close()
    server.signal(signal.SIGTERM)
    server.wait_exit(timeout=5)
    lines = [line for line in server.logs().splitlines() if line.strip()]
    assert lines, "no log lines at all"
    bad = []
    for line in lines:
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    assert not bad, f"{len(bad)} of {len(lines)} log lines are not JSON objects, e.g. {bad[:3]}"
