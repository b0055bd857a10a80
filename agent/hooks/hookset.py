"""The set of desktop sources for the running OS, with their watchdog.

:class:`HookSet` picks the backends for ``platform`` when it starts (OS
libraries are imported there, never when this module is imported: pynput
connects to the X server on import).  A source that cannot run here (no
display, a Wayland session, a missing macOS permission) is reported in
:meth:`HookSet.states`, never raised, so the agent keeps running with what
works.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.hooks.base import Emit, Source, SourceState
from agent.hooks.watchdog import Watchdog
from agent.rules.watchlist import EMPTY_WATCHLIST, Watchlist

__all__ = ["SOURCE_NAMES", "HookSet", "display_problem", "session_type"]

#: Every source a HookSet reports on, in display order.
SOURCE_NAMES = ("input", "focus", "idle", "lock", "quiet", "accessibility", "files")
#: Sources that run only while a loaded rule needs them.
_ON_DEMAND = ("accessibility", "files")


def session_type(platform: str = sys.platform, env: Mapping[str, str] | None = None) -> str:
    """A one-word description of the desktop session: x11, xwayland, wayland, none …"""
    if platform == "win32":
        return "windows"
    if platform == "darwin":
        return "macos"
    env = os.environ if env is None else env
    has_x, has_wl = bool(env.get("DISPLAY")), bool(env.get("WAYLAND_DISPLAY"))
    if has_x and has_wl:
        return "xwayland"
    if has_x:
        return "x11"
    if has_wl or env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "none"


def display_problem(platform: str = sys.platform, env: Mapping[str, str] | None = None) -> str:
    """Why the X11 sources cannot run here (one line), or "" when they can."""
    kind = session_type(platform, env)
    if kind == "wayland":
        return (
            "Wayland session without Xwayland (DISPLAY is not set): input, focus and idle "
            "cannot be watched; start Xwayland or log in to an X11 session"
        )
    if kind == "none":
        return "no display (DISPLAY is not set): desktop sources are off"
    return ""


class HookSet:
    """Input, focus, idle, lock and quiet sources for one OS, kept alive by a watchdog.

    ``emit`` receives :mod:`agent.events` objects from the sources' threads.
    ``display`` (X11 only) overrides ``$DISPLAY``; since pynput reads only the
    environment, the input source sets ``$DISPLAY`` to it when it starts.
    ``watchlist`` says which apps' elements and which folders the loaded rules
    watch: the accessibility and file sources run only while it names some.
    ``folders`` maps folder aliases to paths (default: this person's
    well-known folders, :func:`agent.hooks.folders.well_known_folders`).
    """

    def __init__(
        self,
        emit: Emit,
        *,
        idle_thresholds: Sequence[float] = (),
        platform: str = sys.platform,
        display: str | None = None,
        watchdog_interval: float = 1.0,
        session_bus: str | None = None,
        system_bus: bool = True,
        watchlist: Watchlist = EMPTY_WATCHLIST,
        folders: Mapping[str, Path] | None = None,
        synced_folder: str = "",
    ) -> None:
        self._emit = emit
        self._watchlist = watchlist
        self._folders = dict(folders) if folders is not None else None
        self._synced = synced_folder
        self._thresholds = tuple(idle_thresholds)
        self._platform = platform
        self._display = display
        self._session_bus = session_bus
        self._system_bus = system_bus
        self._sources: dict[str, Source] = {}
        self._unavailable: dict[str, SourceState] = {}
        self._lock = threading.Lock()
        self.watchdog = Watchdog(self._running, emit, interval=watchdog_interval)

    # -- public API --------------------------------------------------------------

    def start(self) -> list[SourceState]:
        """Start every source that can run here; report the others. Prints nothing."""
        for name, factory in self._plan():
            self._start_one(name, factory)
        self._connect_activation()
        self.watchdog.start()
        return self.states()

    def _start_one(self, name: str, factory: Callable[[], Source] | str) -> None:
        if isinstance(factory, str):
            self._unavailable[name] = SourceState(name, False, factory)
            return
        not_needed = self._not_needed(name)
        if not_needed:
            self._unavailable[name] = SourceState(name, False, not_needed)
            return
        try:
            source = factory()
            source.start(self._emit)
        except Exception as exc:
            self._unavailable[name] = SourceState(name, False, str(exc) or type(exc).__name__)
            return
        self._unavailable.pop(name, None)
        with self._lock:
            self._sources[name] = source

    def _not_needed(self, name: str) -> str:
        if name == "accessibility" and not self._watchlist.has_element_rules:
            return "not started: no loaded rule watches an app's elements"
        if name == "files" and not self._watchlist.has_file_rules:
            return "not started: no loaded rule watches a folder"
        return ""

    def _connect_activation(self) -> None:
        """Left clicks and Enter/Space reach the accessibility source (for ``invoke``)."""
        with self._lock:
            source, reader = self._sources.get("input"), self._sources.get("accessibility")
        if source is not None and hasattr(source, "on_activate"):
            source.on_activate = getattr(reader, "poke", None)

    def set_watchlist(self, watchlist: Watchlist) -> None:
        """The element and file rules of a new pack; starts or stops those sources as needed."""
        self._watchlist = watchlist
        plan = dict(self._plan())
        for name in _ON_DEMAND:
            with self._lock:
                running = self._sources.get(name)
            if running is not None and self._not_needed(name):
                with self._lock:
                    self._sources.pop(name, None)
                with contextlib.suppress(Exception):
                    running.stop()
                self._unavailable[name] = SourceState(name, False, self._not_needed(name))
            elif running is not None:
                setter = getattr(running, "set_watchlist", None)
                if setter is not None:
                    setter(watchlist)
            elif name in plan:
                self._start_one(name, plan[name])
        self._connect_activation()

    def stop(self) -> None:
        """Stop the watchdog, then every source (each joins its thread, ≤ 2 s)."""
        self.watchdog.stop()
        with self._lock:
            sources = list(self._sources.values())
            self._sources.clear()
        for source in sources:
            with contextlib.suppress(Exception):  # stopping must reach every source
                source.stop()

    def states(self) -> list[SourceState]:
        """One state per source name in :data:`SOURCE_NAMES` order."""
        out: list[SourceState] = []
        with self._lock:
            running = dict(self._sources)
        for name in SOURCE_NAMES:
            if name == "quiet":
                out.append(self._quiet_state(running.get("focus")))
                continue
            source = running.get(name)
            if source is None:
                out.append(self._unavailable.get(name, SourceState(name, False, "not started")))
                continue
            state = source.state()
            state.restarts = self.watchdog.restarts.get(name, 0)
            out.append(state)
        return out

    def set_idle_thresholds(self, seconds: Sequence[float]) -> None:
        """Idle lengths (seconds) the loaded rules ask for; takes effect at once."""
        self._thresholds = tuple(seconds)
        source = self._sources.get("idle")
        setter = getattr(source, "set_thresholds", None)
        if setter is not None:
            setter(self._thresholds)

    def source(self, name: str) -> Any:
        """The running source called ``name`` (tests and the watchdog bench use it)."""
        return self._sources.get(name)

    # -- internals -----------------------------------------------------------------

    def _running(self) -> list[Source]:
        with self._lock:
            return list(self._sources.values())

    def _quiet_state(self, focus: Source | None) -> SourceState:
        if focus is None or not focus.alive():
            return SourceState("quiet", False, "needs the focus source")
        how = {
            "win32": "SHQueryUserNotificationState (full screen, presentation)",
            "darwin": "full screen is not detected on macOS",
        }.get(self._platform, "_NET_WM_STATE_FULLSCREEN of the active window")
        return SourceState("quiet", True, how + "; never-interrupt apps: decided by the engine")

    def _plan(self) -> list[tuple[str, Callable[[], Source] | str]]:
        if self._platform == "win32":
            return self._plan_windows()
        if self._platform == "darwin":
            return self._plan_macos()
        return self._plan_x11()

    def _plan_x11(self) -> list[tuple[str, Callable[[], Source] | str]]:
        from agent.hooks.lock_linux import LinuxLockSource

        def lock() -> Source:
            return LinuxLockSource(self._session_bus, self._system_bus)

        def accessibility() -> Source:  # AT-SPI is D-Bus: it needs no X display
            from agent.hooks.a11y_linux import AtspiSource

            return AtspiSource(self._watchlist, session_bus=self._session_bus)

        env = dict(os.environ)
        if self._display:
            env["DISPLAY"] = self._display
        problem = display_problem(self._platform, env)
        if problem:
            return [
                ("input", problem), ("focus", problem), ("idle", problem), ("lock", lock),
                ("accessibility", accessibility), ("files", self._file_source),
            ]  # fmt: skip

        def input_source() -> Source:
            from agent.hooks.input_pynput import InputSource

            return InputSource(platform=self._platform, display=self._display)

        def focus() -> Source:
            from agent.hooks.focus_x11 import X11FocusSource

            return X11FocusSource(self._display)

        def idle() -> Source:
            from agent.hooks.idle import IdleSource
            from agent.hooks.idle_x11 import open_x11_idle

            return IdleSource(
                lambda: open_x11_idle(self._display), self._thresholds, how="XScreenSaver"
            )

        return [
            ("input", input_source), ("focus", focus), ("idle", idle), ("lock", lock),
            ("accessibility", accessibility), ("files", self._file_source),
        ]  # fmt: skip

    def _plan_windows(self) -> list[tuple[str, Callable[[], Source] | str]]:
        def input_source() -> Source:
            from agent.hooks.idle_windows import seconds_since_input
            from agent.hooks.input_pynput import InputSource

            return InputSource(platform="win32", system_idle=seconds_since_input)

        def focus() -> Source:
            from agent.hooks.focus_windows import WindowsFocusSource

            return WindowsFocusSource()

        def idle() -> Source:
            from agent.hooks.idle import IdleSource
            from agent.hooks.idle_windows import open_windows_idle

            return IdleSource(open_windows_idle, self._thresholds, how="GetLastInputInfo")

        def lock() -> Source:
            from agent.hooks.lock_windows import WindowsLockSource

            return WindowsLockSource()

        def accessibility() -> Source:
            from agent.hooks.a11y_windows import WindowsElementSource

            return WindowsElementSource(self._watchlist)

        return [
            ("input", input_source), ("focus", focus), ("idle", idle), ("lock", lock),
            ("accessibility", accessibility), ("files", self._file_source),
        ]  # fmt: skip

    def _plan_macos(self) -> list[tuple[str, Callable[[], Source] | str]]:
        from agent.hooks.permissions_macos import check_permissions

        perms = check_permissions()
        plan: list[tuple[str, Callable[[], Source] | str]] = []
        if perms.input_monitoring:

            def input_source() -> Source:
                from agent.hooks.idle_macos import seconds_since_input
                from agent.hooks.input_pynput import InputSource

                return InputSource(platform="darwin", system_idle=seconds_since_input)

            plan.append(("input", input_source))
        else:
            plan.append(("input", perms.input_detail()))

        def focus() -> Source:
            from agent.hooks.focus_macos import MacFocusSource

            return MacFocusSource(titles=perms.accessibility)

        def idle() -> Source:
            from agent.hooks.idle import IdleSource
            from agent.hooks.idle_macos import open_macos_idle

            return IdleSource(
                open_macos_idle, self._thresholds, how="CGEventSourceSecondsSinceLastEventType"
            )

        def lock() -> Source:
            from agent.hooks.lock_macos import MacLockSource

            return MacLockSource()

        plan += [("focus", focus), ("idle", idle), ("lock", lock)]
        if perms.accessibility:

            def accessibility() -> Source:
                from agent.hooks.a11y_macos import MacElementSource

                return MacElementSource(self._watchlist)

            plan.append(("accessibility", accessibility))
        else:
            plan.append(("accessibility", perms.accessibility_detail()))
        plan.append(("files", self._file_source))
        return plan

    def _file_source(self) -> Source:
        from agent.hooks.files import FileSource
        from agent.hooks.folders import well_known_folders

        folders = self._folders
        if folders is None:
            folders = well_known_folders(self._platform, synced=self._synced)
        return FileSource(folders, self._watchlist)
