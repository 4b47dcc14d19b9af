"""docs/plugins/writing-a-plugin.md shows the files of examples/presence-counter, the package CI
builds, tests and checks (scripts/test.sh): the tutorial cannot drift from code that works."""
from __future__ import annotations

import re

import pytest

from relay_helpers import REPO

TUTORIAL = REPO / "docs" / "plugins" / "writing-a-plugin.md"
PACKAGE = REPO / "examples" / "presence-counter"


def block_after(text: str, path: str, language: str) -> str:
    match = re.search(re.escape(f"`{path}`") + r"(?:(?!```).)*?:\n\n```" + language + r"\n(.*?)```", text, re.S)
    assert match, f"no {language} block for {path}"
    return match[1]


@pytest.mark.parametrize("path,language", [
    ("Package.swift", "swift"),
    ("Sources/PresenceCounter/PresenceCounterPlugin.swift", "swift"),
    ("Tests/PresenceCounterTests/PresenceCounterPluginTests.swift", "swift"),
    ("presence.yaml", "yaml"),
    ("Sources/presence-relay/main.swift", "swift"),
])
def test_the_tutorial_shows_the_example_packages_file(path, language):
    assert block_after(TUTORIAL.read_text(), path, language) == (PACKAGE / path).read_text()


def test_the_tutorial_lists_every_file_of_the_package():
    listed = re.search(r"```\npresence-counter/\n(.*?)```", TUTORIAL.read_text(), re.S)
    assert listed, "no file list"
    files = sorted(line.strip() for line in listed[1].splitlines() if line.strip())
    on_disk = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*")
                     if p.is_file() and ".build" not in p.parts and p.name != "Package.resolved")
    assert files == on_disk
