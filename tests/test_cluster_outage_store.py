"""Plugin state during a database outage: an operation that needs the store answers
`unavailable` (WebSocket error, HTTP 503) within a few seconds instead of hanging or closing
the client, and works again once PostgreSQL is back."""

from __future__ import annotations

import time

from cluster_helpers import cam_config, create_database, settle, wait_ready


def test_store_operations_answer_unavailable_during_an_outage(cluster, pg_server):
    _, database_url = create_database(pg_server.url)
    nodes = cluster(2, cam_config(), database_url=database_url)
    desktop = nodes.a.connect("/ws")
    desktop.send_json({"type": "cam-create"})
    assert desktop.expect("cam-code")["code"]
    settle()

    pg_server.stop()
    wait_ready(nodes.a, timeout=15, want=503)
    started = time.monotonic()
    desktop.send_json({"type": "cam-create"})
    error = desktop.expect("error", timeout=10)
    took = time.monotonic() - started
    assert error["code"] == "unavailable" and error["ref"] == "cam-create", error
    assert took < 8, f"the answer took {took:.1f}s"
    assert desktop.ping()["type"] == "pong"  # the client stays connected
    status, _, body = nodes.b.http_request("POST", "/cam/create", timeout=10)
    assert status == 503 and b"unavailable" in body, (status, body)
    assert nodes.a.metric("relay_errors_total", code="unavailable") >= 1

    pg_server.start()
    for node in nodes:
        wait_ready(node, timeout=20)
    desktop.send_json({"type": "cam-create"})
    assert desktop.expect("cam-code", timeout=10)["code"]
