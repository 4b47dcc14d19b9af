"""Plugin settings: `relay check` reports every problem of every plugin block at once, each with
its line, column and key path, as it does for the kernel's own sections (issue 20, item 3)."""
from __future__ import annotations

import re

from relay_helpers import run_cli

# Line numbers on the right; columns are those of the key (unknown keys) or of the value.
BAD_PLUGIN_SETTINGS = [
    "endpoints:",                                   # 1
    "  - {path: /ws, codec: json}",                 # 2
    "plugins:",                                     # 3
    "  pairing:",                                   # 4
    "    plugin: camera-pairing",                   # 5
    "    config:",                                  # 6
    "      codeLenght: 6",                          # 7  unknown key
    "      codeTTL: -1",                            # 8  must be positive
    "      holdMessages: lots",                     # 9  not an integer
    "  views:",                                     # 10
    "    plugin: portal-view",                      # 11
    "    config:",                                  # 12
    "      roleSource: hook",                       # 13 hook required (reported at the block, 13:7)
    "      viewerRoles: [OWNER]",                   # 14 repeats a controller role
    "      restPrefix: api/",                       # 15 must start with '/'
    "  alerts:",                                    # 16
    "    plugin: ml-alerts",                        # 17
    "    config:",                                  # 18
    "      serviceRole: ['']",                      # 19 empty role
    "      maxPageSize: 10",                        # 20
    "      defaultPageSize: 11",                    # 21 above maxPageSize
    "  rooms:",                                     # 22
    "    plugin: recording-rooms",                  # 23
    "    config:",                                  # 24
    "      minDevices: 3",                          # 25
    "      maxDevices: 2",                          # 26 below minDevices
    "      controllerClaims: {role: []}",           # 27 claim without a value
    "  chat:",                                      # 28
    "    plugin: pubsub",                           # 29
    "    config: {echo: true, ekho: false}",        # 30 unknown key (pubsub used to ignore it)
    "routes:",                                      # 31
    "  - {endpoint: /ws, type: 'cam-*', plugin: pairing}",   # 32
    "  - {endpoint: /ws, type: 'pv-*', plugin: views}",      # 33
    "  - {endpoint: /ws, type: 'ml-*', plugin: alerts}",     # 34
    "  - {endpoint: /ws, type: 'rec-*', plugin: rooms}",     # 35
    "  - {endpoint: /ws, type: 'chat-*', plugin: chat}",     # 36
]

# (line, column, key path, words the message contains)
EXPECTED = [
    (7, 7, "plugins.pairing.config.codeLenght", "unknown key 'codeLenght'"),
    (8, 16, "plugins.pairing.config.codeTTL", "must be positive"),
    (9, 21, "plugins.pairing.config.holdMessages", "expected an integer"),
    (13, 7, "plugins.views.config.hook", "is required when roleSource is 'hook'"),  # at the block
    (14, 20, "plugins.views.config.viewerRoles", "must not repeat a controller role (OWNER)"),
    (15, 19, "plugins.views.config.restPrefix", "must start with '/'"),
    (19, 20, "plugins.alerts.config.serviceRole", "non-empty role"),
    (21, 24, "plugins.alerts.config.defaultPageSize", "must be 1 to maxPageSize"),
    (26, 19, "plugins.rooms.config.maxDevices", "must be at least minDevices (3)"),
    (27, 25, "plugins.rooms.config.controllerClaims", "at least one value"),
    (30, 26, "plugins.chat.config.ekho", "unknown key 'ekho'"),
]

ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<path>\S+): (?P<message>.*)$")


def test_check_reports_every_bad_plugin_setting_with_line_and_column(tmp_path):
    (tmp_path / "plugins.yaml").write_text("\n".join(BAD_PLUGIN_SETTINGS) + "\n")
    result = run_cli("check", "plugins.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    found = []
    for line in lines:
        m = ERROR_LINE.match(line.strip())
        assert m, f"not a `FILE:LINE:COL: key.path: message` line: {line!r}\n{result.stderr}"
        found.append((int(m["line"]), int(m["col"]), m["path"], m["message"]))
    assert [(line, col, path) for line, col, path, _ in found] == [(line, col, path) for line, col, path, _ in EXPECTED], result.stderr
    for (_, _, _, message), (_, _, _, words) in zip(found, EXPECTED):
        assert words in message, (message, words)


def test_check_accepts_the_same_plugins_once_fixed(tmp_path):
    fixed = list(BAD_PLUGIN_SETTINGS)
    fixed[6] = "      codeLength: 6"
    fixed[7] = "      codeTTL: 60"
    fixed[8] = "      holdMessages: 8"
    fixed[12] = "      roleSource: claims"
    fixed[13] = "      viewerRoles: [VIEWER]"
    fixed[14] = "      restPrefix: /api/views"
    fixed[18] = "      serviceRole: [ml]"
    fixed[20] = "      defaultPageSize: 10"
    fixed[25] = "      maxDevices: 4"
    fixed[26] = "      controllerClaims: {role: [operator]}"
    fixed[29] = "    config: {echo: true}"
    (tmp_path / "plugins.yaml").write_text("\n".join(fixed) + "\n")
    result = run_cli("check", "plugins.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
