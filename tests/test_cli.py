"""The `relay` command line: check, routes, token, and environment overrides (SPEC §2,
docs/configuration.md)."""

from __future__ import annotations

import http.client
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from relay_helpers import (REPO, SECRET, base_config, dump_yaml, free_port, jwt_decode_hs256,
                           padded_ping, relay_env, run_cli)

# A valid route file, written by hand so that line and column numbers are known.
VALID_LINES = [
    "server:",                      # 1
    "  host: 127.0.0.1",            # 2
    "  port: 8080",                 # 3
    "limits:",                      # 4
    "  maxMessageBytes: 4096",      # 5
    "endpoints:",                   # 6
    "  - path: /ws",                # 7
    "    codec: json",              # 8
    "    auth: optional",           # 9
    "plugins:",                     # 10
    "  chat:",                      # 11
    "    plugin: pubsub",           # 12
    "    config:",                  # 13
    "      presence: true",         # 14
    "routes:",                      # 15
    "  - endpoint: /ws",            # 16
    "    type: subscribe",          # 17
    "    plugin: chat",             # 18
    "  - endpoint: /ws",            # 19
    "    type: publish",            # 20
    "    plugin: chat",             # 21
]

ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>.*)$")


def variant(replacements: dict[int, str]) -> str:
    lines = list(VALID_LINES)
    for number, text in replacements.items():
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


@dataclass
class Expected:
    line: int
    cols: tuple[int, ...]  # key column or value column: either names the spot
    path: str
    mentions: str


def check(tmp_path: Path, text: str, name: str = "bad.yaml") -> subprocess.CompletedProcess:
    (tmp_path / name).write_text(text)
    return run_cli("check", name, cwd=tmp_path)


def parsed_errors(result: subprocess.CompletedProcess, name: str = "bad.yaml") -> list[dict]:
    errors = []
    for line in result.stderr.splitlines():
        m = ERROR_LINE.match(line.strip())
        if m and Path(m["file"]).name == name:
            errors.append({"line": int(m["line"]), "col": int(m["col"]), "rest": m["rest"]})
    return errors


def assert_reported(errors: list[dict], want: Expected, stderr: str) -> None:
    for e in errors:
        if e["rest"].startswith(f"{want.path}: ") and e["line"] == want.line and e["col"] in want.cols:
            assert want.mentions in e["rest"], e
            return
    raise AssertionError(f"no error `bad.yaml:{want.line}:{want.cols}: {want.path}: ...` in:\n{stderr}")


# --- relay check --------------------------------------------------------------------------

def test_check_accepts_valid_file(tmp_path):
    result = check(tmp_path, variant({}), "good.yaml")
    assert result.returncode == 0, result.stderr
    assert not parsed_errors(result, "good.yaml")


def test_check_accepts_the_test_base_config(tmp_path):
    result = check(tmp_path, dump_yaml(base_config()), "base.yaml")
    assert result.returncode == 0, result.stderr


