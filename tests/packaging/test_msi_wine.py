r"""The MSI installed for real by Wine's msiexec (Wine implements Windows Installer).

In one throwaway 64-bit WINEPREFIX: install with the public properties,
upgrade to a higher version without them (kept, one product), upgrade again
with one of them changed (the new value wins), refuse a downgrade, then
uninstall (nothing of Waymark left in files or registry). The MSIs are Authenticode-signed with a
throwaway certificate and verified with osslsigncode before they install.

The payload is a stand-in onedir (installers/standin.py): the real file layout
around a tiny PE built with mingw-w64, because the real Windows agent cannot be
frozen on Linux. That PE records each ``run`` in %PUBLIC%, which shows that the
installer starts nothing and that the Run value starts the agent.

Two things Wine does differently from Windows, and so are not shown here: Wine
puts a per-machine shortcut in the user's Start menu (its msi sets
ProgramMenuFolder without looking at ALLUSERS), and its RemoveFile does not
expand wildcards (so files the agent did not install would stay). The Windows
job of the release pipeline installs the same MSI for real
(tests/native/windows/test_msi_install.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from installers.standin import windows_onedir
from installers.windows.authenticode import verify
from installers.windows.msi import (
    EVENT_SOURCE_KEY,
    INSTALLER_KEY,
    PRODUCT_KEY,
    RUN_KEY,
    UPGRADE_CODE,
    build_msi,
)
from tests.packaging.signing import throwaway_identity
from tests.packaging.wine import WinePrefix, wine_prefix

INSTALL_DIR = r"C:\Program Files\Waymark"
UNINSTALL = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
PROPERTIES = {
    "SERVER_URL": "https://waymark.example.com",
    "ENROLL_TOKEN": "wme_test_token",
    "PUBLISHER_KEYS": "MCowBQYDK2VwAyEAkey1;MCowBQYDK2VwAyEAkey2",
    "ORGANISATION": "Example Corp",  # one argv item: Wine quotes it whole
}
EXPECTED = {
    "server_url": "https://waymark.example.com",
    "enroll_token": "wme_test_token",
    "publisher_keys": "MCowBQYDK2VwAyEAkey1;MCowBQYDK2VwAyEAkey2",
    "organisation": "Example Corp",
}


@pytest.fixture(scope="module")
def msis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Signed MSIs of versions 0.1.0, 0.2.0 and 0.3.0, verified."""
    work = tmp_path_factory.mktemp("msis")
    identity, ca = throwaway_identity(work / "cert")
    built = {}
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        onedir = windows_onedir(work / f"onedir-{version}", version)
        msi = build_msi(onedir, work / f"waymark-{version}.msi", version, identity=identity)
        checked = verify(msi, ca)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        built[version] = msi
    return built


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WinePrefix]:
    started = time.monotonic()
    with wine_prefix(tmp_path_factory.mktemp("wine")) as prefix:
        print(f"wine prefix ready in {time.monotonic() - started:.1f} s")
        yield prefix


def packed_guid(guid: str) -> str:
    """A GUID as Windows Installer writes it in its registry keys ("squished")."""
    h = guid.replace("-", "").upper()
    swapped = "".join(h[i + 1] + h[i] for i in range(16, 32, 2))
    return h[7::-1] + h[11:7:-1] + h[15:11:-1] + swapped


def waymark_products(wine: WinePrefix) -> list[dict[str, str]]:
    products = []
    for key in wine.subkeys(UNINSTALL):
        values = wine.reg_values(key) or {}
        if values.get("DisplayName", ("", ""))[1] == "Waymark":
            products.append({name: data for name, (_, data) in values.items()})
    return products


def installer_values(wine: WinePrefix) -> dict[str, str] | None:
    values = wine.reg_values("HKLM\\" + INSTALLER_KEY)
    return None if values is None else {name: data for name, (_, data) in values.items()}


def shortcuts(wine: WinePrefix) -> list[Path]:
    return [p for p in wine.drive_c.rglob("*.lnk") if p.name.lower() == "waymark.lnk"]


def runs(wine: WinePrefix) -> list[str]:
    log = wine.host_path(r"C:\users\Public\waymark-standin-runs.txt")
    return log.read_text().splitlines() if log.exists() else []


