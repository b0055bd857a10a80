"""The one wiring place: picks backends, builds objects, starts and stops threads.

```
hook threads ─┐
pack watcher ─┼─emit / control─► EngineRuntime (agent/rules/runtime.py): engine thread
quiet hours  ─┘                     │ effects, in order, to:
sync thread ──control (pack)────►   ├─► TelemetryGate ─► Outbox (SQLite, batched)
UI (Qt) ──────post / control────►   └─► UI bridge (Qt signal) · printer (headless)
                                                           │
                      server ◄── sync thread (agent/sync/worker.py): records out,
                                 signed pack in → verified → pack file → UsePackFile
```

:class:`AgentCore` only builds and connects these; the behaviour lives in the
parts.  The CLI commands that need the same parts (``waymark sync``,
``waymark doctor``) build them with the functions below.  Shutdown runs
sources first and sinks last: stop sources → stop the runtime (it handles
what is queued) → stop the sync thread → close the outbox and state.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from agent.clock import Clock, SystemClock
from agent.config.paths import data_dir as default_data_dir
from agent.config.paths import write_atomic
from agent.config.policy import Policy, read_policy
from agent.config.policy_watch import PolicyWatcher
from agent.config.settings import SettingsStore
from agent.events import InputEvent, Start
from agent.hooks.base import Emit, Source, SourceState
from agent.hooks.pack_file import PackFileWatcher
from agent.hooks.quiet_hours import QuietHoursSource
from agent.hooks.recent_apps import RecentApps
from agent.rules.effects import Effect
from agent.rules.engine import Engine
from agent.rules.loader import PackError, load_pack
from agent.rules.messages import ResetNever, SetGroups, SetNeverInterrupt, SetPause
from agent.rules.model import Pack
from agent.rules.runtime import EngineRuntime
from agent.rules.state import StateStore
from agent.rules.watchlist import Watchlist
from agent.storage import StoreUnavailable, load_json_object, private_dir
from agent.sync.credentials import KeyringCredentials
from agent.sync.outbox import Outbox
from agent.sync.packs import SyncedPacks, pinned_keys
from agent.sync.telemetry import TelemetryGate
from agent.sync.worker import CredentialStore, SyncStatus, SyncWorker, make_sync_worker

__all__ = [
    "AgentCore",
    "AgentOptions",
    "assets_dir",
    "build_hookset",
    "build_sync_worker",
    "default_pack_path",
    "device_credentials",
    "existing_device_id",
    "idle_thresholds",
    "local_device_id",
    "open_settings",
    "os_name",
    "pack_in_use",
    "start_rules",
    "synced_pack",
]

log = logging.getLogger(__name__)


def assets_dir() -> Path:
    """The assets folder, from a checkout or a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def default_pack_path() -> Path:
    return assets_dir() / "packs" / "default" / "pack.yaml"


def os_name(platform: str) -> str:
    """windows, macos or linux: the names packs and the server use."""
    return {"win32": "windows", "darwin": "macos"}.get(platform, "linux")


class _Sources(Protocol):
    """What app.py uses of agent.hooks.hookset.HookSet (imported only when hooks run)."""

    def start(self) -> list[SourceState]: ...
    def stop(self) -> None: ...
    def states(self) -> list[SourceState]: ...
    def set_idle_thresholds(self, seconds: Sequence[float]) -> None: ...
    def set_watchlist(self, watchlist: Watchlist) -> None: ...


# -- wiring functions (the agent and the commands build their parts with these) --------


def open_settings(data_dir: Path, platform: str, policy: Policy | None = None) -> SettingsStore:
    """The person's settings in ``data_dir`` under the managed policy of ``platform``."""
    return SettingsStore.open(data_dir, policy if policy is not None else read_policy(platform))


