"""The cluster fault suite (issue 17, items 1, 4 and 5): numbered cross-node streams of direct
and room messages while a node is killed, a node stalls, PostgreSQL restarts or a node's
database connections are cut. Each scenario prints, per stream and recipient, what was sent,
delivered, lost (announced or silently), duplicated and out of order, and fails on any loss
nobody was told about (SPEC §3a: a resume replays exactly, in order, once, or answers
`"resumed": false`; a refused message is answered with an error).

Real processes, real sockets, 127.0.0.1 only; each test starts its own cluster on a fresh
database (the kill and stall tests) or on a PostgreSQL of its own. Every scenario is bounded:
a few hundred messages over a few seconds.
"""

from __future__ import annotations

import json
import signal
import time

from cluster_helpers import API_KEY, Cluster, Roamer, create_database, settle, wait_ready
from fault_helpers import Recipient, StreamSender, Tally, drop, run_streams, terminate_backends, wait_quiet
from relay_helpers import base_config

RATE = 0.01        # seconds between two messages of one stream (100/s per stream)
COUNT = 300        # messages per stream (3 s)


def test_kill_9_under_cross_node_streams_resumes_exactly_or_announces(cluster, topic):
    """Node a is killed with SIGKILL while nodes b and c send it direct and room messages; its
    clients resume on b at once. Every message reaches them once and in order, or their resume
    says `resumed: false`. A subscriber on b, which never moves, gets every room message."""
    nodes = cluster(3, resume_grace=10)
    survivors = lambda: [nodes.b, nodes.c]  # noqa: E731
    direct_to_a = Recipient(nodes.a, "direct@a", survivors)
    member_a = Recipient(nodes.a, "room@a", survivors)
    member_a.subscribe(topic)
    member_b = Recipient(nodes.b, "room@b", survivors)
    member_b.subscribe(topic)
    recipients = [direct_to_a, member_a, member_b]
    settle()
    senders = [
        StreamSender(nodes.c, "d-c", COUNT, RATE, to=direct_to_a.client_id),
        StreamSender(nodes.b, "d-b", COUNT, RATE, to=direct_to_a.client_id),
        StreamSender(nodes.c, "room", COUNT, RATE, topic=topic),
    ]
    settle()
    run_streams(recipients, senders, lambda: Cluster.kill9(nodes.a), after=COUNT * RATE / 3)

    tally = Tally("kill -9 of node a under cross-node streams; its clients resume on b")
    tally.check(senders[0], direct_to_a)
    tally.check(senders[1], direct_to_a)
    tally.check(senders[2], member_a)
    tally.check(senders[2], member_b)
    tally.assert_exact()
    assert direct_to_a.resumes and member_a.resumes, "the clients of node a should have resumed"
    assert not member_b.resumes and not member_b.identity_lost


def test_kill_9_takeover_is_immediate(cluster):
    """Item 5: a client of a killed node resumes on another node at once (its link refuses
    connections), not after `nodeTimeout`, with every message sent meanwhile."""
    nodes = cluster(2, resume_grace=10, node_timeout=5)
    receiver = Recipient(nodes.a, "direct@a", lambda: [nodes.b])
    sender = StreamSender(nodes.b, "d", 200, RATE, to=receiver.client_id)
    settle()
    run_streams([receiver], [sender], lambda: Cluster.kill9(nodes.a), after=0.5, quiet=1.0)
    tally = Tally("kill -9 with nodeTimeout 5 s: the resume does not wait for it")
    tally.check(sender, receiver)
    tally.assert_exact()
    assert receiver.resumes and receiver.resumes[0]["resumed"] is True, receiver.resumes
    assert receiver.resumes[0]["seconds"] < 1.0, f"the resume took {receiver.resumes[0]['seconds']} s"
    assert nodes.b.metric("relay_cluster_resumes_total", result="journal") == 1


