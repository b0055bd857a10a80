"""The device secret lives in the OS keyring, never in a plain file.

Windows Credential Manager, the macOS Keychain, or a Secret Service (GNOME
Keyring, KWallet) on Linux, through the ``keyring`` library.

One entry per **server, tenant enrollment and data folder**: the keyring
account is ``<server URL> <enrollment> <local device id>``, where the
enrollment is a fingerprint of the policy's enroll token (never the token
itself) and the local device id is the data folder's ``device.json``.  So two
data folders on one account are two devices, and a new tenant (another
enroll token) enrolls afresh.  The fingerprint used at enrollment is kept in
``<data>/sync/enrollment.json``, so a policy that drops the token after the
rollout keeps the device.  An entry under the server URL alone (how versions
before this one kept it) is found once and moved to this folder's entry.

When no keyring is available the agent does not sync at all and says why;
it never falls back to writing the secret to disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Final

from agent.storage import StoreUnavailable, load_json_object, private_dir
from agent.sync.client import DeviceCredentials

__all__ = [
    "CredentialError",
    "KeyringCredentials",
    "credential_account",
    "decode_credentials",
    "encode_credentials",
    "enrollment_fingerprint",
    "folder_credentials",
    "installation_id",
    "is_pending",
    "remember_pending",
]

log = logging.getLogger(__name__)

SERVICE: Final = "waymark-agent"
#: The enrollment part of the account when the policy has no enroll token.
NO_ENROLLMENT: Final = "no-enrollment"
ENROLLMENT_FILE: Final = "enrollment.json"


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


def enrollment_fingerprint(token: str) -> str:
    """A short, one-way fingerprint of a tenant enroll token (``enroll-1a2b…``)."""
    if not token:
        return NO_ENROLLMENT
    return "enroll-" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def installation_id(local_device: str) -> str:
    """The id this data folder enrolls with, so enrolling again renews the same device.

    Derived from the folder's random local device id (``device.json``, in the
    person's private data folder): stable per folder, so per machine and user,
    and not guessable by another user of the machine.  Sent to the server, which
    keeps only its sha256.
    """
    return hashlib.sha256(b"waymark-installation\0" + local_device.encode("utf-8")).hexdigest()


def credential_account(server_url: str, enrollment: str, local_device: str) -> str:
    """The keyring account (user name) of one data folder's device on one server."""
    return f"{server_url} {enrollment} {local_device}"


class KeyringCredentials:
    """This device's credentials for ``server_url`` in the OS keyring.

    ``enrollment`` and ``local_device`` name the entry (see the module
    docstring); without ``local_device`` the entry is the server URL alone
    (the old form).  ``remember`` is where the enrollment used is written when
    credentials are saved.
    """

    def __init__(
        self,
        server_url: str,
        *,
        enrollment: str = NO_ENROLLMENT,
        local_device: str = "",
        remember: Path | None = None,
    ) -> None:
        self.server_url = server_url
        self.enrollment = enrollment
        self.account = (
            credential_account(server_url, enrollment, local_device) if local_device else server_url
        )
        self._remember = remember

    def load(self) -> DeviceCredentials | None:
        import keyring
        from keyring.errors import KeyringError

        try:
            found = decode_credentials(keyring.get_password(SERVICE, self.account))
            if found is None and self.account != self.server_url:
                found = self._migrate()
            return found
        except KeyringError as exc:
            raise CredentialError(_explain(exc)) from exc

    def find(self) -> tuple[DeviceCredentials | None, bool]:
        """This folder's credentials without changing anything (for ``waymark doctor``):
        (credentials, True) when they are still under the old server-only entry."""
        import keyring
        from keyring.errors import KeyringError

        try:
            found = decode_credentials(keyring.get_password(SERVICE, self.account))
            if found is None and self.account != self.server_url:
                old = decode_credentials(keyring.get_password(SERVICE, self.server_url))
                return old, old is not None
            return found, False
        except KeyringError as exc:
            raise CredentialError(_explain(exc)) from exc

    def _migrate(self) -> DeviceCredentials | None:
        """Move a secret kept under the server URL alone to this data folder's entry."""
        import keyring
        from keyring.errors import PasswordDeleteError

        old = decode_credentials(keyring.get_password(SERVICE, self.server_url))
        if old is None:
            return None
        keyring.set_password(SERVICE, self.account, encode_credentials(old))
        # Already gone means another data folder moved it a moment ago.
        with contextlib.suppress(PasswordDeleteError):
            keyring.delete_password(SERVICE, self.server_url)
        self._write_enrollment()
        log.info("the device secret for %s now belongs to this data folder (device %s)",
                 self.server_url, old.device_id)  # fmt: skip
        return old

    def save(self, credentials: DeviceCredentials) -> None:
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(SERVICE, self.account, encode_credentials(credentials))
        except KeyringError as exc:
            raise CredentialError(_explain(exc)) from exc
        self._write_enrollment()

    def clear(self) -> None:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(SERVICE, self.account)
        except PasswordDeleteError:
            pass  # nothing stored: already clear
        except KeyringError as exc:
            raise CredentialError(_explain(exc)) from exc

    def _write_enrollment(self) -> None:
        if self._remember is None:
            return
        from agent.config.paths import write_atomic

        known = _read_enrollments(self._remember)
        known[self.server_url] = self.enrollment
        private_dir(self._remember.parent)
        write_atomic(self._remember, json.dumps(known, indent=2, sort_keys=True).encode())


def _read_enrollments(path: Path) -> dict[str, str]:
    """Enrollment fingerprints by server URL; a corrupt file is set aside (agent/storage.py)."""
    try:
        doc = load_json_object(path) or {}
    except StoreUnavailable:
        return {}
    return {str(k): v for k, v in doc.items() if isinstance(v, str)}


def _pending_key(server_url: str) -> str:
    return f"pending {server_url}"


def remember_pending(path: Path, server_url: str, pending: bool) -> None:
    """Note in ``sync/enrollment.json`` whether the server keeps this device waiting for
    approval (so ``waymark doctor`` can say so without the network)."""
    from agent.config.paths import write_atomic

    known = _read_enrollments(path)
    if pending:
        known[_pending_key(server_url)] = "waiting for approval"
    elif known.pop(_pending_key(server_url), None) is None:
        return
    private_dir(path.parent)
    write_atomic(path, json.dumps(known, indent=2, sort_keys=True).encode())


def is_pending(path: Path, server_url: str) -> bool:
    """Whether the last sync round found this device waiting for approval."""
    return _pending_key(server_url) in _read_enrollments(path)


def folder_credentials(
    server_url: str, enroll_token: str, data_dir: Path, local_device: str
) -> KeyringCredentials:
    """The keyring entry of the data folder ``data_dir`` (device ``local_device``) for
    ``server_url``: by the policy's enroll token, else by the enrollment it was made with."""
    remember = data_dir / "sync" / ENROLLMENT_FILE
    enrollment = (
        enrollment_fingerprint(enroll_token)
        if enroll_token
        else _read_enrollments(remember).get(server_url, NO_ENROLLMENT)
    )
    return KeyringCredentials(
        server_url, enrollment=enrollment, local_device=local_device, remember=remember
    )


def _explain(exc: Exception) -> str:
    from keyring.errors import NoKeyringError

    if isinstance(exc, NoKeyringError):
        return (
            "no OS keyring is available to keep the device secret (on Linux: install and "
            "unlock a Secret Service such as GNOME Keyring or KWallet); sync is off"
        )
    return f"the OS keyring refused: {exc}"
