#!/usr/bin/env python3
"""A phone stand-in for Relay's `ml-alerts` plugin (docs/plugins/ml-alerts.md): registers a
stream (REST unless --stream is given), connects, sends `register`, streams generated JPEG
frames (a grayscale gradient with noise, optionally with a sudden brightness change; encoded
by Pillow) as binary or JSON video frames, and prints the alerts that come back. The demo
dashboard (/demo/dashboard.html) shows the frames.

    RELAY_TOKEN=$(relay token --sub alice) python3 producer.py --frames 90 --anomaly-at 60
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import sys
import time

from PIL import Image
from relay_client import RelayClient

from relay_stream import api_base, rest


def log(*parts: object) -> None:
    print(*parts, flush=True)


def make_frame(width: int, height: int, level: int, rng: random.Random, quality: int) -> bytes:
    """A JPEG of a grayscale frame: a soft gradient around `level` plus noise."""
    rows = []
    for y in range(height):
        base = level + (y * 16) // height - 8
        rows.append(bytes(max(0, min(255, base + rng.randint(-6, 6))) for _ in range(width)))
    jpeg = io.BytesIO()
    Image.frombytes("L", (width, height), b"".join(rows)).save(jpeg, format="JPEG", quality=quality)
    return jpeg.getvalue()


async def run(args: argparse.Namespace) -> int:
    stream = args.stream
    if not stream:
        answer = rest("POST", api_base(args.url) + "/api/streams/register", args.token,
                      {"deviceName": args.device_name, "deviceType": "mobile",
                       "metadata": {"resolution": f"{args.width}x{args.height}", "fps": args.fps}})
        stream = answer["streamId"]
    log(f"STREAM {stream}")
    alerts: list[dict] = []
    got_enough = asyncio.Event()
    rng = random.Random(args.seed)
    relay = RelayClient(args.url, get_token=lambda: args.token, token_transport="first_message", max_size=8 << 20)
    await relay.connect()

    async def receive() -> None:
        async for message in relay.messages():
            if message.type == "alert":
                alerts.append(message.fields)
                log("ALERT " + json.dumps(message.fields, separators=(",", ":")))
                if len(alerts) >= args.wait_alerts:
                    got_enough.set()
            elif message.type == "error":
                log(f"error {message.get('code')}: {message.get('message')} (ref {message.get('ref')})")

    reader = asyncio.create_task(receive())
    try:
        await relay.request({"type": "register", "clientType": "mobile", "streamId": stream,
                             "produces": ["video-frame"], "consumes": ["alert"]}, reply="registered", timeout=10)
        log(f"registered {stream}")
        interval = 1.0 / args.fps
        started = time.monotonic()
        for seq in range(args.frames):
            anomalous = args.anomaly_at >= 0 and args.anomaly_at <= seq < args.anomaly_at + args.anomaly_frames
            jpeg = make_frame(args.width, args.height, args.anomaly_level if anomalous else args.level, rng, args.quality)
            header = {"type": "video-frame", "streamId": stream, "timestamp": int(time.time() * 1000), "seq": seq}
            if args.format == "binary":
                await relay.send_binary(header, jpeg)
            else:
                await relay.send({**header, "data": base64.b64encode(jpeg).decode()})
            await asyncio.sleep(max(0.0, started + (seq + 1) * interval - time.monotonic()))
        log(f"sent {args.frames} frames")
        if args.wait_alerts:
            try:
                await asyncio.wait_for(got_enough.wait(), args.timeout)
            except asyncio.TimeoutError:
                log(f"only {len(alerts)} of {args.wait_alerts} alerts within {args.timeout}s")
                return 1
    finally:
        await relay.close()  # leaves: the stream goes offline at once
        reader.cancel()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RELAY_URL", "ws://localhost:8080/api/streams/ws"))
    parser.add_argument("--token", default=os.environ.get("RELAY_TOKEN"), help="the user's JWT (or RELAY_TOKEN)")
    parser.add_argument("--stream", help="a registered stream id; default: register one over REST")
    parser.add_argument("--device-name", default="Test camera")
    parser.add_argument("--format", choices=("binary", "json"), default="binary")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality (1-95)")
    parser.add_argument("--level", type=int, default=90, help="normal brightness (0-255)")
    parser.add_argument("--anomaly-at", type=int, default=-1, help="first bright frame (-1: none)")
    parser.add_argument("--anomaly-frames", type=int, default=5)
    parser.add_argument("--anomaly-level", type=int, default=210)
    parser.add_argument("--wait-alerts", type=int, default=0, help="after streaming, wait for this many alerts")
    parser.add_argument("--timeout", type=float, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.token:
        parser.error("a token is required (--token or RELAY_TOKEN)")
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
