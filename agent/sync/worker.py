"""The sync thread: enroll once, send the outbox, pull the pack; back off when the server can't.

One round (:meth:`SyncWorker.run_once`):

1. credentials from the OS keyring, or enroll with the policy's token and keep them;
   groups that changed in policy since they were last announced are announced;
2. if the person agreed to statistics (or policy set the organisation-notice
   mode), send pending records in batches of 500 until the outbox is empty;
   ``ok`` and ``duplicate`` mark them sent, ``rejected`` takes them out of the
   queue with the reason, anything unanswered stays pending;
3. when due, ask for the pack with the last ETag; a new bundle is verified
   (pinned key, newer than the trusted version, not expired, valid pack, not
   nested too deep) and handed to the agent, a refused one is logged, its
   ETag remembered (so it is not downloaded again every round) and the
   running pack kept;
4. delete sent records older than the retention period.

Between rounds the thread waits ``upload_every`` seconds.  After a failure it
waits exponentially longer with jitter (capped), never less than the
server's Retry-After; a 401 forgets the credentials and enrolls again.
Nothing is lost while the server is away: records wait on disk.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

from agent import __version__
from agent.rules.bundle import BundleError
from agent.rules.records import WireRecord
from agent.sync.client import MAX_BATCH, DeviceCredentials, ServerClient, SyncError
from agent.sync.credentials import CredentialError
from agent.sync.outbox import Outbox
from agent.sync.packs import SyncedPacks, pinned_keys, refusal_conditions

__all__ = [
    "CredentialStore",
    "SyncSettings",
    "SyncStatus",
    "SyncWorker",
    "backoff_delay",
    "make_sync_worker",
]

log = logging.getLogger(__name__)

#: A round sends at most this many batches, so a huge backlog cannot hog a round.
MAX_BATCHES_PER_ROUND: Final = 40
#: Answers that blame the batch itself (not the server, the token or a proxy).
REFUSED_PAYLOAD: Final = frozenset({400, 413, 415, 422})
BACKOFF_BASE: Final = 5.0
BACKOFF_CAP: Final = 900.0


class CredentialStore(Protocol):
    def load(self) -> DeviceCredentials | None: ...
    def save(self, credentials: DeviceCredentials) -> None: ...
    def clear(self) -> None: ...


class SyncSettings(Protocol):
    """The part of the settings store the worker reads."""

    @property
    def telemetry_enabled(self) -> bool: ...
    def get(self, key: str) -> object: ...


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the settings window and ``waymark doctor`` show about sync."""

    server: str
    device_id: str | None
    last_success: float | None
    last_error: str | None
    sent: int
    pack: str | None


def backoff_delay(
    failures: int,
    retry_after: float | None,
    rng: Callable[[], float] = random.random,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
) -> float:
    """Seconds before the next try: doubling per failure, jittered, capped, ≥ Retry-After."""
    ceiling = min(cap, base * 2.0 ** max(0, failures - 1))
    delay = ceiling * (0.5 + 0.5 * rng())
    if retry_after is not None:
        delay = max(delay, min(retry_after, 24 * 3600.0))
    return delay


