#!/usr/bin/env python3
"""ML service for Relay's `ml-alerts` plugin (docs/plugins/ml-alerts.md, "ML service"), with the `websockets` package.

Authenticates with a service token (claim role=ml-service), subscribes to streams as a
video consumer and alert producer, decodes binary and JSON frames, runs FrameAnalyzer on the
raw bytes and publishes an `alert` when a frame stands out. Reconnects with backoff and
resumes, so no frame or acknowledgement is lost across a short outage.

    RELAY_TOKEN=$(relay token --sub ml-1 --claim role=ml-service) \\
        python3 client.py --url ws://localhost:8080/api/streams/ws --stream stream_abc

Without --stream it subscribes to every stream the REST API lists for it (the service role
sees all streams).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from analyzer import FrameAnalyzer
from relay_stream import Session, api_base, decode_frame, rest


def log(*parts: object) -> None:
    print(*parts, flush=True)


class MLService:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.session = Session(args.token)
        self.analyzers: dict[str, FrameAnalyzer] = {}
        self.frames = 0
        self.alerts = 0

    def streams(self) -> list[str]:
        if self.args.stream:
            return self.args.stream
        listed = rest("GET", api_base(self.args.url) + "/api/streams/list", self.args.token)
        return [s["id"] for s in listed["streams"]]

    async def run(self) -> int:
        deadline = time.monotonic() + self.args.timeout if self.args.timeout else None
        backoff = 0.5
        while True:
            try:
                async with connect(self.args.url, max_size=self.args.max_size, open_timeout=10) as ws:
                    resumed = await self.session.start(ws)
                    if resumed:
                        log(f"resumed as {self.session.client_id}")
                    else:
                        await self.subscribe(ws)
                    backoff = 0.5
                    if await self.consume(ws, deadline):
                        return 0
            except TimeoutError:
                log("timed out")
                return 1
            except (ConnectionClosed, OSError) as exc:
                if getattr(exc, "rcvd", None) is not None and exc.rcvd.code == 1008:
                    log(f"refused: {exc.rcvd.reason}")
                    return 2
                log(f"connection lost ({exc}); reconnecting in {backoff:.1f}s")
            if deadline is not None and time.monotonic() > deadline:
                log("timed out")
                return 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, 10.0)

    async def subscribe(self, ws) -> None:
        for stream in self.streams():
            await ws.send(json.dumps({
                "type": "subscribe",
                "clientType": "ml-service",
                "streamId": stream,
                "consumes": ["video-frame"],
                "produces": ["alert"],
                "format": self.args.format,
            }))

    async def consume(self, ws, deadline: float | None) -> bool:
        """Reads until done (True) or the connection ends (raises)."""
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = await asyncio.wait_for(ws.recv(), timeout)  # TimeoutError past the deadline
            self.session.received(message)
            frame = decode_frame(message)
            if frame is None:
                self.control(json.loads(message))
                continue
            header, payload = frame
            self.frames += 1
            stream = header["streamId"]
            analyzer = self.analyzers.setdefault(stream, FrameAnalyzer(threshold=self.args.threshold))
            finding = analyzer.analyze(payload, header.get("seq"))
            if finding is None:
                continue
            await ws.send(json.dumps({
                "type": "alert",
                "streamId": stream,
                "severity": finding.severity,
                "message": finding.message,
                "metadata": finding.metadata,
                "timestamp": int(time.time() * 1000),
            }))
            self.alerts += 1
            log(f"alert {finding.severity} {stream}: {finding.message}")
            if self.args.max_alerts and self.alerts >= self.args.max_alerts:
                # a ping round trip: the relay has handled the alert (it handles a client's
                # messages in order) before we leave
                await ws.send(json.dumps({"type": "ping"}))
                while True:
                    reply = await ws.recv()
                    self.session.received(reply)
                    if isinstance(reply, str) and json.loads(reply).get("type") == "pong":
                        break
                await ws.send(json.dumps({"type": "leave"}))
                return True

    def control(self, body: dict) -> None:
        kind = body.get("type")
        if kind == "subscribed":
            log(f"subscribed {body['streamId']} format={body.get('format')}")
        elif kind == "stream-status":
            log(f"status {body['streamId']} {body['status']}")
        elif kind == "error":
            log(f"error {body.get('code')}: {body.get('message')} (ref {body.get('ref')})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RELAY_URL", "ws://localhost:8080/api/streams/ws"))
    parser.add_argument("--token", default=os.environ.get("RELAY_TOKEN"), help="service JWT (or RELAY_TOKEN)")
    parser.add_argument("--stream", action="append", help="stream id (repeatable); default: every listed stream")
    parser.add_argument("--format", choices=("binary", "json", "auto"), default="binary",
                        help="frame form to receive (the relay converts once per frame)")
    parser.add_argument("--threshold", type=float, default=6.0, help="deviations from baseline that make an alert")
    parser.add_argument("--max-alerts", type=int, default=0, help="exit after publishing this many alerts")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: run forever)")
    parser.add_argument("--max-size", type=int, default=8 << 20, help="largest frame accepted")
    args = parser.parse_args()
    if not args.token:
        parser.error("a service token is required (--token or RELAY_TOKEN)")
    try:
        return asyncio.run(MLService(args).run())
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
