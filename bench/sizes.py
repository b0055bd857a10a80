"""Artifact sizes against the budget: frozen agent ≤ 120 MB on disk, each installer ≤ 45 MB.

Built here, in a temp folder: the frozen agent (PyInstaller, this OS), its
deb (``installers/linux/build-deb.sh``, xz), and estimates for the MSI and the
pkg made by wrapping this Linux bundle the same way (its files, without the
symbolic links PyInstaller makes on Linux only, plus the stand-in exe files or
Info.plist), which shows what the MSI's cabinet (MSZIP) and the pkg's gzip
make of this much Python and Qt; they leave out ICU, which the Windows and
macOS bundles do not carry (Qt uses the system's), and give the size with it
too. The real Windows and macOS artifacts exist only in the release pipeline,
which runs this module with ``WAYMARK_SIZES_WINDOWS_DIST``, ``WAYMARK_SIZES_MSI``,
``WAYMARK_SIZES_MACOS_APP`` and ``WAYMARK_SIZES_PKG`` set: then those rows are
measured, not estimated.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_BUDGET_MB = 120.0
INSTALLER_BUDGET_MB = 45.0
MB = 1_000_000


def _size(path: Path) -> int:
    """Bytes on disk of a file or folder (symbolic links count as themselves)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def _parts(bundle: Path, top: int = 6) -> str:
    """The largest parts of a bundle: Qt libraries one by one, everything else by package."""
    sizes: Counter[str] = Counter()
    internal = next((p for p in (bundle / "_internal", bundle) if p.is_dir()), bundle)
    for p in internal.rglob("*"):
        if not p.is_file() or p.is_symlink():
            continue
        rel = p.relative_to(internal).parts
        if rel[0] == "PySide6" and len(rel) > 2 and rel[1] == "Qt":
            key = "/".join(rel[:4]) if rel[2] == "lib" else "/".join(rel[:3])
        elif rel[0] == "PySide6":
            key = "PySide6 bindings"
        else:
            key = rel[0]
        sizes[key] += p.stat().st_size
    return ", ".join(f"{name} {size / MB:.1f}" for name, size in sizes.most_common(top))


def _verdict(mb: float, budget: float) -> str:
    return f"**within** (≤ {budget:.0f})" if mb <= budget else f"**over** (> {budget:.0f})"


