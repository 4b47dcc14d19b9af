"""The browser client (web/relay.js) and the demo pages (web/demo/) in a real headless Chromium,
driven by Selenium, against the default routes.yaml: camera pairing with real WebRTC video (Chromium's
fake camera) and a phone that drops and resumes; portal viewer following the controller; two
recording pages starting together by their own (skewed) clocks; the ML dashboard showing a binary frame,
an alert toast and paged, filtered history; the admin page. Screenshots: test-artifacts/*.png."""

from __future__ import annotations

import base64
import json
import os
import struct
import time

import pytest

from browser_helpers import demo_config, make_browser_fixture, screenshot, wait_js
from relay_helpers import REPO

browser = make_browser_fixture()
pytestmark = pytest.mark.timeout(150)


def page(server, path: str) -> str:
    return f"{server.http_url}{path}"


# ---------------------------------------------------------------------------
# Served files (no browser)
# ---------------------------------------------------------------------------


def test_static_files_serve_the_client_and_refuse_escapes(relay, tmp_path):
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<p>home</p>")
    (root / "sub" / "app.css").write_text("p{}")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "leak.txt")
    cfg = demo_config()
    cfg["plugins"]["site"] = {"plugin": "static-files", "config": {"root": str(root), "prefix": "/site"}}
    server = relay(cfg)

    status, headers, body = server.http_get("/relay.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript"), (status, headers)
    assert b"class RelayClient" in body
    status, headers, body = server.http_get("/demo/")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"Relay demos" in body
    assert server.http_get("/demo")[0] == 301
    assert server.http_get("/site/sub/app.css")[1]["content-type"].startswith("text/css")
    assert server.http_get("/site/")[2] == b"<p>home</p>"
    for path in ("/site/../secret.txt", "/site/%2e%2e/secret.txt", "/site/sub/../../secret.txt", "/site/.hidden"):
        status, _, body = server.http_get(path)
        assert status in (400, 404), (path, status)
        assert b"secret" != body and "error" in json.loads(body), (path, body)
    status, _, body = server.http_get("/site/leak.txt")  # a symlink pointing outside the root
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    status, _, body = server.http_get("/site/missing.html")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert server.http_get("/healthz")[0] == 200


def test_qr_code_is_an_svg_from_libqrencode(relay):
    server = relay(demo_config())
    short = server.http_get("/demo/qr.svg?text=" + "A")
    long = server.http_get("/demo/qr.svg?text=" + "http%3A%2F%2F192.168.1.20%3A8080%2Fdemo%2Fcamera-phone.html%3Fcode%3DK7QX2M")
    for status, headers, body in (short, long):
        assert status == 200 and headers["content-type"] == "image/svg+xml", (status, headers)
        assert body.startswith(b"<svg") and b"<path" in body
    # Version 1 (21 modules + 2x4 quiet zone) for one character; a URL needs a larger version.
    assert b'viewBox="0 0 29 29"' in short[2]
    assert b'viewBox="0 0 29 29"' not in long[2]
    assert server.http_get("/demo/qr.svg")[0] == 400
    assert server.http_get("/demo/qr.svg?text=" + "x" * 2000)[0] == 413


# ---------------------------------------------------------------------------
# Camera pairing: real WebRTC video through the relay's signaling
# ---------------------------------------------------------------------------


def frames_decoded(driver) -> int:
    return driver.execute_script(
        "const v = document.querySelector('#video'); return v && v.getVideoPlaybackQuality ? "
        "v.getVideoPlaybackQuality().totalVideoFrames : 0;")


