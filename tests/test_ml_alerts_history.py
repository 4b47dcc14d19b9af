"""Plugin `ml-alerts`: alert fan-out (persisted first) and paged history, a restart that keeps
streams and history (SQLite file), and the plugin's route files under `relay check`."""

from __future__ import annotations

from pathlib import Path

from ml_alerts_support import (SERVICE, connect_auth, expect_error, iso_ok, ml_config, register_stream,
    send_register, send_subscribe, status_of)
from relay_helpers import RelayServer, WSClient, dump_yaml, run_cli


# ---------------------------------------------------------------------------
# item 4: alerts
# ---------------------------------------------------------------------------


def test_alert_fanout_is_persisted_first(ml):
    alice = ml.token("alice")
    stream = register_stream(ml, alice)
    phone = connect_auth(ml, "alice")
    send_register(phone, stream)                      # consumes ["alert"] by default
    dashboard = connect_auth(ml, "alice")
    send_subscribe(dashboard, stream, consumes=["alert"])
    service = connect_auth(ml, "ml-1", **SERVICE)
    send_subscribe(service, stream, clientType="ml-service", consumes=["video-frame"], produces=["alert"])

    service.send_json({"type": "alert", "streamId": stream, "severity": "high",
                       "message": "Suspicious person detected",
                       "metadata": {"confidence": 0.95, "location": {"x": 10, "y": 20}, "objectType": "person"},
                       "timestamp": 1730000000789})
    got = dashboard.expect("alert", ignore=("stream-status",))
    # as soon as anyone has it, the history has it
    status, body = ml.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert status == 200 and body["alerts"][0]["id"] == got["id"], body
    assert got["streamId"] == stream and got["severity"] == "high"
    assert got["message"] == "Suspicious person detected" and got["timestamp"] == 1730000000789
    assert got["metadata"] == {"confidence": 0.95, "location": {"x": 10, "y": 20}, "objectType": "person"}
    assert iso_ok(got["createdAt"])
    assert phone.expect("alert", ignore=("stream-status",)) == got
    stored = dict(body["alerts"][0])
    assert stored == {k: v for k, v in got.items() if k != "type"}
    service.assert_silent(0.3)  # it does not consume alerts

    for bad, code in (({"severity": "urgent", "message": "m"}, "invalid_message"),
                      ({"severity": "low"}, "invalid_message"),
                      ({"severity": "low", "message": ""}, "invalid_message"),
                      ({"severity": "low", "message": "m", "metadata": "x"}, "invalid_message"),
                      ({"severity": "low", "message": "m", "timestamp": "now"}, "invalid_message")):
        service.send_json({"type": "alert", "streamId": stream, **bad})
        expect_error(service, code, "alert")
    service.send_json({"type": "alert", "streamId": "stream_nope", "severity": "low", "message": "m"})
    expect_error(service, "not_found", "alert")
    dashboard.assert_silent(0.3, ignore=("stream-status",))
    status, body = ml.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert len(body["alerts"]) == 1


# ---------------------------------------------------------------------------
# item 5: alert history pagination
# ---------------------------------------------------------------------------

SEVERITIES = ("low", "medium", "high", "critical")


def send_alerts(srv: RelayServer, stream: str, count: int, start: int = 0, pad: str = "") -> WSClient:
    """Sends `count` alerts (message "alert <n>", severity by n % 4); waits until all are stored."""
    service = connect_auth(srv, "ml-1", **SERVICE)
    watcher = connect_auth(srv, "ml-2", **SERVICE)
    send_subscribe(watcher, stream, consumes=["alert"])
    for n in range(start, start + count):
        service.send_json({"type": "alert", "streamId": stream, "severity": SEVERITIES[n % 4],
                           "message": f"alert {n}", "metadata": {"n": n, "pad": pad}})
    for n in range(start, start + count):
        assert watcher.expect("alert", timeout=10, ignore=("stream-status",))["message"] == f"alert {n}"
    return service


def alerts_page(srv: RelayServer, token: str, query: str) -> tuple[int, dict]:
    return srv.http_json("GET", "/api/alerts" + query, token=token)