def test_sigstop_past_node_timeout_then_sigcont(cluster, topic):
    """Node a stalls (SIGSTOP) for longer than `nodeTimeout` under cross-node streams. A client
    of a that reconnects meanwhile is taken over at once (a's heartbeat is late and it does not
    answer a probe) and resumes exactly or is told it cannot; a is reaped, and when it runs
    again (SIGCONT) it keeps the client that stayed connected to it, which gets every message
    in order, once. Nothing is lost without notice."""
    node_timeout = 2.0
    nodes = cluster(3, resume_grace=20, node_timeout=node_timeout)
    mover = Recipient(nodes.a, "mover@a", lambda: [nodes.b])
    mover.subscribe(topic)
    stayer = Recipient(nodes.a, "stayer@a", lambda: [nodes.a])
    stayer.subscribe(topic)
    watcher = Recipient(nodes.b, "room@b", lambda: [nodes.c])
    watcher.subscribe(topic)
    recipients = [mover, stayer, watcher]
    settle()
    count = 600
    senders = [
        StreamSender(nodes.c, "d-mover", count, RATE, to=mover.client_id),
        StreamSender(nodes.c, "d-stayer", count, RATE, to=stayer.client_id),
        StreamSender(nodes.b, "room", count, RATE, topic=topic),
    ]
    settle()

    def stall() -> None:
        nodes.a.signal(signal.SIGSTOP)
        try:
            time.sleep(1.5)            # a's heartbeat is late now
            drop(mover)                # the client reconnects, to b
            time.sleep(node_timeout)   # and a is reaped meanwhile
        finally:
            nodes.a.signal(signal.SIGCONT)

    run_streams(recipients, senders, stall, quiet=2.0)

    tally = Tally("SIGSTOP of node a past nodeTimeout, then SIGCONT")
    tally.check(senders[0], mover)
    tally.check(senders[2], mover)
    tally.check(senders[1], stayer)
    tally.check(senders[2], stayer)
    tally.check(senders[2], watcher)
    tally.assert_exact()
    assert mover.resumes and mover.resumes[0]["seconds"] < 2.0, mover.resumes
    assert not stayer.resumes, "the client that stayed on the stalled node must not have had to resume"
    assert tally.lines[2].lost_announced == 0 and tally.lines[3].lost_announced == 0
    # a was reaped (by b or c) while it was stopped, and is a member of the cluster again
    assert any("node stopped heartbeating" in node.logs() for node in (nodes.b, nodes.c))
    wait_ready(nodes.a, timeout=10)


def streams_from_b_to_a(nodes, topic: str, count: int, fault) -> Tally:
    """Direct and room streams from node b to two clients of node a, with `fault()` called
    after one second; returns the tally (the clients never resume: they stay connected)."""
    direct_to_a = Recipient(nodes.a, "direct@a", lambda: [nodes.a])
    member_a = Recipient(nodes.a, "room@a", lambda: [nodes.a])
    member_a.subscribe(topic)
    recipients = [direct_to_a, member_a]
    settle()
    senders = [
        StreamSender(nodes.b, "d-b", count, RATE, to=direct_to_a.client_id),
        StreamSender(nodes.b, "room", count, RATE, topic=topic),
    ]
    settle()

    def fault_then_ready() -> None:
        fault()
        for node in nodes:
            wait_ready(node, timeout=20)

    run_streams(recipients, senders, fault_then_ready)
    tally = Tally("")
    tally.check(senders[0], direct_to_a)
    tally.check(senders[1], member_a)
    assert not direct_to_a.resumes and not member_a.resumes
    tally.senders = senders
    return tally


def test_postgres_restart_mid_stream(cluster, pg_server, topic):
    """PostgreSQL stops under cross-node streams and starts again: every message is delivered
    once and in order, or its sender is told `unavailable`; the clients stay connected."""
    _, database_url = create_database(pg_server.url)
    nodes = cluster(2, database_url=database_url)

    def restart() -> None:
        pg_server.stop()
        time.sleep(1.0)
        pg_server.start()

    tally = streams_from_b_to_a(nodes, topic, 500, restart)
    tally.title = "PostgreSQL stopped for 1 s and started again mid-stream"
    tally.assert_exact()
    assert sum(s.refused for s in tally.senders) > 0, "a stop of PostgreSQL mid-stream refuses some messages"
    assert all(e["code"] == "unavailable" for s in tally.senders for e in s.errors)


def test_connections_to_postgres_cut_mid_stream(cluster, pg, topic):
    """Every database connection of both nodes' backplanes is cut (`pg_terminate_backend`)
    under cross-node streams: the nodes reconnect; every message is delivered once and in
    order, or its sender is told `unavailable`."""
    nodes = cluster(2)
    database = nodes.database_url.rsplit("/", 1)[1]
    cut: list[int] = []

    def terminate() -> None:
        cut.append(terminate_backends(pg, database, "a") + terminate_backends(pg, database, "b"))

    tally = streams_from_b_to_a(nodes, topic, 400, terminate)
    tally.title = "every backplane connection cut with pg_terminate_backend mid-stream"
    tally.assert_exact()
    assert cut[0] >= 6, f"each node holds three backplane connections; cut {cut[0]}"


