"""A smaller ICU data library for the Linux bundle: what Qt uses of ICU, nothing more.

The PySide6 wheel's QtCore links ICU on Linux (Windows 10+ and macOS use the
system's), and its ``libicudata.so.73`` is 32 MB: a third of the bundle. QtCore
calls only these ICU functions (``nm -D --undefined-only libQt6Core.so.6``):
collation (``ucol_*``), case mapping (``u_strToUpper``/``Lower``), calendars
and time zones (``ucal_*``, with the zones' display names) and converters
(``ucnv_*``). So the library is rebuilt without the data nothing calls:

- the names of languages, regions, currencies and units (``lang/``,
  ``region/``, ``curr/``, ``unit/``): QLocale has its own CLDR tables;
- spelled-out numbers and transliteration (``rbnf/``, ``translit/``);
- break iteration (``brkitr/``): Qt finds text boundaries with its own tables;
- the converter tables of legacy encodings (``*.cnv``: Shift_JIS,
  windows-1252 …): UTF-8, UTF-16/32 and Latin-1 are built into Qt and ICU, and
  the agent reads and writes only UTF-8.

Kept: collation, locale and calendar data, time zones and their names,
normalization, case mapping, the converter alias table.  The data's format is
ICU's "common data" package; ``icupkg`` (icu-devtools) removes items from it,
``genccode`` turns it back into an object file and ``ld`` into the library,
with the same soname and entry point (``icudt73_dat``).
``tests/packaging/test_icu_data.py`` checks that Qt, run over the result,
still collates, cases and names time zones like the original.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Final

__all__ = ["DROPPED_TREES", "common_data_start", "package_name", "trim_icu_data", "unused_items"]

#: Item folders of the ICU data that QtCore never reads (see the module docstring).
DROPPED_TREES: Final = ("brkitr", "curr", "lang", "rbnf", "region", "translit", "unit")
#: Converter tables (legacy encodings); ``cnvalias.icu`` (names, UTF-8 among them) stays.
DROPPED_SUFFIXES: Final = (".cnv",)

# The common data header: its size, the magic 0xda27, then UDataInfo (size,
# reserved, endianness, charset family, sizeof(UChar) = 2, reserved) and "CmnD".
_HEADER: Final = re.compile(rb"..\xda\x27..\x00\x00[\x00\x01]\x00\x02\x00CmnD", re.DOTALL)


def common_data_start(blob: bytes) -> int:
    """Where the ICU common data package starts in a data library's bytes."""
    found = _HEADER.search(blob)
    if found is None:
        raise ValueError("no ICU common data (CmnD) package in this library")
    return found.start()


def package_name(library: str, blob: bytes, start: int) -> str:
    """``libicudata.so.73`` → ``icudt73l`` (``b`` for big-endian data): the prefix of
    every item name, which ``icupkg`` wants as the package's file name."""
    version = re.fullmatch(r"libicudata\.so\.(\d+)(?:\.\d+)*", library)
    if version is None:
        raise ValueError(f"{library} is not named like an ICU data library")
    endian = "b" if blob[start + 8] else "l"
    return f"icudt{version.group(1)}{endian}"


def unused_items(items: Iterable[str]) -> list[str]:
    """The items (as ``icupkg -l`` lists them) that QtCore never reads."""
    return [
        item
        for item in items
        if item.split("/", 1)[0] in DROPPED_TREES or item.endswith(DROPPED_SUFFIXES)
    ]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        package = "binutils" if name == "ld" else "icu-devtools"
        raise RuntimeError(f"{name} is needed to trim ICU's data; install {package}")
    return found


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def trim_icu_data(library: Path, work: Path) -> Path:
    """Build the smaller ``library`` in ``work`` (emptied first); returns its path."""
    icupkg, genccode, ld = _tool("icupkg"), _tool("genccode"), _tool("ld")
    blob = library.read_bytes()
    start = common_data_start(blob)
    name = package_name(library.name, blob, start)
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    (work / "out").mkdir()
    # The package runs to the end of its symbol; icupkg reads its table of contents and
    # ignores the ELF bytes after it.
    source = work / "in" / f"{name}.dat"
    source.write_bytes(blob[start:])
    items = _run(icupkg, "-l", str(source)).split()
    if not items:
        raise RuntimeError(f"icupkg found no items in {library}")
    drop = work / "drop.txt"
    drop.write_text("\n".join(unused_items(items)) + "\n", encoding="ascii")
    trimmed = work / "out" / f"{name}.dat"
    _run(icupkg, "-r", str(drop), str(source), str(trimmed))
    entry = name[:-1]  # icudt73: genccode appends _dat, the symbol ICU's code links to
    _run(genccode, "-q", "-o", "-m", str(library), "-e", entry, "-d", str(work), str(trimmed))
    out = work / library.name
    # A non-executable stack, as every other library of the bundle declares.
    _run(ld, "-shared", "-z", "noexecstack", "-soname", library.name, "-o", str(out),
         str(work / f"{name}_dat.o"))  # fmt: skip
    return out
