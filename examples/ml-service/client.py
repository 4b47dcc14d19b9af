#!/usr/bin/env python3
"""ML service for Relay's `ml-alerts` plugin (docs/plugins/ml-alerts.md, "ML service"), with the `relay_client` package.

Authenticates with a service token (claim role=ml-service), subscribes to streams as a
video consumer and alert producer, decodes binary and JSON frames, runs FrameAnalyzer on the
raw bytes and publishes an `alert` when a frame stands out. The connection is a
`relay_client.RelayClient` (clients/python: `pip install ./clients/python`): it reconnects
with backoff and resumes, so no frame or acknowledgement is lost across a short outage, and
subscribes again when the relay could not resume.

    RELAY_TOKEN=$(relay token --sub ml-1 --claim role=ml-service) \\
        python3 client.py --url ws://localhost:8080/api/streams/ws --stream stream_abc

A service that runs longer than its token lives gets a fresh one from --token-command, run
before every connect and whenever the relay sends `token_expiring`; the client sends it as
`refresh` on the open connection, so the connection outlives each token:

    python3 client.py --token-command 'relay token --sub ml-1 --claim role=ml-service --ttl 300'

Without --stream it subscribes to every stream the REST API lists for it (the service role
sees all streams).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from relay_client import Message, Open, RelayClient, RelayClientError

from analyzer import FrameAnalyzer
from relay_stream import api_base, decode_frame, rest


def log(*parts: object) -> None:
    print(*parts, flush=True)


class MLService:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.token: str | None = args.token
        self.relay = RelayClient(args.url, get_token=self.fresh_token, token_transport="first_message",
                                 max_size=args.max_size)
        self.analyzers: dict[str, FrameAnalyzer] = {}
        self.frames = 0
        self.alerts = 0

    async def fresh_token(self) -> str:
        """The token of the next connect or refresh: a new one from --token-command, else --token."""
        if self.args.token_command:
            command = await asyncio.create_subprocess_shell(self.args.token_command, stdout=asyncio.subprocess.PIPE)
            output, _ = await command.communicate()
            if command.returncode != 0 or not output.strip():
                raise RuntimeError(f"--token-command exited with {command.returncode} and printed no token")
            self.token = output.decode().strip()
        assert self.token is not None
        return self.token

    def streams(self) -> list[str]:
        if self.args.stream:
            return self.args.stream
        listed = rest("GET", api_base(self.args.url) + "/api/streams/list", self.token)
        return [s["id"] for s in listed["streams"]]

    async def run(self) -> int:
        try:
            async with asyncio.timeout(self.args.timeout or None):
                await self.relay.connect()
                sessions = asyncio.create_task(self.follow_sessions())
                try:
                    return await self.consume()
                finally:
                    sessions.cancel()
                    await self.relay.close()
        except TimeoutError:
            log("timed out")
            return 1
        except RelayClientError as exc:
            log(f"refused: {exc}" if exc.code == "authentication_failed" else f"relay: {exc}")
            return 2

    async def follow_sessions(self) -> None:
        """Subscribes on every new identity; a resumed one keeps its subscriptions."""
        async for state in self.relay.states():
            if not isinstance(state, Open):
                continue
            if state.session.start == "resumed":
                log(f"resumed as {state.session.client_id} ({state.session.replayed} replayed)")
                continue
            for stream in self.streams():
                await self.relay.send({
                    "type": "subscribe",
                    "clientType": "ml-service",
                    "streamId": stream,
                    "consumes": ["video-frame"],
                    "produces": ["alert"],
                    "format": self.args.format,
                })

    async def consume(self) -> int:
        """Reads until done (0); the relay client reconnects and resumes underneath."""
        async for message in self.relay.messages():
            frame = decode_frame(message)
            if frame is None:
                self.control(message)
                continue
            header, payload = frame
            self.frames += 1
            stream = header["streamId"]
            analyzer = self.analyzers.setdefault(stream, FrameAnalyzer(threshold=self.args.threshold))
            finding = analyzer.analyze(payload, header.get("seq"))
            if finding is None:
                continue
            await self.relay.send({
                "type": "alert",
                "streamId": stream,
                "severity": finding.severity,
                "message": finding.message,
                "metadata": finding.metadata,
                "timestamp": int(time.time() * 1000),
            })
            self.alerts += 1
            log(f"alert {finding.severity} {stream}: {finding.message}")
            if self.args.max_alerts and self.alerts >= self.args.max_alerts:
                # a ping round trip: the relay has handled the alert (it handles a client's
                # messages in order) before we leave
                await self.relay.request({"type": "ping"}, reply="pong")
                return 0
        return 1

    def control(self, message: Message) -> None:
        if message.type == "subscribed":
            log(f"subscribed {message['streamId']} format={message.get('format')}")
        elif message.type == "refreshed":
            log(f"token refreshed, expires at {message['expiresAt']}")
        elif message.type == "stream-status":
            log(f"status {message['streamId']} {message['status']}")
        elif message.type == "error":
            log(f"error {message.get('code')}: {message.get('message')} (ref {message.get('ref')})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RELAY_URL", "ws://localhost:8080/api/streams/ws"))
    parser.add_argument("--token", default=os.environ.get("RELAY_TOKEN"), help="service JWT (or RELAY_TOKEN)")
    parser.add_argument("--token-command", help="shell command printing a fresh service JWT, run before every "
                        "connect and on token_expiring (instead of --token)")
    parser.add_argument("--stream", action="append", help="stream id (repeatable); default: every listed stream")
    parser.add_argument("--format", choices=("binary", "json", "auto"), default="binary",
                        help="frame form to receive (the relay converts once per frame)")
    parser.add_argument("--threshold", type=float, default=6.0, help="deviations from baseline that make an alert")
    parser.add_argument("--max-alerts", type=int, default=0, help="exit after publishing this many alerts")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: run forever)")
    parser.add_argument("--max-size", type=int, default=8 << 20, help="largest frame accepted")
    args = parser.parse_args()
    if not args.token and not args.token_command:
        parser.error("a service token is required (--token, RELAY_TOKEN or --token-command)")
    try:
        return asyncio.run(MLService(args).run())
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