class SyncWorker:
    """Runs sync rounds on its own thread; :meth:`run_once` is one round, for tests too."""

    def __init__(
        self,
        *,
        client: ServerClient,
        credentials: CredentialStore,
        outbox: Outbox,
        settings: SyncSettings,
        packs: SyncedPacks,
        on_pack: Callable[[Path], bool] | None,
        os_name: str,
        groups: Sequence[str],
        upload_every: float = 60.0,
        pack_every: float = 900.0,
        wall: Callable[[], float] = time.time,
        installation_id: str | None = None,
        broker: Callable[[Sequence[str]], DeviceCredentials] | None = None,
        on_approval: Callable[[bool], None] | None = None,
    ) -> None:
        self.client = client
        # Told True when the server keeps the device waiting for approval, False after.
        self._on_approval = on_approval
        self._pending: bool | None = None
        self._installation_id = installation_id
        # Enrolls this user when policy has no token (agent/sync/broker.py).
        self._broker = broker
        self._credentials = credentials
        self._outbox = outbox
        self._settings = settings
        self._packs = packs
        self._on_pack = on_pack
        self._os_name = os_name
        self._groups = tuple(groups)
        # What the server was last told (None: not yet in this process).
        self._announced: tuple[str, ...] | None = None
        self.upload_every = upload_every
        self.pack_every = pack_every
        self._wall = wall
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._device: DeviceCredentials | None = None
        self._next_pack = 0.0
        self.failures = 0
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.sent = 0
        self.pack: str | None = None
        #: Why the last bundle from the server was refused (None: none was, so far).
        self.pack_refused: str | None = None
        #: A newer version the server withholds from this device, said for a person.
        self.pack_withheld: str | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="waymark-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.client.close()

    def wake(self) -> None:
        """Run a round now (e.g. consent was just given)."""
        self._wake.set()

    def status(self) -> SyncStatus:
        device = self._device.device_id if self._device is not None else None
        return SyncStatus(self.client.base_url, device, self.last_success, self.last_error,
                          self.sent, self.pack)  # fmt: skip

    # -- one round ---------------------------------------------------------------

    def run_once(self) -> None:
        """Enroll if needed, send pending records, pull the pack when due.

        Raises :class:`SyncError` or :class:`CredentialError` when the round
        could not finish; what was done before the failure stays done.  A
        device the server no longer knows (401) enrolls again at once.
        """
        try:
            self._round()
        except SyncError as exc:
            if exc.kind != "auth" or self._device is None:
                raise
            log.warning("the server no longer knows device %s; enrolling again",
                        self._device.device_id)  # fmt: skip
            self._device = None
            self._credentials.clear()
            self._round()
        retention = self._settings.get("retention_days")
        days = retention if isinstance(retention, int) and retention > 0 else 30
        self._outbox.purge_sent(self._wall() - days * 86400.0)

    def _round(self) -> None:
        device = self._device_credentials()
        waiting: SyncError | None = None
        try:
            self._announce_groups(device)
            self._send_pending(device)
        except SyncError as exc:
            if exc.kind != "pending":
                raise
            # Waiting for approval: the records stay, the pack may still come.
            waiting = exc
        self._note_approval(waiting is not None)
        if time.monotonic() >= self._next_pack:
            self._pull_pack(device)
            self._next_pack = time.monotonic() + self.pack_every
        if waiting is not None:
            raise waiting

    def _note_approval(self, pending: bool) -> None:
        if pending == self._pending:
            return
        self._pending = pending
        if pending:
            log.info("the server keeps device %s waiting for approval; the records stay here",
                     self._device.device_id if self._device else "?")  # fmt: skip
        if self._on_approval is not None:
            self._on_approval(pending)

    def _device_credentials(self) -> DeviceCredentials:
        if self._device is None:
            self._device = self._credentials.load()
        if self._device is None:
            token = self._settings.get("enroll_token")
            groups = self._current_groups()
            if isinstance(token, str) and token:
                self._device = self.client.enroll(
                    token, self._os_name, __version__, groups, self._installation_id
                )
            elif self._broker is not None:
                self._device = self._broker(groups)
            else:
                raise SyncError(
                    "refused",
                    "not enrolled, the policy has no enroll_token and no enrollment broker "
                    "runs on this computer",
                )
            self._announced = groups
            self._credentials.save(self._device)
            log.info("enrolled with %s as device %s", self.client.base_url,
                     self._device.device_id)  # fmt: skip
        return self._device

    def _current_groups(self) -> tuple[str, ...]:
        value = self._settings.get("groups")
        if isinstance(value, list | tuple):
            return tuple(sorted({g for g in value if isinstance(g, str)}))
        return tuple(sorted(set(self._groups)))

    def _announce_groups(self, device: DeviceCredentials) -> None:
        """Re-announce the groups when policy changed them (reports and pack audiences use them)."""
        groups = self._current_groups()
        if groups == self._announced:
            return
        try:
            self.client.announce_groups(device.secret, groups)
        except SyncError as exc:
            if exc.kind != "refused" or exc.status not in (404, 405):
                raise
            log.info("the server does not take group changes (%s); keeping the enrolled ones", exc)
        self._announced = groups

    def _send_pending(self, device: DeviceCredentials) -> None:
        if not self._settings.telemetry_enabled:
            return  # records wait on this computer until the person agrees
        # Halved while the server refuses batches, to find the record at fault.
        size = MAX_BATCH
        for _ in range(MAX_BATCHES_PER_ROUND):
            rows = self._outbox.take(size)
            if not rows or self._stop.is_set():
                return
            try:
                result = self.client.upload(device.secret, rows)
            except SyncError as exc:
                if exc.kind != "refused" or exc.status not in REFUSED_PAYLOAD:
                    raise  # the server or the way to it is the problem: keep all, retry
                size = self._refused(rows, exc)
                continue
            now = self._wall()
            self._outbox.accept(result.accepted, now)
            by_reason: dict[str, list[str]] = defaultdict(list)
            for uid, why in result.rejected:
                by_reason[why].append(uid)
            for why, uids in by_reason.items():
                log.warning("the server refused %d record(s): %s", len(uids), why)
                self._outbox.reject(uids, why, now)
            self.sent += len(result.accepted)
            if result.unanswered:
                raise SyncError("server", f"{len(result.unanswered)} record(s) went unanswered")
            if len(rows) < size and size == MAX_BATCH:
                return  # the outbox is empty (a smaller batch is still hunting)

    def _refused(self, rows: Sequence[WireRecord], exc: SyncError) -> int:
        """A batch the server will never take (400, 413 …): split it until the bad record
        is alone, then set that one aside, so one poison record cannot block the queue.
        Returns the next batch size."""
        if len(rows) > 1:
            half = max(1, len(rows) // 2)
            log.warning("the server refused a batch of %d (%s); trying %d at a time",
                        len(rows), exc, half)  # fmt: skip
            return half
        log.warning("the server refused record %s for good: %s", rows[0].uuid, exc)
        self._outbox.reject([rows[0].uuid], f"refused:{exc.status}", self._wall())
        return MAX_BATCH  # found it: full batches again

    def _pull_pack(self, device: DeviceCredentials) -> None:
        keys = pinned_keys(self._settings.get("publisher_keys"))
        conditions = refusal_conditions(keys, __version__)
        answer = self.client.fetch_pack(device.secret, self._packs.etag_to_send(conditions))
        self.pack_withheld = answer.withheld
        self._packs.remember_withheld(answer.withheld)
        if answer.status != "new":
            return
        if self._packs.holds(answer.data):
            self._packs.remember_etag(answer.etag)  # its ETag was lost
            return
        try:
            bundle = self._packs.verify(answer.data, keys, datetime.now(UTC), __version__)
        except BundleError as exc:
            log.error("the server's pack was refused (%s): %s; keeping the running pack",
                      exc.reason, exc)  # fmt: skip
            self.last_error = f"pack refused: {exc}"
            self.pack_refused = str(exc)
            # Not downloaded again until it changes, or the keys or the agent do.
            self._packs.remember_etag(answer.etag, refused_under=conditions)
            return
        try:
            path = self._packs.accept(answer.data, bundle, answer.etag)
        except OSError as exc:
            log.warning("cannot store the server's pack (%s); keeping the running pack and "
                        "trying again at the next pack check", exc)  # fmt: skip
            self.last_error = f"pack not stored: {exc}"
            return
        self.pack = f"{bundle.manifest.pack_id} v{bundle.manifest.version}"
        log.info("pack %s received from the server", self.pack)
        if self._on_pack is not None:
            self._on_pack(path)

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        # A short random start: a fleet that boots at 9:00 does not arrive at once.
        delay = random.uniform(0.0, min(5.0, self.upload_every))
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except (SyncError, CredentialError) as exc:
                delay = self._failed(exc, getattr(exc, "retry_after", None))
                continue
            except Exception as exc:  # the sync thread must outlive any one bad round
                if self._stop.is_set():
                    return
                log.exception("sync round failed")
                delay = self._failed(exc, None)
                continue
            self.failures = 0
            self.last_success = self._wall()
            if self.last_error and not self.last_error.startswith("pack refused"):
                self.last_error = None
            delay = self.upload_every

    def _failed(self, exc: Exception, retry_after: float | None) -> float:
        self.failures += 1
        self.last_error = str(exc)
        delay = backoff_delay(self.failures, retry_after)
        level = logging.WARNING if self.failures == 1 else logging.DEBUG
        log.log(level, "sync failed (%s); next try in %.0f s", exc, delay)
        return delay


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def make_sync_worker(
    server_url: str,
    *,
    settings: SyncSettings,
    outbox: Outbox,
    packs: SyncedPacks,
    on_pack: Callable[[Path], bool] | None,
    os_name: str,
    credentials: CredentialStore | None = None,
    upload_every: float = 60.0,
    installation_id: str | None = None,
    broker: Callable[[Sequence[str]], DeviceCredentials] | None = None,
    on_approval: Callable[[bool], None] | None = None,
) -> SyncWorker:
    """A worker for ``server_url`` with the OS keyring; ValueError for a bad URL."""
    from agent.sync.credentials import KeyringCredentials

    client = ServerClient(server_url)
    return SyncWorker(
        client=client,
        credentials=credentials or KeyringCredentials(client.base_url),
        outbox=outbox,
        settings=settings,
        packs=packs,
        on_pack=on_pack,
        os_name=os_name,
        groups=_strings(settings.get("groups")),
        upload_every=upload_every,
        installation_id=installation_id,
        broker=broker,
        on_approval=on_approval,
    )
