"""The person's settings, layered under managed policy.

Precedence: managed policy > the person's settings > built-in defaults.  The
person's settings live in ``settings.json`` in the data folder, written
atomically (temp file + rename, mode 0600) so a crash never leaves half a
file; one that is corrupt anyway (not UTF-8, not JSON, not an object) is set
aside as ``settings.json.corrupt-<time>`` and the defaults are used.  Changes
are announced to subscribers with the changed key (one signal, like
qutebrowser's ``config.changed``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config.options import OPTIONS, OPTIONS_BY_KEY, LockedWhen, Option, coerce
from agent.config.paths import write_atomic
from agent.config.policy import Policy
from agent.storage import Backoff, StoreUnavailable, load_json_object

__all__ = ["ManagedSettingError", "SettingsStore", "UnknownSettingError"]

log = logging.getLogger(__name__)


class ManagedSettingError(PermissionError):
    """The setting is set by the organisation's policy and cannot be changed here."""


class UnknownSettingError(KeyError):
    """No setting has that name (a programming error: names are declared in options.py)."""


class SettingsStore:
    """Effective settings for this person on this device. Thread-safe."""

    FILE_NAME = "settings.json"

    def __init__(self, path: Path | None, policy: Policy | None = None) -> None:
        self._path = path
        self._policy = policy or Policy()
        self._lock = threading.RLock()
        self._user: dict[str, Any] = {}
        self._subscribers: list[Callable[[str], None]] = []
        self._unsaved = False
        self._retry = Backoff()
        if path is not None:
            self._user = self._load(path)

    @classmethod
    def open(cls, data_dir: Path, policy: Policy | None = None) -> SettingsStore:
        """The store kept in ``data_dir/settings.json``."""
        return cls(data_dir / cls.FILE_NAME, policy)

    # -- reading -----------------------------------------------------------

    def get(self, key: str) -> Any:
        option = self._option(key)
        with self._lock:
            if key in self._policy.values:
                return self._policy.values[key]
            if key in self._user:
                return self._user[key]
        default = option.default
        return list(default) if isinstance(default, list) else default

    def is_managed(self, key: str) -> bool:
        """True when the organisation decides ``key``: policy sets it, or another
        setting makes it the organisation's (``consent`` in org-notice mode)."""
        self._option(key)
        return key in self._policy.values or self.locked_by(key) is not None

    def locked_by(self, key: str) -> LockedWhen | None:
        """The rule that makes ``key`` the organisation's right now, if any."""
        for rule in self._option(key).locked_when:
            if self.get(rule.key) == rule.value:
                return rule
        return None

    @property
    def organisation(self) -> str | None:
        return self._policy.organisation

    @property
    def policy(self) -> Policy:
        return self._policy

    def options(self) -> list[Option]:
        """The declared options, in declaration order."""
        return list(OPTIONS)

    @property
    def telemetry_enabled(self) -> bool:
        """True when statistics may be sent: consent given, or org-notice policy."""
        if self.get("telemetry_mode") == "org-notice":
            return True
        return bool(self.get("consent") == "granted")

    # -- writing -----------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        """Change a setting of the person's; raises if policy manages it or if it
        is not a personal setting (those are set by policy or by the agent)."""
        option = self._option(key)
        if not option.user_editable:
            raise ManagedSettingError(f"{key} is not a personal setting")
        self._set(option, value)

    def set_internal(self, key: str, value: Any) -> None:
        """Change a setting the agent itself keeps (e.g. ``paused_until``); still
        refused when policy sets it."""
        self._set(self._option(key), value)

    def _set(self, option: Option, value: Any) -> None:
        key = option.key
        if self.is_managed(key):
            org = self.organisation or "your organisation"
            raise ManagedSettingError(f"{key} is managed by {org} and cannot be changed here")
        value = coerce(option, value)
        with self._lock:
            if self._user.get(key, option.default) == value and key in self._user:
                return
            self._user[key] = value
            self._save()
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(key)

    def replace_policy(self, policy: Policy) -> list[str]:
        """Apply a new managed policy now; returns (and announces) the keys whose value changed."""
        with self._lock:
            before = {o.key: (self.get(o.key), self.is_managed(o.key)) for o in OPTIONS}
            self._policy = policy
            changed = [
                o.key for o in OPTIONS if (self.get(o.key), self.is_managed(o.key)) != before[o.key]
            ]
            subscribers = list(self._subscribers)
        for key in changed:
            for callback in subscribers:
                callback(key)
        return changed

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(key)`` after every change (on the thread that changed it)."""
        with self._lock:
            self._subscribers.append(callback)

    # -- internals ---------------------------------------------------------

    def _option(self, key: str) -> Option:
        try:
            return OPTIONS_BY_KEY[key]
        except KeyError:
            raise UnknownSettingError(key) from None

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            raw = load_json_object(path)  # a corrupt file is set aside: defaults then
        except StoreUnavailable as exc:
            log.warning("%s; using the defaults for now", exc)
            return {}
        values: dict[str, Any] = {}
        for key, value in (raw or {}).items():
            option = OPTIONS_BY_KEY.get(key)
            if option is None:
                continue
            try:
                values[key] = coerce(option, value)
            except ValueError as exc:
                log.warning("%s: %s; using the default", path, exc)
        return values

    def retry_save(self) -> None:
        """Write a change that could not be written before, if a try is due (the engine tick)."""
        with self._lock:
            if self._unsaved and self._retry.due():
                self._save()

    def _save(self) -> None:
        """Write the person's settings; a full disk keeps the change in memory, retried later."""
        if self._path is None:
            return
        data = json.dumps(self._user, indent=2, sort_keys=True).encode("utf-8")
        try:
            write_atomic(self._path, data)
        except OSError as exc:
            if not self._retry.failing:
                log.warning("cannot write %s (%s); the change applies now and is written "
                            "once it works again", self._path, exc)  # fmt: skip
            self._unsaved = True
            self._retry.failed()
            return
        if self._retry.failing:
            log.info("%s written again", self._path)
        self._unsaved = False
        self._retry.succeeded()
