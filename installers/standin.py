"""Stand-in payloads with the real layout, for building and testing the MSI and the pkg here.

PyInstaller does not cross-compile: the real Windows onedir and macOS
``Waymark.app`` are frozen on Windows and macOS by the release pipeline. On
Linux the installers are built (and the MSI installed under Wine) around these
stand-ins instead:

- :func:`windows_onedir`: ``waymark.exe`` (GUI subsystem) and
  ``waymark-cli.exe`` (console), both a tiny PE built from
  ``installers/windows/standin.c`` with mingw-w64 that answers ``--version``
  and records each ``run`` in ``%PUBLIC%\\waymark-standin-runs.txt``, plus
  ``_internal/`` with PyInstaller's file layout (stand-in DLLs and
  ``base_library.zip``, the real assets);
- :func:`macos_app`: ``Waymark.app`` with the real Info.plist
  (:func:`installers.macos.app_bundle.info_plist`), a shell-script
  executable, the real icon and assets, and the Frameworks → Resources
  symbolic link PyInstaller's BUNDLE makes.
"""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Final

from installers.macos.app_bundle import info_plist

__all__ = ["macos_app", "windows_onedir"]

ROOT: Final = Path(__file__).resolve().parents[1]
MINGW: Final = "x86_64-w64-mingw32-gcc"

# Files PyInstaller puts in a Windows onedir's _internal/ (their contents here are stand-ins).
_WINDOWS_INTERNAL: Final = (
    "python311.dll",
    "VCRUNTIME140.dll",
    "libcrypto-3.dll",
    "PySide6/Qt6Core.dll",
    "PySide6/Qt6Gui.dll",
    "PySide6/Qt6Widgets.dll",
    "PySide6/plugins/platforms/qwindows.dll",
    "PySide6/plugins/imageformats/qsvg.dll",
    "cryptography/hazmat/bindings/_rust.pyd",
)
_MACOS_FRAMEWORKS: Final = ("Python", "PySide6/Qt/lib/QtCore.framework/QtCore")


def _pe(source: Path, out: Path, version: str, *, windowed: bool) -> None:
    gcc = shutil.which(MINGW)
    if gcc is None:
        raise RuntimeError(
            f"{MINGW} is not installed: apt-get install gcc-mingw-w64-x86-64 "
            "(scripts/bootstrap-debian.sh installs it when run as root)"
        )
    args = [gcc, "-Os", "-s", f'-DWAYMARK_VERSION="{version}"', "-o", str(out), str(source)]
    if windowed:
        args.insert(1, "-mwindows")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{MINGW} failed: {done.stderr}")


def _stand_in_file(path: Path, what: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"stand-in for {what} (installers/standin.py)\n", encoding="utf-8")


def windows_onedir(dest: Path, version: str) -> Path:
    """A stand-in Windows onedir in ``dest/waymark``; returns that folder."""
    onedir = dest / "waymark"
    internal = onedir / "_internal"
    internal.mkdir(parents=True)
    source = ROOT / "installers" / "windows" / "standin.c"
    _pe(source, onedir / "waymark.exe", version, windowed=True)
    _pe(source, onedir / "waymark-cli.exe", version, windowed=False)
    for rel in _WINDOWS_INTERNAL:
        _stand_in_file(internal / rel, rel)
    with zipfile.ZipFile(internal / "base_library.zip", "w") as z:
        z.writestr("README.txt", "stand-in for the frozen standard library\n")
    shutil.copytree(ROOT / "assets", internal / "assets",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))  # fmt: skip
    return onedir


def macos_app(dest: Path, version: str) -> Path:
    """A stand-in ``dest/Waymark.app``; returns it."""
    app = dest / "Waymark.app"
    contents = app / "Contents"
    (contents / "MacOS").mkdir(parents=True)
    (contents / "Resources").mkdir()
    (contents / "Info.plist").write_bytes(plistlib.dumps(info_plist(version), sort_keys=True))
    exe = contents / "MacOS" / "waymark"
    exe.write_text(
        "#!/bin/sh\n# stand-in for the frozen agent (installers/standin.py)\n"
        f'echo "waymark {version} (stand-in)"\n',
        encoding="utf-8",
    )
    exe.chmod(0o755)
    for rel in _MACOS_FRAMEWORKS:
        _stand_in_file(contents / "Frameworks" / rel, rel)
    shutil.copyfile(ROOT / "assets" / "icons" / "waymark.icns",
                    contents / "Resources" / "waymark.icns")  # fmt: skip
    shutil.copytree(ROOT / "assets", contents / "Resources" / "assets",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))  # fmt: skip
    # PyInstaller's BUNDLE keeps data in Resources and links it from Frameworks.
    (contents / "Frameworks" / "assets").symlink_to("../Resources/assets")
    return app
