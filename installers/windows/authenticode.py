"""Authenticode signatures with osslsigncode (Debian package ``osslsigncode``): exe files, MSI.

The release pipeline signs with the company certificate from its secrets (a
PKCS#12 file and its password, plus a timestamp server so the signature
outlives the certificate); the tests sign with a throwaway self-signed
certificate and verify against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SigningIdentity", "sign", "verify"]


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    """Who signs: a PKCS#12 file (``pkcs12`` + ``password``) or a PEM ``cert`` + ``key``."""

    pkcs12: Path | None = None
    password: str = ""
    cert: Path | None = None
    key: Path | None = None
    #: RFC 3161 timestamp server (release builds); empty: no timestamp (tests, offline).
    timestamp_url: str = ""
    description: str = "Waymark"
    url: str = "https://waymark.example"

    @classmethod
    def from_environment(cls) -> SigningIdentity | None:
        """``WAYMARK_SIGN_PKCS12`` (+ ``WAYMARK_SIGN_PASSWORD``, ``WAYMARK_SIGN_TIMESTAMP_URL``)
        or ``WAYMARK_SIGN_CERT`` + ``WAYMARK_SIGN_KEY``; None when neither is set."""
        env = os.environ
        stamp = env.get("WAYMARK_SIGN_TIMESTAMP_URL", "")
        if env.get("WAYMARK_SIGN_PKCS12"):
            return cls(
                pkcs12=Path(env["WAYMARK_SIGN_PKCS12"]),
                password=env.get("WAYMARK_SIGN_PASSWORD", ""),
                timestamp_url=stamp,
            )
        if env.get("WAYMARK_SIGN_CERT") and env.get("WAYMARK_SIGN_KEY"):
            return cls(
                cert=Path(env["WAYMARK_SIGN_CERT"]),
                key=Path(env["WAYMARK_SIGN_KEY"]),
                timestamp_url=stamp,
            )
        return None


def _osslsigncode() -> str:
    found = shutil.which("osslsigncode")
    if found is None:
        raise RuntimeError(
            "osslsigncode is not installed: apt-get install osslsigncode "
            "(scripts/bootstrap-debian.sh installs it when run as root)"
        )
    return found


def sign(path: Path, identity: SigningIdentity) -> None:
    """Sign ``path`` (a PE file or an MSI) in place with SHA-256."""
    # Written beside the file, then renamed over it: a failed signing leaves the original.
    signed = path.with_name(path.name + ".signing")
    with tempfile.TemporaryDirectory(prefix="waymark-sign-") as tmp:
        args = [_osslsigncode(), "sign", "-h", "sha256", "-n", identity.description,
                "-i", identity.url]  # fmt: skip
        if identity.pkcs12 is not None:
            # The password goes through a 0600 file, never the command line (ps shows that).
            secret = Path(tmp) / "password"
            secret.touch(mode=0o600)
            secret.write_text(identity.password, encoding="utf-8")
            args += ["-pkcs12", str(identity.pkcs12), "-readpass", str(secret)]
        elif identity.cert is not None and identity.key is not None:
            args += ["-certs", str(identity.cert), "-key", str(identity.key)]
        else:
            raise ValueError("a signing identity needs a PKCS#12 file or a certificate and a key")
        if identity.timestamp_url:
            args += ["-ts", identity.timestamp_url]
        if path.suffix.lower() == ".msi":
            args.append("-add-msi-dse")  # also sign the MSI's metadata (MsiDigitalSignatureEx)
        args += ["-in", str(path), "-out", str(signed)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            signed.unlink(missing_ok=True)
            raise RuntimeError(f"osslsigncode could not sign {path}: {done.stdout}{done.stderr}")
        shutil.copymode(path, signed)
        os.replace(signed, path)


def verify(path: Path, ca_file: Path) -> subprocess.CompletedProcess[str]:
    """``osslsigncode verify`` of ``path`` against the certificates in ``ca_file``."""
    return subprocess.run(
        [_osslsigncode(), "verify", "-CAfile", str(ca_file), "-in", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
