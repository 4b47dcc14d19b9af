"""Raw Engine.IO v4 HTTP long-polling, and a raw Socket.IO v5 client with connection-state
recovery, for the tests of issue 15 (test_socketio_polling, _upgrade, _recovery, _cluster).

In three modules: ``engineio_http`` (the first four below), ``engineio_links`` and
``socketio_raw_client``; tests import from here.

- ``shared_relay``: a relay shared by the tests of a module.
- ``encode_payload`` / ``decode_payload``: a polling body (packets joined by the record separator
  0x1E; a binary packet is ``b`` followed by its base64).
- ``http_call`` / ``Background``: one HTTP request on a fresh TCP connection (so that a
  round-robin proxy balances each request), in the foreground or in a thread.
- ``PollingSession``: one Engine.IO long-polling session request by request: the test decides
  when to GET and POST and sees every status, header and body. ``ports`` may name several
  relays (cluster nodes): requests then go to each in turn.
- ``PolledLink`` / ``WebSocketLink``: an Engine.IO session with a background reader that answers
  the server's pings, over either transport, for the Socket.IO layer.
- ``DirectStream``: numbered pubsub directs sent from a thread (a stream across an upgrade or
  between nodes).
- ``SocketIOClient``: Socket.IO on a link (namespace CONNECT, events, acks, binary attachments)
  with connection-state recovery exactly as socket.io-client 4.6+ speaks it: it remembers the
  ``pid`` of the CONNECT answer, takes the last argument of each event as its offset when that is
  a string, reconnects with ``{"pid":…,"offset":…}`` (no ``offset`` before any event arrived),
  and is ``recovered`` when the answer carries the ``pid`` it sent.
"""

from __future__ import annotations

from engineio_http import (Background, HTTPCall, Packet, PollingSession, Reply, SEPARATOR, SOCKETIO_PATH,
    decode_payload, encode_payload, http_call, polling_target, shared_relay, websocket_upgrade)
from engineio_links import Link, LinkClosed, PolledLink, WebSocketLink
from socketio_raw_client import ConnectRefused, DirectStream, Event, SocketIOClient, SocketIOPacket, parse_socketio

__all__ = [
    "Background",
    "ConnectRefused",
    "DirectStream",
    "Event",
    "HTTPCall",
    "Link",
    "LinkClosed",
    "Packet",
    "PolledLink",
    "PollingSession",
    "Reply",
    "SEPARATOR",
    "SOCKETIO_PATH",
    "SocketIOClient",
    "SocketIOPacket",
    "WebSocketLink",
    "decode_payload",
    "encode_payload",
    "http_call",
    "parse_socketio",
    "polling_target",
    "shared_relay",
    "websocket_upgrade",
]
