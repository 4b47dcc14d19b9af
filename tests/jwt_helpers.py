"""JWTs for the tests, hand-rolled so that they depend on nothing but `cryptography`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from relay_config import SECRET, json_text


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(claims: dict, key: Any = SECRET, alg: str = "HS256",
               headers: dict | None = None) -> str:
    """Sign ``claims``. ``key``: str/bytes for HS256, a cryptography private key for RS256/ES256."""
    header = {"alg": alg, "typ": "JWT", **(headers or {})}
    signing_input = f"{b64url(json_text(header).encode())}.{b64url(json_text(claims).encode())}".encode()
    if alg == "HS256":
        raw_key = key.encode() if isinstance(key, str) else key
        signature = hmac.new(raw_key, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "none":
        signature = b""
    else:
        raise ValueError(alg)
    return f"{signing_input.decode()}.{b64url(signature)}"


def jwt_decode_hs256(token: str, secret: str = SECRET) -> tuple[dict, dict]:
    """Verify an HS256 token; return (header, claims). Raises AssertionError on a bad signature."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWT: {token!r}"
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(expected, b64url_decode(parts[2])), "HS256 signature does not verify"
    return header, claims


def _int_b64(n: int, length: int | None = None) -> str:
    length = length or (n.bit_length() + 7) // 8
    return b64url(n.to_bytes(length, "big"))


def public_jwk(private_key: Any, kid: str) -> dict:
    """The public JWK of an RSA (RS256) or P-256 (ES256) private key from `cryptography`."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if isinstance(private_key, rsa.RSAPrivateKey):
        numbers = private_key.public_key().public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        numbers = private_key.public_key().public_numbers()
        return {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": _int_b64(numbers.x, 32), "y": _int_b64(numbers.y, 32)}
    raise TypeError(type(private_key))


def claims_for(sub: str, ttl: float = 3600, **claims: Any) -> dict:
    now = int(time.time())
    out: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + int(ttl)}
    out.update(claims)
    return {k: v for k, v in out.items() if v is not None}