def test_rest_publishes_survive_their_node(cluster, topic):
    """A REST publish in a cluster is answered once it is in PostgreSQL, also for subscribers
    on the same node: killed right after the answers, the node's subscriber resumes elsewhere
    with every message."""
    nodes = cluster(2, env={"RELAY_API_KEY": API_KEY}, resume_grace=10)
    member = Recipient(nodes.a, "room@a", lambda: [nodes.b])
    member.subscribe(topic)
    settle()
    member.start()
    count = 30
    for n in range(count):
        status, _, body = nodes.a.http_request("POST", f"/api/chat/topics/{topic}/publish", {"data": {"s": "rest", "n": n}},
                                               headers={"Authorization": f"Bearer {API_KEY}"})
        assert status == 200 and json.loads(body)["delivered"] == 1, (status, body)
    Cluster.kill9(nodes.a)
    wait_quiet([member], quiet=1.5)
    member.finish()
    got = member.received("rest")
    assert got == list(range(count)) or member.identity_lost, (got, member.resumes)
    assert member.resumes and member.resumes[0]["resumed"] is True, member.resumes


def test_a_resume_from_the_journal_is_exact_or_refused(cluster, topic):
    """The journal knows, for each position a client may have missed, whether the message can
    be read back: a resume whose missed part holds only rows of the database is exact; one that
    missed a message that never crossed the database (here: the `subscribed` answer), claims
    more than the node wrote, or missed more than the journal keeps, is `resumed: false`."""
    quiet = base_config(plugins={"chat": {"plugin": "pubsub", "config": {"presence": False}}})
    nodes = cluster(2, quiet, resume_grace=10)
    clients = [Roamer(nodes.a) for _ in range(4)]
    for client in clients:
        client.subscribe(topic)            # position 1: an answer of node a itself
    publisher = nodes.b.connect("/ws")
    publisher.subscribe(topic)
    settle()
    for n in range(5):                     # positions 2-6: rows of a's inbox
        publisher.publish(topic, {"n": n})
    for client in clients:
        client.recv_until(lambda m: m.get("type") == "message" and m["data"]["n"] == 4)
    Cluster.kill9(nodes.a)

    exact, missed_local, ahead, behind = clients
    hello = exact.open(nodes.b, resume=exact.hello["resumeToken"], lastSeen=1)
    assert hello["resumed"] is True and hello["replayed"] == 5, hello
    assert [exact.expect("message")["data"]["n"] for _ in range(5)] == list(range(5))
    hello = missed_local.open(nodes.b, resume=missed_local.hello["resumeToken"], lastSeen=0)
    assert hello["resumed"] is False, hello
    hello = ahead.open(nodes.b, resume=ahead.hello["resumeToken"], lastSeen=ahead.count + 1)
    assert hello["resumed"] is False, hello
    hello = behind.open(nodes.b, resume=behind.hello["resumeToken"], lastSeen=behind.count)
    assert hello["resumed"] is True and hello["replayed"] == 0, hello
    assert nodes.b.metric("relay_cluster_resumes_total", result="refused") == 2
    assert nodes.b.metric("relay_cluster_resumes_total", result="journal") == 2


def test_without_exact_resume_a_crash_resume_is_refused(cluster):
    """`cluster.exactResume: false`: frames go out without journal records, so a client whose
    node was killed is told `resumed: false` (the loss is announced); a resume while its node
    lives is still exact (hand-over)."""
    nodes = cluster(2, resume_grace=10, cluster_settings={"exactResume": False})
    moving = Recipient(nodes.a, "moving@a", lambda: [nodes.b])
    sender = StreamSender(nodes.b, "d", 100, RATE, to=moving.client_id)
    settle()
    run_streams([moving], [sender], lambda: drop(moving), after=0.5, quiet=1.0)
    tally = Tally("exactResume false: a client dropped while its node lives is handed over")
    tally.check(sender, moving)
    tally.assert_exact()
    assert moving.resumes and moving.resumes[0]["resumed"] is True and tally.lines[0].lost_announced == 0

    crashed = Recipient(nodes.a, "crashed@a", lambda: [nodes.b])
    sender = StreamSender(nodes.b, "d2", 100, RATE, to=crashed.client_id)
    settle()
    run_streams([crashed], [sender], lambda: Cluster.kill9(nodes.a), after=0.5, quiet=1.0)
    assert crashed.resumes and crashed.resumes[0]["resumed"] is False, crashed.resumes
    assert nodes.b.metric("relay_cluster_resumes_total", result="refused") == 1
