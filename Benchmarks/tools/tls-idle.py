#!/usr/bin/env python3
"""RSS per idle WebSocket connection with and without TLS, on one relay binary.

    Benchmarks/tools/tls-idle.py [--relay .build-release/release/relay] [--connections 5000]

Starts the relay twice on 127.0.0.1 (a free port each time, a route file with one `json`
endpoint, `auth: none`): once plain, once with `server.tls` (a self-signed certificate made
here with `cryptography`). Each time it opens a warm-up of 200 connections, reads the relay's
VmRSS, opens `--connections` more (each waits for `connected`), waits 3 s, reads VmRSS again and
prints the growth per connection. relay-bench speaks no TLS, hence this tool; the plain figure
lets one compare it with relay-bench's `idle` scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import os
import resource
import socket
import ssl
import sys
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay_process import start_relay

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def route_file(directory: Path, tls: tuple[Path, Path] | None) -> Path:
    lines = ["server:", f"  host: {HOST}", "  maxConnections: 100000"]
    if tls:
        lines += ["  tls:", f"    certificateFile: {tls[0]}", f"    keyFile: {tls[1]}"]
    lines += [
        "limits:", "  connectionsPerIP: 0", "  messagesPerSecond: 0",
        "endpoints:", "  - {path: /ws, codec: json, auth: none}",
        "plugins:", "  chat: {plugin: pubsub}",
        "routes:", "  - {endpoint: /ws, type: publish, plugin: chat}",
    ]
    path = directory / ("tls.yaml" if tls else "plain.yaml")
    path.write_text("\n".join(lines) + "\n")
    return path


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_one(port: int, context: ssl.SSLContext | None, gate: asyncio.Semaphore):
    async with gate:
        reader, writer = await asyncio.open_connection(HOST, port, ssl=context, server_hostname="localhost" if context else None)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET /ws HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        first = await reader.readexactly(2)
        payload = await reader.readexactly(first[1] & 0x7F)
        assert json.loads(payload)["type"] == "connected"
        return writer


async def measure(relay: str, directory: Path, connections: int, tls: tuple[Path, Path] | None) -> float:
    port = free_port()
    config = route_file(directory, tls)
    process = start_relay(relay, config, port, directory, {"RELAY_JWT_SECRET": "tls-idle-secret-0123456789abcdefghijklmnop"})
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(tls[0])
    try:
        gate = asyncio.Semaphore(100)
        warm = await asyncio.gather(*(open_one(port, context, gate) for _ in range(200)))
        await asyncio.sleep(1)
        before = vm_rss_kib(process.pid)
        opened = await asyncio.gather(*(open_one(port, context, gate) for _ in range(connections)))
        await asyncio.sleep(3)
        after = vm_rss_kib(process.pid)
        for writer in warm + opened:
            writer.close()
        return (after - before) / connections
    finally:
        process.terminate()
        process.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relay", default=str(ROOT / ".build-release" / "release" / "relay"))
    parser.add_argument("--connections", type=int, default=5000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="relay-tls-idle-") as work:
        directory = Path(work)
        tls = self_signed(directory)
        plain = asyncio.run(measure(args.relay, directory, args.connections, None))
        secure = asyncio.run(measure(args.relay, directory, args.connections, tls))
    print(json.dumps({"connections": args.connections, "plain_kib_per_conn": round(plain, 2),
                      "tls_kib_per_conn": round(secure, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