def test_install_upgrade_and_uninstall_under_wine(wine: WinePrefix, msis: dict[str, Path]) -> None:
    assert not wine.host_path(INSTALL_DIR).exists() and waymark_products(wine) == []

    # 0. Windows 7 is refused by the launch condition, and nothing is installed.
    wine.set_windows_version("win7")
    code, log = wine.msiexec("/i", msis["0.1.0"])
    assert code == 1603 & 0xFF and "VersionNT64 = 601" in log, log[-3000:]
    assert not wine.host_path(INSTALL_DIR).exists() and waymark_products(wine) == []
    wine.set_windows_version("win10")

    # 1. A silent install with the public properties.
    started = time.monotonic()
    args = [f"{name}={value}" for name, value in PROPERTIES.items()]
    code, log = wine.msiexec("/i", msis["0.1.0"], *args)
    assert code == 0, log[-5000:]
    print(f"install: {time.monotonic() - started:.1f} s")
    folder = wine.host_path(INSTALL_DIR)
    for rel in ("waymark.exe", "waymark-cli.exe", "_internal/python311.dll",
                "_internal/assets/packs/default/pack.yaml"):  # fmt: skip
        assert (folder / rel).is_file(), rel
    version = wine.run(INSTALL_DIR + r"\waymark-cli.exe", "--version")
    assert version.stdout.strip() == "waymark 0.1.0 (stand-in)", version.stdout + version.stderr
    assert installer_values(wine) == EXPECTED
    product = wine.reg_values("HKLM\\" + PRODUCT_KEY) or {}
    assert product["Version"] == ("REG_SZ", "0.1.0")
    assert product["InstallDir"][1].rstrip("\\") == INSTALL_DIR
    run_value = (wine.reg_values("HKLM\\" + RUN_KEY) or {})["Waymark"]
    assert run_value == ("REG_SZ", f'"{INSTALL_DIR}\\waymark.exe" run')
    source = wine.reg_values("HKLM\\" + EVENT_SOURCE_KEY) or {}
    assert source["TypesSupported"] == ("REG_DWORD", "0x7"), source
    assert source["EventMessageFile"][1].lower() == (
        r"c:\windows\microsoft.net\framework64\v4.0.30319\eventlogmessages.dll")  # fmt: skip
    (link,) = shortcuts(wine)
    assert (
        "waymark.exe".encode("utf-16-le") in link.read_bytes()
        or b"waymark.exe" in link.read_bytes()
    )
    assert [p["DisplayVersion"] for p in waymark_products(wine)] == ["0.1.0"]
    assert runs(wine) == []  # the installer started nothing

    # The Run value's command line starts the agent (as Windows does at each login).
    exe, rest = run_value[1][1:].split('" ', 1)  # "C:\...\waymark.exe" run
    started_agent = wine.run(exe, *rest.split())
    assert started_agent.returncode == 0, started_agent.stderr
    assert runs(wine) == ["run 0.1.0"]

    # 2. A higher version, no properties: they are kept, and one product remains.
    started = time.monotonic()
    code, log = wine.msiexec("/i", msis["0.2.0"])
    assert code == 0, log[-5000:]
    print(f"upgrade: {time.monotonic() - started:.1f} s")
    assert [p["DisplayVersion"] for p in waymark_products(wine)] == ["0.2.0"]
    assert installer_values(wine) == EXPECTED
    assert (wine.reg_values("HKLM\\" + PRODUCT_KEY) or {})["Version"] == ("REG_SZ", "0.2.0")
    version = wine.run(INSTALL_DIR + r"\waymark-cli.exe", "--version")
    assert version.stdout.strip() == "waymark 0.2.0 (stand-in)"
    assert len(shortcuts(wine)) == 1
    assert runs(wine) == ["run 0.1.0"]

    # 3. Another upgrade that gives one property: that one changes, the others stay.
    code, log = wine.msiexec("/i", msis["0.3.0"], "SERVER_URL=https://new.example.com")
    assert code == 0, log[-5000:]
    assert installer_values(wine) == {**EXPECTED, "server_url": "https://new.example.com"}
    assert [p["DisplayVersion"] for p in waymark_products(wine)] == ["0.3.0"]

    # An older version does not go over a newer one.
    code, log = wine.msiexec("/i", msis["0.1.0"])
    assert code == 1603 & 0xFF and "WIX_DOWNGRADE_DETECTED = {" in log, log[-3000:]
    assert [p["DisplayVersion"] for p in waymark_products(wine)] == ["0.3.0"]

    # 4. Uninstall: no file, shortcut, value or key of Waymark is left.
    started = time.monotonic()
    code, log = wine.msiexec("/x", msis["0.3.0"])
    assert code == 0, log[-5000:]
    print(f"uninstall: {time.monotonic() - started:.1f} s")
    assert not wine.host_path(INSTALL_DIR).exists()
    assert shortcuts(wine) == []
    assert wine.reg_values(r"HKLM\SOFTWARE\Waymark") is None
    assert "Waymark" not in (wine.reg_values("HKLM\\" + RUN_KEY) or {})
    assert waymark_products(wine) == []
    leftovers = [p for p in wine.drive_c.rglob("*") if "waymark" in p.name.lower()]
    assert leftovers == [wine.host_path(r"C:\users\Public\waymark-standin-runs.txt")]
    wine.stop_server()  # the registry files are written when the server ends
    registry = wine.registry_text().lower()
    assert "waymark" not in registry
    assert packed_guid(str(UPGRADE_CODE)).lower() not in registry  # no UpgradeCodes entry
