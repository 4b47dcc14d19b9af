"""Headless Chromium (Debian's chromium + chromium-driver) driven by Selenium, for the demo-page
tests (tests/test_browser*.py). Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

import copy
import os
import shutil
import struct
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from relay_helpers import REPO

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402


def demo_config() -> dict:
    """The default routes.yaml, with the web roots made absolute and the store in memory."""
    cfg = yaml.safe_load((REPO / "routes.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["server"]["host"] = "127.0.0.1"
    cfg.pop("store", None)
    cfg["plugins"]["relayjs"]["config"]["root"] = str(REPO / "web" / "relay.js")
    cfg["plugins"]["relayjs-module"]["config"]["root"] = str(REPO / "web" / "relay.mjs")
    cfg["plugins"]["demo"]["config"]["root"] = str(REPO / "web" / "demo")
    cfg["plugins"]["vendor"]["config"]["root"] = str(REPO / "web" / "vendor")
    return cfg


def chromium(fake_media: bool = True, width: int = 1100, height: int = 900) -> Any:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are not installed (README's set-up: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-features=WebRtcHideLocalIpsWithMdns"):
        options.add_argument(arg)
    if fake_media:
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument("--use-fake-ui-for-media-stream")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(20)
    return driver


def wait_js(driver: Any, expression: str, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Polls a JavaScript expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = driver.execute_script(f"return ({expression});")
        except Exception as error:  # noqa: BLE001 - page not ready yet
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    logs = ""
    try:
        logs = "\n".join(entry["message"] for entry in driver.get_log("browser")[-20:])
    except Exception:  # noqa: BLE001
        pass
    raise AssertionError(f"timed out after {timeout}s waiting for {expression!r} (last: {last!r})\n{logs}")


def png_colours(data: bytes, limit: int = 2) -> int:
    """Distinct pixel colours of a PNG, counted up to ``limit`` (8-bit RGB/RGBA, non-interlaced)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    seen: set[bytes] = set()
    offset = 0
    for _ in range(height):
        kind, line = raw[offset], bytearray(raw[offset + 1:offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        for x in range(0, stride, bpp * 7):
            seen.add(bytes(line[x:x + bpp]))
            if len(seen) >= limit:
                return len(seen)
        previous = line
    return len(seen)


def screenshot(driver: Any, name: str) -> Path:
    """Saves test-artifacts/<name>.png and asserts it is not blank (more than one colour)."""
    ARTIFACTS.mkdir(exist_ok=True)
    data = driver.get_screenshot_as_png()
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(data)
    assert png_colours(data) > 1, f"screenshot {path} is a single colour"
    return path


def quit_all(drivers: list[Any]) -> None:
    for driver in drivers:
        try:
            driver.quit()
        except Exception:  # noqa: BLE001
            pass


def make_browser_fixture() -> Callable[..., Any]:
    @pytest.fixture
    def browser() -> Any:
        """``browser(**kwargs)`` starts a headless Chromium; all are quit at teardown."""
        drivers: list[Any] = []

        def start(**kwargs: Any) -> Any:
            driver = chromium(**kwargs)
            drivers.append(driver)
            return driver

        yield start
        quit_all(drivers)
    return browser
