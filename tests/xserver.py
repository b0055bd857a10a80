"""A real X server for tests (see devtools.virtual_display) and xdotool to drive it."""

from __future__ import annotations

import subprocess

from devtools.virtual_display import XServer, running_xserver
from devtools.waiting import wait_for

__all__ = ["XServer", "running_xserver", "wait_for", "xdotool"]


def xdotool(server: XServer, *args: str, check: bool = True) -> str:
    """Run xdotool against ``server`` and return its stdout."""
    out = subprocess.run(
        ["xdotool", *args], env=server.env, capture_output=True, text=True, timeout=20
    )
    if check and out.returncode != 0:
        raise RuntimeError(f"xdotool {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()
