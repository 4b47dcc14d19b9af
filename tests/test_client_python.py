"""clients/python (package `relay_client`) against a real relay over real sockets: reconnect after
the connection is cut mid-stream with every message delivered once and in order, backoff delays
within their bounds, request time-outs, refused credentials as an error (not a reconnect loop),
a refused resume reported, an expired token replaced from `get_token` (token refresh on the open
connection and revocation: tests/test_security_clients.py)."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from relay_client import (Backoff, Closed, Connecting, Open, Reconnecting, RelayClient, RelayClientError,
                          Session, State)
from relay_helpers import HOST, base_config, free_port

pytestmark = pytest.mark.timeout(60)

QUICK = Backoff(initial=0.02, maximum=0.1)


class TCPCutter:
    """A TCP forwarder between a client and the relay that resets every connection through it at
    once (no close frame, no FIN), as when the relay's side goes away mid-stream: bytes in flight
    are lost, and the relay keeps the client's identity for its resume grace."""

    def __init__(self, target: int):
        self.target = target
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> "TCPCutter":
        self.server = await asyncio.start_server(self._forward, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str) -> str:
        return f"ws://{HOST}:{self.port}{path}"

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        relay_reader, relay_writer = await asyncio.open_connection(HOST, self.target)
        self.writers += [client_writer, relay_writer]
        await asyncio.gather(self._pipe(client_reader, relay_writer), self._pipe(relay_reader, client_writer),
                             return_exceptions=True)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def cut(self) -> None:
        for writer in self.writers:
            if writer.transport.is_closing():
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def subscribe(client: RelayClient, topic: str) -> None:
    await client.request({"type": "subscribe", "topic": topic}, reply="subscribed")


async def next_session(client: RelayClient) -> tuple[Session, list[State]]:
    """Reads states until an `Open` whose session is not the first; returns it and what came before."""
    seen: list[State] = []
    async for state in client.states():
        seen.append(state)
        if isinstance(state, Open) and state.session.start != "new":
            return state.session, seen
    raise AssertionError(f"the client closed: {seen}")


def test_reconnects_after_a_cut_mid_stream_and_delivers_every_message_once_in_order(relay, topic):
    server = relay()

    async def scenario() -> None:
        cutter = await TCPCutter(server.port).start()
        subscriber = RelayClient(cutter.url("/ws"), backoff=QUICK)
        first = await subscriber.connect()
        assert first.start == "new"
        await subscribe(subscriber, topic)
        publisher = RelayClient(server.url("/ws"))
        await publisher.connect()
        await subscribe(publisher, topic)

        total = 300

        async def publish() -> None:
            for n in range(total):
                await publisher.send({"type": "publish", "topic": topic, "data": {"n": n}})
                await asyncio.sleep(0.002)

        publishing = asyncio.create_task(publish())
        received: list[int] = []
        async with asyncio.timeout(20):
            async for message in subscriber.messages():
                if message.type != "message":
                    continue
                received.append(message["data"]["n"])
                if len(received) == 40:
                    cutter.cut()  # mid-stream: frames in flight are lost with the connection
                if received[-1] == total - 1:
                    break
        await publishing
        assert received == list(range(total))
        assert isinstance(subscriber.state, Open), subscriber.state
        session = subscriber.state.session
        assert session.start == "resumed" and session.client_id == first.client_id, session
        await subscriber.close()
        await publisher.close()
        await cutter.close()
        states = [state async for state in subscriber.states()]
        assert any(isinstance(s, Reconnecting) and s.attempt == 1 and s.close_code is None for s in states), states
        assert states[-1] == Closed(None)

    asyncio.run(scenario())


def test_reconnect_delays_grow_exponentially_with_full_jitter_within_their_bounds():
    backoff = Backoff(initial=0.04, maximum=0.32, factor=2)
    client = RelayClient(f"ws://{HOST}:{free_port()}/ws", backoff=backoff, max_attempts=7)  # nothing listens

    async def scenario() -> tuple[float, list[State]]:
        states: list[State] = []

        async def record() -> None:
            async for state in client.states():
                states.append(state)

        recorder = asyncio.create_task(record())
        started = time.monotonic()
        with pytest.raises(RelayClientError) as refused:
            await client.connect()
        elapsed = time.monotonic() - started
        assert refused.value.code == "gave_up"
        await recorder
        return elapsed, states

    elapsed, states = asyncio.run(scenario())
    delays = []
    for state, following in zip(states, states[1:]):
        if isinstance(state, Reconnecting):
            assert state.attempt == len(delays) + 1 and state.close_code is None, states
            assert following == Connecting(state.attempt), states
            assert 0 <= state.delay <= backoff.window(state.attempt - 1), states
            delays.append(state.delay)
    assert len(delays) == 7, states
    assert len(set(delays)) > 1, f"no jitter: {delays}"
    # Every drawn delay was waited out; the upper bound allows scheduling slack on a loaded machine.
    assert sum(delays) - 0.01 <= elapsed < sum(delays) + 3.0, (elapsed, delays)
    assert isinstance(states[-1], Closed) and states[-1].error is not None and states[-1].error.code == "gave_up"


