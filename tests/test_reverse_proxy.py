"""docs/reverse-proxy.md's nginx and Caddy configurations, run as written in front of a real relay.

Each test takes the snippet from the page (so the page cannot drift from what works), changes
only what a test machine must (the listening address, a self-signed certificate instead of
Let's Encrypt, the relay's port), starts the real proxy from Debian's package, and talks to the
relay through it over TLS: a WebSocket session, a REST call, and an upgrade from an origin the
relay refuses, whose 403 must come back through the proxy.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from relay_helpers import HOST, WSClient, base_config, free_port
from test_tls_and_secret_files import insecure_context, write_self_signed
from tls_ws import TLSConnection

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reverse-proxy.md"


def snippet(language: str) -> str:
    """The page's one fenced block in `language`."""
    blocks = re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 1, f"docs/reverse-proxy.md should have one {language} block, has {len(blocks)}"
    return blocks[0]


def replace(text: str, old: str, new: str) -> str:
    assert old in text, f"the snippet no longer contains {old!r}: update this test with the page"
    return text.replace(old, new)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the proxy exited with status {process.returncode}"
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the proxy never listened on {port}")


def wait_for_relay_through(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    """A proxy that listens may not serve yet (TLS set-up, its first upstream connection): the
    relay's /readyz answered through it is the sign it does."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the proxy exited with status {process.returncode}"
        try:
            with urllib.request.urlopen(f"https://{HOST}:{port}/readyz", context=insecure_context(), timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the relay never answered through the proxy on {port}"
        time.sleep(0.1)


def run_proxy(command: list[str], port: int, workdir: Path, env: dict[str, str] | None = None
              ) -> Iterator[int]:
    log = (workdir / "proxy.log").open("w")
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        wait_for_relay_through(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@pytest.fixture
def upstream(relay):
    """A relay with the default origin allow-list (localhost and 127.0.0.1 only)."""
    return relay(base_config())


def prepare(tool: str, package: str, language: str, tmp_path) -> tuple[str, str, int, str]:
    """A certificate, a free port and the page's `language` snippet for running `tool`."""
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (.ci/run installs Debian's {package})")
    cert, key = write_self_signed(tmp_path)
    return cert, key, free_port(), snippet(language)


@pytest.fixture
def nginx(upstream, tmp_path) -> Iterator[int]:
    cert, key, port, site = prepare("nginx", "nginx-light", "nginx", tmp_path)
    site = replace(site, "server 127.0.0.1:8080;", f"server {HOST}:{upstream.port};")
    site = replace(site, "listen 443 ssl;", f"listen {HOST}:{port} ssl;")
    site = replace(site, "/etc/letsencrypt/live/relay.example.com/fullchain.pem", cert)
    site = replace(site, "/etc/letsencrypt/live/relay.example.com/privkey.pem", key)
    # The page's snippet is the `http` block's content; a test runs it as its own nginx.
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off;
user root;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    {site}
}}
""")
    yield from run_proxy(["nginx", "-c", str(conf), "-p", str(tmp_path)], port, tmp_path)


@pytest.fixture
def caddy(upstream, tmp_path) -> Iterator[int]:
    cert, key, port, site = prepare("caddy", "caddy", "caddyfile", tmp_path)
    site = replace(site, "reverse_proxy 127.0.0.1:8080", f"reverse_proxy {HOST}:{upstream.port}")
    site = replace(site, "relay.example.com {", f"https://{HOST}:{port} {{\n    tls {cert} {key}")
    # No admin endpoint (tests run side by side) and no HTTP→HTTPS redirect listener on :80.
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text("{\n    admin off\n    auto_https disable_redirects\n}\n" + site)
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    yield from run_proxy(["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"], port,
                         tmp_path, env)


def connect_through(port: int) -> WSClient:
    client = WSClient(TLSConnection.open(f"wss://{HOST}:{port}/ws", insecure_context(), origin=f"http://127.0.0.1:{port}"))
    client.hello = client.expect("connected")
    return client


def exchange_through(port: int) -> None:
    """A WebSocket session, a REST call and a refused origin, all through the proxy on `port`."""
    subscriber, publisher = connect_through(port), connect_through(port)
    try:
        assert subscriber.client_id and publisher.ping()["type"] == "pong"
        subscriber.subscribe("proxied")
        publisher.subscribe("proxied")
        publisher.publish("proxied", {"n": 1})
        message = subscriber.expect("message")
        assert message["from"] == publisher.client_id and message["data"] == {"n": 1}, message
    finally:
        subscriber.close()
        publisher.close()
    with urllib.request.urlopen(f"https://{HOST}:{port}/readyz", context=insecure_context(), timeout=5) as response:
        assert json.loads(response.read())["status"] == "ready"
    # The proxy passes Origin through unchanged, so the relay's allow-list still applies.
    with pytest.raises(InvalidStatus) as refused:
        TLSConnection.open(f"wss://{HOST}:{port}/ws", insecure_context(), origin="https://evil.example")
    assert refused.value.response.status_code == 403


def test_the_nginx_configuration_of_the_guide_proxies_websockets_and_rest(nginx):
    exchange_through(nginx)


def test_the_caddy_configuration_of_the_guide_proxies_websockets_and_rest(caddy):
    exchange_through(caddy)
