"""`dsc api-client` and `dsc serve` as commands: tokens shown once, SQLite in one process, TLS."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from serverkit import ROOT, Server

from host_tools.cli import main
from provisioning import apiclients, audit
from provisioning.registry import Registry


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    url, key = str(tmp_path / "reg.sqlite3"), tmp_path / "master.key"
    Registry.init(url, key, operator="tester")[0].close()
    monkeypatch.setenv("DSC_DB", url)
    monkeypatch.setenv("DSC_MASTER_KEY_FILE", str(key))
    return url, key


def test_api_client_add_list_revoke(registry: tuple[str, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url, key = registry
    assert main(["api-client", "add", "bank", "--scope", "verify"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("dsc_") and len(token) > 40 and "shown once" in err
    with Registry.open(url, key) as reg:
        assert apiclients.authenticate(reg, token).scope == "verify"
        row = reg.db.one("SELECT token_hash FROM api_clients")
        assert row is not None and token not in json.dumps(dict(row))
    assert main(["api-client", "add", "bank", "--scope", "support"]) == 2  # InvalidInputError
    assert "exists already" in capsys.readouterr().err
    assert main(["api-client", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert token not in listed and json.loads(listed)["clients"][0]["scope"] == "verify"
    assert main(["api-client", "revoke", "bank"]) == 0
    capsys.readouterr()
    with Registry.open(url, key) as reg:
        with pytest.raises(apiclients.AuthenticationError, match="revoked"):
            apiclients.authenticate(reg, token)
        actions = [e.action for e in audit.entries(reg.db)]
        assert actions[-2:] == ["api-client.add", "api-client.revoke"]
        assert token not in json.dumps([e.as_json() for e in audit.entries(reg.db)])
    with pytest.raises(SystemExit):
        main(["api-client", "add", "x", "--scope", "admin"])


def test_serve_on_sqlite_runs_one_process_and_says_so(registry: tuple[str, Path]) -> None:
    url, key = registry
    server = Server(url, key, workers=3)
    try:
        assert server.workers() == []
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    finally:
        output = server.stop()
    assert "running one process, not 3" in output


def test_serve_refuses_a_registry_it_cannot_open(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "host_tools", "serve", "--db",
                        str(tmp_path / "none.sqlite3"), "--master-key-file",
                        str(tmp_path / "k")], cwd=ROOT, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and r.stderr.startswith("dsc: error: no registry at")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def test_serve_with_tls(registry: tuple[str, Path], tmp_path: Path) -> None:
    url, key = registry
    cert, tls_key = _self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    server = Server(url, key, "--tls-cert", str(cert), "--tls-key", str(tls_key),
                    scheme="https", verify=trust)
    try:
        assert httpx.get(server.url + "/readyz", verify=trust).json()["status"] == "ready"
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url.replace("https", "http") + "/healthz", timeout=2)
    finally:
        server.stop()


def test_serve_with_tls_in_two_processes(pg_url: str, tmp_path: Path) -> None:
    """The workers accept by themselves (host_tools/web/listen.py): TLS still wraps each
    connection, several at once, and a plain-HTTP client is refused without harm."""
    key = tmp_path / "master.key"
    Registry.init(pg_url, key, operator="tester")[0].close()
    cert, tls_key = _self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    server = Server(pg_url, key, "--tls-cert", str(cert), "--tls-key", str(tls_key),
                    workers=2, scheme="https", verify=trust)
    try:
        assert len(server.workers()) == 2
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url.replace("https", "http") + "/healthz", timeout=2)
        clients = [httpx.Client(verify=trust) for _ in range(4)]
        for c in clients:
            assert c.get(server.url + "/readyz").json()["status"] == "ready"
        for c in clients:
            assert c.get(server.url + "/healthz").json() == {"status": "ok"}
            c.close()
    finally:
        server.stop()
