"""The documentation a stranger follows: README's five-minute start works as written (its route
file, served by a real relay, and its Python exchange, run as a script), and README and docs/
stand alone (no references to documents outside the repository; every relative link resolves)."""

from __future__ import annotations

import re
import subprocess
import sys

from relay_helpers import HOST, REPO, run_cli

README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").rglob("*.md")), REPO / "plugins" / "chat-history" / "README.md"]


def quickstart_blocks() -> tuple[str, str]:
    text = README.read_text()
    section = text[text.index("## Five-minute start"):text.index("## Set-up")]
    route_file = re.search(r"```yaml\n(.*?)```", section, re.S)[1]
    script = re.search(r"```python\n(.*?)```", section, re.S)[1]
    return route_file, script


def test_the_five_minute_start_works_as_written(relay, tmp_path):
    route_file, script = quickstart_blocks()
    assert len(route_file.strip().splitlines()) == 6, route_file
    (tmp_path / "quickstart.yaml").write_text(route_file)
    check = run_cli("check", "--strict", "quickstart.yaml", cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.strip() == "quickstart.yaml: ok", check.stdout + check.stderr

    # As written (no secret, the default host), but bound to loopback as every test server is.
    server = relay(route_file, secret=None, env={"RELAY_SERVER_HOST": HOST})
    (tmp_path / "quickstart.py").write_text(script.replace("localhost:8080", f"{HOST}:{server.port}"))
    result = subprocess.run([sys.executable, "quickstart.py"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5, lines
    assert all('"type":"connected"' in line for line in lines[:2]), lines
    assert lines[2] == lines[3] == '{"type":"subscribed","topic":"lobby"}', lines
    alice = re.search(r'"clientId":"([^"]+)"', lines[0])[1]
    assert lines[4] == f'{{"type":"message","topic":"lobby","from":"{alice}","data":"hello"}}', lines


def test_docs_cite_no_document_outside_the_repository():
    outside = re.compile(r"\bseeds?\b|\bSPEC\b|§|STYLE\.md|DEPENDENCIES\.md", re.I)
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for path in DOCS for number, line in enumerate(path.read_text().splitlines(), 1)
             if outside.search(line.replace("RFC 6455 §", ""))]
    assert not found, "\n".join(found)


def test_every_relative_link_in_the_docs_resolves():
    link = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
    broken = []
    for path in DOCS:
        for target, _ in link.findall(path.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(REPO)} -> {target}")
    assert not broken, broken


def test_each_built_in_plugin_has_a_page():
    names = re.findall(r'public static let name = "([a-z-]+)"', "\n".join(
        p.read_text() for p in (REPO / "Sources" / "Plugins").rglob("*Plugin.swift")))
    assert len(names) >= 9, names
    missing = [name for name in names if not (REPO / "docs" / "plugins" / f"{name}.md").is_file()]
    assert not missing, missing


def test_the_licence_is_apache_2_and_the_readmes_say_so():
    licence = (REPO / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    for readme in (README, REPO / "plugins" / "chat-history" / "README.md"):
        text = readme.read_text()
        assert "Apache License 2.0" in text and "LICENSE" in text, readme
