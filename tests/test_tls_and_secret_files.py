"""TLS termination (server.tls) and secrets read from files (auth.jwtSecretFile, auth.apiKeyFile)."""

from __future__ import annotations

import datetime
import json
import ssl
import time
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay_helpers import HOST, SECRET, base_config, claims_for, jwt_encode, run_cli
from tls_ws import TLSConnection


def write_self_signed(directory) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def wait_https(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"https://{HOST}:{port}/healthz", context=insecure_context(), timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("relay never answered over TLS")


def test_tls_serves_https_and_wss(relay, tmp_path):
    cert, key = write_self_signed(tmp_path)
    config = base_config(server={"tls": {"certificateFile": cert, "keyFile": key}})
    server = relay(config, start=False)
    server.wait_healthy = lambda timeout: wait_https(server.port, timeout)
    server.start()

    with urllib.request.urlopen(f"https://{HOST}:{server.port}/readyz", context=insecure_context(), timeout=5) as response:
        assert json.loads(response.read())["status"] == "ready"
    ws = TLSConnection.open(f"wss://{HOST}:{server.port}/ws", insecure_context())
    try:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "connected" and hello["clientId"]
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "pong"
    finally:
        ws.close()
    # plain HTTP on the TLS port is not served
    try:
        urllib.request.urlopen(f"http://{HOST}:{server.port}/healthz", timeout=2)
        raise AssertionError("plain HTTP was answered on the TLS port")
    except OSError:
        pass


def test_missing_tls_files_are_reported_by_check(relay, tmp_path):
    config = base_config(server={"tls": {"certificateFile": str(tmp_path / "none.pem"), "keyFile": str(tmp_path / "none.key")}})
    server = relay(config, start=False)
    result = run_cli("check", str(server.config_path))
    assert result.returncode != 0
    assert "server.tls.certificateFile: file not found" in result.stderr


def test_secrets_from_files(relay, tmp_path):
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text(SECRET + "\n")
    api_key_file = tmp_path / "api-key"
    api_key_file.write_text("file-api-key\n")
    config = base_config(auth={"jwtSecretFile": str(secret_file), "apiKeyFile": str(api_key_file)})
    server = relay(config, secret=None)

    # a token signed with the file's secret is accepted on an auth: required endpoint
    client = server.connect("/ws/secure", token=jwt_encode(claims_for("alice", 3600), SECRET))
    assert client.hello["type"] == "connected"
    # the API key from the file guards server REST calls
    status, _, _ = server.http_request("POST", "/api/chat/topics/t/publish", body=b'{"data":1}',
                                       headers={"X-API-Key": "wrong"})
    assert status == 401
    status, _, body = server.http_request("POST", "/api/chat/topics/t/publish", body=b'{"data":1}',
                                          headers={"X-API-Key": "file-api-key"})
    assert status == 200 and json.loads(body)["delivered"] == 0