def test_a_request_without_an_answer_times_out_and_the_connection_stays_usable(relay):
    server = relay()

    async def scenario() -> None:
        async with RelayClient(server.url("/ws")) as client:
            started = time.monotonic()
            with pytest.raises(RelayClientError) as timed_out:
                await client.request({"type": "ping"}, reply="never-sent", timeout=0.3)
            elapsed = time.monotonic() - started
            assert timed_out.value.code == "timeout"
            assert 0.3 <= elapsed < 2.0, elapsed

            pong = await client.request({"type": "ping"}, reply="pong")
            assert isinstance(pong["timestamp"], int)
            # An `error` naming the request's type answers it as an error.
            with pytest.raises(RelayClientError) as refused:
                await client.request({"type": "publish", "topic": "not-subscribed", "data": 1})
            assert refused.value.code == "server" and refused.value.server_code == "forbidden"

    asyncio.run(scenario())


@pytest.mark.parametrize("transport", ["header", "query", "first_message"])
def test_refused_credentials_are_an_error_not_a_reconnect_loop(relay, transport):
    server = relay()

    async def scenario() -> None:
        refused = RelayClient(server.url("/ws/secure"), get_token=lambda: "not-a-valid-token",
                              token_transport=transport, backoff=QUICK)
        with pytest.raises(RelayClientError) as error:
            await refused.connect()
        assert error.value.code == "authentication_failed" and error.value.close_code == 1008
        assert refused.state == Closed(error.value)
        # With retries 20-100 ms apart, a loop would have closed many more connections by now.
        await asyncio.sleep(0.5)
        assert server.metric("relay_closes_total", code="1008") == 1

        token = server.token("alice")
        async with RelayClient(server.url("/ws/secure"), get_token=lambda: token, token_transport=transport) as accepted:
            assert isinstance(accepted.state, Open) and accepted.state.session.start == "new"
            assert (await accepted.request({"type": "ping"}, reply="pong")).type == "pong"

    asyncio.run(scenario())


def test_a_resume_the_relay_refuses_is_reported_so_the_app_can_rebuild(relay):
    server = relay()

    async def scenario() -> None:
        client = RelayClient(server.url("/ws"), backoff=QUICK)
        first = await client.connect()
        await asyncio.to_thread(server.stop)  # the relay forgets every session
        await client.send({"type": "ping"})  # queued while the relay is away
        await asyncio.to_thread(server.start)
        session, _ = await next_session(client)
        assert session.start == "resume_failed" and session.previous_client_id == first.client_id, session
        assert session.client_id != first.client_id
        # The queued ping went out on the new connection.
        async with asyncio.timeout(5):
            async for message in client.messages():
                if message.type == "pong":
                    break
        assert client.last_seen == 1
        await client.close()

    asyncio.run(scenario())


def test_an_expired_token_is_replaced_from_get_token_and_the_session_resumes(relay):
    server = relay(base_config(auth={"leeway": 0}))
    # `exp` is whole seconds: a 2 s lifetime leaves the first connection at least a second. The
    # relay asks for a refresh at once (token_expiring); the hook answers with another user's
    # token, which the relay refuses, so the connection closes at the first token's exp.
    tokens = [server.token("alice", ttl=2), server.token("mallory"), server.token("alice")]

    async def get_token() -> str:
        return tokens.pop(0) if len(tokens) > 1 else tokens[0]

    async def scenario() -> None:
        client = RelayClient(server.url("/ws/secure"), get_token=get_token, backoff=QUICK)
        first = await client.connect()
        session, states = await next_session(client)
        # The relay closed the connection with 1008 when the first token expired; the client
        # reconnected with the next token and resumed its identity.
        assert any(isinstance(s, Reconnecting) and s.close_code == 1008 for s in states), states
        assert session.start == "resumed" and session.client_id == first.client_id, session
        await client.close()

    asyncio.run(scenario())