def test_camera_pairing_pages_stream_video_and_survive_a_phone_drop(relay, browser):
    server = relay(demo_config())
    desktop = browser()
    desktop.get(page(server, "/demo/camera-desktop.html"))
    code = wait_js(desktop, "window.demo && window.demo.state.code")
    wait_js(desktop, "document.querySelector('#qr').complete && document.querySelector('#qr').naturalWidth > 0")
    phone_url = desktop.execute_script("return document.querySelector('#phone-link').href")
    assert phone_url.endswith(f"/demo/camera-phone.html?code={code}"), phone_url

    phone = browser(width=420, height=860)
    phone.get(phone_url)
    wait_js(phone, "window.demo && window.demo.state.paired")
    wait_js(desktop, "window.demo.state.peer")
    # A real video track arrives and the desktop's <video> decodes frames.
    wait_js(desktop, "document.querySelector('#video').getVideoPlaybackQuality().totalVideoFrames > 5", timeout=40)
    wait_js(desktop, "document.querySelector('#video').videoWidth > 0")
    screenshot(desktop, "camera-desktop")
    screenshot(phone, "camera-phone")

    # The phone's socket drops (not a leave); the desktop sends while it is away.
    phone_id = phone.execute_script("return demo.relay.clientId")
    phone.execute_script("demo.relay.drop(4000)")
    desktop.execute_script("demo.relay.send({type: 'cam-data', code: demo.state.code, payload: {n: 1}})")
    desktop.execute_script("demo.relay.send({type: 'cam-data', code: demo.state.code, payload: {n: 2}})")
    wait_js(phone, "demo.relay.state === 'open' && demo.state.received.length >= 2", timeout=20)
    assert phone.execute_script("return demo.relay.clientId") == phone_id, "the phone did not resume its identity"
    assert phone.execute_script("return demo.state.received") == [{"n": 1}, {"n": 2}]  # in order, once
    assert phone.execute_script("return demo.state.paired") is True
    # The pairing still works both ways, and the video keeps playing.
    phone.execute_script("demo.relay.send({type: 'cam-data', code: demo.state.code, payload: {back: true}})")
    wait_js(desktop, "demo.state.received.some((p) => p.back === true)")
    before = frames_decoded(desktop)
    wait_js(desktop, f"document.querySelector('#video').getVideoPlaybackQuality().totalVideoFrames > {before}", timeout=20)
    assert desktop.execute_script("return demo.state.code") == code, "the desktop lost its pairing"
    assert "phone left" not in desktop.execute_script("return document.querySelector('#log').textContent")
    screenshot(phone, "camera-phone-after-drop")


# ---------------------------------------------------------------------------
# Portal view
# ---------------------------------------------------------------------------


def test_portal_viewer_follows_the_controller_with_presence(relay, browser):
    server = relay(demo_config())
    owner = server.token("u1", portalViews={"pv-demo": "OWNER"})
    watcher = server.token("u2", portalViews={"pv-demo": "VIEWER"})
    controller = browser()
    controller.get(page(server, f"/demo/portal-controller.html?view=pv-demo&token={owner}"))
    wait_js(controller, "window.demo.relay && demo.relay.state === 'open'")
    viewer = browser(width=420, height=860)
    viewer.get(page(server, f"/demo/portal-viewer.html?view=pv-demo&token={watcher}"))
    wait_js(viewer, "demo.state.presence && demo.state.presence.controllers === 1 && demo.state.presence.viewers === 1")
    wait_js(controller, "demo.state.presence && demo.state.presence.viewers === 1")
    # The viewer asked for a sync on join and got the controller's current item.
    wait_js(viewer, "document.querySelector('#slide').dataset.item === '0'")
    from selenium.webdriver.common.by import By
    controller.find_element(By.CSS_SELECTOR, '[data-pick="3"]').click()
    wait_js(viewer, "document.querySelector('#slide').dataset.item === '3'")
    controller.find_element(By.ID, "next").click()
    wait_js(viewer, "document.querySelector('#slide').dataset.item === '4'")
    assert "Bedroom" in viewer.find_element(By.ID, "slide").text
    assert "1 controller, 1 viewer" in viewer.find_element(By.ID, "presence").text
    screenshot(controller, "portal-controller")
    screenshot(viewer, "portal-viewer")
    viewer.execute_script("demo.relay.close()")
    wait_js(controller, "demo.state.presence.viewers === 0")


# ---------------------------------------------------------------------------
# Recording room
# ---------------------------------------------------------------------------


