"""Authentication (docs/protocol.md "Connecting", SPEC §3, §3a).

Token sources: ?token=, Authorization: Bearer, first message {"type":"auth"}.
Every refusal is an upgrade that completes and then a close 1008.
"""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from relay_helpers import (RelayServer, SECRET, base_config, claims_for, jwt_encode,
                           public_jwk)

MODES = ("query", "header", "message")
OTHER_SECRET = "another-secret-that-is-forty-chars-long!"


def open_with_token(server: RelayServer, token: str, mode: str, path: str = "/ws/secure"):
    """Connect presenting ``token`` the ``mode`` way; return the client before any frame is read."""
    if mode == "query":
        return server.connect(path, token=token, expect_connected=False)
    if mode == "header":
        return server.connect(path, headers={"Authorization": f"Bearer {token}"},
                              expect_connected=False)
    client = server.connect(path, expect_connected=False)
    client.send_json({"type": "auth", "token": token})
    return client


def assert_accepted(server: RelayServer, token: str, mode: str, user: str | None = None,
                    path: str = "/ws/secure"):
    client = open_with_token(server, token, mode, path)
    if mode == "message":
        authenticated = client.expect("authenticated")
        if user is not None:
            assert authenticated["userId"] == user, authenticated
    client.hello = client.expect("connected")
    assert client.ping()["type"] == "pong"
    return client


def assert_refused(server: RelayServer, token: str, mode: str, path: str | None = None) -> None:
    # query/header: the optional endpoint (a bad token must not become anonymous);
    # message: the required endpoint (first-message auth).
    path = path or ("/ws/secure" if mode == "message" else "/ws")
    client = open_with_token(server, token, mode, path)
    assert client.expect_close() == 1008
    types = [json.loads(m).get("type") for m in client.close_messages if isinstance(m, str)]
    assert "connected" not in types and "authenticated" not in types, types


# --- token sources -----------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_valid_token_is_accepted(srv, mode):
    assert_accepted(srv, srv.token("carol"), mode, user="carol")


def test_first_message_auth_answers_authenticated_then_connected(srv, topic):
    client = srv.connect("/ws/secure", expect_connected=False)
    client.assert_silent(0.3)  # nothing before auth on a required endpoint
    client.send_json({"type": "auth", "token": srv.token("dave")})
    assert client.recv_json() == {"type": "authenticated", "userId": "dave"}
    hello = client.expect("connected", ignore=())
    assert hello["resumed"] is False and hello["clientId"] and hello["resumeToken"]
    client.hello = hello
    # the connection is fully usable afterwards
    other = srv.connect("/ws/secure", sub="erin")
    client.subscribe(topic)
    other.subscribe(topic)
    other.publish(topic, "hi")
    assert client.expect("message")["data"] == "hi"


def test_optional_endpoint_without_token_is_anonymous(srv):
    assert srv.connect("/ws").ping()["type"] == "pong"


def test_auth_none_endpoint_ignores_tokens(srv):
    client = srv.connect("/ws/open/lobby", token="garbage")
    assert client.ping()["type"] == "pong"


def test_custom_user_claim(relay):
    server = relay(base_config(auth={"userClaim": "uid"}))
    token = jwt_encode(claims_for("ignored-sub", uid="frank"))
    assert_accepted(server, token, "message", user="frank")


# --- refused tokens (HS256) ----------------------------------------------------

def _now() -> int:
    return int(time.time())


def _tampered() -> str:
    header, payload, signature = jwt_encode(claims_for("mallory")).split(".")
    forged = jwt_encode(claims_for("admin"), OTHER_SECRET).split(".")[1]
    return f"{header}.{forged}.{signature}"


