"""deploy/grafana/relay.json against live relays: every metric its panels query is in the
/metrics of a live cluster node (the cluster panels' metrics exist only in cluster mode), with
the labels the queries group and filter by; and a real Prometheus (Debian's `prometheus`)
scraping two cluster nodes answers every panel's query with data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid

from cluster_helpers import settle
from relay_helpers import HOST, REPO, free_port, wait_until

DASHBOARD = REPO / "deploy" / "grafana" / "relay.json"
METRIC = re.compile(r"\b(?:relay|process)_[a-z0-9_]+\b")
GROUPED = re.compile(r"\bby \(([^)]*)\)")
MATCHER = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"")
PROMETHEUS_LABELS = {"le", "instance", "job"}  # `le` is the histogram's; Prometheus adds the others


def panels(items: list[dict]) -> list[dict]:
    found = []
    for item in items:
        found.append(item)
        found.extend(panels(item.get("panels", [])))
    return found


def queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [(panel["title"], target["expr"]) for panel in panels(dashboard["panels"]) for target in panel.get("targets", [])]
    assert len(found) >= 20, found
    return found


def promql(expr: str) -> str:
    """The query Grafana sends with every node selected."""
    return expr.replace("$instance", ".*").replace("$__rate_interval", "10s")


def cross_node_traffic(nodes) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    a, b = nodes[0].connect("/ws"), nodes[1].connect("/ws")
    b.subscribe(topic)
    a.subscribe(topic)
    settle()  # b's membership reaches node a
    a.publish(topic, "across")
    assert b.expect("message", timeout=10)["data"] == "across"
    a.send_text("{not json")
    a.expect("error")


def test_dashboard_layout_is_importable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "Relay" and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    titles = " | ".join(panel["title"] for panel in panels(dashboard["panels"]))
    for needed in ("Connections", "Sessions", "Messages in per endpoint and type", "Messages out per endpoint and type",
                   "Drops by reason", "Errors by code", "Closes by code", "Delivery latency p50 / p99",
                   "Backplane connected", "Media links open"):
        assert needed in titles, needed
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    assert "relay_build_info" in variables["instance"]["definition"]


def test_every_queried_metric_exists_in_a_live_relay_with_its_labels(cluster):
    nodes = cluster(2)
    cross_node_traffic(nodes)
    metrics = nodes[0].metrics()
    labels_of: dict[str, set[str]] = {}
    for name, labels, _ in metrics.samples:
        labels_of.setdefault(name, set()).update(labels)
    for title, expr in queries() + [("variable instance", json.loads(DASHBOARD.read_text())["templating"]["list"][1]["definition"])]:
        used = METRIC.findall(expr)
        assert used, (title, expr)
        for metric in used:
            assert metric in labels_of, f"panel {title!r} queries {metric}, which /metrics does not have"
        available = set().union(*(labels_of[m] for m in used)) | PROMETHEUS_LABELS
        wanted = {label.strip() for group in GROUPED.findall(expr) for label in group.split(",")} | set(MATCHER.findall(expr))
        assert wanted <= available, f"panel {title!r} uses labels {wanted - available} that {used} do not have"


def test_prometheus_answers_every_panel_query_with_data(cluster, tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package is needed (apt-get install prometheus; .ci/run installs it)"
    nodes = cluster(2)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "relay", "static_configs": [{"targets": [f"{HOST}:{node.port}" for node in nodes]}]}],
    }))
    log = open(tmp_path / "prometheus.log", "wb")
    process = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                                f"--web.listen-address={HOST}:{port}"], stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def query(expr: str) -> list[dict]:
        url = f"http://{HOST}:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scraped_enough() -> bool:
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        try:
            return len(query("count_over_time(up[1m]) >= 4")) == 2
        except OSError:
            return False

    try:
        cross_node_traffic(nodes)
        wait_until(scraped_enough, 40, 0.5, lambda: (tmp_path / "prometheus.log").read_text()[-3000:])
        assert {r["metric"]["instance"] for r in query("relay_build_info")} == {f"{HOST}:{n.port}" for n in nodes}
        assert [r["value"][1] for r in query("relay_cluster_backplane_up")] == ["1", "1"]
        for title, expr in queries():
            assert query(promql(expr)), f"panel {title!r}: no data for {promql(expr)}"
    finally:
        process.terminate()
        process.wait(15)
        log.close()