def test_alert_history_pagination(ml):
    alice = ml.token("alice")
    stream = register_stream(ml, alice)
    second = register_stream(ml, alice, "iPad")
    empty = register_stream(ml, alice, "spare")
    send_alerts(ml, stream, 230)
    send_alerts(ml, second, 3, start=1000)

    # default limit 50, newest first
    status, page = alerts_page(ml, alice, f"?streamId={stream}")
    assert status == 200
    assert [a["message"] for a in page["alerts"]] == [f"alert {n}" for n in range(229, 179, -1)]
    assert page["nextCursor"]
    # max 200: a larger limit is lowered
    status, page = alerts_page(ml, alice, f"?streamId={stream}&limit=500")
    assert len(page["alerts"]) == 200 and page["alerts"][-1]["message"] == "alert 30"
    status, last = alerts_page(ml, alice, f"?streamId={stream}&limit=500&before={page['nextCursor']}")
    assert [a["message"] for a in last["alerts"]] == [f"alert {n}" for n in range(29, -1, -1)]
    assert last["nextCursor"] is None
    # walking with a small limit sees every alert once, in order
    seen, cursor = [], ""
    while True:
        status, page = alerts_page(ml, alice, f"?streamId={stream}&limit=7" + (f"&before={cursor}" if cursor else ""))
        assert status == 200 and len(page["alerts"]) <= 7
        seen += [a["metadata"]["n"] for a in page["alerts"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(range(229, -1, -1))
    # exactly one page: no cursor
    status, page = alerts_page(ml, alice, f"?streamId={second}&limit=3")
    assert len(page["alerts"]) == 3 and page["nextCursor"] is None
    # severity filter, with paging
    status, page = alerts_page(ml, alice, f"?streamId={stream}&severity=critical&limit=10")
    assert [a["metadata"]["n"] for a in page["alerts"]] == [n for n in range(229, -1, -1) if n % 4 == 3][:10]
    assert {a["severity"] for a in page["alerts"]} == {"critical"}
    status, rest = alerts_page(ml, alice, f"?streamId={stream}&severity=critical&limit=200&before={page['nextCursor']}")
    assert len(page["alerts"]) + len(rest["alerts"]) == 57 and rest["nextCursor"] is None
    # an empty page
    status, page = alerts_page(ml, alice, f"?streamId={empty}")
    assert status == 200 and page == {"alerts": [], "nextCursor": None}
    # without streamId: the caller's alerts across streams; the service's: everyone's
    status, page = alerts_page(ml, alice, "?limit=5")
    assert [a["message"] for a in page["alerts"]] == ["alert 1002", "alert 1001", "alert 1000", "alert 229", "alert 228"]
    status, page = alerts_page(ml, ml.token("bob"), "")
    assert status == 200 and page["alerts"] == []
    status, page = alerts_page(ml, ml.token("ml-9", **SERVICE), f"?streamId={stream}&limit=1")
    assert status == 200 and page["alerts"][0]["message"] == "alert 229"
    status, page = alerts_page(ml, ml.token("ml-9", **SERVICE), "?limit=1")
    assert status == 200 and page["alerts"][0]["message"] == "alert 1002"

    # bad input
    for query in ("?limit=0", "?limit=-3", "?limit=abc", "?before=garbage", "?severity=urgent"):
        status, body = alerts_page(ml, alice, f"&streamId={stream}".replace("&", "?", 1) + query.replace("?", "&"))
        assert status == 400 and body["error"]["code"] == "invalid_message", (query, body)
    # another user's stream, an unknown one
    status, body = alerts_page(ml, ml.token("bob"), f"?streamId={stream}")
    assert status == 403 and body["error"]["code"] == "forbidden", body
    status, body = alerts_page(ml, alice, "?streamId=stream_nope")
    assert status == 404 and body["error"]["code"] == "not_found", body


# ---------------------------------------------------------------------------
# item 1 / 9: history survives a restart (SQLite file)
# ---------------------------------------------------------------------------


def test_restart_keeps_streams_and_alert_history(relay, tmp_path):
    store = tmp_path / "history.sqlite"
    first = relay(ml_config(store))
    alice = first.token("alice")
    stream = register_stream(first, alice, "Camera 1")
    send_alerts(first, stream, 5)
    status, before = first.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert len(before["alerts"]) == 5
    phone = connect_auth(first, "alice")
    send_register(phone, stream)
    assert status_of(first, alice, stream)["status"] == "online"
    first.signal(15)  # SIGTERM: clients are closed with 1001, so the phone leaves cleanly
    assert phone.expect_close() == 1001
    assert first.wait_exit(10) == 0
    assert store.exists()

    second = relay(ml_config(store))
    status, after = second.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert status == 200 and after == before
    listed = status_of(second, alice, stream)
    assert listed["deviceName"] == "Camera 1" and listed["status"] == "offline", listed
    # and it keeps going where it left off
    send_alerts(second, stream, 1, start=5)
    status, page = second.http_json("GET", f"/api/alerts?streamId={stream}&limit=2", token=alice)
    assert [a["message"] for a in page["alerts"]] == ["alert 5", "alert 4"]


# ---------------------------------------------------------------------------
# item 8: route files
# ---------------------------------------------------------------------------


def test_route_files_check(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    for name in ("deploy/ml-alerts.yaml", "routes.yaml"):
        result = run_cli("check", str(repo / name))
        assert result.returncode == 0, result.stdout + result.stderr
    result = run_cli("routes", str(repo / "deploy/ml-alerts.yaml"))
    assert "video-frame -> ml (ml-alerts) overflow=drop-oldest binary" in result.stdout, result.stdout
    assert "alert -> ml (ml-alerts) overflow=close" in result.stdout
    assert "HTTP GET /api/alerts -> ml (ml-alerts)" in result.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(dump_yaml(ml_config(plugin_config={"serviceRoles": "typo", "maxPageSize": 0})))
    result = run_cli("check", str(bad))
    assert result.returncode != 0
    assert "serviceRoles" in result.stdout + result.stderr, result.stdout + result.stderr