CASES = {
    "unknown-key": ({3: "  prot: 8080"}, Expected(3, (3,), "server.prot", "prot")),
    "unknown-plugin-instance": ({21: "    plugin: chta"}, Expected(21, (5, 13), "routes[1].plugin", "chta")),
    "unknown-plugin-name": ({12: "    plugin: pubsubb"}, Expected(12, (5, 13), "plugins.chat.plugin", "pubsubb")),
    "wrong-type": ({3: '  port: "abc"'}, Expected(3, (3, 9), "server.port", "")),
    "bad-enum": ({9: "    auth: sometimes"}, Expected(9, (5, 11), "endpoints[0].auth", "")),
    "unknown-route-endpoint": ({19: "  - endpoint: /nowhere"}, Expected(19, (5, 15), "routes[1].endpoint", "/nowhere")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_reports_error_with_position_and_key_path(tmp_path, case):
    replacements, want = CASES[case]
    result = check(tmp_path, variant(replacements))
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert_reported(parsed_errors(result), want, result.stderr)


def test_check_reports_yaml_syntax_error_position(tmp_path):
    # PyYAML/libyaml: "mapping values are not allowed here" at 5:24
    result = check(tmp_path, variant({5: "  maxMessageBytes: 4096: 5"}))
    assert result.returncode == 1, (result.returncode, result.stderr)
    errors = parsed_errors(result)
    assert any(e["line"] == 5 and e["col"] == 24 for e in errors), result.stderr


def test_check_reports_every_error(tmp_path):
    chosen = ("unknown-key", "unknown-plugin-instance", "bad-enum")
    replacements = {k: v for name in chosen for k, v in CASES[name][0].items()}
    result = check(tmp_path, variant(replacements))
    assert result.returncode == 1, result.stderr
    errors = parsed_errors(result)
    for name in chosen:
        assert_reported(errors, CASES[name][1], result.stderr)
    assert len(errors) == len(result.stderr.strip().splitlines()), \
        f"every stderr line should be one `FILE:LINE:COL: key.path: message` error:\n{result.stderr}"


def test_check_missing_file_fails(tmp_path):
    result = run_cli("check", str(tmp_path / "absent.yaml"))
    assert result.returncode != 0
    assert result.stderr.strip()


# --- relay check: warnings ------------------------------------------------------------------

# Loads, but with four mistakes `relay check` warns about (line numbers on the right).
LINT_LINES = [
    "endpoints:",                                                   # 1
    "  - {path: /ws, codec: json}",                                 # 2
    "  - {path: /ws/forgotten, codec: json}",                       # 3
    "plugins:",                                                     # 4
    "  chat: {plugin: pubsub}",                                     # 5
    "  site: {plugin: static-files, config: {root: ., prefix: /site}}",  # 6
    "routes:",                                                      # 7
    "  - {endpoint: /ws, type: 'sub*', plugin: chat}",              # 8
    "  - {endpoint: /ws, type: subscribe, plugin: chat}",           # 9
    "  - {endpoint: /ws, type: 'chat.*', plugin: chat}",            # 10
    "  - {endpoint: /ws, type: page, plugin: site}",                # 11
]

WARNING_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<severity>warning|error): (?P<path>\S+): (?P<message>.*)$")


def diagnostics(result: subprocess.CompletedProcess) -> list[tuple[int, int, str, str, str]]:
    found = []
    for line in result.stderr.splitlines():
        m = WARNING_LINE.match(line)
        assert m and Path(m["file"]).name == "lint.yaml", f"not a `FILE:LINE:COL: warning: path: message` line: {line!r}"
        found.append((int(m["line"]), int(m["col"]), m["severity"], m["path"], m["message"]))
    return found


def test_check_warns_with_line_and_column_and_strict_fails(tmp_path):
    (tmp_path / "lint.yaml").write_text("\n".join(LINT_LINES) + "\n")
    result = run_cli("check", "lint.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lint.yaml: ok, 4 warnings"
    warnings = diagnostics(result)
    expected = [
        (3, 12, "endpoints[1].path", "no route uses endpoint /ws/forgotten"),
        (9, 27, "routes[1].type", 'shadowed by routes[0] (type "sub*"'),
        (10, 27, "routes[2].type", '"chat.*" matches none of the types pubsub handles'),
        (11, 41, "routes[3].plugin", 'plugin instance "site" (static-files) handles no messages'),
    ]
    assert [(line, col, path) for line, col, _, path, _ in warnings] == [(l, c, p) for l, c, p, _ in expected], result.stderr
    for (_, _, severity, _, message), (_, _, _, fragment) in zip(warnings, expected):
        assert severity == "warning" and fragment in message, (message, fragment)

    strict = run_cli("check", "--strict", "lint.yaml", cwd=tmp_path)
    assert strict.returncode == 1 and not strict.stdout.strip(), (strict.stdout, strict.stderr)
    assert [(l, c, s, p) for l, c, s, p, _ in diagnostics(strict)] == [(l, c, "error", p) for l, c, p, _ in expected]


def test_check_strict_accepts_a_clean_file(tmp_path):
    result = check(tmp_path, variant({}), "good.yaml")
    assert result.returncode == 0 and result.stdout.strip() == "good.yaml: ok", (result.stdout, result.stderr)
    strict = run_cli("check", "--strict", "good.yaml", cwd=tmp_path)
    assert strict.returncode == 0 and not strict.stderr, strict.stderr


# --- relay --version -------------------------------------------------------------------------

def test_version_names_the_release_and_the_commit_it_was_built_from():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+) \(commit ([0-9a-f]{12})(-dirty)?\)", result.stdout.strip())
    assert m, result.stdout
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert m[4] == head, f"built from {m[4]}, the checkout is at {head}: rebuild the relay"
    version = ".".join(m.group(1, 2, 3))
    assert f"## {version} " in (REPO / "CHANGELOG.md").read_text(), f"CHANGELOG.md has no section for {version}"


# --- relay routes ----------------------------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z0-9_./:*?\[\]-]+")


def test_routes_prints_every_route(tmp_path):
    cfg = base_config()
    cfg["routes"].append({"endpoint": "/ws", "type": "pubsub.*", "plugin": "chat"})
    path = tmp_path / "routes.yaml"
    path.write_text(dump_yaml(cfg))
    result = run_cli("routes", str(path))
    assert result.returncode == 0, result.stderr
    lines = [set(TOKEN.findall(line)) for line in result.stdout.splitlines()]
    used = set()
    for route in cfg["routes"]:
        want = {route["endpoint"], route["type"], route["plugin"]}
        match = next((i for i, tokens in enumerate(lines) if want <= tokens and i not in used), None)
        assert match is not None, f"route {route} not in:\n{result.stdout}"
        used.add(match)


# --- relay token -------------------------------------------------------------------------------

def mint(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess:
    return run_cli("token", *args, env=relay_env(secret))


def test_token_is_signed_and_carries_claims():
    result = mint("--sub", "alice", "--claim", "role=admin", "--claim", 'quoted="admin"',
                  "--claim", "n=3", "--claim", 'pv={"a":"OWNER"}', "--ttl", "120")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    header, claims = jwt_decode_hs256(token, SECRET)
    assert header["alg"] == "HS256"
    assert claims["sub"] == "alice"
    assert claims["role"] == "admin" and claims["quoted"] == "admin"
    assert claims["n"] == 3 and isinstance(claims["n"], int)
    assert claims["pv"] == {"a": "OWNER"}
    assert 110 <= claims["exp"] - time.time() <= 130, claims


def test_minted_token_is_accepted_by_the_server(relay):
    server = relay()
    result = mint("--sub", "olga")
    assert result.returncode == 0, result.stderr
    client = server.connect("/ws/secure", expect_connected=False)
    client.send_json({"type": "auth", "token": result.stdout.strip()})
    assert client.expect("authenticated")["userId"] == "olga"
    assert client.expect("connected")["resumed"] is False


@pytest.mark.parametrize("secret", [None, "too-short"], ids=["no-secret", "short-secret"])
def test_token_needs_a_proper_secret(secret):
    result = mint("--sub", "alice", secret=secret)
    assert result.returncode != 0
    assert not re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", result.stdout.strip())


# --- environment overrides ---------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["RELAY_SERVER_PORT", "RELAY_PORT"])
def test_port_from_environment(relay, variable):
    port = free_port()
    server = relay(port=port, pass_port=False, env={variable: str(port)})
    assert server.http_get("/healthz")[0] == 200
    assert server.connect("/ws").ping()["type"] == "pong"


def test_port_flag_wins_over_environment(relay):
    env_port = free_port()
    server = relay(env={"RELAY_SERVER_PORT": str(env_port)})  # also gets --port
    assert server.port != env_port
    assert server.http_get("/healthz")[0] == 200
    with pytest.raises(OSError):  # nothing listens on the environment's port
        _get_healthz(env_port)


def _get_healthz(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


def test_max_message_bytes_from_environment(relay):
    server = relay(env={"RELAY_LIMITS_MAX_MESSAGE_BYTES": "100"})
    client = server.connect("/ws")
    client.send_text(padded_ping(100))
    assert client.expect("pong")["type"] == "pong"
    client.send_text(padded_ping(101))
    assert client.expect_close() == 1009


def test_endpoint_setting_from_environment(relay):
    server = relay(env={"RELAY_ENDPOINTS_0_AUTH": "required"})
    client = server.connect("/ws", expect_connected=False)
    client.send_json({"type": "ping"})
    assert client.expect_close() == 1008