def build_sync_worker(
    url: str,
    *,
    settings: SettingsStore,
    outbox: Outbox,
    data_dir: Path,
    platform: str,
    on_pack: Callable[[Path], bool] | None,
    credentials: CredentialStore | None = None,
    upload_every: float = 60.0,
) -> SyncWorker:
    """The sync worker for ``url`` over this data folder; ValueError for a bad URL.

    Without ``credentials`` the device secret is this data folder's entry in the
    OS keyring (:func:`device_credentials`).  The device enrolls with the policy's
    token and this folder's installation id, or, without a token, through the
    enrollment broker when one runs here (agent/sync/broker.py).
    """
    from agent.sync.broker import broker_enroller
    from agent.sync.client import check_server_url
    from agent.sync.credentials import ENROLLMENT_FILE, installation_id, remember_pending

    remember = data_dir / "sync" / ENROLLMENT_FILE
    base = check_server_url(url)

    return make_sync_worker(
        url,
        settings=settings,
        outbox=outbox,
        packs=SyncedPacks(data_dir / "sync"),
        on_pack=on_pack,
        os_name=os_name(platform),
        credentials=credentials or device_credentials(url, settings, data_dir),
        upload_every=upload_every,
        installation_id=installation_id(local_device_id(data_dir)),
        broker=broker_enroller(platform, os_name(platform)),
        on_approval=lambda pending: remember_pending(remember, base, pending),
    )


def device_credentials(url: str, settings: SettingsStore, data_dir: Path) -> KeyringCredentials:
    """This data folder's device secret for ``url`` in the OS keyring: keyed by the server,
    the tenant enrollment and the folder's local device id; ValueError for a bad URL."""
    from agent.sync.client import check_server_url
    from agent.sync.credentials import folder_credentials

    token = settings.get("enroll_token")
    return folder_credentials(
        check_server_url(url), token if isinstance(token, str) else "", data_dir,
        local_device_id(data_dir),
    )  # fmt: skip


def build_hookset(
    emit: Emit, *, pack: Pack | None, platform: str, synced_folder: str = ""
) -> _Sources:
    """The desktop sources of ``platform``: input, focus, idle, lock, quiet, and the
    accessibility and file sources when the pack's rules watch elements or folders."""
    from agent.hooks.hookset import HookSet

    thresholds = idle_thresholds(pack) if pack is not None else []
    return HookSet(
        emit,
        idle_thresholds=thresholds,
        platform=platform,
        watchlist=Watchlist(pack, os_name(platform)),
        synced_folder=synced_folder,
    )


def start_rules(pack: Pack) -> frozenset[str]:
    """The ids of the rules of ``pack`` that react to the agent's start."""
    return frozenset(r.id for r in pack.rules if r.when.event == "start")


def idle_thresholds(pack: Pack) -> list[float]:
    """The idle lengths (seconds) the rules of ``pack`` ask the idle source to report."""
    found = {r.when.idle for r in pack.rules if r.when.event == "idle" and r.when.idle}
    for rule in pack.rules:
        if rule.after is not None and rule.after.matcher.idle:
            found.add(rule.after.matcher.idle)
    return sorted(t for t in found if t is not None)


@dataclass
class AgentOptions:
    """What ``waymark run`` decided; everything has a sensible default."""

    pack_path: Path | None = None
    script: Path | None = None
    data_dir: Path | None = None
    hooks: bool = True
    platform: str = sys.platform
    policy: Policy | None = None
    clock: Clock = field(default_factory=SystemClock)
    #: Talk to ``server_url`` (when policy sets one): send statistics, pull packs.
    sync: bool = True
    #: Seconds between sync rounds (statistics out, pack check every 15 minutes).
    sync_every: float = 60.0
    #: Where the device secret is kept; None = the OS keyring.
    credentials: CredentialStore | None = None
    #: Seconds between engine ticks when idle (the outbox flushes its buffer then).
    tick: float = 0.25
    #: Seconds between checks of the pack file and of quiet hours.
    watch_every: float = 2.0
    #: A UI confirms each toast on screen before it is recorded as shown (the desktop).
    confirm_shows: bool = False


