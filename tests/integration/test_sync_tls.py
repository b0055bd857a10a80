"""Sync over https, verified against the operating system's trust store.

The real server speaks TLS with a certificate from a company root that is not
in any public list (as behind a TLS-inspecting proxy).  `waymark sync` trusts
it exactly when the system trust store does (on Linux: OpenSSL's default
paths, here pointed at the root with SSL_CERT_FILE), and otherwise refuses
with a certificate error, sending nothing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.rules.records import Record
from agent.sync.outbox import Outbox
from devtools.live_server import running_server
from server.cli import open_store
from server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def company_pki(folder: Path) -> tuple[Path, Path, Path]:
    """(root certificate, server certificate, server key) for 127.0.0.1, as PEM files."""
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Example Corp Root"))
        .issuer_name(_name("Example Corp Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("waymark.example.internal"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    paths = folder / "root.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(root.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_https_sync_trusts_the_system_store_and_nothing_else(tmp_path: Path) -> None:
    root, cert, key = company_pki(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    token = store.add_enroll_token(store.create_tenant("acme"))
    data_dir = tmp_path / "agent"
    data_dir.mkdir()
    box = Outbox(data_dir / "outbox.db")
    box.append(Record(time.time() - 10, "shown", "p", 1, rule="r"))
    box.close()
    with running_server(store, ServerSettings(), tls=(cert, key)) as srv:
        assert srv.url.startswith("https://")
        policy = tmp_path / "policy.json"
        settings = {"server_url": srv.url, "enroll_token": token, "telemetry_mode": "org-notice"}
        policy.write_text(json.dumps(settings))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT_")}
        env.update(WAYMARK_DATA_DIR=str(data_dir), WAYMARK_POLICY_FILE=str(policy),
                   PYTHON_KEYRING_BACKEND="tests.fakes.MemoryKeyring")  # fmt: skip

        def sync(extra: dict[str, str]) -> tuple[int, dict[str, object]]:
            done = subprocess.run(
                [sys.executable, "-m", "agent", "sync", "--json"],
                env={**env, **extra}, capture_output=True, text=True, timeout=60, cwd=ROOT,
            )  # fmt: skip
            return done.returncode, json.loads(done.stdout)

        code, report = sync({})  # the company root is not trusted by this system
        assert code == 1 and "CERTIFICATE_VERIFY_FAILED" in str(report["error"]).upper()
        assert report["pending"] == 1
        code, report = sync({"SSL_CERT_FILE": str(root)})  # now it is
        assert code == 0, report
        assert report["sent"] == 1 and report["pending"] == 0
    store.engine.dispose()