def test_two_recording_pages_start_within_a_few_ms_by_their_own_clocks(relay, browser):
    cfg = demo_config()
    cfg["plugins"]["vendor"]["config"]["root"] = str(REPO / "web" / "vendor")
    server = relay(cfg)
    skews = {"desktop": 0, "mobile": 7000}  # the phone page's clock runs 7 s ahead
    pages = {}
    for device, skew in skews.items():
        driver = browser(width=1000 if device == "desktop" else 420, height=860)
        driver.get(page(server, f"/demo/recording.html?session=take-test&device={device}&skew={skew}"))
        pages[device] = driver
    for device, driver in pages.items():
        # The official Socket.IO client with its defaults: long-polling first, then the upgrade.
        wait_js(driver, "demo.socket.connected && demo.socket.io.engine.transport.name === 'websocket'", timeout=20)
        assert driver.execute_script("return demo.state.transports") == ["polling", "websocket"], device
        wait_js(driver, "demo.state.offsetTransport === 'websocket' && demo.state.devices.length === 2", timeout=20)
    offsets = {device: pages[device].execute_script("return demo.state.offset") for device in pages}
    assert abs(offsets["mobile"] + 7000) < 50 and abs(offsets["desktop"]) < 50, offsets
    wait_js(pages["desktop"], "demo.state.status === 'READY'")

    from selenium.webdriver.common.by import By
    pages["desktop"].find_element(By.ID, "duration").clear()
    pages["desktop"].find_element(By.ID, "duration").send_keys("1500")
    pages["desktop"].find_element(By.CSS_SELECTOR, "#start-form button").click()
    starts = {}
    for device, driver in pages.items():
        start = wait_js(driver, "demo.state.starts.length === 1 && demo.state.starts[0]", timeout=10)
        starts[device] = start
    screenshot(pages["desktop"], "recording-desktop")
    screenshot(pages["mobile"], "recording-mobile")
    # Each page's start instant on its own clock, brought back to the host clock.
    host = {device: starts[device]["startedAt"] - skews[device] for device in starts}
    spread = abs(host["desktop"] - host["mobile"])
    assert spread < 10, f"start instants {spread:.2f} ms apart: {starts}"
    # The server stops the take after its duration; both pages report and the take completes.
    for driver in pages.values():
        wait_js(driver, "demo.state.stops.length === 1 && demo.state.stops[0].reason === 'duration'", timeout=10)
    for driver in pages.values():
        wait_js(driver, "demo.state.status === 'COMPLETED'", timeout=10)


# ---------------------------------------------------------------------------
# ML dashboard
# ---------------------------------------------------------------------------


def binary_frame(header: dict, payload: bytes) -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + payload


def dashboard_with_a_stream(server, browser, device_name: str):
    """Registers a stream of alice's; returns (alice's token, the stream id, her open dashboard)."""
    alice = server.token("alice")
    status, body = server.http_json("POST", "/api/streams/register", {"deviceName": device_name}, token=alice)
    assert status == 200, body
    stream = body["streamId"]
    dashboard = browser()
    dashboard.get(page(server, f"/demo/dashboard.html?token={alice}"))
    wait_js(dashboard, f"demo.state.streams.has('{stream}') && demo.relay.state === 'open'")
    return alice, stream, dashboard


def test_dashboard_shows_a_binary_frame_alert_toast_and_paged_history(relay, browser):
    server = relay(demo_config())
    service = server.token("ml-1", role="ml-service")
    alice, stream, dashboard = dashboard_with_a_stream(server, browser, "Porch camera")
    # A real JPEG, made by the browser's canvas.
    jpeg = base64.b64decode(dashboard.execute_script(
        "const c = document.createElement('canvas'); c.width = 160; c.height = 90;"
        "const g = c.getContext('2d'); g.fillStyle = '#1d4ed8'; g.fillRect(0, 0, 160, 90);"
        "g.fillStyle = '#fde047'; g.fillRect(40, 20, 80, 50);"
        "return c.toDataURL('image/jpeg', 0.9).split(',')[1];"))

    phone = server.connect("/api/streams/ws", token=alice)
    phone.send_json({"type": "register", "clientType": "mobile", "streamId": stream})
    phone.expect("registered")
    ml = server.connect("/api/streams/ws", token=service)
    ml.send_json({"type": "subscribe", "streamId": stream, "consumes": ["video-frame"], "produces": ["alert"]})
    ml.expect("subscribed")

    deadline = time.monotonic() + 20
    seq = 0
    while not dashboard.execute_script("return demo.state.frames > 0"):
        assert time.monotonic() < deadline, "no frame reached the dashboard"
        phone.send_bytes(binary_frame({"type": "video-frame", "streamId": stream, "seq": seq,
                                       "timestamp": int(time.time() * 1000)}, jpeg))
        seq += 1
        time.sleep(0.3)
    wait_js(dashboard, f"document.querySelector('[data-stream=\"{stream}\"] img').naturalWidth === 160")

    for i in range(11):
        ml.send_json({"type": "alert", "streamId": stream, "severity": "low", "message": f"motion {i}"})
    ml.send_json({"type": "alert", "streamId": stream, "severity": "high", "message": "Person detected",
                  "metadata": {"confidence": 0.95}})
    wait_js(dashboard, "Array.from(document.querySelectorAll('.toast')).some((t) => t.textContent.includes('Person detected'))")
    wait_js(dashboard, "demo.state.alerts.length === 12")
    screenshot(dashboard, "dashboard")

    # History: newest first, 10 per page, a second page, a severity filter.
    rows = "document.querySelectorAll('#alerts tr').length - 1"
    wait_js(dashboard, f"{rows} === 10 && document.querySelector('#alerts').textContent.includes('Person detected')")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    wait_js(dashboard, "!document.querySelector('#older').disabled")
    dashboard.find_element(By.ID, "older").click()
    wait_js(dashboard, f"{rows} === 2 && document.querySelector('#page-info').textContent === 'page 2'")
    assert "motion 0" in dashboard.find_element(By.ID, "alerts").text
    Select(dashboard.find_element(By.ID, "f-severity")).select_by_visible_text("high")
    wait_js(dashboard, f"{rows} === 1 && document.querySelector('#page-info').textContent === 'page 1'")
    assert "Person detected" in dashboard.find_element(By.ID, "alerts").text
    screenshot(dashboard, "dashboard-history-filtered")


