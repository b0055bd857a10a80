"""A small real disk that fills up: a tmpfs of its own per test, and a file that fills it.

The full-disk tests need the kernel's own ENOSPC, not a mock: ``SmallDisk``
mounts a tmpfs of ``size`` bytes (this needs root, or CAP_SYS_ADMIN, as in
CI's container), :meth:`SmallDisk.fill` writes a filler file until the disk
refuses more, and :meth:`SmallDisk.free` deletes it.  When mounting is
impossible the test fails with a message that says so: a full-disk test that
silently skips proves nothing.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["SmallDisk", "small_disk"]


class SmallDisk:
    """A mounted tmpfs at ``root``; :meth:`fill` and :meth:`free` it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._filler = root / ".filler"

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Write the filler until the disk is full (ENOSPC); returns the bytes written."""
        written = 0
        chunk = b"\0" * 4096
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                if n == 0:
                    break
                written += n
        finally:
            os.close(fd)
        assert self.free_bytes() < 4096, "the disk should be full now"
        return written

    def free(self) -> None:
        """Delete the filler: the disk has room again."""
        self._filler.unlink(missing_ok=True)


@contextmanager
def small_disk(root: Path, size: str = "2m") -> Iterator[SmallDisk]:
    """Mount a tmpfs of ``size`` at ``root`` for the block; unmount it after."""
    root.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            "the full-disk tests mount a small tmpfs and cannot here "
            f"(`mount -t tmpfs` said: {done.stderr.strip() or done.returncode}); run them as root "
            "or in a container with CAP_SYS_ADMIN",
            pytrace=False,
        )
    try:
        yield SmallDisk(root)
    finally:
        unmounted = subprocess.run(["umount", str(root)], capture_output=True, check=False)
        if unmounted.returncode != 0:  # something still holds a file: let it go when closed
            subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
