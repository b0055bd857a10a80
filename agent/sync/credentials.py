"""The device secret lives in the OS keyring, never in a plain file.

Windows Credential Manager, the macOS Keychain, or a Secret Service (GNOME
Keyring, KWallet) on Linux, through the ``keyring`` library.  One entry per
server address, so pointing the agent at another server enrolls it there.
When no keyring is available the agent does not sync at all and says why;
it never falls back to writing the secret to disk.
"""

from __future__ import annotations

import json
from typing import Final

from agent.sync.client import DeviceCredentials

__all__ = ["CredentialError", "KeyringCredentials", "decode_credentials", "encode_credentials"]

SERVICE: Final = "waymark-agent"


class CredentialError(Exception):
    """The OS keyring could not be read or written (none installed, locked, refused)."""


def encode_credentials(credentials: DeviceCredentials) -> str:
    return json.dumps({"device_id": credentials.device_id, "secret": credentials.secret})


def decode_credentials(text: str | None) -> DeviceCredentials | None:
    """The stored credentials, or None when absent or unreadable (then enroll again)."""
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    device_id, secret = doc.get("device_id"), doc.get("secret")
    if isinstance(device_id, str) and isinstance(secret, str) and device_id and secret:
        return DeviceCredentials(device_id, secret)
    return None


class KeyringCredentials:
    """This device's credentials for ``server_url`` in the OS keyring."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url

    def load(self) -> DeviceCredentials | None:
        import keyring
        from keyring.errors import KeyringError

        try:
            return decode_credentials(keyring.get_password(SERVICE, self.server_url))
        except KeyringError as exc:
            raise CredentialError(_explain(exc)) from exc

    def save(self, credentials: DeviceCredentials) -> None:
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(SERVICE, self.server_url, encode_credentials(credentials))
        except KeyringError as exc:
            raise CredentialError(_explain(exc)) from exc

    def clear(self) -> None:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(SERVICE, self.server_url)
        except PasswordDeleteError:
            pass  # nothing stored: already clear
        except KeyringError as exc:
            raise CredentialError(_explain(exc)) from exc


def _explain(exc: Exception) -> str:
    from keyring.errors import NoKeyringError

    if isinstance(exc, NoKeyringError):
        return (
            "no OS keyring is available to keep the device secret (on Linux: install and "
            "unlock a Secret Service such as GNOME Keyring or KWallet); sync is off"
        )
    return f"the OS keyring refused: {exc}"
