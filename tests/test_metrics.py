"""`/metrics` follows Prometheus conventions: `# HELP` and `# TYPE` for every family, counters
named `_total`, delivery latency buckets from 100 µs to 10 s, `endpoint`, `type` and `plugin` as
separate labels, client-initiated closes counted by code, the standard process metrics,
`relay_build_info`, and a number of series that clients cannot grow."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
import uuid

import pytest

from relay_helpers import OP_CLOSE, Closed, base_config, run_cli

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def family_of(name: str, types: dict[str, str]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return name


def test_every_family_has_help_and_type_and_counters_end_in_total(srv, topic):
    a, b = srv.connect("/ws"), srv.connect("/ws")
    a.subscribe(topic)
    b.subscribe(topic)
    a.publish(topic, 1)
    b.expect("message")
    metrics = srv.metrics()
    families = {family_of(name, metrics.types) for name, _, _ in metrics.samples}
    assert {"relay_messages_in_total", "relay_delivery_latency_seconds", "process_open_fds"} <= families
    for family in families:
        assert metrics.helps.get(family, "").strip(), f"no # HELP for {family}"
        assert family in metrics.types, f"no # TYPE for {family}"
        if metrics.types[family] == "counter":
            assert family.endswith("_total"), family
    # No # HELP or # TYPE without samples of its family.
    assert set(metrics.types) == families


def test_promtool_accepts_the_exposition(srv, topic):
    promtool = shutil.which("promtool")
    assert promtool, "Debian's prometheus package provides promtool (apt-get install prometheus; .ci/run installs it)"
    a = srv.connect("/ws")
    a.subscribe(topic)
    a.send_text("{nope")
    a.expect("error")
    result = subprocess.run([promtool, "check", "metrics"], input=srv.http_get("/metrics")[2], capture_output=True,
                            timeout=30)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_delivery_latency_buckets_run_from_100_microseconds_to_10_seconds(srv, topic):
    a, b = srv.connect("/ws"), srv.connect("/ws")
    a.subscribe(topic)
    b.subscribe(topic)
    a.publish(topic, "x")
    b.expect("message")
    bounds = [labels["le"] for name, labels, _ in srv.metrics().samples
              if name == "relay_delivery_latency_seconds_bucket"]
    assert [float(b) for b in bounds if b != "+Inf"] == [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
        0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    assert bounds[-1] == "+Inf"


def test_messages_are_labelled_by_endpoint_type_and_plugin(srv, topic):
    room = f"/ws/open/{uuid.uuid4().hex[:8]}"
    before = srv.metrics()
    a, b = srv.connect(room), srv.connect(room)
    a.subscribe(topic)
    b.subscribe(topic)
    a.publish(topic, "labelled")
    b.expect("message")
    labels = {"endpoint": "/ws/open/:room", "type": "publish", "plugin": "chat"}
    srv.wait_metric("relay_messages_in_total", lambda v: v >= before.total("relay_messages_in_total", **labels) + 1,
                    **labels)
    srv.wait_metric("relay_messages_out_total", lambda v: v >= before.total("relay_messages_out_total", **labels) + 1,
                    **labels)
    after = srv.metrics()
    for name, sample_labels, _ in after.samples:
        if name.startswith("relay_messages_"):
            assert set(sample_labels) == {"endpoint", "type", "plugin"}, (name, sample_labels)
    # The kernel's own messages (ping here) count under endpoint and type "*".
    kernel = {"endpoint": "*", "type": "*", "plugin": "kernel"}
    pings = after.total("relay_messages_in_total", **kernel)
    a.ping()
    srv.wait_metric("relay_messages_in_total", lambda v: v >= pings + 1, **kernel)


CLIENT_CLOSES = [(1000, "1000"), (1001, "1001"), (None, "1005"), (3001, "3xxx"), (4321, "4xxx")]


@pytest.mark.parametrize("code,label", CLIENT_CLOSES, ids=[label for _, label in CLIENT_CLOSES])
def test_client_initiated_closes_are_counted_by_code(srv, code, label):
    series = {"initiator": "client", "code": label}
    before = srv.metric("relay_closes_total", **series)
    server_closes = srv.metric("relay_closes_total", initiator="server")
    ws = srv.raw("/ws")
    ws.expect("connected")
    ws.send_frame(OP_CLOSE, b"" if code is None else struct.pack("!H", code))
    with pytest.raises((Closed, EOFError, ConnectionResetError)):
        ws.recv_message(timeout=3)
    srv.wait_metric("relay_closes_total", lambda v: v == before + 1, **series)
    assert srv.metric("relay_closes_total", initiator="server") == server_closes  # answering is not closing


def test_a_reserved_close_code_is_a_protocol_error_the_server_counts(srv):
    client_closes = srv.metrics().total("relay_closes_total", initiator="client")
    protocol_errors = srv.metric("relay_closes_total", initiator="server", code="1002")
    ws = srv.raw("/ws")
    ws.expect("connected")
    ws.send_frame(OP_CLOSE, struct.pack("!H", 2999))  # reserved (RFC 6455 §7.4.2)
    with pytest.raises(Closed) as closed:
        ws.recv_message(timeout=3)
    assert closed.value.code == 1002
    srv.wait_metric("relay_closes_total", lambda v: v == protocol_errors + 1, initiator="server", code="1002")
    assert srv.metrics().total("relay_closes_total", initiator="client") == client_closes


def test_process_metrics_describe_this_process(relay):
    server = relay()
    metrics = server.metrics()
    assert metrics.types["process_cpu_seconds_total"] == "counter"
    rss = metrics.total("process_resident_memory_bytes")
    real_rss = server.rss_mb() * 1024 * 1024
    assert 0.5 * real_rss < rss < 2 * real_rss, (rss, real_rss)
    started = metrics.total("process_start_time_seconds")
    assert time.time() - 120 < started <= time.time() + 1, started
    fds = metrics.total("process_open_fds")
    assert fds == pytest.approx(len(os.listdir(f"/proc/{server.proc.pid}/fd")), abs=3)
    clients = [server.connect("/ws") for _ in range(10)]
    with_clients = server.metric("process_open_fds")
    assert with_clients == pytest.approx(len(os.listdir(f"/proc/{server.proc.pid}/fd")), abs=3)
    # Each client holds a socket; a scrape's own HTTP connection may come or go (±3, as above).
    assert with_clients >= fds + 10 - 3, (fds, with_clients)
    cpu = metrics.total("process_cpu_seconds_total")
    for client in clients:
        for _ in range(50):
            client.ping()
    assert server.metric("process_cpu_seconds_total") > cpu


def test_build_info_names_the_version_and_commit(srv):
    version = re.fullmatch(r"(\S+) \(commit (\S+)\)", run_cli("--version").stdout.strip())
    assert version, run_cli("--version").stdout
    info = [labels for name, labels, value in srv.metrics().samples if name == "relay_build_info" and value == 1]
    assert info == [{"version": version[1], "commit": version[2]}]


# --- cardinality ------------------------------------------------------------------------------

ENDPOINTS = {"/ws", "/ws/secure", "/ws/open/:room", "*"}
TYPES = {"subscribe", "unsubscribe", "publish", "direct", "*"}
PLUGINS = {"chat", "kernel", "cluster"}


def client_noise(server, marker: str) -> None:
    """Every client-supplied string a client can send, each carrying ``marker``."""
    room = server.connect(f"/ws/open/{marker}")
    room.send_json({"type": f"type-{marker}", "topic": marker})
    room.expect("error")
    room.send_json({"type": "publish", "topic": f"topic-{marker}", "data": marker})
    room.expect("error")
    room.send_json({"type": "direct", "to": f"client-{marker}", "data": marker})
    room.expect("error")
    room.send_text(f"not json {marker}")
    room.expect("error")
    assert server.upgrade_status(f"/nowhere/{marker}") == 404
    assert server.connect("/ws/secure", token=marker, expect_connected=False).expect_close() == 1008
    assert server.http_get(f"/{marker}")[0] == 404
    for code in (3000 + len(marker) * 7 % 1000, 4000 + len(marker) * 13 % 1000, 2000 + len(marker)):
        ws = server.raw(f"/ws/open/{marker}-{code}")
        ws.expect("connected")
        ws.send_frame(OP_CLOSE, struct.pack("!H", code) + marker.encode())
        with pytest.raises((Closed, EOFError, ConnectionResetError)):
            ws.recv_message(timeout=3)
    server.close_clients()


def series(metrics) -> set[tuple[str, frozenset]]:
    return {(name, frozenset(labels.items())) for name, labels, _ in metrics.samples}


def test_clients_cannot_add_series_or_label_values(relay):
    server = relay(base_config())
    first, second = f"m{uuid.uuid4().hex[:12]}", f"n{uuid.uuid4().hex[:20]}"
    client_noise(server, first)
    time.sleep(0.3)
    after_first = server.metrics()
    client_noise(server, second)
    time.sleep(0.3)
    after_second = server.metrics()
    assert series(after_second) == series(after_first), series(after_second) ^ series(after_first)
    for name, labels, _ in after_second.samples:
        for key, value in labels.items():
            assert first not in value and second not in value, (name, labels)
        if "endpoint" in labels:
            assert labels["endpoint"] in ENDPOINTS and labels["type"] in TYPES and labels["plugin"] in PLUGINS, labels
    assert after_second.total("relay_closes_total", initiator="client") >= 6
