"""The agent's side of the sync protocol (docs/api.md): enroll, upload events, fetch the pack.

One small HTTP client over httpx; everything that reads an answer is a pure
function with unit tests.  Every failure is a :class:`SyncError` whose ``kind``
tells the worker what to do: ``auth`` (enroll again), ``rate_limited`` and
``server`` and ``network`` (back off, honouring ``retry_after``), ``pending``
(the device waits for an administrator's approval: keep the records, back off
at least :data:`PENDING_RETRY`), ``refused`` (a request the server will never
take; the worker logs it and backs off).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx

from agent import __version__
from agent.rules.records import WireRecord

__all__ = [
    "PENDING_RETRY",
    "WAITING_FOR_APPROVAL",
    "PackAnswer",
    "ServerClient",
    "SyncError",
    "SyncErrorKind",
    "UploadResult",
    "check_server_url",
    "decode_upload_answer",
    "encode_batch",
    "retry_after_seconds",
    "system_trust",
    "withheld_notice",
]

SyncErrorKind = Literal["auth", "rate_limited", "server", "network", "refused", "pending"]
#: While the device waits for approval, it asks again at most this often (seconds).
PENDING_RETRY: Final = 900.0
#: What ``waymark sync`` and ``waymark doctor`` say while the device waits.
WAITING_FOR_APPROVAL: Final = (
    "waiting for approval: the server's administrator has to approve this device "
    "(waymark-server device approve); the statistics stay on this computer until then"
)
BUNDLE_TYPE: Final = "application/vnd.waymark.bundle+json"
#: GET /v1/pack's header naming a newer version this device is not in (docs/api.md).
WITHHELD_HEADER: Final = "Waymark-Pack-Withheld"
#: The server takes at most this many events per request.
MAX_BATCH: Final = 500
USER_AGENT: Final = f"waymark-agent/{__version__}"


class SyncError(Exception):
    """A request that did not succeed; ``kind`` says how to react."""

    def __init__(
        self,
        kind: SyncErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What enrollment gave this device: its id and its secret (a bearer token)."""

    device_id: str
    secret: str


@dataclass(frozen=True, slots=True)
class UploadResult:
    """Per UUID: stored (``ok`` or ``duplicate``) or refused for good (with why)."""

    accepted: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]
    #: Sent UUIDs the answer did not mention: they stay pending and go again.
    unanswered: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PackAnswer:
    """``new`` (``data`` is a bundle), ``unchanged`` (304) or ``none`` (204: no pack here);
    ``withheld``: a newer version this device is not in, said for a person (or None)."""

    status: Literal["new", "unchanged", "none"]
    data: bytes = b""
    etag: str | None = None
    withheld: str | None = None


def withheld_notice(header: str | None) -> str | None:
    """``Waymark-Pack-Withheld: <pack id> <version> <reason>`` said for a person, or None.

    ``rollout``: the device's ring is outside the version's percentage;
    ``groups``: it is in none of the version's groups.  A header this agent
    does not understand is said as it is, never an error.
    """
    parts = (header or "").split()
    if len(parts) != 3 or not parts[1].isdigit() or len(header or "") > 200:
        return None
    pack, version, reason = parts
    if reason == "rollout":
        return f"this device is not in the rollout of {pack} v{version}"
    if reason == "groups":
        return f"this device is in none of the groups {pack} v{version} is limited to"
    return f"the server withholds {pack} v{version} from this device ({reason})"


def check_server_url(url: str) -> str:
    """``url`` without a trailing slash, or ValueError: https, or http to this machine only."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url.strip().rstrip("/")
    if parts.scheme == "http" and host:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url.strip().rstrip("/")
        raise ValueError(f"server_url {url!r}: plain http is allowed only to this machine")
    raise ValueError(f"server_url {url!r}: expected https://host[:port]")


def encode_batch(rows: Sequence[WireRecord]) -> bytes:
    """The gzip-compressed ``{"events": [...]}`` body of ``POST /v1/events``."""
    body = json.dumps({"events": [r.to_wire() for r in rows]}, separators=(",", ":"))
    return gzip.compress(body.encode("utf-8"), compresslevel=6, mtime=0)


def decode_upload_answer(sent: Sequence[str], doc: object) -> UploadResult:
    """Read the per-UUID statuses of an events answer; unknown UUIDs are ignored."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise SyncError("server", "the events answer has no results list")
    wanted = set(sent)
    accepted: list[str] = []
    rejected: list[tuple[str, str]] = []
    for item in doc["results"]:
        if not isinstance(item, dict):
            continue
        uid, status = item.get("uuid"), item.get("status")
        if not isinstance(uid, str) or uid not in wanted or not isinstance(status, str):
            continue
        wanted.discard(uid)
        if status in ("ok", "duplicate"):
            accepted.append(uid)
        elif status.startswith("rejected"):
            rejected.append((uid, status.partition(":")[2] or "rejected"))
    unanswered = tuple(u for u in sent if u in wanted)
    return UploadResult(tuple(accepted), tuple(rejected), unanswered)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _error_for(response: httpx.Response, what: str) -> SyncError:
    status = response.status_code
    try:
        detail = response.json()
        message = f"{detail.get('error', status)}: {detail.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        message = response.text[:200] or str(status)
    retry = retry_after_seconds(response.headers.get("retry-after"), datetime.now().astimezone())
    text = f"{what}: HTTP {status} {message}"
    if status == 403 and message.startswith("pending_approval"):
        return SyncError(
            "pending",
            WAITING_FOR_APPROVAL,
            status=status,
            retry_after=max(retry or 0.0, PENDING_RETRY),
        )
    if status == 401:
        return SyncError("auth", text, status=status)
    if status == 429:
        return SyncError("rate_limited", text, status=status, retry_after=retry)
    if status >= 500:
        return SyncError("server", text, status=status, retry_after=retry)
    return SyncError("refused", text, status=status)


