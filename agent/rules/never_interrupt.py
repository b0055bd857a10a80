"""The never-interrupt list: apps during which no toast is shown, decided here only.

An entry is an OS identifier (a Windows exe name, a macOS bundle id, an X11
WM_CLASS) or a logical app name of the running pack.  Matching ignores case
(bundle ids and WM_CLASS are case-insensitive in practice, exe names are on
Windows) and a trailing ``.exe`` on either side, so ``zoom``, ``Zoom.exe`` and
``ZOOM.EXE`` are the same app in a live session and in a replay.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = ["NeverInterrupt", "app_key"]


def app_key(app: str) -> str:
    """The form in which two app identifiers are compared (``POWERPNT.EXE`` → ``powerpnt``)."""
    key = app.strip().lower()
    return key[:-4] if key.endswith(".exe") else key


class NeverInterrupt:
    """A set of never-interrupt entries and the question "is this focused app one of them?"."""

    __slots__ = ("_keys",)

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._keys = frozenset(app_key(e) for e in entries if e.strip())

    def __bool__(self) -> bool:
        return bool(self._keys)

    def covers(self, app: str | None, logical_names: Collection[str] = ()) -> bool:
        """True if the app (its OS identifier, or one of its logical names) is on the list."""
        keys = self._keys
        if not keys:
            return False
        if app is not None and app_key(app) in keys:
            return True
        return any(app_key(name) in keys for name in logical_names)
