"""Helpers for the cluster fault suite (tests/test_cluster_faults.py, issue 17 item 4).

Numbered streams of cross-node messages run while a fault is injected; afterwards every stream
is checked message by message:

- ``Recipient``: a raw-socket client that reads in the background, counts what it receives (its
  ``lastSeen``, SPEC §3a) and, when its connection ends, resumes on a surviving node at once. It
  records every `connected` it got (``resumed``, ``replayed``, how long the resume took).
- ``StreamSender``: sends ``{"s": <stream>, "n": 0, 1, …}`` as pubsub `direct` messages or topic
  publishes at a fixed rate from one client, and counts the `error` answers it gets (a refused
  message is announced to its sender).
- ``Tally``: per stream and recipient, what was sent, delivered, lost (announced or not),
  duplicated and out of order; ``report`` prints one line each and ``assert_exact`` fails on any
  loss nobody was told about, any duplicate and any reordering.

A loss is *announced* when the recipient resumed with ``"resumed": false`` (its new identity
knows to rebuild its state) or when the sender was answered with an error for its message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from cluster_helpers import NOT_COUNTED
from relay_helpers import Closed, RawWS, RelayServer


class Recipient(threading.Thread):
    """Reads everything in the background; resumes on ``failover()`` when its connection ends."""

    def __init__(self, server: RelayServer, name: str, failover: Callable[[], list[RelayServer]],
                 path: str = "/ws"):
        super().__init__(daemon=True, name=f"recipient-{name}")
        self.name_ = name
        self.path = path
        self.failover = failover
        self.server = server
        self.ws: RawWS = server.raw(path)
        self.hello = self.ws.expect("connected", ignore=())
        self.client_id: str = self.hello["clientId"]
        self.count = 0
        self.got: dict[str, list[int]] = {}
        self.resumes: list[dict] = []
        self.identity_lost = False
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    # Before start(): synchronous requests on the socket.
    def subscribe(self, topic: str) -> None:
        self.ws.send_json({"type": "subscribe", "topic": topic})
        while True:
            msg = self._count(self.ws.recv_json())
            if msg.get("type") == "subscribed" and msg.get("topic") == topic:
                return

    def _count(self, msg: dict) -> dict:
        if msg.get("type") in NOT_COUNTED:
            return msg
        with self.lock:
            self.count += 1
            data = msg.get("data")
            if msg.get("type") in ("direct", "message") and isinstance(data, dict) and "s" in data:
                self.got.setdefault(data["s"], []).append(data["n"])
        return msg

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    self._count(self.ws.recv_json(timeout=0.2))
                except TimeoutError:
                    continue
                except (EOFError, ConnectionResetError, BrokenPipeError, Closed, OSError):
                    if self.stopping.is_set():
                        return
                    self._resume()
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def _resume(self) -> None:
        """Reconnects with ``?resume=<token>&lastSeen=<count>`` to the first node that answers."""
        dropped = time.monotonic()
        self.ws.close()
        last: BaseException | None = None
        while time.monotonic() - dropped < 30:
            for server in self.failover():
                try:
                    ws = server.raw(server.target(self.path, resume=self.hello["resumeToken"], lastSeen=self.count))
                    hello = ws.expect("connected", ignore=(), timeout=15)
                except (OSError, AssertionError, EOFError, TimeoutError, Closed) as exc:
                    last = exc
                    continue
                took = time.monotonic() - dropped
                self.resumes.append({"resumed": hello.get("resumed"), "replayed": hello.get("replayed"),
                                     "lastSeen": self.count, "seconds": round(took, 3), "port": server.port})
                self.ws, self.server = ws, server
                if hello.get("resumed") is not True:
                    # A fresh identity: everything addressed to the old one is gone, and the
                    # client was told so.
                    self.identity_lost = True
                self.hello = hello
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name_}: could not resume within 30 s: {last!r}")

    def finish(self) -> None:
        self.stopping.set()
        self.join(10)
        assert not self.is_alive(), f"{self.name_}: reader still running"
        assert self.error is None, f"{self.name_}: reader failed: {self.error!r}"
        self.ws.close()

    def received(self, stream: str) -> list[int]:
        with self.lock:
            return list(self.got.get(stream, []))


class StreamSender(threading.Thread):
    """Sends ``count`` numbered messages of one stream, ``interval`` seconds apart."""

    def __init__(self, server: RelayServer, stream: str, count: int, interval: float, *,
                 to: str | None = None, topic: str | None = None, path: str = "/ws"):
        super().__init__(daemon=True, name=f"sender-{stream}")
        assert (to is None) != (topic is None)
        self.stream, self.count, self.interval = stream, count, interval
        self.to, self.topic = to, topic
        self.ws: RawWS = server.raw(path)
        self.ws.expect("connected", ignore=())
        if topic is not None:
            self.ws.send_json({"type": "subscribe", "topic": topic})
            while self.ws.recv_json().get("type") != "subscribed":
                pass
        self.sent = 0
        self.errors: list[dict] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.stopped = False
        self.reader = threading.Thread(target=self._read, daemon=True)

    def run(self) -> None:
        self.reader.start()
        try:
            start = time.monotonic()
            for n in range(self.count):
                data = {"s": self.stream, "n": n}
                if self.to is not None:
                    self.ws.send_json({"type": "direct", "to": self.to, "data": data})
                else:
                    self.ws.send_json({"type": "publish", "topic": self.topic, "data": data})
                self.sent += 1
                delay = start + (n + 1) * self.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def _read(self) -> None:
        while True:
            try:
                msg = self.ws.recv_json(timeout=0.5)
            except TimeoutError:
                if self.done.is_set() and self.stopped:
                    return
                continue
            except (EOFError, OSError, Closed, AssertionError):
                return
            if msg.get("type") == "error":
                self.errors.append(msg)

    def finish(self, timeout: float = 60) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"sender {self.stream} still running"
        assert self.error is None, f"sender {self.stream} failed after {self.sent}: {self.error!r}"
        self.stopped = True

    @property
    def refused(self) -> int:
        return len(self.errors)


@dataclass
class Line:
    stream: str
    recipient: str
    sent: int
    delivered: int
    lost_announced: int
    lost_silently: int
    duplicated: int
    out_of_order: int
    resumes: list[dict] = field(default_factory=list)
    detail: str = ""

    def __str__(self) -> str:
        return (f"{self.stream:>8} → {self.recipient:<10} sent {self.sent:4d}  delivered {self.delivered:4d}  "
                f"lost {self.lost_announced + self.lost_silently:4d} (announced {self.lost_announced}, "
                f"silent {self.lost_silently})  duplicated {self.duplicated}  out of order {self.out_of_order}"
                f"  resumes {self.resumes}")


class Tally:
    """What each (stream, recipient) pair got, against what was sent."""

    def __init__(self, title: str):
        self.title = title
        self.lines: list[Line] = []
        self.senders: list[StreamSender] = []

    def check(self, sender: StreamSender, recipient: Recipient) -> Line:
        got = recipient.received(sender.stream)
        sent = sender.sent
        seen: set[int] = set()
        duplicated = out_of_order = 0
        highest = -1
        for n in got:
            if n in seen:
                duplicated += 1
                continue
            seen.add(n)
            if n < highest:
                out_of_order += 1
            highest = max(highest, n)
        missing = sorted(set(range(sent)) - seen)
        # Announced: the recipient lost its identity (resumed: false), or senders were refused.
        announced = len(missing) if recipient.identity_lost else min(len(missing), sender.refused)
        line = Line(sender.stream, recipient.name_, sent, len(seen), announced, len(missing) - announced,
                    duplicated, out_of_order, list(recipient.resumes),
                    f"missing {missing[:20]}{'…' if len(missing) > 20 else ''}")
        self.lines.append(line)
        return line

    def report(self) -> str:
        text = "\n".join([f"== {self.title}"] + [str(line) for line in self.lines])
        print(text)
        return text

    def totals(self) -> dict[str, int]:
        keys = ("sent", "delivered", "lost_announced", "lost_silently", "duplicated", "out_of_order")
        return {k: sum(getattr(line, k) for line in self.lines) for k in keys}

    def assert_exact(self) -> None:
        text = self.report()
        bad = [line for line in self.lines if line.lost_silently or line.duplicated or line.out_of_order]
        assert not bad, "unannounced loss, duplicates or reordering:\n" + "\n".join(
            f"{line}\n    {line.detail}" for line in bad) + "\n" + text


def wait_quiet(recipients: list[Recipient], quiet: float = 1.0, limit: float = 30.0) -> None:
    """Returns once no recipient has received anything for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    last = [r.count for r in recipients]
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = [r.count for r in recipients]
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return


def drop(recipient: Recipient) -> None:
    """Resets the recipient's TCP connection: its reader resumes on its failover nodes."""
    recipient.ws.abort()


def terminate_backends(admin_url: str, database: str, node_id: str) -> int:
    """Cuts every connection a node's backplane holds to PostgreSQL (``pg_terminate_backend``);
    returns how many were cut."""
    from cluster_helpers import psql
    out = psql(admin_url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          f"WHERE datname = '{database}' AND application_name LIKE 'relay {node_id}\\_%'")
    return int(out.strip() or 0)


def run_streams(recipients: list[Recipient], senders: list[StreamSender], fault: Callable[[], None],
                after: float = 1.0, quiet: float = 1.5) -> None:
    """Starts the readers and the streams, calls `fault()` `after` seconds in, lets the streams
    end, and waits until the recipients have been quiet for `quiet` seconds."""
    for r in recipients:
        r.start()
    for s in senders:
        s.start()
    time.sleep(after)
    fault()
    for s in senders:
        s.finish()
    wait_quiet(recipients, quiet=quiet)
    for r in recipients:
        r.finish()
