r"""The MSI built by the release pipeline's Linux job, installed for real on Windows.

Run with ``WAYMARK_MSI=path\to\waymark-<version>-x64.msi`` (release.yml's msi-install
job). It covers what Wine cannot show (tests/packaging/test_msi_wine.py): the shortcut in
the all-users Start menu with its AppUserModelID, and RemoveFile deleting files the
installer did not put there.
"""

from __future__ import annotations

import os
import subprocess
import winreg
from pathlib import Path

import pytest

pytestmark = pytest.mark.msi_install

INSTALL_DIR = Path(os.environ.get("PROGRAMFILES", r"C:\Program Files")) / "Waymark"
START_MENU = Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / (
    r"Microsoft\Windows\Start Menu\Programs\Waymark.lnk"
)


def msiexec(*args: str, log: Path) -> int:
    done = subprocess.run(["msiexec", *args, "/qn", "/l*v", str(log)], timeout=600)
    return done.returncode


def read_value(key: str, name: str) -> str | None:
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key, 0,
                            winreg.KEY_READ | winreg.KEY_WOW64_64KEY) as k:  # fmt: skip
            return str(winreg.QueryValueEx(k, name)[0])
    except OSError:
        return None


def app_user_model_id(link: Path) -> str:
    script = (
        "$s = (New-Object -ComObject Shell.Application).NameSpace('"
        + str(link.parent)
        + "').ParseName('"
        + link.name
        + "'); $s.ExtendedProperty('System.AppUserModel.ID')"
    )
    done = subprocess.run(["powershell", "-NoProfile", "-Command", script],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done.stdout.strip()


def test_the_msi_installs_for_all_users_and_uninstalls_without_a_trace(tmp_path: Path) -> None:
    msi = os.environ.get("WAYMARK_MSI")
    assert msi, "set WAYMARK_MSI to the MSI to install (release.yml's msi-install job does)"
    code = msiexec("/i", msi, "SERVER_URL=https://waymark.example.com", "ORGANISATION=Example",
                   log=tmp_path / "install.log")  # fmt: skip
    assert code == 0, (tmp_path / "install.log").read_text(encoding="utf-16", errors="replace")
    try:
        assert (INSTALL_DIR / "waymark.exe").is_file()
        assert read_value(r"SOFTWARE\Waymark\Agent", "server_url") == "https://waymark.example.com"
        assert read_value(r"SOFTWARE\Waymark\Agent", "enroll_token") is None  # not given
        run = read_value(r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run", "Waymark")
        assert run == f'"{INSTALL_DIR / "waymark.exe"}" run'
        assert START_MENU.is_file()
        assert app_user_model_id(START_MENU) == "org.waymark.agent"
        version = subprocess.run([str(INSTALL_DIR / "waymark-cli.exe"), "--version"],
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert version.stdout.startswith("waymark ")
        (INSTALL_DIR / "_internal" / "crash.dmp").write_text("left by the agent")
    finally:
        code = msiexec("/x", msi, log=tmp_path / "uninstall.log")
    assert code == 0
    assert not INSTALL_DIR.exists()
    assert not START_MENU.exists()
    assert read_value(r"SOFTWARE\Waymark", "Version") is None
    assert read_value(r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run", "Waymark") is None
