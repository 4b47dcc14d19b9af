"""A cluster node that is shut down (SIGTERM) hands its clients to the cluster: they are closed
with 1001, resume on another node with their resume token at once (no waiting for the node's
heartbeat to time out), and get what was sent to them meanwhile; a client that never comes
back is announced left after the resume grace."""

from __future__ import annotations

import signal
import time

from cluster_helpers import Roamer, direct, settle


def test_sigterm_hands_clients_over_for_resume_elsewhere(cluster, topic):
    grace = 4.0
    nodes = cluster(2, resume_grace=grace, node_timeout=5)
    watcher = nodes.b.connect("/ws")
    watcher.subscribe(topic)
    roamer = Roamer(nodes.a)
    roamer.subscribe(topic)
    gone = Roamer(nodes.a)
    gone.subscribe(topic)
    sender = nodes.b.connect("/ws")
    settle()
    direct(sender, roamer.client_id, {"n": 0})
    roamer.recv_until(lambda m: m.get("type") == "direct")

    nodes.a.signal(signal.SIGTERM)
    stopped = time.monotonic()
    ending = roamer.ws.wait_end(10)
    assert ending.code == 1001, ending
    assert nodes.a.wait_exit(15) == 0
    for n in range(1, 6):
        direct(sender, roamer.client_id, {"n": n})
    sender.ping()
    sender.assert_silent(0.2)  # the client is away, not gone: no error

    hello = roamer.resume_on(nodes.b)
    # well before node a's heartbeat could have timed out: it left the cluster on its way out
    assert time.monotonic() - stopped < 5, "resume waited for the heartbeat time-out"
    assert hello["resumed"] is True and hello["clientId"] == roamer.client_id, hello
    roamer.recv_until(lambda m: m.get("type") == "direct" and m["data"]["n"] == 5)
    assert [d["n"] for d in roamer.directs()] == list(range(6))

    left = watcher.expect("left", timeout=grace + 6, ignore=("joined",))
    assert left == {"type": "left", "topic": topic, "clientId": gone.client_id}, left
    watcher.assert_silent(1.0)
