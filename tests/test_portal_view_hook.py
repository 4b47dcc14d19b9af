"""Plugin `portal-view` with roles from the authorization hook (issue 4 item 2b).

A small real HTTP backend runs inside the test (http.server in a thread on
127.0.0.1) and answers the relay's `POST {userId, resource, claims}`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from relay_helpers import HOST, RelayServer, free_port
from test_portal_view import next_msg, presence, pv_config


class Backend:
    """The product backend's authorization endpoint: answers per userId, records every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        # userId -> (status, JSON body, delay in seconds); anyone else: 403
        self.answers: dict[str, tuple[int, Any, float]] = {}
        self.lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"null")
                with backend.lock:
                    backend.requests.append(body)
                    backend.headers.append({k.lower(): v for k, v in self.headers.items()})
                    status, answer, delay = backend.answers.get(body.get("userId"), (403, {"error": "no access"}, 0))
                time.sleep(delay)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the relay gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/authorize"

    def answer(self, user: str, status: int = 200, body: Any = None, delay: float = 0) -> None:
        with self.lock:
            self.answers[user] = (status, body if body is not None else {}, delay)

    def hits(self, user: str, resource: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests
                       if r.get("userId") == user and (resource is None or r.get("resource") == resource))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend() -> Backend:
    server = Backend()
    yield server
    server.stop()


def hook_server(relay, url: str, **hook: Any) -> RelayServer:
    return relay(pv_config({"roleSource": "hook", "hook": {"url": url, "timeout": 1, "cacheSeconds": 30, **hook}}))


def connect(server: RelayServer, view: str, user: str, expect_connected: bool = True, **claims: Any):
    return server.connect(f"/ws/portal-view/{view}", sub=user, claims=claims, expect_connected=expect_connected)


def test_hook_grants_roles_that_drive_permissions(relay, backend):
    backend.answer("alice", 200, {"role": "EDITOR"})
    backend.answer("bob", 200, {"role": "VIEWER", "name": "Bob"})
    server = hook_server(relay, backend.url, headers={"X-Hook-Secret": "s3cret"})

    alice = connect(server, "pv1", "alice", team="blue")
    assert alice.hello["role"] == "controller", alice.hello
    bob = connect(server, "pv1", "bob")
    assert bob.hello["role"] == "viewer", bob.hello

    request = backend.requests[0]
    assert request["userId"] == "alice" and request["resource"] == "portal-view:pv1", request
    assert request["claims"]["sub"] == "alice" and request["claims"]["team"] == "blue", request
    assert backend.headers[0]["x-hook-secret"] == "s3cret"

    presence(alice, 1, 1)
    alice.send_json({"type": "portal-view-update", "payload": {"currentItem": 1}})
    assert next_msg(bob, "portal-view-update")["payload"] == {"currentItem": 1}
    bob.send_json({"type": "request-sync"})
    assert next_msg(alice, "request-sync")["clientId"] == bob.client_id
    bob.send_json({"type": "item-update", "payload": {}})
    assert next_msg(bob, "error")["code"] == "forbidden"


@pytest.mark.parametrize("status,body", [
    (403, {"error": "no"}),
    (404, {}),
    (401, {}),
    (200, {"allow": False}),
    (200, {"role": "GUEST"}),      # a role that gives no access
    (200, {"allow": True}),        # granted without a role
])
def test_hook_denials_close_1008(relay, backend, status, body):
    backend.answer("carol", status, body)
    server = hook_server(relay, backend.url)
    client = connect(server, "pv1", "carol", expect_connected=False)
    assert client.expect_close() == 1008
    assert backend.hits("carol") == 1


def test_hook_answers_are_cached_for_the_configured_time(relay, backend):
    backend.answer("alice", 200, {"role": "OWNER"})
    server = hook_server(relay, backend.url, cacheSeconds=1.0)
    for _ in range(3):
        assert connect(server, "pv1", "alice").hello["role"] == "controller"
    assert backend.hits("alice") == 1  # one question for three joins
    # a denial is cached too
    for _ in range(2):
        assert connect(server, "pv1", "carol", expect_connected=False).expect_close() == 1008
    assert backend.hits("carol") == 1
    # per user and resource
    connect(server, "pv2", "alice")
    assert backend.hits("alice", "portal-view:pv2") == 1
    # after the cache time the backend is asked again, and its new answer counts
    backend.answer("alice", 200, {"role": "VIEWER"})
    time.sleep(1.1)
    assert connect(server, "pv1", "alice").hello["role"] == "viewer"
    assert backend.hits("alice", "portal-view:pv1") == 2


def test_hook_resource_template(relay, backend):
    backend.answer("alice", 200, {"role": "OWNER"})
    server = hook_server(relay, backend.url, resource="views/{portalViewId}/access")
    connect(server, "pv9", "alice")
    assert backend.requests[-1]["resource"] == "views/pv9/access"


def test_hook_failures_close_1011_and_are_not_cached(relay, backend):
    backend.answer("slow", 200, {"role": "OWNER"}, delay=1.5)
    backend.answer("broken", 500, {"error": "db down"})
    backend.answer("garbled", 200, ["not", "an", "object"])
    server = hook_server(relay, backend.url, timeout=0.3)

    started = time.monotonic()
    assert connect(server, "pv1", "slow", expect_connected=False).expect_close() == 1011
    assert time.monotonic() - started < 1.4  # closed at the hook time-out, not at the answer
    assert connect(server, "pv1", "broken", expect_connected=False).expect_close() == 1011
    assert connect(server, "pv1", "garbled", expect_connected=False).expect_close() == 1011

    backend.answer("broken", 200, {"role": "VIEWER"})
    assert connect(server, "pv1", "broken").hello["role"] == "viewer"  # asked again: failures are not cached
    assert backend.hits("broken") == 2


def test_unreachable_hook_closes_1011(relay):
    server = hook_server(relay, f"http://{HOST}:{free_port()}/authorize", timeout=0.5)
    assert connect(server, "pv1", "alice", expect_connected=False).expect_close() == 1011


def test_hook_failure_can_be_configured_to_deny_1008(relay, backend):
    backend.answer("slow", 200, {"role": "OWNER"}, delay=1.5)
    backend.answer("broken", 500, {})
    backend.answer("fine", 200, {"role": "EDITOR"})
    server = hook_server(relay, backend.url, timeout=0.3, onFailure="deny")
    assert connect(server, "pv1", "slow", expect_connected=False).expect_close() == 1008
    assert connect(server, "pv1", "broken", expect_connected=False).expect_close() == 1008
    assert connect(server, "pv1", "fine").hello["role"] == "controller"
