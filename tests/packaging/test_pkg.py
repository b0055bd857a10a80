"""The macOS flat pkg (installers/macos/pkg.py), taken apart by tools that are not ours.

The payload is a stand-in Waymark.app with the real layout (installers/
standin.py): the real Info.plist keys, icon and assets around a shell-script
executable, since the real agent can only be frozen on macOS. The checks:
7-Zip tests and lists the xar archive; GNU cpio lists the Payload and the
Scripts; pyapplebom (an independent reader) reads the Bom; Distribution and
PackageInfo parse as XML; the LaunchAgent and the profiles load with plistlib;
the postinstall script is run with dash against stand-in stat/id/launchctl.
"""

from __future__ import annotations

import gzip
import os
import plistlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pyapplebom
import pytest

from installers.macos.app_bundle import BUNDLE_ID, MIN_MACOS, code_requirement, pppc_profile
from installers.macos.pkg import PACKAGE_ID, build_pkg
from installers.standin import macos_app

ROOT = Path(__file__).resolve().parents[2]
MACOS = ROOT / "installers" / "macos"


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: apt-get install {package} (scripts/bootstrap-debian.sh)"
    return found


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pkg")
    app = macos_app(work / "app", "0.1.0")
    return build_pkg(app, work / "waymark-0.1.0.pkg", "0.1.0", mtime=1_700_000_000)


