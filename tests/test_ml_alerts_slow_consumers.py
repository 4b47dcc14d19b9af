"""Plugin `ml-alerts` under slow consumers: a stalled video consumer drops the oldest frames while
others keep up; a stalled alert consumer is closed and resumes with every alert."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from ml_alerts_support import (SERVICE, WS, binary_frame, connect_auth, ml_config, next_frame, parse_binary,
    register_stream, send_register, send_subscribe)


# ---------------------------------------------------------------------------
# items 3 and 4 under a slow consumer
# ---------------------------------------------------------------------------

FRAME_BYTES = 32 * 1024
FRAME_COUNT = 400   # ~13 MB: far beyond what the socket buffers of the stalled consumer absorb


def test_slow_video_consumer_drops_oldest_while_others_keep_up(relay, tmp_path):
    srv = relay(ml_config(tmp_path / "ml.sqlite",
                          limits={"queueMessages": 16, "writeTimeout": 30, "maxMessageBytes": 1 << 20}))
    stream = register_stream(srv, srv.token("alice"))
    producer = connect_auth(srv, "alice")
    send_register(producer, stream, consumes=[])
    fast = srv.connect(WS, sub="alice", max_queue=None)
    send_subscribe(fast, stream, consumes=["video-frame"])
    slow = srv.raw(srv.target(WS, token=srv.token("alice")), rcvbuf=4096)
    slow.expect("connected", ignore=())
    slow.send_json({"type": "subscribe", "streamId": stream, "consumes": ["video-frame"]})
    slow.expect("subscribed", ignore=())
    # from here on the slow consumer does not read
    drops_before = srv.metric("relay_drops_total", reason="queue_full")

    received: list[int] = []
    errors: list[BaseException] = []

    def read_fast() -> None:
        try:
            while len(received) < FRAME_COUNT:
                data = next_frame(fast, timeout=15)
                received.append(parse_binary(data)[0]["seq"])
        except BaseException as exc:  # reported below
            errors.append(exc)

    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    pad = bytes(FRAME_BYTES)
    ping_times = []
    for seq in range(FRAME_COUNT):
        producer.send_bytes(binary_frame({"type": "video-frame", "streamId": stream, "seq": seq}, pad))
        if seq % 50 == 49:
            start = time.monotonic()
            producer.ping()               # the producer is never held up by the slow consumer
            ping_times.append(time.monotonic() - start)
            time.sleep(0.05)
    reader.join(20)
    assert not errors, errors
    assert received == list(range(FRAME_COUNT)), f"fast consumer got {len(received)} frames"
    assert max(ping_times) < 1.0, ping_times
    srv.wait_metric("relay_drops_total", lambda v: v > drops_before, reason="queue_full")

    # the slow consumer was not closed; reading now, it sees the newest frames, in order, with a gap
    seqs: list[int] = []
    deadline = time.monotonic() + 15
    while not seqs or seqs[-1] != FRAME_COUNT - 1:
        frame = slow.recv_message(max(0.1, deadline - time.monotonic()))
        if frame.opcode == 0x2:
            seqs.append(parse_binary(frame.payload)[0]["seq"])
    assert seqs == sorted(set(seqs)), "duplicates or reordering"
    assert len(seqs) < FRAME_COUNT, "nothing was dropped for the slow consumer"
    assert seqs[-1] == FRAME_COUNT - 1


ALERT_PAD = "x" * (60 * 1024)
ALERT_QUEUE = 16


def tcp_send_queue(local_port: int, remote_port: int) -> int:
    """Bytes waiting in the send queue of the IPv4 socket local_port -> remote_port (Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == remote_port:
            return int(queues.split(":")[0], 16)
    raise AssertionError(f"no TCP socket {local_port} -> {remote_port}")


def test_slow_alert_consumer_is_closed_and_resumes_with_every_alert(relay, tmp_path):
    """Alerts are never dropped: a consumer whose queue overflows is closed (1013) and,
    resuming, receives every alert it missed, in order, once.

    The slow consumer never reads (4 KiB receive buffer). Alerts of 60 KiB go out until the
    relay's socket to it stops taking bytes (its writer is blocked); then ALERT_QUEUE + 4
    more overflow its queue (ALERT_QUEUE) under the route's `close` policy. With
    `drop-oldest` they would be dropped and the replay would have a gap."""
    srv = relay(ml_config(
        tmp_path / "ml.sqlite",
        server={"resumeGrace": 10, "resumeBufferMessages": 2000},
        limits={"queueMessages": ALERT_QUEUE, "queueBytes": 256 << 20, "writeTimeout": 3,
                "maxMessageBytes": 1 << 20}))
    alice = srv.token("alice")
    stream = register_stream(srv, alice)
    fast = srv.connect(WS, sub="alice", max_queue=None)
    send_subscribe(fast, stream, consumes=["alert"])
    slow = srv.raw(srv.target(WS, token=alice), rcvbuf=4096)
    hello = slow.expect("connected", ignore=())
    slow.send_json({"type": "subscribe", "streamId": stream, "consumes": ["alert"]})
    slow.expect("subscribed", ignore=())
    slow.expect("stream-status", ignore=())
    seen_before = 2  # subscribed, stream-status
    slow_port = slow.sock.getsockname()[1]
    closes_before = srv.metric("relay_closes_total", code="1013")
    drops_before = srv.metric("relay_drops_total", reason="queue_full")

    service = connect_auth(srv, "ml-1", **SERVICE)
    total = 0

    def send_alert() -> None:
        nonlocal total
        service.send_json({"type": "alert", "streamId": stream, "severity": "high",
                           "message": f"alert {total}", "metadata": {"n": total, "pad": ALERT_PAD}})
        assert fast.expect("alert", timeout=10, ignore=("stream-status",))["metadata"]["n"] == total
        total += 1

    # until the relay's socket to the slow consumer stops growing: its writer is blocked
    unchanged, last = 0, -1
    while unchanged < 3:
        assert total < 400, "the slow consumer's socket never filled up"
        send_alert()
        time.sleep(0.03)
        queued = tcp_send_queue(srv.port, slow_port)
        unchanged = unchanged + 1 if queued == last else 0
        last = queued
    for _ in range(ALERT_QUEUE + 4):
        send_alert()
    srv.wait_metric("relay_closes_total", lambda v: v > closes_before, timeout=8, code="1013")
    assert srv.metric("relay_drops_total", reason="queue_full") == drops_before  # nothing dropped

    # the slow consumer reads what reached it, then finds its connection closed
    got: list[int] = []
    while True:
        try:
            frame = slow.recv_message(5)
        except (EOFError, ConnectionResetError):
            break
        except AssertionError as closed:  # a close frame got through: it says 1013
            assert getattr(closed, "code", None) == 1013, closed
            break
        got.append(json.loads(frame.payload)["metadata"]["n"])
    assert got == list(range(len(got))) and len(got) < total, (len(got), total)

    # it resumes (first-message auth, then the resume message) and gets the rest, once, in order
    again = connect_auth(srv, "alice")
    again.send_json({"type": "resume", "token": hello["resumeToken"], "lastSeen": seen_before + len(got)})
    resumed = again.expect("connected", ignore=())
    assert resumed["resumed"] is True and resumed["clientId"] == hello["clientId"], resumed
    assert resumed["replayed"] == total - len(got), (resumed, total, len(got))
    for n in range(len(got), total):
        assert again.expect("alert", timeout=10)["metadata"]["n"] == n
    # still subscribed
    service.send_json({"type": "alert", "streamId": stream, "severity": "low", "message": "after",
                       "metadata": {"n": total}})
    assert again.expect("alert")["message"] == "after"
    status, body = srv.http_json("GET", f"/api/alerts?streamId={stream}&limit=1", token=alice)
    assert body["alerts"][0]["message"] == "after"
