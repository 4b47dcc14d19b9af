"""Token lifetime on open connections (issue 16, item 2; SPEC §3b): `token_expiring`
`auth.refreshWindow` before `exp`, `refresh` answered `refreshed` with the new token's claims
taking effect, refusals (`forbidden` for another user, `unauthenticated` for a token that does
not verify, `invalid_message` without a token) that keep the connection until the old `exp`,
the close with 1008 `token expired` and the reconnect that resumes, the same over Socket.IO
(events, and the ack of `refresh`). Real relays, real sockets; every bad input is answered with
its code, counted, and leaves the other clients alone."""

from __future__ import annotations

import time

from engineio_polling import shared_relay
from relay_helpers import Pair, base_config, jwt_encode, claims_for
from socketio_helpers import SIOClient

WINDOW = 60


def token_config(**auth) -> dict:
    cfg = base_config(auth={"leeway": 0, "refreshWindow": WINDOW, **auth})
    cfg["endpoints"] += [
        {"path": "/ws/claims", "codec": "json", "auth": "required"},
        {"path": "/socket.io/", "codec": "socketio", "auth": "optional"},
    ]
    cfg["routes"] += [
        {"endpoint": "/ws/claims", "type": "subscribe", "plugin": "chat"},
        {"endpoint": "/ws/claims", "type": "publish", "plugin": "chat", "requireClaims": {"role": "admin"}},
        {"endpoint": "/socket.io/", "type": "message", "plugin": "echo"},
        {"endpoint": "/socket.io/", "type": "message-with-ack", "plugin": "echo"},
    ]
    cfg["plugins"]["echo"] = {"plugin": "echo"}
    return cfg


_token_relay, srv = shared_relay("srv", token_config)


def exp_of(token: str) -> int:
    import json
    from relay_helpers import b64url_decode
    return json.loads(b64url_decode(token.split(".")[1]))["exp"]


def test_token_expiring_then_refresh_keeps_the_connection_and_the_new_claims_apply(srv, topic):
    short = srv.token("alice", ttl=3, role="user")
    client = srv.connect("/ws/claims", token=short)
    warning = client.expect("token_expiring", timeout=2)
    assert warning == {"type": "token_expiring", "expiresAt": exp_of(short) * 1000}, warning
    listener = srv.connect("/ws")
    listener.subscribe(topic)
    client.subscribe(topic)
    # The old claims: publishing needs role=admin.
    client.send_json({"type": "publish", "topic": topic, "data": 1})
    error = client.expect("error")
    assert error["code"] == "forbidden" and "claims" in error["message"], error
    fresh = srv.token("alice", ttl=3600, role="admin")
    client.send_json({"type": "refresh", "token": fresh})
    refreshed = client.expect("refreshed")
    assert refreshed == {"type": "refreshed", "expiresAt": exp_of(fresh) * 1000}, refreshed
    # The new claims apply to the next message.
    client.publish(topic, 2)
    assert listener.expect("message")["data"] == 2
    # Past the old token's exp the connection is still there, and warned once only.
    time.sleep(max(0.0, exp_of(short) - time.time()) + 1.5)
    client.ping()
    client.assert_silent(0.3, ignore=("joined", "left"))


