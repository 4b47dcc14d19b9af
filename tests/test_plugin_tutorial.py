"""docs/plugins/writing-a-plugin.md shows the code the relay's own Swift tests compile and run
(Tests/PluginTests/Tutorial): the tutorial cannot drift from code that works."""
from __future__ import annotations

import re

from relay_helpers import REPO

TUTORIAL = REPO / "docs" / "plugins" / "writing-a-plugin.md"
CODE = REPO / "Tests" / "PluginTests" / "Tutorial"


def swift_block_after(text: str, path: str) -> str:
    match = re.search(re.escape(f"`{path}`:") + r"\n\n```swift\n(.*?)```", text, re.S)
    assert match, f"no swift block for {path}"
    return match[1]


def test_the_tutorials_plugin_is_the_tested_one():
    text = TUTORIAL.read_text()
    shown = swift_block_after(text, "Sources/PresenceCounter/PresenceCounterPlugin.swift")
    assert shown == (CODE / "PresenceCounterPlugin.swift").read_text()


def test_the_tutorials_test_is_the_one_that_runs():
    text = TUTORIAL.read_text()
    shown = swift_block_after(text, "Tests/PresenceCounterTests/PresenceCounterPluginTests.swift")
    # Out of tree the test imports the plugin's module; in the relay it is in the same target.
    assert shown.replace("import PresenceCounter\n", "", 1) == (CODE / "PresenceCounterPluginTests.swift").read_text()
