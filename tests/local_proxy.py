"""What the proxies written in tests share (round_robin_proxy.RoundRobinProxy,
test_browser_socketio.DroppingProxy): a listener on 127.0.0.1 on a free port, a thread that
accepts clients until ``close``, and the sockets to close then."""

from __future__ import annotations

import socket
import threading
from abc import ABC, abstractmethod

from relay_helpers import HOST


class LocalProxy(ABC):
    """Accepts clients on ``port`` and hands each to ``serve`` (on the accepting thread);
    ``keep`` records a socket for ``close``."""

    def __init__(self, backlog: int):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(backlog)
        self.listener.settimeout(0.2)  # the accepting loop notices `close` within 0.2 s
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @abstractmethod
    def serve(self, client: socket.socket) -> None:
        """Takes a client just accepted (blocking, timeout none)."""

    def keep(self, sock: socket.socket) -> socket.socket:
        with self.lock:
            self.sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            self.serve(client)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass
