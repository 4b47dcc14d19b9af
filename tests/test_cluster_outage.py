"""A PostgreSQL outage under a running cluster (issue 7): the database is stopped and started
again while clients talk. Every node stays up; /readyz says 503 (and why) while /healthz stays
200; clients on one node keep talking; a message for a client on another node fails visibly
(`unavailable` to the sender, `relay_drops_total{reason="cluster_unavailable"}`); once the
database is back, /readyz returns to 200 within ~10 s and cross-node delivery works again,
without restarting any relay.

The test runs its own throwaway PostgreSQL (scripts/postgres.sh), so stopping it affects no
other test.
"""

from __future__ import annotations

import time

from cluster_helpers import (PgServer, Sender, create_database, direct, mentions_cluster, readyz, settle,
                             wait_ready)
from relay_helpers import wait_until

RECOVERY = 10.0   # seconds from the database being back to /readyz 200 (the contract: ~10 s)


def deliver_or_error(sender, receiver, data, timeout: float = 3.0) -> str:
    """Sends a direct; returns "delivered" when ``receiver`` gets it, "error:<code>" when the
    sender is answered with an error instead."""
    direct(sender, receiver.client_id, data)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = receiver.recv_json(0.05)
        except AssertionError:
            msg = None
        if msg is not None:
            assert msg == {"type": "direct", "from": sender.client_id, "data": data}, msg
            return "delivered"
        try:
            msg = sender.recv_json(0.05)
        except AssertionError:
            msg = None
        if msg is not None:
            assert msg.get("type") == "error" and msg.get("ref") == "direct", msg
            return f"error:{msg.get('code')}"
    raise AssertionError(f"direct {data!r}: neither delivered nor refused within {timeout}s")


def test_database_outage_and_recovery_under_traffic(cluster, pg_server: PgServer, topic):
    _, database_url = create_database(pg_server.url)
    nodes = cluster(2, database_url=database_url)
    a1, a2 = nodes.a.connect("/ws"), nodes.a.connect("/ws")
    b1 = nodes.b.connect("/ws")
    a3, b2 = nodes.a.connect("/ws"), nodes.b.connect("/ws")  # a cross-node stream across the stop
    a2.subscribe(topic)
    a1.subscribe(topic)
    a2.expect("joined", ignore=())
    settle()
    assert deliver_or_error(a1, b1, {"before": 1}) == "delivered"
    drops = nodes.a.metric("relay_drops_total", reason="cluster_unavailable")

    # -- the database goes away (under cross-node traffic) --------------------------------------
    in_flight = 60
    crossing = Sender(lambda n: direct(a3, b2.client_id, {"x": n}), in_flight, 0.02)
    crossing.start()
    time.sleep(0.3)
    pg_server.stop()
    stopped = time.monotonic()
    crossing.finish()
    for node in nodes:
        wait_ready(node, timeout=15, want=503)
    print(f"/readyz 503 on both nodes {time.monotonic() - stopped:.1f}s after the stop")
    for node in nodes:
        status, body = readyz(node)
        print(f"/readyz of node on port {node.port}: {status} {body}")
        assert status == 503 and mentions_cluster(body), (status, body)
        assert node.http_get("/healthz")[0] == 200
        assert node.alive()

    # same node: pubsub and direct keep working, under traffic
    stream = Sender(lambda n: a1.publish(topic, {"n": n}), 100, 0.01)
    stream.start()
    got = [a2.expect("message", timeout=10)["data"]["n"] for _ in range(100)]
    stream.finish()
    assert got == list(range(100))
    assert deliver_or_error(a1, a2, {"local": 1}) == "delivered"

    # another node: refused visibly, and counted
    for n in range(3):
        result = deliver_or_error(a1, b1, {"remote": n})
        assert result == "error:unavailable", result
    nodes.a.wait_metric("relay_drops_total", lambda v: v >= drops + 3, timeout=5, reason="cluster_unavailable")
    b1.assert_silent(0.3)
    for node in nodes:
        assert node.alive() and node.http_get("/healthz")[0] == 200

    # -- the database comes back -------------------------------------------------------------
    time.sleep(1.0)  # a real outage lasts a while: the nodes have retried a few times
    pg_server.start()
    restarted = time.monotonic()
    for node in nodes:
        wait_ready(node, timeout=RECOVERY + 5)
    took = time.monotonic() - restarted
    print(f"/readyz 200 on both nodes {took:.1f}s after the database came back")
    assert took <= RECOVERY + 2, f"/readyz took {took:.1f}s to recover"

    # cross-node delivery works again: perhaps not the first message, but soon and then always
    outcomes = []
    wait_until(lambda: outcomes.append(deliver_or_error(a1, b1, {"probe": len(outcomes)})) or
               outcomes[-1] == "delivered", RECOVERY, 0.2, lambda: f"cross-node directs after recovery: {outcomes}")
    assert set(outcomes) <= {"delivered", "error:unavailable"}, outcomes
    for n in range(20):
        direct(a1, b1.client_id, {"after": n})
    assert [b1.expect("direct")["data"]["after"] for _ in range(20)] == list(range(20))
    direct(b1, a1.client_id, {"back": True})
    assert a1.expect("direct", ignore=("joined", "left"))["data"] == {"back": True}
    # the refused messages were not delivered late after all
    b1.assert_silent(0.5)

    # every message of the stream across the stop was delivered (once, in order) or refused
    delivered = drain(b2, "direct")
    refused = drain(a3, "error")
    got = [m["data"]["x"] for m in delivered]
    assert all(m["from"] == a3.client_id for m in delivered), delivered[:3]
    assert all(e["code"] == "unavailable" and e["ref"] == "direct" for e in refused), refused[:3]
    assert got == sorted(set(got)), f"delivered out of order or twice: {got}"
    assert len(got) + len(refused) == in_flight, \
        (f"{in_flight} sent across the stop: {len(got)} delivered ({got}), {len(refused)} refused; the rest "
         f"vanished; drops by node: {drops_by_reason(nodes)}")
    print(f"across the stop: {len(got)} delivered, {len(refused)} refused")
    for node in nodes:
        assert node.alive()


def drops_by_reason(nodes) -> dict:
    return {port: {labels.get("reason"): value for name, labels, value in metrics.samples if name == "relay_drops_total"}
            for port, metrics in ((node.port, node.metrics()) for node in nodes)}


def drain(client, type_: str, quiet: float = 1.0) -> list[dict]:
    """Every message ``client`` receives until it has been quiet for ``quiet`` seconds; each must
    be of ``type_``."""
    out = []
    while True:
        try:
            msg = client.recv_json(quiet)
        except AssertionError:
            return out
        assert msg.get("type") == type_, msg
        out.append(msg)