# ---------------------------------------------------------------------------
# Admin and index
# ---------------------------------------------------------------------------


def test_admin_page_shows_connections_routes_and_rates(relay, browser):
    server = relay(demo_config())
    client = server.connect("/ws")
    client.send_json({"type": "cam-create"})
    client.expect("cam-code")
    admin = browser()
    admin.get(page(server, "/demo/admin.html"))
    wait_js(admin, "demo.state.samples >= 2 && demo.state.ready === 'ready'", timeout=20)
    assert int(admin.execute_script("return document.querySelector('#connections').textContent")) >= 1
    rooms = admin.execute_script("return document.querySelector('#rooms').textContent")
    assert rooms == str(int(server.metric("relay_rooms_active"))), rooms
    routes = admin.execute_script("return document.querySelector('#routes').textContent")
    assert "/ws cam-create" in routes and "cameras" in routes, routes
    screenshot(admin, "admin")
    admin.get(page(server, "/demo/"))
    wait_js(admin, "document.querySelectorAll('a').length >= 6")
    screenshot(admin, "index")


# ---------------------------------------------------------------------------
# Tokens per page, the dev-token buttons, links back to the index
# ---------------------------------------------------------------------------


def test_dev_tokens_plugin_mints_tokens_the_relay_accepts(relay):
    from relay_helpers import SECRET, jwt_decode_hs256
    server = relay(demo_config())
    status, body = server.http_json("POST", "/demo/dev-token", {"sub": "carol", "claims": {"role": "ml-service"}})
    assert status == 200, body
    _, claims = jwt_decode_hs256(body["token"], SECRET)
    assert claims["sub"] == "carol" and claims["role"] == "ml-service" and claims["exp"] - claims["iat"] == 3600
    assert body["expiresAt"] == claims["exp"]
    service = server.connect("/api/streams/ws", token=body["token"])
    assert service.client_id
    for bad in ({"claims": {}}, {"sub": ""}, {"sub": "x", "claims": {"exp": 1}}, {"sub": "x", "claims": [1]}):
        status, body = server.http_json("POST", "/demo/dev-token", bad)
        assert status == 400 and body["error"]["code"] == "invalid_message", (bad, body)