class ServerClient:
    """HTTP calls to one Waymark server; ``transport`` lets tests aim it anywhere."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = check_server_url(base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            verify=system_trust(),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def _send(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SyncError("network", f"{what}: {type(exc).__name__}: {exc}") from exc

    def enroll(
        self,
        token: str,
        os_name: str,
        agent_version: str,
        groups: Sequence[str],
        installation_id: str | None = None,
    ) -> DeviceCredentials:
        """Trade the tenant's enrollment token for this device's id and secret.

        ``installation_id`` (this data folder's, :func:`agent.sync.credentials.installation_id`)
        makes a second enrollment renew the same device instead of adding one.
        """
        body: dict[str, Any] = {"token": token, "os": os_name, "agent_version": agent_version,
                                "groups": list(groups)}  # fmt: skip
        if installation_id:
            body["installation_id"] = installation_id
        response = self._send("enroll", "POST", "/v1/enroll", json=body)
        if response.status_code != 200:
            raise _error_for(response, "enroll")
        doc = _json(response, "enroll")
        device_id, secret = doc.get("device_id"), doc.get("device_secret")
        if not isinstance(device_id, str) or not isinstance(secret, str) or not secret:
            raise SyncError("server", "enroll: the answer has no device_id/device_secret")
        return DeviceCredentials(device_id, secret)

    def upload(self, secret: str, rows: Sequence[WireRecord]) -> UploadResult:
        """Send up to :data:`MAX_BATCH` rows; which were stored and which refused."""
        headers = {
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        response = self._send(
            "upload", "POST", "/v1/events", content=encode_batch(rows), headers=headers
        )
        if response.status_code != 200:
            raise _error_for(response, "upload")
        return decode_upload_answer([r.uuid for r in rows], _json(response, "upload"))

    def announce_groups(self, secret: str, groups: Sequence[str]) -> None:
        """Tell the server this device's audience groups now (they changed in policy)."""
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"groups": list(groups)}
        response = self._send("groups", "PUT", "/v1/device/groups", json=body, headers=headers)
        if response.status_code != 200:
            raise _error_for(response, "groups")

    def fetch_pack(self, secret: str, etag: str | None) -> PackAnswer:
        """The signed bundle for this device, unless it still has ``etag``."""
        headers = {"Authorization": f"Bearer {secret}", "Accept": BUNDLE_TYPE}
        if etag:
            headers["If-None-Match"] = etag
        response = self._send("pack", "GET", "/v1/pack", headers=headers)
        withheld = withheld_notice(response.headers.get(WITHHELD_HEADER))
        if response.status_code == 304:
            return PackAnswer("unchanged", etag=etag, withheld=withheld)
        if response.status_code == 204:
            return PackAnswer("none", withheld=withheld)
        if response.status_code != 200:
            raise _error_for(response, "pack")
        return PackAnswer("new", response.content, response.headers.get("etag"), withheld)


def system_trust() -> ssl.SSLContext:
    """TLS verified against the operating system's trust store, not a bundled one.

    Companies that inspect TLS install their proxy's root certificate in the OS
    store (by group policy, MDM or update-ca-certificates); Python's bundled
    list would refuse the server behind such a proxy.  On Linux the OS store is
    OpenSSL's default paths, so ``SSL_CERT_FILE`` also applies.
    """
    import truststore

    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _json(response: httpx.Response, what: str) -> Mapping[str, Any]:
    try:
        doc = response.json()
    except ValueError as exc:
        raise SyncError("server", f"{what}: the answer is not JSON") from exc
    if not isinstance(doc, dict):
        raise SyncError("server", f"{what}: the answer is not a JSON object")
    return doc
