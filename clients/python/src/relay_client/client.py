"""RelayClient: a client of a Relay endpoint that keeps its connection."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import json
import random
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .backoff import Backoff
from .errors import RelayClientError
from .message import Message, encode_binary
from .state import Closed, Connecting, Idle, Open, Reconnecting, Session, State

TokenHook = Callable[[], str | Awaitable[str]]
"""``get_token``: returns (or resolves to) the token for the next connection attempt."""

TokenTransport = Literal["header", "query", "first_message"]
"""How the token reaches the relay: ``Authorization: Bearer`` on the upgrade (works on every
endpoint, keeps the token out of URLs), ``?token=``, or a first message
``{"type":"auth","token":…}`` (endpoints with ``auth: required`` only)."""

# Frames the relay does not number for `lastSeen` (docs/protocol.md, "Connecting").
NOT_COUNTED = frozenset({"connected", "authenticated"})
STATE_BUFFER = 256


@dataclasses.dataclass(eq=False)
class _Pending:
    ref: str
    reply: str
    match: Callable[[Message], bool] | None
    future: asyncio.Future[Message]


@dataclasses.dataclass
class _End:
    """How one connection attempt ended."""

    close_code: int | None = None
    close_reason: str = ""
    connected: bool = False
    error: BaseException | None = None
    status: int | None = None


class RelayClient:
    """A client of a Relay endpoint (codec ``json``, docs/protocol.md) that reconnects with
    exponential backoff and full jitter and resumes, so every message the relay sent arrives
    once and in order, or a ``Session`` with ``start == "resume_failed"`` tells the app to
    rebuild its state.

    ::

        async with RelayClient("ws://127.0.0.1:8080/ws/pubsub", get_token=auth.token) as client:
            await client.send({"type": "subscribe", "topic": "news"})
            pong = await client.request({"type": "ping"}, reply="pong")
            async for message in client.messages():
                print(message.type, message.fields)

    - ``connect()`` returns once the relay sent ``connected`` (retrying with backoff).
    - ``messages()`` yields every message except ``connected``, in order, across reconnects.
    - ``states()`` yields every state change (``Connecting``, ``Open``, ``Reconnecting``,
      ``Closed``).
    - While disconnected, ``send`` queues (up to ``queue_limit``).
    - A close with 1008 before ``connected`` (credentials refused) ends the client with
      ``RelayClientError("authentication_failed")``; it is not retried. A 1008 ``token expired``
      on a connection that was open is retried with a token from ``get_token``; any other 1008
      on an open connection (``revoked`` by the server API) ends it with
      ``RelayClientError("revoked")``.
    - ``token_expiring`` (the token is about to expire) is answered by itself: a token from
      ``get_token`` goes out as ``{"type":"refresh"}``, and the relay answers ``refreshed`` (both
      also arrive on ``messages()``).
    - ``close()`` leaves for good (``{"type":"leave"}``, close 1000) and ends both iterators.

    ``last_seen`` counts every message received since the first ``connected`` except
    ``connected`` and ``authenticated``; a reconnect sends ``?resume=<token>&lastSeen=<n>``.
    """

    def __init__(
        self,
        url: str,
        *,
        get_token: TokenHook | None = None,
        token_transport: TokenTransport = "header",
        params: Mapping[str, str] | None = None,
        reconnect: bool = True,
        backoff: Backoff = Backoff(),
        max_attempts: int | None = None,
        queue_limit: int = 256,
        request_timeout: float = 5.0,
        ping_interval: float | None = 25.0,
        max_size: int = 16 << 20,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
    ) -> None:
        """Nothing happens before ``connect()``.

        :param url: the endpoint, e.g. ``ws://127.0.0.1:8080/ws``.
        :param get_token: called before every connection attempt and when the relay sends
            ``token_expiring`` (sync or async); ``None``: no token. Its token is sent as
            ``{"type":"refresh","token":…}`` on the open connection, so the connection outlives
            the token; if that fails, the relay closes at the token's ``exp`` and the client
            reconnects with a token from this hook and resumes.
        :param token_transport: ``"header"``, ``"query"`` or ``"first_message"``.
        :param params: extra query parameters of the upgrade URL.
        :param reconnect: reconnect (and resume) after a drop.
        :param backoff: delays between attempts.
        :param max_attempts: consecutive failed attempts before giving up (``None``: never).
        :param queue_limit: messages kept while disconnected.
        :param request_timeout: default time-out (seconds) of ``request``.
        :param ping_interval: WebSocket ping period (seconds); a missing pong drops the
            connection, which is then resumed. ``None``: no pings.
        :param max_size: largest message accepted from the relay (bytes).
        :param open_timeout: time allowed for TCP connect and upgrade (seconds).
        :param close_timeout: time ``close()`` waits for the relay's close frame (seconds).
        """
        self.url = url
        self._get_token = get_token
        self._token_transport = token_transport
        self._params = dict(params or {})
        self._reconnect = reconnect
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._queue_limit = queue_limit
        self._request_timeout = request_timeout
        self._ping_interval = ping_interval
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._rng = random.Random()

        self.state: State = Idle()
        """The current state."""
        self.client_id: str | None = None
        """The relay's id for this client, after the first ``connected``."""
        self.resume_token: str | None = None
        """The single-use token of the next resume."""
        self.last_seen = 0
        """Messages received since the first ``connected`` of this identity, except
        ``connected`` and ``authenticated``: what a resume sends as ``lastSeen``."""

        self._socket: ClientConnection | None = None
        self._open = False
        self._outbox: collections.deque[str | bytes] = collections.deque()
        self._pending: list[_Pending] = []
        self._waiters: list[asyncio.Future[Session]] = []
        self._messages: asyncio.Queue[Message | None] = asyncio.Queue()
        self._states: asyncio.Queue[State | None] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._retries = 0
        self._ending = False
        self._refreshing: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RelayClient:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def is_connected(self) -> bool:
        """Whether messages go out at once (the relay sent ``connected`` on this socket)."""
        return self._open

    # -- connection ------------------------------------------------------------------------

    async def connect(self) -> Session:
        """Connects (retrying with backoff) and returns the session once the relay sent
        ``connected``; returns at once when already connected.

        Raises ``RelayClientError`` (``authentication_failed``, ``upgrade_refused``,
        ``gave_up``, ``closed``)."""
        if isinstance(self.state, Open):
            return self.state.session
        if isinstance(self.state, Closed):
            raise self.state.error or RelayClientError("closed", "the client was closed")
        if self._ending:
            raise RelayClientError("closed", "the client was closed")
        waiter: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        return await waiter

    async def close(self) -> None:
        """Leaves for good: ``{"type":"leave"}`` and close 1000 (the relay ends the identity at
        once), fails pending requests, ends ``messages()`` and ``states()``. A closed client
        stays closed."""
        if self._ending:
            return
        self._ending = True
        socket = self._socket
        if socket is not None:
            try:
                if self._open:
                    await socket.send(json.dumps({"type": "leave"}))
                await asyncio.wait_for(socket.close(1000, "leave"), self._close_timeout)
            except (ConnectionClosed, OSError, TimeoutError):
                pass
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        self.resume_token = None
        self._finish(None)

    async def _run(self) -> None:
        try:
            while not self._ending:
                end = await self._connect_once()
                if self._ending:
                    return
                failure = self._terminal_failure(end)
                if failure is not None:
                    self._finish(failure)
                    return
                if self._max_attempts is not None and self._retries >= self._max_attempts:
                    self._finish(RelayClientError("gave_up", f"no connection after {self._retries} attempts",
                                                  close_code=end.close_code))
                    return
                delay = self._backoff.delay(self._retries, self._rng)
                self._retries += 1
                self._set_state(Reconnecting(self._retries, delay, end.close_code))
                await asyncio.sleep(delay)
        except Exception as exc:  # a bug here must not leave callers waiting forever
            self._finish(RelayClientError("closed", f"the client failed: {exc!r}"))
            raise

    def _terminal_failure(self, end: _End) -> RelayClientError | None:
        if end.status is not None and 400 <= end.status < 500 and end.status not in (408, 429):
            return RelayClientError("upgrade_refused", f"the relay answered the upgrade with HTTP {end.status}")
        if end.close_code == 1008 and not end.connected:
            return RelayClientError("authentication_failed", "the relay refused the credentials (close 1008)",
                                    close_code=1008)
        if end.close_code == 1008 and end.close_reason != "token expired":
            return RelayClientError("revoked", f"the relay closed the connection (1008 {end.close_reason!r})",
                                    close_code=1008)
        if not self._reconnect:
            return RelayClientError("closed", "the connection ended and reconnect is off", close_code=end.close_code)
        return None

    async def _connect_once(self) -> _End:
        self._set_state(Connecting(self._retries))
        token: str | None = None
        if self._get_token is not None:
            try:
                value = self._get_token()
                token = await value if inspect.isawaitable(value) else value
            except Exception as exc:
                return _End(error=exc)
        headers = {"Authorization": f"Bearer {token}"} if self._token_transport == "header" and token else {}
        url = self._upgrade_url(token if self._token_transport == "query" else None)
        try:
            socket = await connect(url, additional_headers=headers, max_size=self._max_size,
                                   ping_interval=self._ping_interval, ping_timeout=self._ping_interval,
                                   open_timeout=self._open_timeout, close_timeout=self._close_timeout)
        except InvalidStatus as exc:
            return _End(error=exc, status=exc.response.status_code)
        except Exception as exc:  # refused or cut TCP, time-out, any other handshake failure
            return _End(error=exc)
        self._socket = socket
        connected = False
        try:
            if self._token_transport == "first_message" and token:
                await socket.send(json.dumps({"type": "auth", "token": token}))
            async for frame in socket:
                if isinstance(frame, bytes):
                    self._deliver(Message.from_binary(frame))
                    continue
                message = Message.from_text(frame)
                if message is not None and message.type == "connected":
                    connected = True
                    await self._opened(socket, message)
                else:
                    self._deliver(message)
                    if message is not None and message.type == "token_expiring" and self._get_token is not None:
                        self._refreshing = asyncio.create_task(self._refresh_token())
        except ConnectionClosed:
            pass
        finally:
            self._socket = None
            self._open = False
        received = socket.protocol.close_rcvd
        return _End(close_code=received.code if received is not None else None,
                    close_reason=received.reason if received is not None else "", connected=connected)

    async def _refresh_token(self) -> None:
        """Answers ``token_expiring`` with ``{"type":"refresh","token":…}`` from ``get_token``; a
        failure leaves the old token, which the relay closes at its ``exp`` (then a reconnect
        takes a fresh token)."""
        assert self._get_token is not None
        try:
            value = self._get_token()
            token = await value if inspect.isawaitable(value) else value
            await self._transmit(json.dumps({"type": "refresh", "token": token}))
        except Exception:  # the hook or the send failed: the old token stays until its exp
            pass

    def _upgrade_url(self, token: str | None) -> str:
        parts = urllib.parse.urlsplit(self.url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query += sorted(self._params.items())
        if token:
            query.append(("token", token))
        if self.resume_token:
            query += [("resume", self.resume_token), ("lastSeen", str(self.last_seen))]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))

    # -- receiving -------------------------------------------------------------------------

    def _deliver(self, message: Message | None) -> None:
        if message is None or message.type not in NOT_COUNTED:
            self.last_seen += 1
        if message is None:
            return
        self._settle(message)
        self._messages.put_nowait(message)

    async def _opened(self, socket: ClientConnection, connected: Message) -> None:
        client_id = str(connected.get("clientId", ""))
        if connected.get("resumed") is True and client_id == self.client_id:
            session = Session(client_id, "resumed", replayed=int(connected.get("replayed", 0)),
                              connected=connected.fields)
        else:
            start: Literal["new", "resume_failed"] = "new" if self.client_id is None else "resume_failed"
            session = Session(client_id, start, previous_client_id=self.client_id, connected=connected.fields)
            self.last_seen = 0
        self.client_id = client_id
        self.resume_token = connected.get("resumeToken")
        self._retries = 0
        # Queued messages first, in order; what is sent meanwhile joins the queue.
        while self._outbox:
            await socket.send(self._outbox[0])
            self._outbox.popleft()
        self._open = True
        self._set_state(Open(session))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(session)
        self._waiters.clear()

    async def messages(self) -> AsyncIterator[Message]:
        """Every message from the relay except ``connected``, in order, once; ends when the
        client closes. Meant for one consumer; buffered without bound."""
        while (message := await self._messages.get()) is not None:
            yield message
        self._messages.put_nowait(None)

    async def states(self) -> AsyncIterator[State]:
        """Every state change, ending with ``Closed``. Meant for one consumer; keeps the latest
        256 changes when nobody reads."""
        while (state := await self._states.get()) is not None:
            yield state
        self._states.put_nowait(None)

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: Mapping[str, Any] | Any) -> None:
        """Sends a JSON object with a string ``type`` (a mapping or a dataclass instance), or
        queues it while disconnected.

        Raises ``RelayClientError`` (``invalid_message``, ``queue_full``, ``closed``)."""
        text, _ = self._encode(message)
        await self._transmit(text)

    async def send_binary(self, header: Mapping[str, Any], payload: bytes) -> None:
        """Sends a binary frame: ``header`` (its string ``type`` routes it) and raw ``payload``."""
        self._encode(header)
        await self._transmit(encode_binary(dict(header), payload))

    async def request(self, message: Mapping[str, Any] | Any, *, reply: str | None = None,
                      timeout: float | None = None, match: Callable[[Message], bool] | None = None) -> Message:
        """Sends ``message`` and returns the first message of type ``reply`` (default: the type
        sent) that ``match`` accepts. Requests outlive reconnects: a reply replayed after a resume
        still answers them.

        Raises ``RelayClientError``: ``server`` when an ``error`` whose ``ref`` is the type sent
        arrives first, ``timeout`` after ``timeout`` seconds (default ``request_timeout``),
        ``queue_full``, ``closed``."""
        text, kind = self._encode(message)
        if self._ending:
            raise RelayClientError("closed", "the client was closed")
        entry = _Pending(kind, reply or kind, match, asyncio.get_running_loop().create_future())
        self._pending.append(entry)
        limit = self._request_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                await self._transmit(text)
                return await entry.future
        except TimeoutError:
            raise RelayClientError("timeout", f"no {entry.reply} within {limit} s") from None
        finally:
            if entry in self._pending:
                self._pending.remove(entry)

    def _settle(self, message: Message) -> None:
        """Answers the oldest request ``message`` settles."""
        if message.type == "error":
            entry = next((p for p in self._pending if p.ref == message.get("ref") and p.reply != "error"), None)
            if entry is not None:
                self._pending.remove(entry)
                code = str(message.get("code", "error"))
                if not entry.future.done():
                    entry.future.set_exception(RelayClientError("server", str(message.get("message", code)),
                                                                server_code=code))
                return
        entry = next((p for p in self._pending
                      if p.reply == message.type and (p.match is None or p.match(message))), None)
        if entry is not None:
            self._pending.remove(entry)
            if not entry.future.done():
                entry.future.set_result(message)

    async def _transmit(self, data: str | bytes) -> None:
        if self._ending:
            raise RelayClientError("closed", "the client was closed")
        socket = self._socket
        if self._open and socket is not None:
            try:
                await socket.send(data)
                return
            except ConnectionClosed:
                pass  # lost before it was written: it goes out after the reconnect
        if len(self._outbox) >= self._queue_limit:
            raise RelayClientError("queue_full", f"{self._queue_limit} messages already wait for a connection")
        self._outbox.append(data)

    @staticmethod
    def _encode(message: Mapping[str, Any] | Any) -> tuple[str, str]:
        if dataclasses.is_dataclass(message) and not isinstance(message, type):
            message = dataclasses.asdict(message)
        if not isinstance(message, Mapping) or not isinstance(message.get("type"), str):
            raise RelayClientError("invalid_message", "a message must be a JSON object with a string \"type\"")
        try:
            text = json.dumps(dict(message), separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise RelayClientError("invalid_message", f"not encodable as JSON: {exc}") from None
        return text, str(message["type"])

    # -- state -----------------------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        self.state = state
        if self._states.qsize() >= STATE_BUFFER:
            self._states.get_nowait()
        self._states.put_nowait(state)

    def _finish(self, error: RelayClientError | None) -> None:
        """Ends the client: fails what waits, reports ``Closed(error)``, ends both iterators."""
        if isinstance(self.state, Closed):
            return
        self._ending = True
        self._open = False
        self._outbox.clear()
        failure = error or RelayClientError("closed", "the client was closed")
        for entry in self._pending:
            if not entry.future.done():
                entry.future.set_exception(failure)
        self._pending.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(failure)
        self._waiters.clear()
        self._set_state(Closed(error))
        self._states.put_nowait(None)
        self._messages.put_nowait(None)