def test_refusals_keep_the_connection_until_the_old_exp_then_1008_token_expired(srv, topic):
    pair = Pair(srv, topic)
    errors = {code: srv.metric("relay_errors_total", code=code) for code in ("forbidden", "unauthenticated", "invalid_message")}
    closes = srv.metric("relay_closes_total", initiator="server", code="1008")
    short = srv.token("alice", ttl=3)
    client = srv.connect("/ws/secure", token=short)
    client.expect("token_expiring", timeout=2)
    cases = [
        ({"type": "refresh", "token": srv.token("bob")}, "forbidden"),
        ({"type": "refresh", "token": jwt_encode(claims_for("alice"), "wrong-secret-0123456789abcdefghijklmn")}, "unauthenticated"),
        ({"type": "refresh", "token": srv.token("alice", ttl=-30)}, "unauthenticated"),
        ({"type": "refresh", "token": "not.a.jwt"}, "unauthenticated"),
        ({"type": "refresh", "token": jwt_encode(claims_for("alice"), alg="none")}, "unauthenticated"),
        ({"type": "refresh"}, "invalid_message"),
        ({"type": "refresh", "token": 42}, "invalid_message"),
    ]
    for message, code in cases:
        client.send_json(message)
        error = client.expect("error")
        assert error["code"] == code and error["ref"] == "refresh", (message, error)
    pair.check()
    client.ping()
    # Closed at the old exp (leeway 0), not before.
    assert time.time() < exp_of(short)
    code = client.expect_close(timeout=exp_of(short) - time.time() + 2)
    assert code == 1008 and client.close_reason == "token expired", (code, client.close_reason)
    assert time.time() >= exp_of(short)
    pair.check()
    srv.wait_metric("relay_closes_total", lambda v: v >= closes + 1, initiator="server", code="1008")
    expected = {"forbidden": 1, "unauthenticated": 4, "invalid_message": 2}
    for code, count in expected.items():
        assert srv.metric("relay_errors_total", code=code) - errors[code] >= count, code


def test_an_expired_connection_reconnects_with_a_new_token_and_resumes(srv, topic):
    short = srv.token("alice", ttl=2)
    client = srv.connect("/ws/secure", token=short)
    client.subscribe(topic)
    seen = 1  # subscribed
    client.expect("token_expiring", timeout=2)
    seen += 1
    hello = client.hello
    assert client.expect_close(timeout=4) == 1008
    again = srv.connect("/ws/secure", token=srv.token("alice"),
                        query={"resume": hello["resumeToken"], "lastSeen": seen})
    assert again.hello["resumed"] is True and again.hello["clientId"] == hello["clientId"], again.hello
    sender = srv.connect("/ws")
    sender.subscribe(topic)
    sender.publish(topic, "after")
    assert again.recv_until(lambda m: m.get("type") == "message")["data"] == "after"


def test_a_connection_without_a_token_cannot_refresh(srv):
    anonymous = srv.connect("/ws")
    anonymous.send_json({"type": "refresh", "token": srv.token("alice")})
    error = anonymous.expect("error")
    assert error["code"] == "forbidden" and error["ref"] == "refresh", error
    anonymous.ping()


def test_a_token_without_exp_is_never_warned_and_refresh_may_add_one(srv):
    token = jwt_encode({"sub": "carol"})
    client = srv.connect("/ws/secure", token=token)
    client.assert_silent(0.8)
    client.send_json({"type": "refresh", "token": jwt_encode({"sub": "carol"})})
    assert client.expect("refreshed") == {"type": "refreshed", "expiresAt": None}


def test_every_connection_is_warned_by_its_loop_sweep(srv):
    tokens = [srv.token(f"user{n}", ttl=30) for n in range(60)]
    clients = [srv.connect("/ws/secure", token=token) for token in tokens]
    started = time.monotonic()
    for client in clients:
        client.expect("token_expiring", timeout=3)
    assert time.monotonic() - started < 3


def test_socketio_token_expiring_and_refresh_by_ack(srv):
    short = srv.token("dave", ttl=3)
    sio = SIOClient(srv, auth={"token": short})
    warning = sio.expect("token_expiring", timeout=3, skip=("auth",))
    assert warning == {"type": "token_expiring", "expiresAt": exp_of(short) * 1000}, warning
    assert sio.call("refresh", {"token": srv.token("erin")}) == [
        {"type": "error", "code": "forbidden", "message": "the new token names another user", "ref": "refresh"}]
    assert sio.call("refresh", {})[0]["code"] == "invalid_message"
    fresh = srv.token("dave", ttl=3600)
    assert sio.call("refresh", {"token": fresh}) == [{"type": "refreshed", "expiresAt": exp_of(fresh) * 1000}]
    # Without an ack asked for, the answer is an event; the token alone works too.
    sio.emit("refresh", srv.token("dave", ttl=3600))
    assert sio.expect("refreshed", skip=("auth",))["type"] == "refreshed"
    time.sleep(max(0.0, exp_of(short) - time.time()) + 1.2)
    assert sio.call("message-with-ack", "still", "here") == ["still", "here"]
