"""A plain round-robin HTTP load balancer written for the cluster tests (127.0.0.1 only, bounded,
closed with the test): each request goes to the next node in turn, whichever client connection it
came on, so nothing is sticky. The ``proxy_for`` fixture (loaded by conftest) makes one for a
cluster."""

from __future__ import annotations

import socket
import threading

import pytest

from cluster_helpers import Cluster
from local_proxy import LocalProxy
from relay_helpers import HOST


class RoundRobinProxy(LocalProxy):
    """A plain round-robin HTTP load balancer on 127.0.0.1: each request goes to the next of
    ``ports`` in turn, whichever client connection it came on (nothing sticky); a WebSocket
    upgrade request is piped to its node for the rest of its connection. ``routed`` lists
    (port, request line) per request. At most ``max_requests``; ``close`` ends everything."""

    def __init__(self, ports: list[int], max_requests: int = 5000):
        self.ports = ports
        self.max_requests = max_requests
        self.routed: list[tuple[int, str]] = []
        super().__init__(backlog=128)

    def serve(self, client: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(self.keep(client),), daemon=True).start()

    def _next_port(self, request_line: str) -> int | None:
        with self.lock:
            if len(self.routed) >= self.max_requests:
                return None
            port = self.ports[len(self.routed) % len(self.ports)]
            self.routed.append((port, request_line))
            return port

    def _serve(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline(65536)
                    if not line:
                        return
                    head += line
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                body = reader.read(int(headers.get("content-length", "0")))
                port = self._next_port(lines[0])
                if port is None:
                    return
                upstream = self.keep(socket.create_connection((HOST, port), timeout=30))
                if headers.get("upgrade", "").lower() == "websocket":
                    upstream.sendall(head + body)
                    threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
                    while data := reader.read1(65536):
                        upstream.sendall(data)
                    return
                # one request per upstream connection: it answers and closes
                kept = [h for h in lines[1:] if h and not h.lower().startswith("connection:")]
                upstream.sendall(("\r\n".join([lines[0], *kept, "Connection: close", "", ""])).encode("latin-1") + body)
                self._pipe(upstream, client, half_close=False)
        except OSError:
            pass
        finally:
            client.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket, half_close: bool = True) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            source.close()
            if half_close:
                try:
                    target.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def ports_of(self, needle: str) -> list[int]:
        """The node port of each request whose request line contains ``needle``."""
        with self.lock:
            return [port for port, line in self.routed if needle in line]


@pytest.fixture
def proxy_for():
    proxies: list[RoundRobinProxy] = []

    def make(nodes: Cluster) -> RoundRobinProxy:
        proxy = RoundRobinProxy([node.port for node in nodes])
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
