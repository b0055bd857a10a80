"""The well-known folders a file rule can name, found the way each OS defines them.

Linux: the XDG user folders (``~/.config/user-dirs.dirs``, written by
``xdg-user-dirs-update``; defaults ``~/Desktop``, ``~/Downloads``,
``~/Documents``).  Windows: the Known Folders (``SHGetKnownFolderPath``).
macOS: the home folders.  ``synced`` is the folder that policy names in
``synced_folder`` (environment variables such as ``%OneDrive%`` or ``$HOME``
are expanded), for example OneDrive's.  Parsing is pure and tested; the
native lookup is a few thin lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["KNOWN_FOLDER_IDS", "parse_user_dirs", "synced_folder", "well_known_folders"]

_XDG_KEYS: Final = {
    "desktop": "XDG_DESKTOP_DIR",
    "downloads": "XDG_DOWNLOAD_DIR",
    "documents": "XDG_DOCUMENTS_DIR",
}
_DEFAULT_NAMES: Final = {"desktop": "Desktop", "downloads": "Downloads", "documents": "Documents"}

#: FOLDERID_Desktop, FOLDERID_Downloads, FOLDERID_Documents (KnownFolders.h).
KNOWN_FOLDER_IDS: Final = {
    "desktop": "{B4BFCC3A-DB2C-424C-B029-7FE99A87C641}",
    "downloads": "{374DE290-123F-4565-9164-39C4925E467B}",
    "documents": "{FDD39AD0-238F-46AF-ADB4-6C85480369C7}",
}

_LINE: Final = re.compile(r'^\s*(XDG_[A-Z]+_DIR)\s*=\s*"(.*)"\s*$')


def parse_user_dirs(text: str, home: Path) -> dict[str, Path]:
    """The folders in a ``user-dirs.dirs`` file (``XDG_DESKTOP_DIR="$HOME/Desktop"``).

    A value must be ``$HOME/…`` or an absolute path (the file format's rule);
    ``"$HOME/"`` alone means the folder is disabled.
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2).replace('\\"', '"')
    out: dict[str, Path] = {}
    for alias, key in _XDG_KEYS.items():
        raw = values.get(key)
        if raw is None:
            continue
        if raw.startswith("$HOME"):
            rest = raw[len("$HOME") :].lstrip("/")
            if not rest:
                continue  # disabled
            out[alias] = home / rest
        elif raw.startswith("/"):
            out[alias] = Path(raw)
    return out


def synced_folder(setting: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The ``synced_folder`` policy value as a path (variables and ``~`` expanded)."""
    if not setting.strip():
        return None
    environ = dict(os.environ if env is None else env)
    text = re.sub(
        r"%([A-Za-z0-9_]+)%", lambda m: environ.get(m.group(1), m.group(0)), setting.strip()
    )
    text = re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: environ.get(m.group(1), m.group(0)), text
    )
    if text.startswith("~"):
        text = environ.get("HOME", str(Path.home())) + text[1:]
    return Path(text)


def well_known_folders(
    platform: str = sys.platform, *, home: Path | None = None, synced: str = ""
) -> dict[str, Path]:
    """Alias → folder for this OS and person (only folders that are set; they may not exist)."""
    home = home or Path.home()
    found: dict[str, Path] = {}
    if platform == "win32":
        found.update(_windows_known_folders())
    elif platform == "darwin":
        found.update({alias: home / name for alias, name in _DEFAULT_NAMES.items()})
    else:
        found.update({alias: home / name for alias, name in _DEFAULT_NAMES.items()})
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        with contextlib.suppress(OSError, UnicodeDecodeError):  # no file: the defaults
            found.update(parse_user_dirs((config / "user-dirs.dirs").read_text("utf-8"), home))
    path = synced_folder(synced)
    if path is not None:
        found["synced"] = path
    return found


if sys.platform == "win32":

    def _windows_known_folders() -> dict[str, Path]:
        import ctypes
        from ctypes import wintypes

        class GUID(ctypes.Structure):
            _fields_ = [
                ("Data1", wintypes.DWORD),
                ("Data2", wintypes.WORD),
                ("Data3", wintypes.WORD),
                ("Data4", ctypes.c_ubyte * 8),
            ]

        shell32 = ctypes.windll.shell32
        ole32 = ctypes.windll.ole32
        out: dict[str, Path] = {}
        for alias, text in KNOWN_FOLDER_IDS.items():
            guid = GUID()
            if ole32.CLSIDFromString(ctypes.c_wchar_p(text), ctypes.byref(guid)) != 0:
                continue
            buffer = ctypes.c_wchar_p()
            if shell32.SHGetKnownFolderPath(ctypes.byref(guid), 0, None, ctypes.byref(buffer)) == 0:
                if buffer.value:
                    out[alias] = Path(buffer.value)
                ole32.CoTaskMemFree(buffer)
        return out

else:

    def _windows_known_folders() -> dict[str, Path]:
        return {}
