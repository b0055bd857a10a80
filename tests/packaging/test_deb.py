"""The Debian package of the frozen agent (installers/linux/build-deb.sh).

Built from the session's frozen bundle, then installed for real with dpkg
into a separate root (its own dpkg database, so this machine is untouched),
run from there, and removed again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "installers" / "linux" / "build-deb.sh"


def dpkg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dpkg", f"--instdir={root}", f"--admindir={root / 'var/lib/dpkg'}",
         "--force-not-root", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_deb_installs_runs_and_removes_cleanly(frozen: Path, tmp_path: Path) -> None:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (not a Debian system)")
    built = subprocess.run(
        ["bash", str(BUILD), str(frozen.parent), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "DEB_COMPRESS": "-Zzstd"},  # seconds; releases use xz
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    deb = Path(built.stdout.strip().splitlines()[-1])
    info = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True).stdout
    assert "Package: waymark" in info and "Version: 0.1.0" in info
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True).stdout
    for path in ("./opt/waymark/waymark", "./usr/bin/waymark -> /opt/waymark/waymark",
                 "./etc/xdg/autostart/waymark.desktop",
                 "./usr/share/applications/waymark-settings.desktop",
                 "./usr/share/icons/hicolor/256x256/apps/waymark.png",
                 "./usr/share/doc/waymark/policy.example.json"):  # fmt: skip
        assert path in contents, path
    assert contents.splitlines()[0].startswith("drwxr-xr-x")  # the package's / stays 0755

    root = tmp_path / "root"
    (root / "var/lib/dpkg/updates").mkdir(parents=True)
    (root / "var/lib/dpkg/info").mkdir()
    (root / "var/lib/dpkg/status").touch()
    installed = dpkg(root, "--force-depends", "-i", str(deb))
    assert installed.returncode == 0, installed.stderr
    assert "install ok installed" in dpkg(root, "-s", "waymark").stdout
    version = subprocess.run([str(root / "opt/waymark/waymark"), "--version"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert version.stdout.strip() == "waymark 0.1.0"
    if shutil.which("desktop-file-validate"):
        for entry in ("etc/xdg/autostart/waymark.desktop",
                      "usr/share/applications/waymark-settings.desktop"):  # fmt: skip
            checked = subprocess.run(["desktop-file-validate", str(root / entry)],
                                     capture_output=True, text=True)  # fmt: skip
            assert checked.returncode == 0, checked.stdout + checked.stderr
    removed = dpkg(root, "-r", "waymark")
    assert removed.returncode == 0, removed.stderr
    assert not (root / "opt/waymark").exists()