def test_each_page_keeps_its_own_token_and_its_button_mints_one(relay, browser):
    from selenium.webdriver.common.by import By
    server = relay(demo_config())
    alice = server.token("alice")
    driver = browser()
    driver.get(page(server, f"/demo/dashboard.html?token={alice}"))
    wait_js(driver, "demo.relay.state === 'open' && document.querySelector('#user').textContent === 'alice'")

    # The portal page does not see the dashboard's token: it asks for one.
    driver.get(page(server, "/demo/portal-controller.html?view=pv-demo"))
    wait_js(driver, "document.querySelector('#main-section h2').textContent === 'Token needed'")
    assert driver.execute_script("return window.demo.relay === undefined")
    assert driver.find_element(By.ID, "token-user").text == "no token"
    # Its button mints a controller token for this view, and the page connects with it.
    driver.find_element(By.ID, "dev-token").click()
    wait_js(driver, "window.demo.relay && demo.relay.state === 'open' && demo.relay.clientId", timeout=20)
    assert driver.find_element(By.ID, "token-user").text == "token: u1"
    wait_js(driver, "document.querySelector('#slide').dataset.item === '0'")
    screenshot(driver, "portal-controller-dev-token")

    # Each page comes back with its own token.
    driver.get(page(server, "/demo/dashboard.html"))
    wait_js(driver, "demo.relay.state === 'open' && document.querySelector('#user').textContent === 'alice'")
    driver.get(page(server, "/demo/portal-controller.html?view=pv-demo"))
    wait_js(driver, "window.demo.relay && demo.relay.state === 'open'")
    assert driver.find_element(By.ID, "token-user").text == "token: u1"
    # Forgetting it affects this page only.
    driver.find_element(By.ID, "forget-token").click()
    wait_js(driver, "document.querySelector('#main-section h2') && document.querySelector('#main-section h2').textContent === 'Token needed'")
    driver.get(page(server, "/demo/dashboard.html"))
    wait_js(driver, "demo.relay.state === 'open' && document.querySelector('#user').textContent === 'alice'")


DEMO_PAGES = ("admin.html", "camera-desktop.html", "camera-phone.html", "dashboard.html", "portal-controller.html",
              "portal-viewer.html", "recording.html")


def test_every_page_links_back_to_the_index_and_connecting_pages_have_a_dev_token_button(relay, browser):
    from selenium.webdriver.common.by import By
    pages_on_disk = {p.name for p in (REPO / "web" / "demo").glob("*.html")} - {"index.html"}
    assert pages_on_disk == set(DEMO_PAGES), pages_on_disk
    server = relay(demo_config())
    driver = browser()
    for name in DEMO_PAGES:
        driver.get(page(server, f"/demo/{name}"))
        back = driver.find_element(By.CSS_SELECTOR, "header a.back")
        assert back.get_attribute("href") == page(server, "/demo/"), (name, back.get_attribute("href"))
        if name != "admin.html":  # the admin page reads /metrics and needs no token
            assert driver.find_element(By.ID, "dev-token").is_displayed(), name
        back.click()
        wait_js(driver, "document.title === 'Relay demos'")


def test_leaving_the_page_sends_leave_so_the_relay_frees_the_client_at_once(relay, browser):
    server = relay(demo_config())  # resumeGrace: the default 30 s
    driver = browser()
    driver.get(page(server, "/demo/camera-desktop.html"))
    wait_js(driver, "window.demo && demo.relay.state === 'open' && demo.state.code")
    server.wait_metric("relay_connections_active", lambda v: v == 1)
    server.wait_metric("relay_sessions_active", lambda v: v == 1)
    leaves = server.metric("relay_closes_total", initiator="server", code="1000")
    driver.get("about:blank")  # pagehide
    # A leave ends the identity at once; a plain drop would keep it for the 30 s resume grace.
    server.wait_metric("relay_connections_active", lambda v: v == 0, timeout=2)
    server.wait_metric("relay_sessions_active", lambda v: v == 0, timeout=2)
    # The relay answers `leave` with its close 1000 (the page's own close frame crosses it).
    server.wait_metric("relay_closes_total", lambda v: v == leaves + 1, timeout=2, initiator="server", code="1000")


def test_ml_producer_example_sends_jpeg_frames_the_dashboard_shows(relay, browser):
    from test_ml_alerts_e2e import Script
    server = relay(demo_config())
    alice, stream, dashboard = dashboard_with_a_stream(server, browser, "Producer example")
    producer = Script("producer.py", "--url", server.url("/api/streams/ws"), "--token", alice, "--stream", stream,
                      "--width", "160", "--height", "90", "--frames", "40", "--fps", "10")
    try:
        image = f"document.querySelector('[data-stream=\"{stream}\"] img')"
        size = wait_js(dashboard, f"{image}.complete && {image}.naturalWidth > 0 && [{image}.naturalWidth, {image}.naturalHeight]",
                       timeout=20)
        assert size == [160, 90], size
        screenshot(dashboard, "dashboard-producer-jpeg")
        assert producer.finish(30) == 0, "\n".join(producer.lines)
    finally:
        producer.kill()