BAD_TOKENS = {
    "wrong-secret": lambda: jwt_encode(claims_for("mallory"), OTHER_SECRET),
    "alg-none": lambda: jwt_encode(claims_for("mallory"), alg="none"),
    "alg-none-uppercase": lambda: jwt_encode(claims_for("mallory"), alg="none",
                                             headers={"alg": "NONE"}),
    "tampered-payload": _tampered,
    "expired": lambda: jwt_encode(claims_for("mallory", exp=_now() - 60)),
    "nbf-in-future": lambda: jwt_encode(claims_for("mallory", nbf=_now() + 60)),
    "garbage": lambda: "abc.def.ghi",
    "not-a-jwt": lambda: "hello",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_token_closes_1008(srv, kind, mode):
    assert_refused(srv, BAD_TOKENS[kind](), mode)


def test_leeway_allows_small_clock_skew(srv):
    # default leeway is 5 s: nbf 2 s ahead and exp 2 s ago are both accepted
    assert_accepted(srv, jwt_encode(claims_for("gina", nbf=_now() + 2)), "query")
    assert_accepted(srv, jwt_encode(claims_for("gina", exp=_now() - 2)), "query")


def test_token_expiring_during_connection_closes_1008(relay):
    server = relay(base_config(auth={"authTimeout": 2, "leeway": 0}))
    exp = int(time.time()) + 3
    client = server.connect("/ws", token=jwt_encode(claims_for("hank", exp=exp)))
    assert client.ping()["type"] == "pong"  # still valid now
    assert client.expect_close(timeout=exp - time.time() + 4) == 1008
    closed_at = time.time()
    assert closed_at >= exp - 0.5, f"closed {exp - closed_at:.2f}s before exp"
    assert closed_at <= exp + 3, f"closed {closed_at - exp:.2f}s after exp"


# --- issuer / audience --------------------------------------------------------------

ISSUER = "https://issuer.test"
AUDIENCE = "relay-tests"


@pytest.fixture(scope="module")
def _iss_aud_server(tmp_path_factory):
    server = RelayServer(tmp_path_factory.mktemp("relay-iss"),
                         base_config(auth={"issuer": ISSUER, "audience": AUDIENCE}))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def iss_aud_server(_iss_aud_server, track_server):
    return track_server(_iss_aud_server)


@pytest.mark.parametrize("claims", [
    pytest.param({"iss": ISSUER, "aud": AUDIENCE}, id="string-aud"),
    pytest.param({"iss": ISSUER, "aud": ["other", AUDIENCE]}, id="list-aud"),
])
def test_matching_issuer_and_audience_accepted(iss_aud_server, claims):
    assert_accepted(iss_aud_server, jwt_encode(claims_for("ivy", **claims)), "query")


@pytest.mark.parametrize("claims", [
    pytest.param({"iss": "https://evil.test", "aud": AUDIENCE}, id="wrong-iss"),
    pytest.param({"aud": AUDIENCE}, id="missing-iss"),
    pytest.param({"iss": ISSUER, "aud": "other"}, id="wrong-aud"),
    pytest.param({"iss": ISSUER, "aud": ["a", "b"]}, id="aud-list-without-ours"),
    pytest.param({"iss": ISSUER}, id="missing-aud"),
])
@pytest.mark.parametrize("mode", ["query", "message"])
def test_wrong_issuer_or_audience_closes_1008(iss_aud_server, claims, mode):
    assert_refused(iss_aud_server, jwt_encode(claims_for("ivy", **claims)), mode)


# --- JWKS: RS256 / ES256 ------------------------------------------------------------

class Keys:
    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa_public_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwks(self) -> dict:
        return {"keys": [public_jwk(self.rsa, "rsa-1"), public_jwk(self.ec, "ec-1")]}


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def _jwks_server(tmp_path_factory, keys):
    workdir = tmp_path_factory.mktemp("relay-jwks")
    jwks_file = workdir / "keys.jwks"
    jwks_file.write_text(json.dumps(keys.jwks()))
    server = RelayServer(workdir, base_config(auth={"authTimeout": 2, "jwksFile": str(jwks_file)}))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def jwks_server(_jwks_server, track_server):
    return track_server(_jwks_server)


@pytest.mark.parametrize("mode", MODES)
def test_rs256_token_verified_through_jwks(jwks_server, keys, mode):
    token = jwt_encode(claims_for("jack"), keys.rsa, "RS256", {"kid": "rsa-1"})
    assert_accepted(jwks_server, token, mode, user="jack")


@pytest.mark.parametrize("mode", MODES)
def test_es256_token_verified_through_jwks(jwks_server, keys, mode):
    token = jwt_encode(claims_for("kate"), keys.ec, "ES256", {"kid": "ec-1"})
    assert_accepted(jwks_server, token, mode, user="kate")


def test_hs256_still_works_next_to_jwks(jwks_server):
    assert_accepted(jwks_server, jwks_server.token("liam"), "query")


def _jwks_bad_tokens(keys: Keys) -> dict[str, str]:
    return {
        "unknown-kid": jwt_encode(claims_for("m"), keys.rsa, "RS256", {"kid": "nope"}),
        "rsa-wrong-key": jwt_encode(claims_for("m"), keys.rsa_other, "RS256", {"kid": "rsa-1"}),
        "es256-signed-with-kid-of-rsa": jwt_encode(claims_for("m"), keys.ec, "ES256", {"kid": "rsa-1"}),
        "rs256-expired": jwt_encode(claims_for("m", exp=_now() - 60), keys.rsa, "RS256", {"kid": "rsa-1"}),
        # algorithm confusion: HMAC keyed with the RSA public key's PEM text
        "hs256-keyed-with-rsa-public-pem": jwt_encode(claims_for("m"), keys.rsa_public_pem, "HS256",
                                                      {"kid": "rsa-1"}),
        "hs256-keyed-with-rsa-public-pem-no-kid": jwt_encode(claims_for("m"), keys.rsa_public_pem,
                                                             "HS256"),
        "alg-none-with-kid": jwt_encode(claims_for("m"), alg="none", headers={"kid": "rsa-1"}),
    }


@pytest.mark.parametrize("kind", ["unknown-kid", "rsa-wrong-key", "es256-signed-with-kid-of-rsa",
                                  "rs256-expired", "hs256-keyed-with-rsa-public-pem",
                                  "hs256-keyed-with-rsa-public-pem-no-kid", "alg-none-with-kid"])
@pytest.mark.parametrize("mode", ["query", "message"])
def test_bad_jwks_token_closes_1008(jwks_server, keys, kind, mode):
    assert_refused(jwks_server, _jwks_bad_tokens(keys)[kind], mode)


def test_secret_from_environment_is_required_for_hs256_tokens(relay):
    """A server whose secret differs refuses our tokens: the env secret is what signs."""
    server = relay(secret=OTHER_SECRET)
    assert_refused(server, jwt_encode(claims_for("nina"), SECRET), "query")
    assert_accepted(server, jwt_encode(claims_for("nina"), OTHER_SECRET), "query")
