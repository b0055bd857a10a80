r"""The Windows MSI of the frozen agent, built on Linux: ``make msi``.

    python -m installers.windows.msi --dist DIST [--version 0.1.0] [--out dist]

``DIST`` is the Windows onedir (``waymark.exe``, ``waymark-cli.exe``,
``_internal/``) that the release pipeline's Windows job freezes. The steps:

1. copy it to a staging folder and Authenticode-sign the two exe files there
   (when a signing identity is given: ``--sign-*`` or ``WAYMARK_SIGN_*``);
2. generate the WiX v3 source (:func:`wxs`) from that folder and from the
   options table, with component GUIDs derived from each file's path, so the
   same file keeps its component across versions;
3. compile it with ``wixl -a x64`` (Debian ``wixl``/``msitools``);
4. patch what wixl cannot express with ``msibuild`` SQL (:func:`patch_queries`);
5. sign the MSI.

What the MSI does:

- per-machine (``ALLUSERS=1``) into ``C:\Program Files\Waymark``; one
  UpgradeCode kept forever (:data:`UPGRADE_CODE`) and a major upgrade that
  removes the old version right after InstallInitialize, before installing
  the new one (so no file-version rule can keep an old file);
- a Start-menu shortcut to ``waymark.exe run`` carrying the AppUserModelID
  ``org.waymark.agent`` (``MsiShortcutProperty``), which native
  notifications need;
- ``HKLM\...\Run`` (a 64-bit component) starts ``waymark.exe run`` in every
  user session at login. The installer never starts it itself: under an MDM
  it runs as SYSTEM, where a tray agent has nothing to do;
- ``HKLM\SOFTWARE\Waymark``: ``Version`` (for Intune detection rules) and
  ``InstallDir``;
- the Event Log source ``Waymark`` in the Application log (the agent writes
  its errors there, agent/log_sinks.py), with .NET Framework 4's
  ``EventLogMessages.dll`` as its message file: each of its ids shows the
  entry's text as it is, so Event Viewer needs no message DLL of our own;
- uninstall removes every file, shortcut and value it installed, and (on
  Windows) whatever else was left in its folders (``RemoveFile`` rows).

Public properties, for ``msiexec /i waymark.msi /qn NAME=value …``; each is
an option of :mod:`agent.config.options` with ``installer_property`` set and
is written to ``HKLM\SOFTWARE\Waymark\Agent`` under the option's key, as
REG_SZ (lists separated by ``;`` or ``,``), only when given:

- ``SERVER_URL`` → ``server_url``: the Waymark server (https);
- ``ENROLL_TOKEN`` → ``enroll_token``: the tenant enrollment token (kept out
  of the MSI log through ``MsiHiddenProperties``);
- ``PUBLISHER_KEYS`` → ``publisher_keys``: the pinned pack-signing keys;
- ``ORGANISATION`` → ``organisation``: the name shown as "Managed by …".

``ENROLL_TOKEN`` lands where every user of the machine can read it (the agent
runs as the user).  ``BROKER_ENROLL_TOKEN`` keeps the token from users instead
(docs/admin-guide.md, "Keeping the enrollment token from users"): it is
written to ``HKLM\SOFTWARE\Waymark\Enrollment`` (``Token``), a key whose
ACL (``MsiLockPermissionsEx``, a protected DACL: :data:`TOKEN_KEY_SDDL`) lets
only SYSTEM and Administrators in, and a scheduled task running as SYSTEM at
startup, ``Waymark enrollment broker`` (``waymark-cli.exe broker``), enrolls
each user's agent over a named pipe and hands it only its own device secret
(agent/sync/broker_windows.py).  The task is made and started by deferred,
not impersonated ``schtasks`` actions, and deleted on uninstall.

The remember-property pattern keeps them across upgrades: a RegistrySearch
reads the value back from the installer key (AppSearch), and two set-property
custom actions put a value given on the command line back over it. A value
that is never given is never written.

wixl quirks worked around here: it accepts only the WiX v3 schema and stops on
any element or attribute it does not know (``Component/Condition``,
``Property/@Secure``, ``MajorUpgrade/@Schedule``, ``ShortcutProperty``,
``RemoveFile``); it fills ``SecureCustomProperties`` itself with only its
upgrade properties; and it compiles a CustomAction without ``Impersonate``
as NoImpersonate (harmless for the set-property actions used here, which run
no code).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from agent.config.options import OPTIONS, Option
from agent.config.policy import WINDOWS_INSTALLER_KEY
from installers.windows.authenticode import SigningIdentity, sign

__all__ = [
    "APP_USER_MODEL_ID",
    "BROKER_PROPERTY",
    "BROKER_TASK",
    "INSTALLER_KEY",
    "PRODUCT_KEY",
    "RUN_KEY",
    "TOKEN_KEY",
    "TOKEN_KEY_SDDL",
    "UPGRADE_CODE",
    "build_msi",
    "installer_options",
    "patch_queries",
    "product_code",
    "wxs",
]

#: Never change: Windows Installer recognises every Waymark version by it.
UPGRADE_CODE: Final = uuid.UUID("18CB3BAB-84FA-44A4-A95F-E2A15A162204")
#: Where the MSI writes its public properties; the agent reads it under Group Policy.
INSTALLER_KEY: Final = WINDOWS_INSTALLER_KEY
PRODUCT_KEY: Final = r"SOFTWARE\Waymark"
RUN_KEY: Final = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
#: The agent's Event Log source (``EVENT_LOG_SOURCE`` in agent/log_sinks.py).
EVENT_SOURCE_KEY: Final = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\Waymark"
#: Part of .NET Framework 4, which every Windows 10 and 11 has: message id n is "%1".
EVENT_MESSAGE_FILE: Final = (
    r"[WindowsFolder]Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll"
)
APP_USER_MODEL_ID: Final = "org.waymark.agent"
#: PKEY_AppUserModel_ID (propkey.h).
PKEY_APP_USER_MODEL_ID: Final = "{9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}, 5"
MANUFACTURER: Final = "Waymark"
GUI_EXE: Final = "waymark.exe"
CLI_EXE: Final = "waymark-cli.exe"
SHORTCUT_ID: Final = "StartMenuShortcut"
PRODUCT_COMPONENT: Final = "ProductRegistry"
#: The public property of the token only SYSTEM and Administrators may read.
BROKER_PROPERTY: Final = "BROKER_ENROLL_TOKEN"
#: ``TOKEN_KEY`` in agent/sync/broker_windows.py (the broker reads it there).
TOKEN_KEY: Final = r"SOFTWARE\Waymark\Enrollment"
TOKEN_VALUE_ID: Final = "EnrollmentTokenValue"
TOKEN_COMPONENT: Final = "EnrollmentToken"
#: Protected DACL (no inherited entries): SYSTEM and the Administrators group, full control.
TOKEN_KEY_SDDL: Final = "D:P(A;;GA;;;SY)(A;;GA;;;BA)"
BROKER_TASK: Final = "Waymark enrollment broker"
#: msidbCustomActionTypeExe + SourceDirectory (34), deferred (0x400), no impersonation (0x800).
_DEFERRED_SYSTEM_EXE: Final = 34 + 0x400 + 0x800
#: The same, its exit code ignored (0x40): starting the task now, deleting one never made.
_DEFERRED_SYSTEM_EXE_CONTINUE: Final = _DEFERRED_SYSTEM_EXE + 0x40

_NS: Final = "http://schemas.microsoft.com/wix/2006/wi"
_VERSION: Final = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,5}$")


def product_code(version: str) -> uuid.UUID:
    """The ProductCode of ``version``: new for each version (a major upgrade), the same for
    two builds of one version (so reinstalling it repairs instead of adding a second product)."""
    return uuid.uuid5(UPGRADE_CODE, f"product:{version}")


def _guid(kind: str, key: str) -> str:
    # Windows paths are case-insensitive: a case change must not make a new component.
    return str(uuid.uuid5(UPGRADE_CODE, f"{kind}:{key.lower()}")).upper()


def _ident(prefix: str, key: str) -> str:
    """An MSI identifier (letters, digits, ``_``, ``.``; at most 72) stable for ``key``."""
    return prefix + hashlib.sha1(key.lower().encode("utf-8")).hexdigest()[:32].upper()


def installer_options() -> list[Option]:
    """Options that a public MSI property sets (``installer_property`` in the options table)."""
    return [o for o in OPTIONS if o.installer_property]


@dataclass
class _Dir:
    rel: str  # "" for INSTALLDIR, else a POSIX path inside the bundle
    id: str
    name: str
    dirs: list[_Dir] = field(default_factory=list)
    files: list[tuple[str, Path]] = field(default_factory=list)  # (rel, source)


def _harvest(stage: Path) -> _Dir:
    def walk(folder: Path, rel: str, ident: str) -> _Dir:
        node = _Dir(rel, ident, folder.name)
        for child in sorted(folder.iterdir(), key=lambda p: p.name):
            child_rel = f"{rel}/{child.name}" if rel else child.name
            if child.is_symlink():
                raise ValueError(f"{child}: a symbolic link cannot go into an MSI")
            if child.is_dir():
                node.dirs.append(walk(child, child_rel, _ident("d", child_rel)))
            elif child.is_file():
                node.files.append((child_rel, child))
        return node

    return walk(stage, "", "INSTALLDIR")


def _all_dirs(node: _Dir) -> list[_Dir]:
    out = [node]
    for d in node.dirs:
        out += _all_dirs(d)
    return out


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, f"{{{_NS}}}{tag}", attrs)
    if text is not None:
        e.text = text
    return e


def wxs(stage: Path, version: str, icon: Path) -> str:
    """The WiX v3 source for the onedir in ``stage`` (as wixl accepts it).

    wixl takes only relative source paths, resolved from the folder of the
    ``.wxs``: that folder is ``stage.parent``, and ``icon`` must be in it too.
    """
    if not _VERSION.match(version):
        raise ValueError(
            f"MSI versions are major.minor.build with numbers only (at most 255.255.65535), "
            f"not {version!r}"
        )
    for exe in (GUI_EXE, CLI_EXE):
        if not (stage / exe).is_file():
            raise ValueError(f"{stage} has no {exe}: not a Windows onedir of the agent")
    ET.register_namespace("", _NS)
    root = ET.Element(f"{{{_NS}}}Wix")
    product = _el(
        root, "Product", Id=str(product_code(version)).upper(), Name="Waymark",
        Manufacturer=MANUFACTURER, Version=version, Language="1033", Codepage="1252",
        UpgradeCode=str(UPGRADE_CODE).upper(),
    )  # fmt: skip
    _el(
        product, "Package", InstallerVersion="500", Compressed="yes", InstallScope="perMachine",
        Manufacturer=MANUFACTURER, Description="Waymark desktop coach",
        Comments=f"Waymark {version}", Keywords="Installer,Waymark",
    )  # fmt: skip
    _el(product, "Media", Id="1", Cabinet="waymark.cab", EmbedCab="yes")
    _el(
        product, "MajorUpgrade",
        DowngradeErrorMessage="A newer version of Waymark is already installed.",
    )  # fmt: skip
    _el(
        product, "Condition", "Installed OR VersionNT64 >= 603",
        Message="Waymark needs 64-bit Windows 10 or later.",
    )  # fmt: skip
    _el(product, "Icon", Id="waymark.ico", SourceFile=icon.relative_to(stage.parent).as_posix())
    for name, value in (
        ("ARPPRODUCTICON", "waymark.ico"),
        ("ARPNOMODIFY", "1"),
        ("ARPURLINFOABOUT", "https://waymark.example"),
        ("MsiHiddenProperties", f"ENROLL_TOKEN;CMDLINE_ENROLL_TOKEN;{BROKER_PROPERTY}"),
    ):
        _el(product, "Property", Id=name, Value=value)

    # Remember-property pattern: AppSearch reads the installer key back; a value given on the
    # command line is saved before AppSearch and put back after it.
    ui = _el(product, "InstallUISequence")
    execute = _el(product, "InstallExecuteSequence")
    # Explicit sequence numbers: wixl misplaces several actions Before/After the same action
    # (some landed after InstallFinalize). AppSearch is 50 in both standard sequences.
    for i, o in enumerate(installer_options()):
        prop = o.installer_property
        prop_el = _el(product, "Property", Id=prop)
        _el(
            prop_el, "RegistrySearch", Id=f"Remember{prop}", Root="HKLM", Key=INSTALLER_KEY,
            Name=o.key, Type="raw", Win64="yes",
        )  # fmt: skip
        _el(product, "CustomAction", Id=f"SaveCmdLine{prop}", Property=f"CMDLINE_{prop}",
            Value=f"[{prop}]", Execute="firstSequence")  # fmt: skip
        _el(product, "CustomAction", Id=f"SetFromCmdLine{prop}", Property=prop,
            Value=f"[CMDLINE_{prop}]", Execute="firstSequence")  # fmt: skip
        for seq in (ui, execute):
            _el(seq, "Custom", Action=f"SaveCmdLine{prop}", Sequence=str(10 + i))
            _el(seq, "Custom", f"CMDLINE_{prop}", Action=f"SetFromCmdLine{prop}",
                Sequence=str(51 + i))  # fmt: skip

    tree = _harvest(stage)
    target = _el(product, "Directory", Id="TARGETDIR", Name="SourceDir")
    programs = _el(target, "Directory", Id="ProgramFiles64Folder")
    _el(target, "Directory", Id="ProgramMenuFolder")
    components: list[str] = []

    def emit(node: _Dir, parent: ET.Element) -> None:
        attrs = {"Id": node.id, "Name": "Waymark" if node.rel == "" else node.name}
        d = _el(parent, "Directory", **attrs)
        for rel, source in node.files:
            comp_id = _ident("c", rel)
            comp = _el(d, "Component", Id=comp_id, Guid=_guid("file", rel), Win64="yes")
            _el(comp, "File", Id=_ident("f", rel), Name=source.name,
                Source=source.relative_to(stage.parent).as_posix(), KeyPath="yes")  # fmt: skip
            if rel == GUI_EXE:
                # A child of the component, not of the File: wixl would make that one advertised.
                _el(
                    comp, "Shortcut", Id=SHORTCUT_ID, Directory="ProgramMenuFolder",
                    Name="Waymark", Description="Waymark desktop coach",
                    Target=f"[#{_ident('f', rel)}]", Arguments="run",
                    WorkingDirectory="INSTALLDIR", Icon="waymark.ico",
                )  # fmt: skip
            components.append(comp_id)
        for child in node.dirs:
            emit(child, d)
        if node.rel == "":
            emit_registry(d)

    def emit_registry(d: ET.Element) -> None:
        gui = f"[#{_ident('f', GUI_EXE)}]"
        for comp_id, key, name, kind, value in (
            (PRODUCT_COMPONENT, PRODUCT_KEY, "Version", "string", "[ProductVersion]"),
            ("ProductInstallDir", PRODUCT_KEY, "InstallDir", "string", "[INSTALLDIR]"),
            ("RunAtLogin", RUN_KEY, "Waymark", "string", f'"{gui}" run'),
            ("EventSource", EVENT_SOURCE_KEY, "EventMessageFile", "string", EVENT_MESSAGE_FILE),
            ("EventSourceTypes", EVENT_SOURCE_KEY, "TypesSupported", "integer", "7"),
        ):
            comp = _el(d, "Component", Id=comp_id, Guid=_guid("registry", comp_id), Win64="yes")
            _el(comp, "RegistryValue", Root="HKLM", Key=key, Name=name, Type=kind, Value=value,
                KeyPath="yes")  # fmt: skip
            components.append(comp_id)
        # The broker's token: a key of its own, locked down by patch_queries.
        comp = _el(d, "Component", Id=TOKEN_COMPONENT, Guid=_guid("registry", TOKEN_COMPONENT),
                   Win64="yes")  # fmt: skip
        _el(comp, "RegistryValue", Id=TOKEN_VALUE_ID, Root="HKLM", Key=TOKEN_KEY, Name="Token",
            Type="string", Value=f"[{BROKER_PROPERTY}]", KeyPath="yes")  # fmt: skip
        components.append(TOKEN_COMPONENT)
        for o in installer_options():
            comp_id = f"Installer_{o.key}"
            comp = _el(d, "Component", Id=comp_id, Guid=_guid("registry", comp_id), Win64="yes")
            _el(comp, "RegistryValue", Root="HKLM", Key=INSTALLER_KEY, Name=o.key,
                Type="string", Value=f"[{o.installer_property}]", KeyPath="yes")  # fmt: skip
            components.append(comp_id)

    emit(tree, programs)
    feature = _el(product, "Feature", Id="Main", Title="Waymark", Level="1")
    for comp_id in components:
        _el(feature, "ComponentRef", Id=comp_id)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def patch_queries(stage: Path) -> list[str]:
    """msibuild SQL for what wixl cannot write (see the module docstring)."""
    props = [o.installer_property for o in installer_options()] + [BROKER_PROPERTY]
    secure = ";".join([*props, "WIX_DOWNGRADE_DETECTED", "WIX_UPGRADE_DETECTED"])
    queries = [
        # Public properties reach the elevated (server-side) install only when they are secure.
        f"UPDATE `Property` SET `Value` = {_sql(secure)} "
        "WHERE `Property` = 'SecureCustomProperties'",
        # Remove the old version before installing the new one (afterInstallInitialize).
        "UPDATE `InstallExecuteSequence` SET `Sequence` = 1501 "
        "WHERE `Action` = 'RemoveExistingProducts'",
        "CREATE TABLE `MsiShortcutProperty` (`MsiShortcutProperty` CHAR(72) NOT NULL, "
        "`Shortcut_` CHAR(72) NOT NULL, `PropertyKey` LONGCHAR NOT NULL, "
        "`PropVariantValue` LONGCHAR NOT NULL PRIMARY KEY `MsiShortcutProperty`)",
        "INSERT INTO `MsiShortcutProperty` (`MsiShortcutProperty`, `Shortcut_`, `PropertyKey`, "
        f"`PropVariantValue`) VALUES ('AppUserModelID', {_sql(SHORTCUT_ID)}, "
        f"{_sql(PKEY_APP_USER_MODEL_ID)}, {_sql(APP_USER_MODEL_ID)})",
    ]
    queries += broker_queries()
    for o in installer_options():
        # Write a value only when the property is set: an empty one would hide the person's own.
        queries.append(
            f"UPDATE `Component` SET `Condition` = {_sql(o.installer_property)} "
            f"WHERE `Component` = {_sql('Installer_' + o.key)}"
        )
    for d in _all_dirs(_harvest(stage)):
        # On uninstall: anything left in each folder (a crash dump, a log), then the folder.
        comp, folder = _sql(PRODUCT_COMPONENT), _sql(d.id)
        queries.append(
            "INSERT INTO `RemoveFile` (`FileKey`, `Component_`, `FileName`, `DirProperty`, "
            f"`InstallMode`) VALUES ({_sql(_ident('rf', d.rel))}, {comp}, '*', {folder}, 2)"
        )
        # No FileName (libmsi's SQL has no NULL literal): the folder itself, once empty.
        queries.append(
            "INSERT INTO `RemoveFile` (`FileKey`, `Component_`, `DirProperty`, `InstallMode`) "
            f"VALUES ({_sql(_ident('rd', d.rel))}, {comp}, {folder}, 2)"
        )
    return queries


def broker_queries() -> list[str]:
    """The broker's token key (written only when given, SYSTEM and Administrators only) and
    its scheduled task (made and started at install, deleted at uninstall)."""
    schtasks = '"[System64Folder]schtasks.exe"'
    task = f'/TN "{BROKER_TASK}"'
    create = (
        f"{schtasks} /Create /F {task} /SC ONSTART /RU SYSTEM /RL HIGHEST "
        f'/TR "\\"[INSTALLDIR]{CLI_EXE}\\" broker"'
    )
    strict, lenient = _DEFERRED_SYSTEM_EXE, _DEFERRED_SYSTEM_EXE_CONTINUE
    actions = (
        # (action, type, command line, condition, sequence): after InstallFiles, before
        # RemoveFiles. A task that cannot be made fails the install; the rest may fail.
        ("BrokerTaskCreate", strict, create, f"{BROKER_PROPERTY} AND NOT REMOVE", 6590),
        ("BrokerTaskRun", lenient, f"{schtasks} /Run {task}", f"{BROKER_PROPERTY} AND NOT REMOVE",
         6591),
        ("BrokerTaskDelete", lenient, f"{schtasks} /Delete /F {task}", 'REMOVE="ALL"', 3450),
    )  # fmt: skip
    queries = [
        f"UPDATE `Component` SET `Condition` = {_sql(BROKER_PROPERTY)} "
        f"WHERE `Component` = {_sql(TOKEN_COMPONENT)}",
        "CREATE TABLE `MsiLockPermissionsEx` (`MsiLockPermissionsEx` CHAR(72) NOT NULL, "
        "`LockObject` CHAR(72) NOT NULL, `Table` CHAR(32) NOT NULL, `SDDLText` LONGCHAR NOT NULL, "
        "`Condition` CHAR(255) PRIMARY KEY `MsiLockPermissionsEx`)",
        "INSERT INTO `MsiLockPermissionsEx` (`MsiLockPermissionsEx`, `LockObject`, `Table`, "
        f"`SDDLText`) VALUES ('LockEnrollmentToken', {_sql(TOKEN_VALUE_ID)}, 'Registry', "
        f"{_sql(TOKEN_KEY_SDDL)})",
    ]
    for action, kind, command, condition, seq in actions:
        queries.append(
            "INSERT INTO `CustomAction` (`Action`, `Type`, `Source`, `Target`) VALUES "
            f"({_sql(action)}, {kind}, 'INSTALLDIR', {_sql(command)})"
        )
        queries.append(
            "INSERT INTO `InstallExecuteSequence` (`Action`, `Condition`, `Sequence`) VALUES "
            f"({_sql(action)}, {_sql(condition)}, {seq})"
        )
    return queries


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} is not installed: apt-get install {package} "
            "(scripts/bootstrap-debian.sh installs it when run as root)"
        )
    return found


def _run(args: Sequence[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=1800, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}")


def build_msi(
    dist: Path,
    out: Path,
    version: str,
    *,
    identity: SigningIdentity | None = None,
    icon: Path | None = None,
    keep_wxs: Path | None = None,
) -> Path:
    """Build (and sign, with ``identity``) the MSI of the onedir ``dist`` into ``out``."""
    root = Path(__file__).resolve().parents[2]
    icon = icon or root / "assets" / "icons" / "waymark.ico"
    wixl = _tool("wixl", "wixl")
    msibuild = _tool("msibuild", "msitools")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="waymark-msi-") as tmp:
        stage = Path(tmp) / "Waymark"
        shutil.copytree(dist, stage, symlinks=True)
        if identity is not None:
            for exe in (GUI_EXE, CLI_EXE):
                sign(stage / exe, identity)
        shutil.copyfile(icon, Path(tmp) / "waymark.ico")
        source = Path(tmp) / "waymark.wxs"
        source.write_text(wxs(stage, version, Path(tmp) / "waymark.ico"), encoding="utf-8")
        if keep_wxs is not None:
            shutil.copyfile(source, keep_wxs)
        built = Path(tmp) / out.name
        _run([wixl, "-a", "x64", "-o", str(built), str(source)], "wixl")
        for query in patch_queries(stage):
            _run([msibuild, str(built), "-q", query], f"msibuild {query[:60]}…")
        if identity is not None:
            sign(built, identity)
        shutil.move(built, out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from agent import __version__

    parser = argparse.ArgumentParser(
        prog="python -m installers.windows.msi",
        description="Build the Waymark MSI from a Windows onedir (wixl + msibuild; "
        "signed with osslsigncode when a signing identity is given).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dist", type=Path, help="the Windows onedir (waymark.exe, _internal/…)")
    source.add_argument(
        "--standin", action="store_true",
        help="build a stand-in onedir here (tiny mingw-w64 exe files, real layout) and wrap it",
    )  # fmt: skip
    parser.add_argument(
        "--version", default=__version__, help="product version (major.minor.build)"
    )
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder")
    parser.add_argument("--wxs", type=Path, help="also write the generated WiX source here")
    parser.add_argument(
        "--sign-pkcs12", type=Path, help="PKCS#12 file (password: WAYMARK_SIGN_PASSWORD)"
    )
    parser.add_argument("--sign-cert", type=Path, help="PEM certificate (with --sign-key)")
    parser.add_argument("--sign-key", type=Path, help="PEM private key")
    parser.add_argument("--timestamp-url", default="", help="RFC 3161 timestamp server")
    args = parser.parse_args(argv)

    import os

    identity = SigningIdentity.from_environment()
    if args.sign_pkcs12 or args.sign_cert:
        identity = SigningIdentity(
            pkcs12=args.sign_pkcs12, password=os.environ.get("WAYMARK_SIGN_PASSWORD", ""),
            cert=args.sign_cert, key=args.sign_key, timestamp_url=args.timestamp_url,
        )  # fmt: skip
    name = f"waymark-{args.version}-x64.msi"
    with tempfile.TemporaryDirectory(prefix="waymark-standin-") as tmp:
        if args.standin:
            from installers.standin import windows_onedir

            dist = windows_onedir(Path(tmp), args.version)
            name = f"waymark-{args.version}-x64-standin.msi"
            print("msi: STAND-IN payload (not the frozen agent): " + str(dist), file=sys.stderr)
        else:
            dist = args.dist
            if not (dist / GUI_EXE).is_file():
                parser.error(
                    f"{dist} has no {GUI_EXE}: pass the onedir that PyInstaller built on Windows "
                    "(the release pipeline's windows job), or --standin"
                )
        try:
            msi = build_msi(dist, args.out / name, args.version, identity=identity,
                            keep_wxs=args.wxs)  # fmt: skip
        except (RuntimeError, ValueError) as exc:
            print(f"msi: {exc}", file=sys.stderr)
            return 1
    print(msi)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
