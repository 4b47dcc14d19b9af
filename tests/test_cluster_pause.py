"""A node that stops answering for longer than nodeTimeout (a stalled process, an overloaded
machine) is reaped by the others although it is alive. When it comes back it registers again,
keeps its clients, and delivers what was sent to them meanwhile, in order, once."""

from __future__ import annotations

import signal
import time

from cluster_helpers import direct, settle


def test_a_node_taken_for_dead_keeps_its_clients_and_their_messages(cluster):
    node_timeout = 2.0
    nodes = cluster(2, resume_grace=30, node_timeout=node_timeout)
    receiver = nodes.a.connect("/ws")
    sender = nodes.b.connect("/ws")
    settle()
    direct(sender, receiver.client_id, {"n": 0})
    assert receiver.expect("direct")["data"] == {"n": 0}

    nodes.a.signal(signal.SIGSTOP)
    try:
        time.sleep(node_timeout + 2.0)  # node b reaps node a
        for n in range(1, 11):
            direct(sender, receiver.client_id, {"n": n})
        sender.ping()
    finally:
        nodes.a.signal(signal.SIGCONT)
    got = [receiver.expect("direct", timeout=15)["data"]["n"] for _ in range(10)]
    assert got == list(range(1, 11)), got
    # and the cluster knows where the receiver is again
    direct(sender, receiver.client_id, {"n": 11})
    assert receiver.expect("direct", timeout=10)["data"] == {"n": 11}
    assert "reaped by another" in nodes.a.logs()
    receiver.assert_silent(0.5)