class AgentCore:
    """The running agent without its UI: builds the runtime, sources, outbox and sync."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.data_dir = private_dir(options.data_dir or default_data_dir())
        self.settings = open_settings(self.data_dir, options.platform, options.policy)
        self.outbox = Outbox(self.data_dir / "outbox.db")
        self.state = StateStore(self.data_dir / "state.db")
        self.clock = options.clock
        self.device = local_device_id(self.data_dir)
        self.sync_error: str | None = None
        self._sync: SyncWorker | None = None
        pack_path = options.pack_path or self._synced_pack() or default_pack_path()
        self.runtime = EngineRuntime(
            Engine(
                _load_initial_pack(pack_path),
                clock=self.clock,
                device=self.device,
                groups=tuple(self.settings.get("groups")),
                os_name=os_name(options.platform),
                state=self.state,
                never_interrupt=tuple(self.settings.get("never_interrupt")),
                confirm_shows=options.confirm_shows,
            ),
            pack_path=pack_path,
            tick=options.tick,
        )
        self.emit = self.runtime.emit
        self._start_rules = start_rules(self.runtime.pack)
        self._telemetry = TelemetryGate(
            self.settings, self.outbox, self._wake_sync, lambda: self._start_rules
        )
        self.runtime.add_effect_listener(self._telemetry)
        self.runtime.add_tick(self.outbox.flush_if_due)
        # Writes that failed (a full disk) are tried again from the tick, with back-off.
        self.runtime.add_tick(self.state.retry)
        self.runtime.add_tick(self.settings.retry_save)
        self.runtime.add_swap_listener(self._pack_swapped)
        self.recent = RecentApps()
        self._sources: list[Source] = []
        self._script: Source | None = None
        self._hookset: _Sources | None = None
        self._quiet_hours: QuietHoursSource | None = None
        self._policy_watch: PolicyWatcher | None = None
        self._started = False
        self.settings.subscribe(self._on_setting_changed)
        self._apply_pause_setting()

    # -- public API used by the UI and commands ------------------------------

    @property
    def server_url(self) -> str | None:
        url = self.settings.get("server_url")
        return url if isinstance(url, str) and url else None

    @property
    def last_sync(self) -> float | None:
        """When the last sync round with the server succeeded (None: never, or no server)."""
        return self._sync.last_success if self._sync is not None else None

    @property
    def sync_problem(self) -> str | None:
        """Why the agent cannot sync, or why the last round failed."""
        if self.sync_error is not None:
            return self.sync_error
        return self._sync.last_error if self._sync is not None else None

    def sync_status(self) -> SyncStatus | None:
        return self._sync.status() if self._sync is not None else None

    @property
    def pack_errors(self) -> list[str]:
        """Why the last pack file could not be used (empty when it runs)."""
        return list(self.runtime.pack_errors)

    def use_server_pack(self, path: Path) -> bool:
        """Run the pack file the sync worker verified (unless ``--pack`` named one)."""
        if self.options.pack_path is not None:
            log.info("a pack came from the server but --pack %s stays in use",
                     self.options.pack_path)  # fmt: skip
            return False
        self.runtime.use_pack_file(path, "server")
        return True

    def post(self, event: InputEvent) -> None:
        """Hand an event to the engine thread (thread-safe, never blocks)."""
        if event.kind == "pause":
            # Persist the pause so it survives a restart; the subscriber forwards it.
            self.settings.set_internal("paused_until", event.until)
            return
        self.emit(event)

    def add_effect_listener(self, callback: Callable[[Effect], None]) -> None:
        """``callback`` runs on the engine thread for every effect; keep it short."""
        self.runtime.add_effect_listener(callback)

    def pack_info(self) -> tuple[str, int] | None:
        pack = self.runtime.pack
        return (pack.id, pack.version)

    def running_pack(self) -> Pack | None:
        """The pack the engine runs now (texts for the UI: tip titles, languages, apps)."""
        return self.runtime.pack

    def recent_apps(self) -> list[str]:
        """Apps recently in front (OS identifiers, newest first; in memory only)."""
        return self.recent.apps()

    @property
    def pack_dir(self) -> Path:
        """The folder of the pack file (relative toast images are found there)."""
        return self.runtime.pack_path.parent

    def source_states(self) -> list[SourceState]:
        states = list(self._hookset.states()) if self._hookset is not None else []
        states.extend(s.state() for s in self._sources)
        return states

    def reset_never(self) -> None:
        """Forget every "don't show this again" choice."""
        self.runtime.control(ResetNever())

    def reload_pack(self, path: Path | None = None) -> bool:
        """Load the pack file again and wait for the answer; a broken file keeps the running one."""
        return bool(self.runtime.run_pack_file(path or self.runtime.pack_path, 10.0))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until the engine has handled everything queued so far (tests, scripts)."""
        return self.runtime.wait_idle(timeout)

    def script_finished(self) -> bool:
        """True once a ``--script`` source has replayed every line."""
        return self._script is not None and not self._script.alive()

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the runtime, then the sources (sinks before sources), then sync."""
        self.runtime.start()
        self._started = True
        self.emit(Start(self.clock.now()))
        every = self.options.watch_every
        quiet_hours = QuietHoursSource(
            lambda: str(self.settings.get("quiet_hours") or ""), self.clock, every
        )
        watcher = PackFileWatcher(lambda: self.runtime.pack_path, self.runtime.use_pack_file, every)
        for source in (quiet_hours, watcher):
            source.start(self.emit)
            self._sources.append(source)
        self._quiet_hours = quiet_hours
        if self.options.script is not None:
            from agent.hooks.scripted import ScriptedSource

            script = ScriptedSource(
                self.options.script,
                pack=self.runtime.pack,
                os_name=os_name(self.options.platform),
            )
            script.start(self.recent.watching(self.emit))
            self._sources.append(script)
            self._script = script
        elif self.options.hooks:
            hookset = build_hookset(
                self.recent.watching(self.emit),
                pack=self.runtime.pack,
                platform=self.options.platform,
                synced_folder=str(self.settings.get("synced_folder") or ""),
            )
            for state in hookset.start():
                if not state.ok:
                    log.warning("source %s unavailable: %s", state.name, state.detail)
            self._hookset = hookset
        if self.options.policy is None:  # policy read from the OS: follow its changes
            self._policy_watch = PolicyWatcher(
                self.settings.replace_policy,
                current=self.settings.policy,
                platform=self.options.platform,
                interval=self.options.watch_every,
            )
            self._policy_watch.start()
        if self.options.sync and self.server_url:
            self._start_sync(self.server_url)

    @property
    def policy_problem(self) -> str:
        """Why a changed policy could not be used ("" when the newest is in force)."""
        return self._policy_watch.problem if self._policy_watch is not None else ""

    def _start_sync(self, url: str) -> None:
        try:
            self._sync = build_sync_worker(
                url,
                settings=self.settings,
                outbox=self.outbox,
                data_dir=self.data_dir,
                platform=self.options.platform,
                on_pack=self.use_server_pack,
                credentials=self.options.credentials,
                upload_every=self.options.sync_every,
            )
        except ValueError as exc:
            self.sync_error = str(exc)
            log.error("sync is off: %s", exc)
            return
        self._sync.start()

    def stop(self) -> None:
        """Sources first, sinks last; flushes the outbox. Idempotent."""
        self._started = False
        if self._policy_watch is not None:
            self._policy_watch.stop()
            self._policy_watch = None
        if self._hookset is not None:
            self._hookset.stop()
            self._hookset = None
        for source in self._sources:
            source.stop()
        self._sources.clear()
        self._quiet_hours = None
        self.runtime.stop()
        if self._sync is not None:
            self._sync.stop(timeout=2.0)  # a request in flight is abandoned, not awaited
            self._sync = None
        self.outbox.close()
        self.state.close()

    # -- reactions ----------------------------------------------------------------

    def _pack_swapped(self, pack: Pack) -> None:
        self._start_rules = start_rules(pack)
        if self._hookset is not None:
            self._hookset.set_idle_thresholds(idle_thresholds(pack))
            self._hookset.set_watchlist(Watchlist(pack, os_name(self.options.platform)))

    def _wake_sync(self) -> None:
        if self._sync is not None:
            self._sync.wake()  # statistics may go now

    def _on_setting_changed(self, key: str) -> None:
        self._telemetry.setting_changed(key)
        if key in ("paused_until", "coaching_enabled"):
            self._apply_pause_setting()
        elif key == "never_interrupt":
            self.runtime.control(SetNeverInterrupt(tuple(self.settings.get("never_interrupt"))))
        elif key == "quiet_hours" and self._quiet_hours is not None:
            self._quiet_hours.recheck()
        elif key == "groups":
            self.runtime.control(SetGroups(tuple(self.settings.get("groups"))))
        elif key in ("server_url", "enroll_token", "publisher_keys") and self._started:
            self._restart_sync()

    def _restart_sync(self) -> None:
        """Policy changed where or how to sync: a new worker with the new settings."""
        if self._sync is not None:
            self._sync.stop(timeout=2.0)
            self._sync = None
        self.sync_error = None
        if self.options.sync and self.server_url:
            log.info("sync settings changed; syncing with %s", self.server_url)
            self._start_sync(self.server_url)

    def _apply_pause_setting(self) -> None:
        if not self.settings.get("coaching_enabled"):
            self.runtime.control(SetPause(float("inf")))
            return
        until = self.settings.get("paused_until")
        active = isinstance(until, float) and until > self.clock.now()
        self.runtime.control(SetPause(until if active else None))

    def _synced_pack(self) -> Path | None:
        """The last verified pack from the server, if there is one and it still verifies."""
        if not self.options.sync or not self.server_url:
            return None
        return synced_pack(self.data_dir, self.settings)


def existing_device_id(data_dir: Path) -> str | None:
    """The data folder's device id if it has one already (reading never creates it, nor sets
    a corrupt file aside: that is :func:`local_device_id`'s, at the agent's start)."""
    try:
        value = json.loads((data_dir / "device.json").read_text(encoding="utf-8"))["device"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return value if isinstance(value, str) and value else None


def synced_pack(data_dir: Path, settings: SettingsStore) -> Path | None:
    """The last verified pack from the server in ``data_dir``, if it still verifies."""
    from agent import __version__

    keys = pinned_keys(settings.get("publisher_keys"))
    return SyncedPacks(data_dir / "sync").current(keys, datetime.now(UTC), __version__)


def pack_in_use(data_dir: Path, settings: SettingsStore) -> Pack | None:
    """The pack an agent started on ``data_dir`` would run (None when it cannot be read)."""
    url = settings.get("server_url")
    path = (synced_pack(data_dir, settings) if url else None) or default_pack_path()
    try:
        return load_pack(path)
    except (PackError, OSError):
        return None


def _load_initial_pack(path: Path) -> Pack:
    try:
        return load_pack(path)
    except PackError as exc:
        raise SystemExit(f"waymark: the rule pack is invalid:\n{exc}") from None
    except OSError as exc:
        raise SystemExit(f"waymark: cannot read the rule pack {path}: {exc}") from None


def _check_device(doc: dict[str, object]) -> str | None:
    value = doc.get("device")
    return None if isinstance(value, str) and value else "no device id in it"


def local_device_id(data_dir: Path) -> str:
    """This data folder's own device id (``device.json``; made on first use; rollout buckets
    hang on it); a corrupt file is set aside and a new id made."""
    path = data_dir / "device.json"
    try:
        doc = load_json_object(path, _check_device)
    except StoreUnavailable as exc:
        log.warning("%s; a new device id is used", exc)
        doc = None
    if doc is not None:
        return str(doc["device"])
    device = _unwritten_ids.get(path) or f"local-{uuid.uuid4()}"
    try:
        write_atomic(path, json.dumps({"device": device}).encode("utf-8"))
    except OSError as exc:
        if path not in _unwritten_ids:
            log.warning("cannot write %s (%s); the device id %s is used until it can be",
                        path, exc, device)  # fmt: skip
        _unwritten_ids[path] = device  # the same id for the engine and the keyring entry
        return device
    _unwritten_ids.pop(path, None)
    return device


#: Device ids made while their device.json could not be written (a full disk), by file.
_unwritten_ids: dict[Path, str] = {}
