"""The vocabulary of element and file triggers, shared by the pack format, the sources and replays.

Elements (buttons, menu items, dialogs …) come from each OS's accessibility
API and are described here in one normalised set of roles; files come from the
well-known folders and are described by folder alias, type and size only.
Nothing here reads anything: it names and classifies.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Final, Literal

__all__ = [
    "ELEMENT_EVENTS",
    "FILE_TYPES",
    "FOLDERS",
    "PRIVATE_ROLES",
    "ROLES",
    "SIZE_PATTERN",
    "ElementEvent",
    "file_type",
    "is_temporary_file",
    "parse_size",
]

#: What happened to an element: it got focus, it was pressed (a button or menu
#: item), a window such as a dialog opened, a menu opened.
ElementEvent = Literal["focus", "invoke", "window_open", "menu_open"]
ELEMENT_EVENTS: Final[tuple[ElementEvent, ...]] = ("focus", "invoke", "window_open", "menu_open")

#: Roles, normalised across UI Automation control types, AXRole and AT-SPI roles.
ROLES: Final = (
    "button", "menu_item", "menu", "menu_bar", "dialog", "window", "tab", "link", "checkbox",
    "radio", "combo_box", "toolbar", "list", "list_item", "tree_item", "edit", "document",
    "cell", "text", "image", "other",
)  # fmt: skip

#: Roles whose names may be what a person wrote (a field label is fine, but a
#: document's or a cell's name can be its content): their names are read only
#: when a selector asks for that role.  Password fields are never read at all.
PRIVATE_ROLES: Final = frozenset({"edit", "document", "cell", "list_item"})

#: Well-known folders a file trigger can name; ``synced`` is the folder policy
#: names (``synced_folder``, e.g. OneDrive's).
FOLDERS: Final = ("desktop", "downloads", "documents", "synced")

FILE_TYPES: Final = (
    "document", "spreadsheet", "presentation", "pdf", "image", "archive", "other",
)  # fmt: skip

_EXTENSIONS: Final = {
    "document": ("doc", "docx", "docm", "dot", "dotx", "odt", "rtf", "txt", "md", "pages"),
    "spreadsheet": ("xls", "xlsx", "xlsm", "xlsb", "csv", "ods", "numbers"),
    "presentation": ("ppt", "pptx", "pptm", "pps", "ppsx", "odp", "key"),
    "pdf": ("pdf",),
    "image": ("png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "heic", "webp", "svg"),
    "archive": ("zip", "7z", "rar", "tar", "gz", "tgz", "bz2", "xz"),
}
_TYPE_OF_EXTENSION: Final = {ext: kind for kind, exts in _EXTENSIONS.items() for ext in exts}

# Office owner files, LibreOffice locks, editors' and browsers' partial files.
_TEMPORARY: Final = re.compile(
    r"^(?:~\$.*|\.~lock\..*|~.*\.tmp|\.#.*|#.*#)$|\.(?:tmp|temp|crdownload|part|partial|download|"
    r"swp|swx|lock|lck)$|~$",
    re.IGNORECASE,
)


def file_type(name: str) -> str:
    """The type of a file from its extension (``deck.PPTX`` → ``presentation``)."""
    suffix = PurePath(name).suffix.lower().lstrip(".")
    return _TYPE_OF_EXTENSION.get(suffix, "other")


def is_temporary_file(name: str) -> bool:
    """True for temporary and lock files (``~$deck.pptx``, ``.~lock.x#``, ``*.crdownload`` …)."""
    return bool(_TEMPORARY.search(PurePath(name).name)) or PurePath(name).name.startswith(".")


_SIZE_UNITS: Final = {
    "": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip
SIZE_PATTERN: Final = r"^[0-9]+(?:\.[0-9]+)?\s*(?:[kKmMgG][iI]?[bB]|[bB])?$"


def parse_size(value: object) -> int:
    """Bytes from ``20MB`` (10^6), ``500KiB`` (2^10), ``1.5GB`` or a number of bytes."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or text like 500KB, 20MB, 1GB")
    if isinstance(value, int | float):
        number, unit = float(value), ""
    elif isinstance(value, str) and re.match(SIZE_PATTERN, value.strip()):
        match = re.match(r"^([0-9.]+)\s*([a-zA-Z]*)$", value.strip())
        assert match is not None
        number, unit = float(match.group(1)), match.group(2).lower()
    else:
        raise ValueError(f"{value!r} is not a size; write bytes or text like 500KB, 20MB, 1GB")
    if number < 0:
        raise ValueError(f"{value!r} is not a usable size (it must be 0 or more)")
    return int(number * _SIZE_UNITS[unit])
