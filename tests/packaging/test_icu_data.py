"""The smaller ICU data library of the Linux bundle (installers/pyinstaller/icu_data.py).

It is built here from the PySide6 wheel's own library with the real icupkg,
genccode and ld, then loaded (LD_PRELOAD, matched by soname) under the real
QtCore in a fresh Python: whatever QtCore asks ICU for must come out as it does
over the original library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import PySide6
import pytest

from installers.pyinstaller.icu_data import (
    DROPPED_TREES,
    common_data_start,
    package_name,
    trim_icu_data,
    unused_items,
)

QT_LIB = Path(PySide6.__file__).parent / "Qt" / "lib"

# What QtCore uses ICU for: collation (Swedish sorts ä after z, German does not), case
# mapping (Turkish dotted İ), time zones and their names, and the UTF/Latin-1 codecs.
PROBE = """
import json
from PySide6.QtCore import QCollator, QDateTime, QLocale, QStringDecoder, QTimeZone
from agent.ui.settings_window import language_label
de, sv = QCollator(QLocale("de_DE")), QCollator(QLocale("sv_SE"))
berlin = QTimeZone(b"Europe/Berlin")
winter = QDateTime.fromSecsSinceEpoch(1768478400)  # 2026-01-15 12:00 UTC
maps = open("/proc/self/maps").read().splitlines()
print(json.dumps({
    "de ä<z": de.compare("ä", "z") < 0,
    "sv ä>z": sv.compare("ä", "z") > 0,
    "tr upper": QLocale("tr_TR").toUpper("i"),
    "de lower": QLocale("de_DE").toLower("ÄÖÜ"),
    "zone ids": len(QTimeZone.availableTimeZoneIds()),
    "zone name": berlin.displayName(winter, QTimeZone.NameType.LongName, QLocale("de_DE")),
    "language": language_label("de-CH"),
    "codecs": [QStringDecoder(n).isValid() for n in ("UTF-8", "UTF-16LE", "ISO-8859-1")],
    "icudata": sorted({line.split()[-1] for line in maps if "libicudata" in line}),
}, ensure_ascii=False))
"""


def probe(preload: Path | None) -> dict[str, object]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(Path.cwd())}
    if preload is not None:
        env["LD_PRELOAD"] = str(preload)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_trimmed_library_answers_qt_as_the_original_does(tmp_path: Path) -> None:
    original = QT_LIB / "libicudata.so.73"
    trimmed = trim_icu_data(original, tmp_path / "icu")
    assert trimmed.name == original.name
    assert trimmed.stat().st_size < original.stat().st_size * 0.45  # 32 MB → about 12 MB
    before, after = probe(None), probe(trimmed)
    assert before.pop("icudata") == [str(original)]
    assert after.pop("icudata") == [str(trimmed)]  # the trimmed one is what Qt used
    assert after == before
    assert after["sv ä>z"] and after["de ä<z"] and after["tr upper"] == "İ"
    assert after["zone name"] and after["language"] == "Deutsch (Schweiz)"


def test_the_trimmed_package_lacks_exactly_the_unread_items(tmp_path: Path) -> None:
    trimmed = trim_icu_data(QT_LIB / "libicudata.so.73", tmp_path / "icu")
    listing = subprocess.run(["icupkg", "-l", str(tmp_path / "icu" / "out" / "icudt73l.dat")],
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert trimmed.exists() and "coll/sv.res" in listing and "zone/de.res" in listing
    assert "cnvalias.icu" in listing and "nfkc.nrm" in listing
    assert not unused_items(listing)
    assert not [item for item in listing if item.split("/", 1)[0] in DROPPED_TREES]


def test_the_package_header_is_found_and_named() -> None:
    header = b"\x20\x00\xda\x27\x14\x00\x00\x00\x00\x00\x02\x00CmnD"
    blob = b"\x7fELF" + b"\x00" * 60 + header + b"\x01\x00\x00\x00"
    start = common_data_start(blob)
    assert start == 64
    assert package_name("libicudata.so.73", blob, start) == "icudt73l"
    assert package_name("libicudata.so.74.2", blob, start) == "icudt74l"
    big = blob[: start + 8] + b"\x01" + blob[start + 9 :]
    assert package_name("libicudata.so.73", big, start) == "icudt73b"
    for bad in (b"no package here", header.replace(b"CmnD", b"ResB")):
        with pytest.raises(ValueError, match="no ICU common data"):
            common_data_start(bad)
    assert unused_items(["lang/de.res", "coll/de.res", "ibm-943_P15A-2003.cnv", "cnvalias.icu",
                         "brkitr/cjdict.dict", "zone/de.res", "root.res"]) == [
        "lang/de.res", "ibm-943_P15A-2003.cnv", "brkitr/cjdict.dict"]  # fmt: skip