@pytest.fixture(scope="module")
def parts(pkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive unpacked by 7-Zip (not by the bsdtar that wrote it)."""
    out = tmp_path_factory.mktemp("unpacked")
    done = subprocess.run([tool("7zz", "7zip"), "x", "-y", f"-o{out}", str(pkg)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def cpio_list(archive: bytes) -> list[str]:
    cpio = tool("cpio", "cpio")
    done = subprocess.run([cpio, "-itvn", "--quiet"], input=gzip.decompress(archive),
                          capture_output=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().splitlines()


def test_7zip_accepts_the_archive_and_lists_the_flat_package(pkg: Path) -> None:
    sevenzip = tool("7zz", "7zip")
    tested = subprocess.run([sevenzip, "t", str(pkg)], capture_output=True, text=True)
    assert tested.returncode == 0 and "Everything is Ok" in tested.stdout, tested.stdout
    assert "Warning" not in tested.stdout and "Type = Xar" in tested.stdout, tested.stdout
    listed = subprocess.run([sevenzip, "l", "-slt", str(pkg)], capture_output=True, text=True)
    names = {line[7:] for line in listed.stdout.splitlines() if line.startswith("Path = ")}
    assert {"Distribution", "waymark.pkg/PackageInfo", "waymark.pkg/Bom",
            "waymark.pkg/Payload", "waymark.pkg/Scripts"} <= names  # fmt: skip


def test_the_payload_is_an_odc_cpio_owned_by_root_admin(parts: Path) -> None:
    payload = (parts / "waymark.pkg" / "Payload").read_bytes()
    assert payload[:2] == b"\x1f\x8b"  # gzip
    assert gzip.decompress(payload)[:6] == b"070707"  # odc
    lines = cpio_list(payload)
    by_name = {line.split()[-1] if " -> " not in line else line.split()[-3]: line for line in lines}
    for name in (".", "./Applications/Waymark.app/Contents/Info.plist",
                 "./Applications/Waymark.app/Contents/MacOS/waymark",
                 "./Library/LaunchAgents/org.waymark.agent.plist"):  # fmt: skip
        assert name in by_name, name
    for line in lines:
        fields = line.split()
        assert (fields[2], fields[3]) == ("0", "80"), line
    assert by_name["./Applications/Waymark.app/Contents/MacOS/waymark"].startswith("-rwxr-xr-x")
    assert by_name["./Library/LaunchAgents/org.waymark.agent.plist"].startswith("-rw-r--r--")
    assert by_name["./Applications"].startswith("drwxrwxr-x")
    assert (
        "-> ../Resources/assets" in by_name["./Applications/Waymark.app/Contents/Frameworks/assets"]
    )
    scripts = cpio_list((parts / "waymark.pkg" / "Scripts").read_bytes())
    assert any(s.startswith("-rwxr-xr-x") and s.endswith("./postinstall") for s in scripts), scripts


def test_the_bom_lists_exactly_the_payload(parts: Path) -> None:
    bom = pyapplebom.parse_bom((parts / "waymark.pkg" / "Bom").read_bytes(), include_blocks=False)
    assert not bom["parse_errors"]
    in_bom = {p["path"]: p for p in bom["paths"]}
    payload = cpio_list((parts / "waymark.pkg" / "Payload").read_bytes())
    names = {(ln.split(" -> ")[0] if " -> " in ln else ln).split()[-1] for ln in payload}
    assert set(in_bom) == names
    assert all((p["user_id"], p["group_id"]) == (0, 80) for p in in_bom.values())
    assert in_bom["./Applications/Waymark.app/Contents/MacOS/waymark"]["file_mode"] == 0o100755


def test_distribution_and_package_info_are_well_formed(parts: Path) -> None:
    dist = ET.parse(parts / "Distribution").getroot()
    assert dist.tag == "installer-gui-script"
    options = dist.find("options")
    assert options is not None and options.get("hostArchitectures") == "x86_64,arm64"
    os_version = dist.find("volume-check/allowed-os-versions/os-version")
    assert os_version is not None and os_version.get("min") == MIN_MACOS
    ref = dist.find(f"pkg-ref[@id='{PACKAGE_ID}'][@version='0.1.0']")
    assert ref is not None and ref.text == "#waymark.pkg"
    info = ET.parse(parts / "waymark.pkg" / "PackageInfo").getroot()
    assert (info.get("identifier"), info.get("version")) == (PACKAGE_ID, "0.1.0")
    assert info.get("install-location") == "/" and info.get("relocatable") == "false"
    script = info.find("scripts/postinstall")
    assert script is not None and script.get("file") == "./postinstall"
    payload = info.find("payload")
    files = cpio_list((parts / "waymark.pkg" / "Payload").read_bytes())
    assert payload is not None
    assert int(payload.get("numberOfFiles", "0")) == sum(not f.startswith("d") for f in files)
    bundle = info.find("bundle-version/bundle")
    assert bundle is not None and bundle.get("id") == BUNDLE_ID


def test_the_app_the_launch_agent_and_the_profiles_load_with_plistlib(parts: Path) -> None:
    agent = plistlib.loads((MACOS / "org.waymark.agent.plist").read_bytes())
    assert agent["Label"] == BUNDLE_ID
    assert agent["ProgramArguments"] == ["/Applications/Waymark.app/Contents/MacOS/waymark", "run"]
    assert agent["LimitLoadToSessionType"] == "Aqua" and agent["RunAtLoad"] is True
    committed = (MACOS / "org.waymark.agent.pppc.mobileconfig").read_bytes()
    assert committed == pppc_profile(), (
        "installers/macos/org.waymark.agent.pppc.mobileconfig is stale: run "
        "`python -m installers.macos.app_bundle pppc > "
        "installers/macos/org.waymark.agent.pppc.mobileconfig`"
    )
    pppc = plistlib.loads(committed)
    services = pppc["PayloadContent"][0]["Services"]
    (accessibility,) = services["Accessibility"]
    assert accessibility["Identifier"] == BUNDLE_ID and accessibility["Authorization"] == "Allow"
    assert accessibility["CodeRequirement"] == code_requirement("TEAMID")
    assert services["ListenEvent"][0]["Authorization"] == "AllowStandardUserToSetSystemService"
    settings = plistlib.loads((MACOS / "org.waymark.agent.mobileconfig").read_bytes())
    assert settings["PayloadContent"][0]["PayloadType"] == BUNDLE_ID
    unpacked = parts / "unpacked-payload"
    unpacked.mkdir()
    payload = gzip.decompress((parts / "waymark.pkg" / "Payload").read_bytes())
    subprocess.run([tool("cpio", "cpio"), "-idm", "--quiet"], input=payload, cwd=unpacked,
                   check=True)  # fmt: skip
    app_info = plistlib.loads(
        (unpacked / "Applications/Waymark.app/Contents/Info.plist").read_bytes()
    )
    assert app_info["CFBundleIdentifier"] == BUNDLE_ID and app_info["LSUIElement"] is True
    assert app_info["NSAccessibilityUsageDescription"]
    installed_agent = unpacked / "Library/LaunchAgents/org.waymark.agent.plist"
    assert installed_agent.read_bytes() == (MACOS / "org.waymark.agent.plist").read_bytes()


@pytest.fixture
def fake_macos(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Stand-in ``stat``, ``id`` and ``launchctl`` that log their calls (macOS has the real
    ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "launchctl.log"
    scripts = {
        "stat": 'if [ "$1 $2 $3" = "-f %Su /dev/console" ]; then echo "$CONSOLE_USER"; '
        "else exit 1; fi",
        "id": 'if [ "$1" = "-u" ] && [ "$2" = "alice" ]; then echo 501; else exit 1; fi',
        "launchctl": f'echo "$*" >> "{calls}"',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return calls, env


def run_postinstall(env: dict[str, str], user: str, target: str) -> str:
    shell = tool("dash", "dash")
    script = MACOS / "scripts" / "postinstall"
    args = [shell, str(script), "/tmp/waymark.pkg", "/", target, "/"]
    done = subprocess.run(args, env={**env, "CONSOLE_USER": user}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_postinstall_starts_the_agent_in_the_console_users_gui_domain(
    fake_macos: tuple[Path, dict[str, str]],
) -> None:
    calls, env = fake_macos
    out = run_postinstall(env, "alice", "/")
    assert "started for alice (gui/501)" in out
    assert calls.read_text().splitlines() == [
        "bootout gui/501/org.waymark.agent",
        "bootstrap gui/501 /Library/LaunchAgents/org.waymark.agent.plist",
    ]


@pytest.mark.parametrize(("user", "target"), [("alice", "/Volumes/Other"), ("root", "/"),
                                              ("loginwindow", "/"), ("", "/")])  # fmt: skip
def test_postinstall_leaves_the_start_to_the_next_login_off_the_boot_volume_or_at_login_window(
    fake_macos: tuple[Path, dict[str, str]], user: str, target: str
) -> None:
    calls, env = fake_macos
    out = run_postinstall(env, user, target)
    assert not calls.exists(), calls.read_text()
    assert "next login" in out or "not the boot volume" in out


def test_a_folder_that_is_not_the_waymark_app_is_refused(tmp_path: Path) -> None:
    app = macos_app(tmp_path, "0.1.0")
    info = app / "Contents" / "Info.plist"
    info.write_bytes(plistlib.dumps({"CFBundleIdentifier": "com.example.other"}))
    with pytest.raises(ValueError, match="not the Waymark bundle"):
        build_pkg(app, tmp_path / "x.pkg", "0.1.0")
    assert os.listdir(tmp_path) == ["Waymark.app"]
