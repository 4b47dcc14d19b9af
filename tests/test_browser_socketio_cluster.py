"""The official Socket.IO client (web/vendor/socket.io.min.js, socket.io-client 4.8.1) in a real
headless Chromium, with every default (long-polling, then the upgrade), on a two-node cluster
behind the plain round-robin proxy of test_socketio_cluster.py: a socket whose upgrade reaches
the other node than its long-polling session's is taken over there, ends on WebSocket, and
exchanges events (an echo, an acknowledgement, directs both ways with a client on each node)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import make_browser_fixture, wait_js
from cluster_helpers import settle
from engineio_polling import WebSocketLink
from relay_helpers import HOST
from test_browser_socketio import VENDOR, call, harness_root, open_harness
from test_socketio_cluster import NODE_TIMEOUT, NOISE, RESUME_GRACE, cluster_config, directs, sio

browser = make_browser_fixture()
pytestmark = pytest.mark.timeout(180)

SOCKETS = 10  # at most: the first whose upgrade crosses nodes ends the search (seen: the 2nd or 3rd)


def page_config(page_root: Path) -> dict:
    """test_socketio_cluster's nodes, plus the vendored client at /vendor/ and the page at /t/."""
    config = cluster_config()
    config["plugins"]["vendor"] = {"plugin": "static-files", "config": {"root": str(VENDOR), "prefix": "/vendor"}}
    config["plugins"]["harness"] = {"plugin": "static-files", "config": {"root": str(page_root), "prefix": "/t"}}
    return config


def open_socket(driver: Any, index: int) -> dict:
    """`io({forceNew: true})` number `index`, once upgraded: its Engine.IO and Socket.IO ids."""
    driver.execute_script(f"window.S{index} = io({{forceNew: true}}); window.T{index} = track(S{index});")
    wait_js(driver, f"S{index}.connected && S{index}.io.engine.transport.name === 'websocket'", timeout=20)
    return driver.execute_script(f"return {{engine: S{index}.io.engine.id, socket: S{index}.id}}")


def test_the_official_client_upgrades_on_the_other_node_through_a_round_robin_proxy(cluster, browser, tmp_path, proxy_for):
    nodes = cluster(2, page_config(harness_root(tmp_path)), resume_grace=RESUME_GRACE, node_timeout=NODE_TIMEOUT)
    proxy = proxy_for(nodes)
    driver = open_harness(browser, f"http://{HOST}:{proxy.port}/t/")
    node_of_port = {nodes.a.port: "a", nodes.b.port: "b"}
    crossed = None
    for index in range(SOCKETS):
        ids = open_socket(driver, index)
        upgraded_on = [node_of_port[port] for port in proxy.ports_of(f"transport=websocket&sid={ids['engine']}")]
        assert len(upgraded_on) == 1, proxy.routed
        # every socket, crossing or not, opened over long-polling and upgraded
        assert driver.execute_script(f"return T{index}.transports") == ["polling", "upgrade:websocket"]
        if not ids["engine"].startswith(upgraded_on[0] + "."):
            crossed = (index, ids, upgraded_on[0])
            break
    assert crossed is not None, f"no upgrade reached the other node in {SOCKETS} sockets: {proxy.routed}"
    index, ids, node = crossed
    name = f"S{index}"

    # the socket works on the node its WebSocket reached: an echo, an acknowledgement...
    driver.execute_script(f"{name}.emit('message', 'after the upgrade')")
    wait_js(driver, f"T{index}.events.some((e) => e[0] === 'message-back' && e[1] === 'after the upgrade')")
    assert call(driver, f"{name}.timeout(5000).emitWithAck('message-with-ack', {{n: 1}})") == {"n": 1}
    # ...and directs both ways with a client on each node
    for peer_node in (nodes.a, nodes.b):
        peer = sio(WebSocketLink(peer_node.port, server=peer_node))
        settle()
        peer.emit("direct", {"to": ids["socket"], "data": f"to the page from {peer_node.port}"})
        wait_js(driver, f"T{index}.events.some((e) => e[0] === 'direct' && e[1].data === "
                        f"{json.dumps(f'to the page from {peer_node.port}')})")
        driver.execute_script(f"{name}.emit('direct', {{to: {json.dumps(peer.sid)}, data: 'to the peer'}})")
        assert directs(peer, 1) == ["to the peer"]
        peer.silent(0.3, skip=NOISE)
    state = driver.execute_script(f"return JSON.parse(JSON.stringify(T{index}))")
    assert state["errors"] == [] and state["disconnects"] == [], state
    assert driver.execute_script(f"return {name}.io.engine.transport.name") == "websocket"