def _freeze(work: Path) -> Path:
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    done = subprocess.run(
        [str(pyinstaller), str(ROOT / "installers" / "pyinstaller" / "waymark.spec"),
         "--noconfirm", "--log-level", "WARN", "--distpath", str(work / "dist"),
         "--workpath", str(work / "build")],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pyinstaller failed: {done.stderr[-2000:]}")
    return work / "dist" / "waymark"


def _deb(bundle: Path, work: Path) -> Path:
    done = subprocess.run(
        ["bash", str(ROOT / "installers" / "linux" / "build-deb.sh"), str(bundle), str(work)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"build-deb.sh failed: {done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _copy_without_links(src: Path, dest: Path, *, icu: bool) -> None:
    for p in src.rglob("*"):
        target = dest / p.relative_to(src)
        if p.is_symlink() or (not icu and p.name.startswith("libicu")):
            continue
        if p.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)


def _msi_estimate(bundle: Path, work: Path, *, icu: bool) -> Path:
    from installers.standin import windows_onedir
    from installers.windows.msi import build_msi

    standin = windows_onedir(work / "standin-win", "0.1.0")
    stage = work / "msi-payload"
    _copy_without_links(bundle, stage, icu=icu)
    (stage / "waymark").unlink()
    for exe in ("waymark.exe", "waymark-cli.exe"):
        shutil.copyfile(standin / exe, stage / exe)
    return build_msi(stage, work / "estimate.msi", "0.1.0")


def _pkg_estimate(bundle: Path, work: Path, *, icu: bool) -> Path:
    from installers.macos.pkg import build_pkg
    from installers.standin import macos_app

    app = macos_app(work / "standin-mac", "0.1.0")
    _copy_without_links(bundle, app / "Contents" / "Frameworks" / "bundle", icu=icu)
    return build_pkg(app, work / "estimate.pkg", "0.1.0")


def _row(what: str, mb: float, budget: float, dominates: str) -> str:
    return f"| {what} | {mb:.1f} | {_verdict(mb, budget)} | {dominates} |"


def main() -> str:
    rows: list[str] = []
    notes: list[str] = []
    started = time.monotonic()
    here = f"{platform.system()} {platform.machine()}"
    real = {
        "windows": os.environ.get("WAYMARK_SIZES_WINDOWS_DIST"),
        "msi": os.environ.get("WAYMARK_SIZES_MSI"),
        "mac": os.environ.get("WAYMARK_SIZES_MACOS_APP"),
        "pkg": os.environ.get("WAYMARK_SIZES_PKG"),
    }
    with tempfile.TemporaryDirectory(prefix="waymark-sizes-") as tmp:
        work = Path(tmp)
        bundle = _freeze(work / "freeze")
        mb = _size(bundle) / MB
        rows.append(_row(f"frozen agent, {here} (built here)", mb, BUNDLE_BUDGET_MB,
                         _parts(bundle)))  # fmt: skip
        if shutil.which("dpkg-deb"):
            mb_deb = _deb(bundle, work / "deb").stat().st_size / MB
            rows.append(_row("deb, xz (built here)", mb_deb, INSTALLER_BUDGET_MB,
                             f"the bundle above, {mb / mb_deb:.1f}× smaller"))  # fmt: skip
        if real["windows"]:
            win = Path(real["windows"])
            rows.append(_row("frozen agent, Windows (release pipeline)", _size(win) / MB,
                             BUNDLE_BUDGET_MB, _parts(win)))  # fmt: skip
        if real["msi"]:
            rows.append(_row("MSI (release pipeline)", Path(real["msi"]).stat().st_size / MB,
                             INSTALLER_BUDGET_MB, "the Windows bundle, MSZIP"))  # fmt: skip
        elif sys.platform.startswith("linux"):
            full = _msi_estimate(bundle, work / "msi-icu", icu=True).stat().st_size / MB
            e_mb = _msi_estimate(bundle, work / "msi", icu=False).stat().st_size / MB
            files = _size(work / "msi" / "msi-payload") / MB
            rows.append(_row("MSI, *estimate*: this Linux bundle without ICU in the MSI (wixl, "
                             "MSZIP cabinet)", e_mb, INSTALLER_BUDGET_MB,
                             f"{files:.0f} MB of files; with ICU {full:.1f} MB"))  # fmt: skip
        if real["mac"]:
            mac = Path(real["mac"])
            parts = _parts(mac / "Contents" / "Frameworks")
            rows.append(_row("Waymark.app, macOS (release pipeline)", _size(mac) / MB,
                             BUNDLE_BUDGET_MB, parts))  # fmt: skip
        if real["pkg"]:
            rows.append(_row("pkg (release pipeline)", Path(real["pkg"]).stat().st_size / MB,
                             INSTALLER_BUDGET_MB, "Waymark.app, gzip'd cpio"))  # fmt: skip
        elif sys.platform.startswith("linux"):
            full = _pkg_estimate(bundle, work / "pkg-icu", icu=True).stat().st_size / MB
            e_mb = _pkg_estimate(bundle, work / "pkg", icu=False).stat().st_size / MB
            rows.append(_row("pkg, *estimate*: this Linux bundle without ICU in the pkg "
                             "(gzip -9 cpio)", e_mb, INSTALLER_BUDGET_MB,
                             f"with ICU {full:.1f} MB"))  # fmt: skip
        icu = sum(
            p.stat().st_size for p in bundle.rglob("libicu*") if p.is_file() and not p.is_symlink()
        )
        if icu:
            notes.append(
                f"ICU (libicudata, libicuuc, libicui18n) is {icu / MB:.1f} MB of this bundle: "
                "the PySide6 wheel's QtCore links to it on Linux. Its data library is rebuilt "
                "with only what QtCore reads (installers/pyinstaller/icu_data.py: collation, "
                "case mapping, calendars and time zones; not the names of languages, regions, "
                "currencies and units, break iteration, transliteration or legacy-encoding "
                "converters): the wheel's is 32.0 MB. Qt uses the system's ICU on Windows 10+ "
                "and macOS, so their bundles do not carry it."
            )
    elapsed = time.monotonic() - started
    return "\n".join(
        [
            "## Artifact sizes (bench/sizes.py)",
            "",
            "Sizes in MB (10^6 bytes) on disk. Budget: frozen agent ≤ 120 MB, each installer "
            "≤ 45 MB. The spec leaves out the server stack (FastAPI, uvicorn, uvloop, "
            "SQLAlchemy …), httpx's optional CLI (rich, pygments, click), Qt modules the agent "
            "does not import, and Qt's Wayland/EGL/GTK-theme/TLS/extra image-format plugins, "
            "translations and the GTK 3 stack they pulled in; Linux binaries are stripped. "
            "Rows marked *estimate* wrap this Linux bundle (see the module docstring); the "
            f"release pipeline measures the real MSI and pkg. Whole section: {elapsed:.0f} s.",
            "",
            "| artifact | MB | budget | what dominates (MB) |",
            "|---|---:|---|---|",
            *rows,
            "",
            *notes,
            "",
        ]
    )


if __name__ == "__main__":
    print(main())
