#!/usr/bin/env python3
"""Socket.IO over Engine.IO long-polling against the same over WebSocket, on one relay binary.

    Benchmarks/tools/polling-bench.py [--relay .build-release/release/relay] [--sessions 1000]
                                      [--round-trips 2000] [--smoke]

Starts the relay on 127.0.0.1 (a free port; one `socketio` endpoint with the `echo` plugin, the
reference server's 25 s ping interval, no per-IP or rate limits) and measures:

- idle memory: the relay's VmRSS growth per idle client, `--sessions` long-polling sessions
  (handshake, namespace CONNECT, then a long-poll `GET` left pending, one TCP connection each,
  as a browser tab keeps one) against as many WebSocket sessions (upgraded, CONNECTed, idle);
- round-trip latency: one client sends `42["message",i]` and waits for `42["message-back",i]`
  `--round-trips` times, one at a time: over long-polling (the `POST` on one keep-alive
  connection, the answer on the pending `GET` of another) and over WebSocket;
- CPU: the relay's and this load generator's, per round trip.

Prints one JSON object. Python is the load generator, so its own CPU is reported beside the
relay's: when it is the larger, latency figures are the generator's as much as the relay's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

from relay_process import start_relay

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
PATH = "/socket.io/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def route_file(directory: Path) -> Path:
    text = f"""server:
  host: {HOST}
  maxConnections: 100000
limits:
  connectionsPerIP: 0
  messagesPerSecond: 0
endpoints:
  - path: {PATH}
    codec: socketio
    auth: none
    socketio: {{namespaces: ["/"], pingInterval: 25000, pingTimeout: 20000}}
plugins:
  echo: {{plugin: echo}}
routes:
  - {{endpoint: {PATH}, type: message, plugin: echo}}
"""
    path = directory / "polling-bench.yaml"
    path.write_text(text)
    return path


def proc_stat(pid: int) -> tuple[int, float]:
    """(VmRSS KiB, CPU seconds) of `pid`."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HTTP:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "HTTP":
        return cls(*await asyncio.open_connection(HOST, port))

    def send(self, method: str, query: str, body: bytes = b"") -> None:
        head = f"{method} {PATH}?{query} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: text/plain;charset=UTF-8\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)

    async def response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)

    async def request(self, method: str, query: str, body: bytes = b"") -> bytes:
        self.send(method, query, body)
        status, payload = await self.response()
        assert status == 200, (status, payload)
        return payload

    def close(self) -> None:
        self.writer.close()


def packets(body: bytes) -> list[str]:
    return body.decode().split("\x1e")


async def polling_session(port: int) -> tuple[HTTP, str]:
    """A connected long-polling session: handshake, CONNECT, the CONNECT answer read."""
    http = await HTTP.open(port)
    sid = json.loads(packets(await http.request("GET", "EIO=4&transport=polling"))[0][1:])["sid"]
    assert await http.request("POST", f"EIO=4&transport=polling&sid={sid}", b"40") == b"ok"
    answer = packets(await http.request("GET", f"EIO=4&transport=polling&sid={sid}"))
    assert answer[0].startswith("40"), answer
    return http, sid


class WebSocket:
    """A minimal client WebSocket (text frames under 126 bytes are all this needs)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "WebSocket":
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET {PATH}?EIO=4&transport=websocket HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        socket = cls(reader, writer)
        assert (await socket.recv()).startswith("0")
        socket.send("40")
        assert (await socket.recv()).startswith("40")
        return socket

    def send(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        self.writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def recv(self) -> str:
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        return (await self.reader.readexactly(length)).decode()

    def close(self) -> None:
        self.writer.close()


async def idle_memory(port: int, pid: int, sessions: int) -> dict[str, float]:
    gate = asyncio.Semaphore(100)

    async def one_polling() -> HTTP:
        async with gate:
            http, sid = await polling_session(port)
            http.send("GET", f"EIO=4&transport=polling&sid={sid}")  # left pending: an idle tab
            return http

    async def one_websocket() -> WebSocket:
        async with gate:
            return await WebSocket.open(port)

    results: dict[str, float] = {}
    for name, opener in (("polling", one_polling), ("websocket", one_websocket)):
        warm = await asyncio.gather(*(opener() for _ in range(50)))
        await asyncio.sleep(1)
        before, _ = proc_stat(pid)
        opened = await asyncio.gather(*(opener() for _ in range(sessions)))
        await asyncio.sleep(3)
        after, _ = proc_stat(pid)
        results[f"{name}_idle_kib_per_session"] = round((after - before) / sessions, 2)
        for client in warm + opened:
            client.close()
        await asyncio.sleep(1)
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def polling_round_trips(port: int, count: int) -> list[float]:
    pusher, sid = await polling_session(port)
    poller = await HTTP.open(port)
    query = f"EIO=4&transport=polling&sid={sid}"
    samples: list[float] = []
    for i in range(count):
        poller.send("GET", query)
        started = time.perf_counter()
        assert await pusher.request("POST", query, f'42["message",{i}]'.encode()) == b"ok"
        while True:
            status, body = await poller.response()
            assert status == 200, (status, body)
            if f'42["message-back",{i}]' in packets(body):
                break
            if "2" in packets(body):
                await pusher.request("POST", query, b"3")
            poller.send("GET", query)
        samples.append((time.perf_counter() - started) * 1000)
    pusher.close()
    poller.close()
    return samples


async def websocket_round_trips(port: int, count: int) -> list[float]:
    socket = await WebSocket.open(port)
    samples: list[float] = []
    for i in range(count):
        started = time.perf_counter()
        socket.send(f'42["message",{i}]')
        while (frame := await socket.recv()) != f'42["message-back",{i}]':
            if frame == "2":
                socket.send("3")
        samples.append((time.perf_counter() - started) * 1000)
    socket.close()
    return samples


async def measure(port: int, pid: int, sessions: int, round_trips: int) -> dict[str, float]:
    report: dict[str, float] = {"sessions": sessions, "round_trips": round_trips}
    report.update(await idle_memory(port, pid, sessions))
    for name, run in (("polling", polling_round_trips), ("websocket", websocket_round_trips)):
        await run(port, min(50, round_trips))  # warm-up
        _, relay_before = proc_stat(pid)
        generator_before = own_cpu()
        samples = await run(port, round_trips)
        _, relay_after = proc_stat(pid)
        report[f"{name}_rtt_p50_ms"] = round(percentile(samples, 0.5), 3)
        report[f"{name}_rtt_p99_ms"] = round(percentile(samples, 0.99), 3)
        report[f"{name}_relay_cpu_us_per_rtt"] = round((relay_after - relay_before) * 1e6 / round_trips, 1)
        report[f"{name}_generator_cpu_us_per_rtt"] = round((own_cpu() - generator_before) * 1e6 / round_trips, 1)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relay", default=str(ROOT / ".build-release" / "release" / "relay"))
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="tiny counts: checks the tool still runs")
    args = parser.parse_args()
    if args.smoke:
        args.sessions, args.round_trips = 20, 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="relay-polling-bench-") as work:
        directory = Path(work)
        port = free_port()
        process = start_relay(args.relay, route_file(directory), port, directory)
        try:
            report = asyncio.run(measure(port, process.pid, args.sessions, args.round_trips))
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
