"""End to end (issue 6 item 7): examples/ml-service against a real relay.

The producer script streams generated grayscale frames with a sudden brightness change;
the ML-service client (the `websockets` package) subscribes, decodes the frames in the form
it asked for, finds the change and publishes an alert; the producer (as the phone) and a
dashboard receive it, and the REST history has it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest

from ml_alerts_support import SERVICE, WS, connect_auth, ml_config, register_stream, send_subscribe
from relay_helpers import RELAY_BIN, SECRET, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "ml-service"


class Script:
    """A Python example script as a subprocess; a thread collects its output line by line."""

    def __init__(self, name: str, *args: str):
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), *args], cwd=EXAMPLES,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_lines(self, prefix: str, count: int, timeout: float) -> list[str]:
        """Waits until `count` output lines start with `prefix`; returns them."""
        def found() -> list[str] | None:
            lines = [line for line in list(self.lines) if line.startswith(prefix)]
            return lines if len(lines) >= count else None
        return wait_until(found, timeout, message=lambda: f"{count} x {prefix!r}; output:\n" + "\n".join(self.lines))

    def finish(self, timeout: float) -> int:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("script did not finish; output:\n" + "\n".join(self.lines)) from None
        self.reader.join(5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def run_to_the_alert(service: Script, ready: Callable[[], None], *producer_args: str) -> Script:
    """Once ``ready()`` returned, streams with ``producer.py producer_args`` until the service's
    alert came back; both scripts must exit 0 (both are killed whatever happens). Returns the
    producer."""
    producer = None
    try:
        ready()
        producer = Script("producer.py", *producer_args, "--wait-alerts", "1", "--timeout", "15")
        assert producer.finish(30) == 0, "\n".join(producer.lines)
        assert service.finish(30) == 0, "\n".join(service.lines)
        return producer
    finally:
        service.kill()
        if producer:
            producer.kill()


@pytest.mark.parametrize("producer_form, service_form", [("json", "binary"), ("binary", "json")])
def test_ml_service_example_end_to_end(relay, tmp_path, producer_form, service_form):
    srv = relay(ml_config(tmp_path / "ml.sqlite"))
    url = srv.url(WS)
    alice = srv.token("alice")
    stream = register_stream(srv, alice, "Front door")
    dashboard = connect_auth(srv, "alice")
    send_subscribe(dashboard, stream, consumes=["alert"])

    service = Script("client.py", "--url", url, "--token", srv.token("ml-1", **SERVICE),
                     "--stream", stream, "--format", service_form, "--max-alerts", "1", "--timeout", "30")

    def subscribed() -> None:
        assert service.wait_lines("subscribed", 1, 15) == [f"subscribed {stream} format={service_form}"]

    producer = run_to_the_alert(service, subscribed, "--url", url, "--token", alice, "--stream", stream,
                                "--format", producer_form, "--frames", "60", "--fps", "60", "--anomaly-at", "40")

    # the phone got the alert the service published about the bright frames
    alert = json.loads(next(line for line in producer.lines if line.startswith("ALERT "))[6:])
    assert alert["streamId"] == stream and alert["severity"] in ("medium", "high", "critical"), alert
    assert alert["metadata"]["objectType"] == "brightness-change", alert
    assert 40 <= alert["metadata"]["seq"] < 45 and alert["metadata"]["byteMean"] > 150, alert
    assert any(line.startswith("alert ") for line in service.lines), service.lines
    # so did the dashboard, and the history has it
    assert dashboard.expect("alert", ignore=("stream-status",))["id"] == alert["id"]
    status, body = srv.http_json("GET", f"/api/alerts?streamId={stream}", token=alice)
    assert status == 200 and [a["id"] for a in body["alerts"]] == [alert["id"]], body
    # the phone left cleanly: the stream is offline again
    wait_until(lambda: srv.http_json("GET", "/api/streams/list", token=alice)[1]["streams"][0]["status"]
               == "offline", 5)


def test_ml_service_example_finds_streams_over_rest(relay, tmp_path):
    """Without --stream the client subscribes to every stream the REST API lists for it."""
    srv = relay(ml_config(tmp_path / "ml.sqlite"))
    url = srv.url(WS)
    streams = [register_stream(srv, srv.token(user), f"cam-{user}") for user in ("alice", "bob")]
    service = Script("client.py", "--url", url, "--token", srv.token("ml-1", **SERVICE), "--timeout", "20",
                     "--max-alerts", "1")
    try:
        subscribed = service.wait_lines("subscribed", 2, 15)
        assert {line.split()[1] for line in subscribed} == set(streams)
        producer = Script("producer.py", "--url", url, "--token", srv.token("bob"), "--stream", streams[1],
                          "--frames", "50", "--fps", "60", "--anomaly-at", "30", "--wait-alerts", "1")
        assert producer.finish(30) == 0, "\n".join(producer.lines)
        assert service.finish(30) == 0, "\n".join(service.lines)
    finally:
        service.kill()


def test_ml_service_example_refreshes_its_token_and_keeps_its_connection(relay, tmp_path):
    """Issue 16 item 2: with --token-command the example answers every `token_expiring` with a
    fresh token, so its one connection outlives each 4 s token and still works after them."""
    srv = relay(ml_config(tmp_path / "ml.sqlite", auth={"leeway": 0, "refreshWindow": 2}))
    url = srv.url(WS)
    alice = srv.token("alice")
    stream = register_stream(srv, alice, "Front door")
    mint = (f"RELAY_JWT_SECRET={shlex.quote(SECRET)} {shlex.quote(str(RELAY_BIN))} token --sub ml-1 "
            "--claim role=ml-service --ttl 4")
    service = Script("client.py", "--url", url, "--token-command", mint, "--stream", stream,
                     "--max-alerts", "1", "--timeout", "40")

    def refreshed_twice() -> None:
        service.wait_lines("subscribed", 1, 15)
        service.wait_lines("token refreshed", 3, 20)  # past the first two tokens' exp

    run_to_the_alert(service, refreshed_twice, "--url", url, "--token", alice, "--stream", stream,
                     "--frames", "50", "--fps", "60", "--anomaly-at", "30")
    assert any(line.startswith("alert ") for line in service.lines), service.lines
    # one connection throughout: never resumed, never subscribed again
    assert not any(line.startswith(("resumed", "refused", "relay:")) for line in service.lines), service.lines
    assert len([line for line in service.lines if line.startswith("subscribed")]) == 1, service.lines
