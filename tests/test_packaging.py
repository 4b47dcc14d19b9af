"""scripts/package.sh's tarball runs on its own: unpacked into an empty directory, started with a
PATH that has no Swift toolchain and with the toolchain's directory hidden (an empty tmpfs over
it, in a mount namespace of the test's own), it serves its web assets and default routes and
talks WebSocket. The binary is stripped and `ldd` shows no Swift library; the systemd unit
passes `systemd-analyze verify`.

The tarball: $RELAY_PACKAGE (scripts/test.sh makes one with `scripts/package.sh --debug`); without
it, the test runs `scripts/package.sh --debug` itself. A release tarball is tested the same way:
`RELAY_PACKAGE=dist/relay-0.9.0-linux-x86_64.tar.gz python3 -m pytest tests/test_packaging.py`."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from relay_helpers import HOST, REPO, SECRET, WSClient, free_port, wait_until
from websockets.sync.client import connect as ws_connect

pytestmark = pytest.mark.timeout(600)

CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("RELAY_PACKAGE")
    if given:
        return Path(given).resolve()
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([str(REPO / "scripts" / "package.sh"), "--debug", "--output", str(out)],
                            capture_output=True, text=True, timeout=580)
    assert result.returncode == 0, result.stdout + result.stderr
    return next(out.glob("relay-*.tar.gz"))


@pytest.fixture(scope="module")
def unpacked(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("empty")
    assert not any(target.iterdir())
    with tarfile.open(tarball) as archive:
        archive.extractall(target, filter="tar")
    (root,) = target.iterdir()
    return root


def toolchain_root() -> Path:
    swift = shutil.which("swift")
    assert swift, "the test compares against the toolchain it hides: swift must be on this PATH"
    return Path(swift).resolve().parents[2]  # …/usr/bin/swift → the toolchain's root


def without_toolchain(*command: str) -> list[str]:
    """``command`` in a mount namespace where the toolchain's directory is an empty tmpfs."""
    script = 'mount -t tmpfs none "$0" && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(toolchain_root()), *command]


def clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": CLEAN_PATH, "HOME": "/nonexistent", "LANG": "C.UTF-8", **extra}
    assert shutil.which("swift", path=CLEAN_PATH) is None, f"swift is on {CLEAN_PATH}"
    return env


def test_the_tarball_holds_the_binary_assets_routes_and_unit(unpacked: Path):
    for path in ("bin/relay", "routes.yaml", "web/relay.js", "web/demo/index.html", "deploy/relay.service",
                 "deploy/ml-alerts.yaml", "deploy/grafana/relay.json", "LICENSE", "README.md", "CHANGELOG.md"):
        assert (unpacked / path).is_file(), f"{path} missing from the tarball"
    assert re.fullmatch(r"relay-\d+\.\d+\.\d+-linux-[\w]+(-debug)?", unpacked.name), unpacked.name


def test_the_binary_is_stripped_and_links_no_swift_library(unpacked: Path):
    binary = unpacked / "bin" / "relay"
    libraries = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    assert "swift" not in libraries.lower() and str(toolchain_root()) not in libraries, libraries
    sections = subprocess.run(["readelf", "-S", "--wide", str(binary)], capture_output=True, text=True, check=True).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections, "the binary is not stripped"


def test_it_runs_without_the_toolchain_and_talks_websocket(unpacked: Path):
    version = subprocess.run(without_toolchain("bin/relay", "--version"), cwd=unpacked, env=clean_env(),
                             capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+ \(commit \S+\)", version.stdout.strip()), version
    check = subprocess.run(without_toolchain("bin/relay", "check", "--strict", "routes.yaml"), cwd=unpacked,
                           env=clean_env(RELAY_JWT_SECRET=SECRET), capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr

    port = free_port()
    log = open(unpacked / "relay.log", "wb")
    process = subprocess.Popen(
        without_toolchain("bin/relay", "serve", "--config", "routes.yaml", "--port", str(port)),
        cwd=unpacked, env=clean_env(RELAY_JWT_SECRET=SECRET, RELAY_SERVER_HOST=HOST), stdout=log, stderr=log,
        stdin=subprocess.DEVNULL)
    try:
        def get(path: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()

        def healthy() -> bool:
            assert process.poll() is None, (unpacked / "relay.log").read_text()
            try:
                return get("/healthz")[0] == 200
            except OSError:
                return False

        wait_until(healthy, 30, 0.1, "the packaged relay never answered /healthz")
        # The packaged web assets, served through the packaged default routes.
        status, body = get("/relay.js")
        assert status == 200 and b"class RelayClient" in body
        status, body = get("/demo/")
        assert status == 200 and b"Relay demos" in body
        # A WebSocket exchange on the default pubsub endpoint.
        url = f"ws://{HOST}:{port}/ws/pubsub"
        a = WSClient(ws_connect(url, open_timeout=5, proxy=None, legacy=True))
        b = WSClient(ws_connect(url, open_timeout=5, proxy=None, legacy=True))
        for client in (a, b):
            client.hello = client.expect("connected")
            client.subscribe("packaged")
        a.publish("packaged", {"from": "the tarball"})
        message = b.expect("message")
        assert message["data"] == {"from": "the tarball"} and message["from"] == a.client_id
        assert a.ping()["type"] == "pong"
        a.close()
        b.close()
        status, body = get("/metrics")
        assert status == 200 and f'relay_build_info{{version="{version.stdout.split()[0]}"'.encode() in body
    finally:
        process.terminate()
        assert process.wait(15) == 0, (unpacked / "relay.log").read_text()
        log.close()


def test_the_systemd_unit_verifies_and_sets_what_a_service_needs(unpacked: Path):
    unit = (unpacked / "deploy" / "relay.service").read_text()
    for line in ("User=relay", "Restart=on-failure", "LimitNOFILE=65536", "EnvironmentFile=/etc/relay/relay.env",
                 "ExecStart=/opt/relay/bin/relay serve --config /opt/relay/routes.yaml", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in unit.splitlines(), f"{line} missing from relay.service"
    # systemd-analyze checks that ExecStart exists: point the unit at the unpacked copy.
    local = unpacked / "relay.service"
    local.write_text(unit.replace("/opt/relay", str(unpacked)))
    result = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr + result.stdout
