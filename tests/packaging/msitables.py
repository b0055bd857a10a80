"""Reading an MSI's tables with msitools' ``msiinfo`` (a real reader, not ours)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["msi_table", "msi_tables"]


def _msiinfo() -> str:
    found = shutil.which("msiinfo")
    assert found, "msiinfo is missing: apt-get install msitools (scripts/bootstrap-debian.sh)"
    return found


def msi_tables(msi: Path) -> set[str]:
    done = subprocess.run([_msiinfo(), "tables", str(msi)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def msi_table(msi: Path, table: str) -> list[dict[str, str]]:
    """The rows of ``table`` as dicts (``msiinfo export``'s IDT text: names, types, keys, rows)."""
    done = subprocess.run([_msiinfo(), "export", str(msi), table], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\r\n") if "\r\n" in done.stdout else done.stdout.split("\n")
    columns = lines[0].split("\t")
    return [dict(zip(columns, line.split("\t"), strict=False)) for line in lines[3:] if line]
