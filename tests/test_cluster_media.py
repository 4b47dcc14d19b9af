"""Media across cluster nodes (issue 7 item 3): video frames (routes with `overflow:
drop-oldest`) travel node to node over the direct media links, once per node, and never
through PostgreSQL; control messages (alerts) still go through the database.

Real processes, real sockets, a real PostgreSQL.
"""

from __future__ import annotations

import json
import socket
import struct

from cluster_helpers import ml_config, psql, settle
from relay_helpers import RelayServer, WSClient, json_text

from test_cluster_plugins import SERVICE, ml_auth, ml_subscribe, register_stream


def binary_frame(header: dict, payload: bytes) -> bytes:
    head = json_text(header).encode()
    return struct.pack(">I", len(head)) + head + payload


def envelopes_out(node: RelayServer) -> float:
    return node.metric("relay_cluster_envelopes_out_total")


def media_frames(node: RelayServer, direction: str) -> float:
    return node.metric("relay_cluster_media_frames_total", direction=direction)


def test_video_frames_cross_nodes_over_the_media_link_not_the_database(cluster):
    nodes = cluster(3, ml_config())
    alice = nodes.a.token("alice")
    stream = register_stream(nodes.a, alice)
    producer = ml_auth(nodes.a, "alice")
    producer.send_json({"type": "register", "clientType": "mobile", "streamId": stream, "produces": ["video-frame"]})
    producer.expect("registered", ignore=("stream-status",))
    viewers: list[WSClient] = []
    for node in (nodes.b, nodes.b, nodes.c):  # two viewers on b (one copy to b), one on c
        viewer = ml_auth(node, "alice")
        ml_subscribe(viewer, stream, consumes=["video-frame"])
        viewers.append(viewer)
    settle()
    before = {"db": envelopes_out(nodes.a), "out": media_frames(nodes.a, "out"),
              "in_b": media_frames(nodes.b, "in"), "in_c": media_frames(nodes.c, "in")}

    frames = 60
    # The first frame may find the link still closed (it opens on first use, and media is
    # never queued): warm the link up first. The first frame also makes the stream `streaming`,
    # a status change that goes to the viewers through the database: wait for it too, then count.
    warm = binary_frame({"type": "video-frame", "streamId": stream, "seq": -1}, b"warm")
    seen: list[set[str]] = [set() for _ in viewers]
    for _ in range(20):
        producer.send_bytes(warm)
        for viewer, kinds in zip(viewers, seen):
            kinds.update(_arrivals(viewer))
        if all({"frame", "stream-status"} <= kinds for kinds in seen):
            break
    before = {"db": envelopes_out(nodes.a), "out": media_frames(nodes.a, "out"),
              "in_b": media_frames(nodes.b, "in"), "in_c": media_frames(nodes.c, "in")}
    for n in range(frames):
        payload = bytes([n % 256]) * 2048
        producer.send_bytes(binary_frame({"type": "video-frame", "streamId": stream, "seq": n}, payload))
        # a frame rate a camera would have, so nothing needs to be dropped
        producer.ping()
    for viewer in viewers:
        seqs = []
        while len(seqs) < frames:
            data = viewer.recv_raw(timeout=10)
            if isinstance(data, str):
                assert json.loads(data)["type"] == "stream-status", data
                continue
            (length,) = struct.unpack(">I", data[:4])
            header = json.loads(data[4:4 + length])
            if header["seq"] < 0:
                continue
            assert data[4 + length:] == bytes([header["seq"] % 256]) * 2048
            seqs.append(header["seq"])
        assert seqs == list(range(frames)), seqs

    # once per node with viewers (b and c), whatever the number of viewers there
    assert media_frames(nodes.a, "out") - before["out"] == 2 * frames
    assert media_frames(nodes.b, "in") - before["in_b"] == frames
    assert media_frames(nodes.c, "in") - before["in_c"] == frames
    # and not one of them through the database
    assert envelopes_out(nodes.a) - before["db"] == 0, "video frames must not be written to PostgreSQL"

    # alerts (control messages) still go through the database, to both nodes
    service = ml_auth(nodes.a, "ml-1", **SERVICE)
    ml_subscribe(service, stream, clientType="ml-service", consumes=["video-frame"], produces=["alert"])
    for viewer in viewers:
        viewer.send_json({"type": "subscribe", "streamId": stream, "consumes": ["video-frame", "alert"]})
        viewer.expect("subscribed", ignore=("stream-status",))
    settle()
    db_before, rows_before = envelopes_out(nodes.a), inbox_rows(nodes, "b", "c")
    service.send_json({"type": "alert", "streamId": stream, "severity": "high", "message": "person"})
    for viewer in viewers:
        assert viewer.expect("alert", ignore=("stream-status",))["message"] == "person"
    # one envelope for the room, which the database writes as one row per node with dashboards
    assert envelopes_out(nodes.a) - db_before == 1
    assert inbox_rows(nodes, "b", "c") - rows_before == 2


def inbox_rows(nodes, *node_ids: str) -> int:
    """How many rows the inboxes of these nodes' processes were ever given (their numbering)."""
    names = ",".join(f"'{n}'" for n in node_ids)
    return int(psql(nodes.database_url, f"SELECT coalesce(sum(seq), 0) FROM relay_nodes WHERE node_id IN ({names})").strip())


def _arrivals(viewer: WSClient) -> set[str]:
    """What reached `viewer` within 0.3 s: "frame" for media, else the message types."""
    kinds: set[str] = set()
    while True:
        try:
            data = viewer.recv_raw(timeout=0.3)
        except AssertionError:
            return kinds
        kinds.add("frame" if isinstance(data, bytes) else json.loads(data)["type"])


def test_media_link_refuses_a_connection_without_the_cluster_secret(cluster):
    nodes = cluster(2, ml_config())
    address = _link_address(nodes)
    host, port = address["a"].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        hello = b"RELAYLINK1 intruder wrong-secret"
        sock.sendall(struct.pack(">I", len(hello)) + hello)
        sock.settimeout(5)
        assert sock.recv(1) == b"", "the link must close on a wrong secret"


def _link_address(nodes) -> dict:
    rows = psql(nodes.database_url, "SELECT node_id || '=' || link_address FROM relay_nodes")
    return dict(line.split("=", 1) for line in rows.split() if "=" in line)
