"""The one wiring place: picks backends, builds objects, starts and stops threads.

```
hook threads ──emit──► bounded queue ──► engine thread ──► listeners (UI bridge, printer)
                                                   └──────► outbox (SQLite, batched)
                                                              │
                           server ◄── sync thread (agent/sync/worker.py): records out,
                                      signed pack in → verified → pack file → hot swap
```

Shutdown runs sources first and sinks last: stop hooks → ``Stop`` on the queue
→ join the engine thread → stop the sync thread → flush the outbox → return.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.clock import Clock, SystemClock
from agent.config.paths import data_dir as default_data_dir
from agent.config.policy import Policy, read_policy
from agent.config.settings import SettingsStore
from agent.events import (
    Effect,
    Event,
    Pause,
    Quiet,
    Record,
    RulesUpdated,
    Start,
    Stop,
)
from agent.hooks.base import Emitter, Source, SourceState
from agent.rules.engine import Engine
from agent.rules.loader import PackError, load_pack
from agent.rules.model import Pack
from agent.rules.state import StateStore
from agent.sync.outbox import Outbox
from agent.sync.packs import SyncedPacks, pinned_keys
from agent.sync.worker import CredentialStore, SyncStatus, SyncWorker, make_sync_worker

__all__ = ["AgentCore", "AgentOptions", "assets_dir", "default_pack_path"]

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
TICK = 0.25  # engine loop wake-up when idle: outbox flush, pack reload, quiet hours
PACK_CHECK_EVERY = 2.0


def assets_dir() -> Path:
    """The assets folder, from a checkout or a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def default_pack_path() -> Path:
    return assets_dir() / "packs" / "default" / "pack.yaml"


class _Sources(Protocol):
    """What app.py uses of agent.hooks.hookset.HookSet (imported only when hooks run)."""

    def start(self) -> list[SourceState]: ...
    def stop(self) -> None: ...
    def states(self) -> list[SourceState]: ...
    def set_idle_thresholds(self, seconds: Sequence[float]) -> None: ...
    def set_never_interrupt(self, apps: Collection[str]) -> None: ...


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


