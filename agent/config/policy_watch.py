"""Managed policy that takes effect without a restart: a watcher thread per agent.

It notices a change of the policy and hands the new one to the settings
(:meth:`SettingsStore.replace_policy`), whose subscribers apply it: a new
``server_url`` restarts sync, a new ``never_interrupt`` list reaches the
engine, and so on.  How it notices, by OS:

* a policy file (Linux's ``/etc/waymark/policy.json``, or
  ``WAYMARK_POLICY_FILE`` anywhere): its size, modification time and inode,
  checked every ``interval`` seconds (a stat costs nothing measurable);
* Windows: ``RegNotifyChangeKeyValue`` on the installer key and both Group
  Policy keys, waited on together (a key that does not exist yet is looked
  for again every ``interval``);
* macOS: the managed-preferences plists re-read every ``interval`` seconds.

A policy that becomes unreadable (invalid JSON, say) keeps the last good one
in force and says why once, in the log and in :attr:`PolicyWatcher.problem`
(``waymark doctor`` reads the same file and shows it).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from agent.config.policy import WINDOWS_KEYS, Policy, policy_file, read_policy

__all__ = ["PolicyWatcher"]

log = logging.getLogger(__name__)

Fingerprint = tuple[int, int, int] | None


def _fingerprint(path: Path) -> Fingerprint:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class PolicyWatcher:
    """Calls ``apply(policy)`` when the managed policy of ``platform`` changes."""

    name = "policy"

    def __init__(
        self,
        apply: Callable[[Policy], object],
        *,
        current: Policy,
        platform: str = sys.platform,
        interval: float = 2.0,
        read: Callable[[], Policy] | None = None,
    ) -> None:
        self._apply = apply
        self._current = current
        self._platform = platform
        self._interval = interval
        self._read = read or (lambda: read_policy(platform, quiet=True))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Why the newest policy could not be used ("" when it is in force).
        self.problem = ""
        self.changes = 0

    def start(self) -> None:
        self._stop.clear()
        target = self._run_windows if self._uses_registry() else self._run_polling
        self._thread = threading.Thread(target=target, name="waymark-policy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def check(self) -> bool:
        """Read the policy now and apply it if it changed; True if it did."""
        policy = self._read()
        if policy.unreadable:
            if policy.unreadable != self.problem:
                self.problem = policy.unreadable
                log.warning("policy changed but cannot be used (%s); keeping the last good "
                            "policy", policy.unreadable)  # fmt: skip
            return False
        self.problem = ""
        if policy.values == self._current.values:
            return False
        for warning in policy.warnings:
            log.warning("%s", warning)
        old, new = self._current.values, policy.values
        changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        self._current = policy
        self.changes += 1
        log.info("managed policy changed (%s): %s", policy.source or "policy", ", ".join(changed))
        self._apply(policy)
        return True

    def _uses_registry(self) -> bool:
        return self._platform == "win32" and policy_file(self._platform) is None

    def _run_polling(self) -> None:
        path = policy_file(self._platform)
        # No baseline: the first round always compares, so a change made while this
        # thread was starting is not taken for the starting point.
        seen: Fingerprint | str = "unknown"
        while not self._stop.wait(self._interval):
            try:
                if path is not None:
                    now = _fingerprint(path)
                    if now == seen:
                        continue
                    seen = now
                self.check()
            except Exception:  # a policy read must never end the watcher
                log.exception("policy check failed")

    if sys.platform == "win32":

        def _run_windows(self) -> None:
            import ctypes
            import winreg
            from ctypes import wintypes

            advapi32, kernel32 = ctypes.windll.advapi32, ctypes.windll.kernel32
            kernel32.CreateEventW.restype = wintypes.HANDLE
            notify = 0x00000001 | 0x00000004  # REG_NOTIFY_CHANGE_NAME | _LAST_SET
            hives = {"HKCU": winreg.HKEY_CURRENT_USER, "HKLM": winreg.HKEY_LOCAL_MACHINE}
            while not self._stop.is_set():
                keys, events = [], []
                for hive, path in WINDOWS_KEYS:
                    try:
                        key = winreg.OpenKey(hives[hive], path, 0, winreg.KEY_NOTIFY)
                    except OSError:
                        continue  # not there yet: looked for again after the wait
                    event = kernel32.CreateEventW(None, True, False, None)
                    advapi32.RegNotifyChangeKeyValue(int(key), True, notify, event, True)
                    keys.append(key)
                    events.append(event)
                handles = (wintypes.HANDLE * max(len(events), 1))(*events)
                timeout = int(self._interval * 1000)
                if events:
                    kernel32.WaitForMultipleObjects(len(events), handles, False, timeout)
                else:
                    self._stop.wait(self._interval)
                for event in events:
                    kernel32.CloseHandle(event)
                for key in keys:
                    key.Close()
                if not self._stop.is_set():
                    try:
                        self.check()
                    except Exception:
                        log.exception("policy check failed")

    else:

        def _run_windows(self) -> None:
            self._run_polling()
