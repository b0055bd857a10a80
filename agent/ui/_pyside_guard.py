"""Guard against a PySide6 6.12.0 reference-count bug on Python 3.11.

PySide6-Essentials 6.12.0 returns ``None`` from void C++ methods without
taking a reference to it, and some paths do the same with ``True``/``False``
(correct only on Python >= 3.12, where these are immortal, PEP 683).  On
Python 3.11 each such call removes one reference; a long-running agent makes
tens of thousands of calls and the interpreter then aborts with
"none_dealloc: deallocating None".  6.11.x is not affected.  Until the
dependency pin excludes 6.12.0, we give ``None``, ``True`` and ``False`` the
practically infinite reference count that Python 3.12 gives them.  They are
singletons that are never freed anyway, so this changes nothing else.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["needs_guard", "protect_singletons"]

_HEADROOM = 1 << 40


def needs_guard(python: tuple[int, int], pyside: str) -> bool:
    """True for the affected combination: Python < 3.12 with PySide6 6.12.0."""
    return python < (3, 12) and pyside.startswith("6.12.0")


def protect_singletons() -> bool:
    """Apply the guard when needed; returns whether it was applied."""
    import PySide6

    if not needs_guard(sys.version_info[:2], PySide6.__version__):
        return False
    if sys.implementation.name != "cpython":  # pragma: no cover
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        refcnt = ctypes.c_ssize_t.from_address(id(singleton))
        if refcnt.value < _HEADROOM:
            refcnt.value += _HEADROOM
    return True