class AgentCore:
    """The running agent without its UI: engine thread, sources, outbox, settings."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir or default_data_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        policy = options.policy if options.policy is not None else read_policy(options.platform)
        self.settings = SettingsStore.open(self.data_dir, policy)
        self.outbox = Outbox(self.data_dir / "outbox.db")
        self.state = StateStore(self.data_dir / "state.db")
        self.clock = options.clock
        self.device = self._device_id()
        self.pack_errors: list[str] = []
        self.sync_error: str | None = None
        self._sync: SyncWorker | None = None
        self._synced = SyncedPacks(self.data_dir / "sync")
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self.emit = Emitter(self._queue)
        self._listeners: list[Callable[[Effect], None]] = []
        self._pack_path = options.pack_path or self._synced_pack() or default_pack_path()
        self._pack_mtime = 0.0
        pack = self._load_initial_pack()
        self.engine = Engine(
            pack,
            clock=self.clock,
            device=self.device,
            groups=tuple(self.settings.get("groups")),
            os_name=os_name(options.platform),
            state=self.state,
            never_interrupt=tuple(self.settings.get("never_interrupt")),
        )
        self._pack = pack
        self._thread: threading.Thread | None = None
        self._sources: list[Source] = []
        self._hookset: _Sources | None = None
        self._quiet_hours_on = False
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

    def use_server_pack(self, path: Path) -> bool:
        """Run the pack file the sync worker verified (unless ``--pack`` named one)."""
        if self.options.pack_path is not None:
            log.info("a pack came from the server but --pack %s stays in use",
                     self.options.pack_path)  # fmt: skip
            return False
        self._pack_path = path
        self._pack_mtime = _mtime(path)
        return self.reload_pack(path)

    def post(self, event: Event) -> None:
        """Hand an event to the engine thread (thread-safe, never blocks)."""
        if isinstance(event, Pause):
            # Persist the pause so it survives a restart; the subscriber forwards it.
            self.settings.set_internal("paused_until", event.until)
            return
        self.emit(event)

    def _control(self, message: _Control) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            log.warning("engine queue full; %s dropped", type(message).__name__)

    def add_effect_listener(self, callback: Callable[[Effect], None]) -> None:
        """``callback`` runs on the engine thread for every effect; keep it short."""
        self._listeners.append(callback)

    def pack_info(self) -> tuple[str, int] | None:
        return (self._pack.id, self._pack.version)

    @property
    def pack_dir(self) -> Path:
        """The folder of the pack file (relative toast images are found there)."""
        return self._pack_path.parent

    def source_states(self) -> list[SourceState]:
        states = list(self._hookset.states()) if self._hookset is not None else []
        states.extend(s.state() for s in self._sources)
        return states

    def reset_never(self) -> None:
        """Forget every "don't show this again" choice."""
        self._control(_ResetNever())

    def reload_pack(self, path: Path | None = None) -> bool:
        """Load the pack file again; keep the running pack if it is broken."""
        target = path or self._pack_path
        try:
            pack = load_pack(target)
        except PackError as exc:
            self.pack_errors = [str(i) for i in exc.issues]
            log.error("pack %s is invalid; keeping %s v%s:\n%s", target, self._pack.id,
                      self._pack.version, exc)  # fmt: skip
            return False
        except OSError as exc:
            self.pack_errors = [f"{target}: {exc.strerror or exc}"]
            log.error("cannot read pack %s (%s); keeping the running pack", target, exc)
            return False
        self.pack_errors = []
        self._pack = pack
        self.emit(RulesUpdated(pack))
        return True

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the engine thread, then the sources (sinks before sources)."""
        self._thread = threading.Thread(
            target=self._engine_loop, name="waymark-engine", daemon=True
        )
        self._thread.start()
        self.emit(Start(self.clock.now()))
        if self.options.script is not None:
            from agent.hooks.scripted import ScriptedSource

            source = ScriptedSource(self.options.script)
            source.start(self.emit)
            self._sources.append(source)
        elif self.options.hooks:
            from agent.hooks.hookset import HookSet

            hookset = HookSet(
                self.emit,
                never_interrupt=tuple(self.settings.get("never_interrupt")),
                idle_thresholds=_idle_thresholds(self._pack),
                platform=self.options.platform,
            )
            for state in hookset.start():
                if not state.ok:
                    log.warning("source %s unavailable: %s", state.name, state.detail)
            self._hookset = hookset
        if self.options.sync and self.server_url:
            self._start_sync(self.server_url)

    def _start_sync(self, url: str) -> None:
        try:
            self._sync = make_sync_worker(
                url,
                settings=self.settings,
                outbox=self.outbox,
                packs=self._synced,
                on_pack=self.use_server_pack,
                os_name=os_name(self.options.platform),
                credentials=self.options.credentials,
                upload_every=self.options.sync_every,
            )
        except ValueError as exc:
            self.sync_error = str(exc)
            log.error("sync is off: %s", exc)
            return
        self._sync.start()

    def script_finished(self) -> bool:
        """True once a ``--script`` source has replayed every line."""
        return bool(self._sources) and not any(s.alive() for s in self._sources)

    def stop(self) -> None:
        """Sources first, sinks last; flushes the outbox. Idempotent."""
        if self._hookset is not None:
            self._hookset.stop()
            self._hookset = None
        for source in self._sources:
            source.stop()
        self._sources.clear()
        if self._thread is not None:
            self._queue.put(Stop())  # blocking put: Stop must arrive
            self._thread.join(5)
            self._thread = None
        if self._sync is not None:
            self._sync.stop(timeout=2.0)  # a request in flight is abandoned, not awaited
            self._sync = None
        self.outbox.close()
        self.state.close()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until the engine has handled everything queued so far (tests, scripts)."""
        done = threading.Event()
        self._control(_Barrier(done))
        return done.wait(timeout)

    # -- engine thread ------------------------------------------------------------

    def _engine_loop(self) -> None:
        next_pack_check = time.monotonic() + PACK_CHECK_EVERY
        get = self._queue.get
        while True:
            try:
                event = get(timeout=TICK)
            except queue.Empty:
                event = None
            if isinstance(event, Stop):
                break
            try:
                if event is not None:
                    self._handle(event)
                self.outbox.flush_if_due()
                now = time.monotonic()
                if now >= next_pack_check:
                    next_pack_check = now + PACK_CHECK_EVERY
                    self._check_pack_file()
                    self._check_quiet_hours()
            except Exception:  # the engine thread must outlive any single bad event
                log.exception("engine failed on %s", type(event).__name__)

    def _handle(self, event: Event | _Control) -> None:
        if isinstance(event, RulesUpdated):
            self.engine.swap(event.pack)
            if self._hookset is not None:
                self._hookset.set_idle_thresholds(_idle_thresholds(event.pack))
            log.info("pack %s v%s active (%d rules)", event.pack.id, event.pack.version,
                     len(event.pack.rules))  # fmt: skip
            return
        if isinstance(event, Pause):
            self.engine.pause(event.until)
            return
        if isinstance(event, _Barrier):
            event.done.set()
            return
        if isinstance(event, _ResetNever):
            self.engine.reset_never()
            return
        if isinstance(event, _SetNeverInterrupt):
            self.engine.set_never_interrupt(event.apps)
            return
        if isinstance(event, Stop):
            return
        self._dispatch(self.engine.handle(event))

    def _dispatch(self, effects: Sequence[Effect]) -> None:
        if not effects:
            return
        telemetry = self.settings.telemetry_enabled
        keep_app = bool(self.settings.get("send_app_names"))
        for effect in effects:
            if isinstance(effect, Record) and telemetry:
                self.outbox.append(effect if keep_app else replace(effect, app=None))
            for listener in self._listeners:
                try:
                    listener(effect)
                except Exception:
                    log.exception("effect listener failed")

    # -- settings, pack file, quiet hours -------------------------------------------

    def _on_setting_changed(self, key: str) -> None:
        if key in ("paused_until", "coaching_enabled"):
            self._apply_pause_setting()
        elif key in ("consent", "telemetry_mode"):
            if not self.settings.telemetry_enabled:
                # Saying no also covers what was waiting: it is deleted, never sent.
                dropped = self.outbox.discard_pending()
                log.info("statistics turned off; %d waiting record(s) deleted", dropped)
            elif self._sync is not None:
                self._sync.wake()  # statistics may go now
        elif key == "never_interrupt":
            apps = tuple(self.settings.get("never_interrupt"))
            self._control(_SetNeverInterrupt(apps))
            if self._hookset is not None:
                self._hookset.set_never_interrupt(apps)

    def _apply_pause_setting(self) -> None:
        if not self.settings.get("coaching_enabled"):
            self.emit(Pause(self.clock.now(), float("inf")))
            return
        until = self.settings.get("paused_until")
        active = isinstance(until, float) and until > self.clock.now()
        self.emit(Pause(self.clock.now(), until if active else None))

    def _load_initial_pack(self) -> Pack:
        try:
            pack = load_pack(self._pack_path)
        except PackError as exc:
            raise SystemExit(f"waymark: the rule pack is invalid:\n{exc}") from None
        except OSError as exc:
            raise SystemExit(
                f"waymark: cannot read the rule pack {self._pack_path}: {exc}"
            ) from None
        self._pack_mtime = _mtime(self._pack_path)
        return pack

    def _synced_pack(self) -> Path | None:
        """The last verified pack from the server, if there is one and it still verifies."""
        if not self.options.sync or not self.server_url:
            return None
        from agent import __version__

        keys = pinned_keys(self.settings.get("publisher_keys"))
        return self._synced.current(keys, datetime.now(UTC), __version__)

    def _check_pack_file(self) -> None:
        mtime = _mtime(self._pack_path)
        if mtime and mtime != self._pack_mtime:
            self._pack_mtime = mtime
            self.reload_pack()

    def _check_quiet_hours(self) -> None:
        spec = self.settings.get("quiet_hours")
        now = datetime.fromtimestamp(self.clock.now(), self.clock.tz)
        on = bool(spec) and _in_time_range(spec, now.hour * 60 + now.minute)
        if on != self._quiet_hours_on:
            self._quiet_hours_on = on
            self._handle(Quiet(self.clock.now(), on, "quiet-hours"))

    def _device_id(self) -> str:
        path = self.data_dir / "device.json"
        try:
            value = json.loads(path.read_text(encoding="utf-8"))["device"]
            if isinstance(value, str) and value:
                return value
        except (OSError, ValueError, KeyError, TypeError):
            pass
        device = f"local-{uuid.uuid4()}"
        path.write_text(json.dumps({"device": device}), encoding="utf-8")
        return device


# -- private control messages (travel on the engine queue) -------------------------


@dataclass(frozen=True, slots=True)
class _Barrier:
    done: threading.Event


@dataclass(frozen=True, slots=True)
class _ResetNever:
    pass


@dataclass(frozen=True, slots=True)
class _SetNeverInterrupt:
    apps: tuple[str, ...]


_Control = _Barrier | _ResetNever | _SetNeverInterrupt


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _in_time_range(spec: str, minute: int) -> bool:
    start_s, end_s = spec.split("-")
    start = int(start_s[:2]) * 60 + int(start_s[3:])
    end = int(end_s[:2]) * 60 + int(end_s[3:])
    return start <= minute < end if start <= end else minute >= start or minute < end


def _idle_thresholds(pack: Pack) -> list[float]:
    found = {r.when.idle for r in pack.rules if r.when.event == "idle" and r.when.idle}
    for rule in pack.rules:
        if rule.after is not None and rule.after.matcher.idle:
            found.add(rule.after.matcher.idle)
    return sorted(t for t in found if t is not None)


def os_name(platform: str) -> str:
    """windows, macos or linux: the names packs and the server use."""
    return {"win32": "windows", "darwin": "macos"}.get(platform, "linux")
