"""The MSI's tables, read back with msitools' msiinfo, and its Authenticode signatures.

The payload is a stand-in Windows onedir (installers/standin.py): the real
file layout around a tiny mingw-w64 PE, since the real Windows agent cannot be
frozen on Linux. test_msi_wine.py installs these MSIs under Wine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.log_sinks import EVENT_LOG_SOURCE
from agent.sync.broker_windows import TOKEN_KEY as BROKER_TOKEN_KEY
from installers.standin import windows_onedir
from installers.windows.authenticode import verify
from installers.windows.msi import (
    APP_USER_MODEL_ID,
    BROKER_PROPERTY,
    BROKER_TASK,
    EVENT_SOURCE_KEY,
    INSTALLER_KEY,
    RUN_KEY,
    TOKEN_KEY,
    TOKEN_KEY_SDDL,
    UPGRADE_CODE,
    build_msi,
    installer_options,
    product_code,
    wxs,
)
from tests.packaging.msitables import msi_table, msi_tables
from tests.packaging.signing import throwaway_identity

MSIDBCA_TYPE_MASK = 0x3F  # the custom action's base type
SET_PROPERTY = 51
WIN64_COMPONENT = 256
REGISTRY_KEYPATH = 4


@pytest.fixture(scope="module")
def onedir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return windows_onedir(tmp_path_factory.mktemp("standin"), "0.1.0")


@pytest.fixture(scope="module")
def msi(onedir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_msi(onedir, tmp_path_factory.mktemp("msi") / "waymark.msi", "0.1.0")


def sequence(msi: Path, table: str) -> dict[str, int]:
    return {row["Action"]: int(row["Sequence"]) for row in msi_table(msi, table)}


def test_the_msi_is_per_machine_with_the_fixed_upgrade_code_and_secure_public_properties(
    msi: Path,
) -> None:
    props = {row["Property"]: row["Value"] for row in msi_table(msi, "Property")}
    assert props["ALLUSERS"] == "1"
    assert props["UpgradeCode"] == "{" + str(UPGRADE_CODE).upper() + "}"
    assert props["ProductCode"] == "{" + str(product_code("0.1.0")).upper() + "}"
    assert props["ProductVersion"] == "0.1.0"
    secure = set(props["SecureCustomProperties"].split(";"))
    assert {"SERVER_URL", "ENROLL_TOKEN", "PUBLISHER_KEYS", "ORGANISATION"} <= secure
    assert "WIX_UPGRADE_DETECTED" in secure
    assert "ENROLL_TOKEN" in props["MsiHiddenProperties"].split(";")
    upgrades = msi_table(msi, "Upgrade")
    assert {row["ActionProperty"] for row in upgrades} == {
        "WIX_UPGRADE_DETECTED", "WIX_DOWNGRADE_DETECTED",
    }  # fmt: skip


def test_every_component_is_64_bit_and_installer_values_are_written_only_when_given(
    msi: Path,
) -> None:
    components = {row["Component"]: row for row in msi_table(msi, "Component")}
    assert all(int(c["Attributes"]) & WIN64_COMPONENT for c in components.values())
    registry = {(r["Key"], r["Name"]): r for r in msi_table(msi, "Registry")}
    assert registry[(RUN_KEY, "Waymark")]["Value"].endswith('" run')
    run_component = components[registry[(RUN_KEY, "Waymark")]["Component_"]]
    assert int(run_component["Attributes"]) & REGISTRY_KEYPATH
    assert registry[(r"SOFTWARE\Waymark", "Version")]["Value"] == "[ProductVersion]"
    # The agent's Event Log source (agent/log_sinks.py), with a message file that shows its text.
    assert EVENT_SOURCE_KEY.rsplit("\\", 1)[1] == EVENT_LOG_SOURCE
    assert registry[(EVENT_SOURCE_KEY, "EventMessageFile")]["Value"].endswith(
        r"\Framework64\v4.0.30319\EventLogMessages.dll")  # fmt: skip
    assert registry[(EVENT_SOURCE_KEY, "TypesSupported")]["Value"] == "#7"
    for option in installer_options():
        row = registry[(INSTALLER_KEY, option.key)]
        assert row["Value"] == f"[{option.installer_property}]"
        assert components[row["Component_"]]["Condition"] == option.installer_property
    assert {o.installer_property for o in installer_options()} == {
        "SERVER_URL", "ENROLL_TOKEN", "PUBLISHER_KEYS", "ORGANISATION",
    }  # fmt: skip


def test_remembered_properties_are_read_back_between_saving_and_restoring_the_command_line(
    msi: Path,
) -> None:
    locators = {row["Signature_"]: row for row in msi_table(msi, "RegLocator")}
    searches = {row["Property"]: row["Signature_"] for row in msi_table(msi, "AppSearch")}
    for option in installer_options():
        locator = locators[searches[option.installer_property]]
        assert (locator["Key"], locator["Name"]) == (INSTALLER_KEY, option.key)
        assert int(locator["Type"]) & 16  # msidbLocatorType64bit
    for table in ("InstallUISequence", "InstallExecuteSequence"):
        seq = sequence(msi, table)
        for option in installer_options():
            prop = option.installer_property
            assert seq[f"SaveCmdLine{prop}"] < seq["AppSearch"] < seq[f"SetFromCmdLine{prop}"]
            assert seq[f"SetFromCmdLine{prop}"] < seq["LaunchConditions"], (table, prop)


def test_the_broker_token_goes_to_a_key_only_system_and_administrators_may_read(
    msi: Path,
) -> None:
    assert TOKEN_KEY == BROKER_TOKEN_KEY  # where the broker reads it
    registry = {r["Registry"]: r for r in msi_table(msi, "Registry")}
    token = registry["EnrollmentTokenValue"]
    assert (token["Root"], token["Key"], token["Name"]) == ("2", TOKEN_KEY, "Token")
    assert token["Value"] == f"[{BROKER_PROPERTY}]"
    # Written only when given, and never to the installer key every user reads.
    components = {row["Component"]: row for row in msi_table(msi, "Component")}
    assert components[token["Component_"]]["Condition"] == BROKER_PROPERTY
    assert not any(r["Value"] == f"[{BROKER_PROPERTY}]" and r["Key"] == INSTALLER_KEY
                   for r in registry.values())  # fmt: skip
    assert "MsiLockPermissionsEx" in msi_tables(msi) and "LockPermissions" not in msi_tables(msi)
    (lock,) = msi_table(msi, "MsiLockPermissionsEx")
    assert (lock["LockObject"], lock["Table"]) == ("EnrollmentTokenValue", "Registry")
    # A protected DACL: SYSTEM and Administrators, nothing inherited (so no Users: read).
    assert lock["SDDLText"] == TOKEN_KEY_SDDL == "D:P(A;;GA;;;SY)(A;;GA;;;BA)"
    props = {row["Property"]: row["Value"] for row in msi_table(msi, "Property")}
    assert BROKER_PROPERTY in props["MsiHiddenProperties"].split(";")
    assert BROKER_PROPERTY in props["SecureCustomProperties"].split(";")


def test_the_broker_task_runs_as_system_and_goes_with_the_product(msi: Path) -> None:
    actions = {row["Action"]: row for row in msi_table(msi, "CustomAction")}
    execute = {row["Action"]: row for row in msi_table(msi, "InstallExecuteSequence")}
    create = actions["BrokerTaskCreate"]
    # An exe from a folder (34), deferred (0x400), not impersonating the user (0x800).
    assert int(create["Type"]) == 34 | 0x400 | 0x800
    # Starting it now and deleting it at uninstall may fail (installed without the token).
    assert int(actions["BrokerTaskRun"]["Type"]) == int(actions["BrokerTaskDelete"]["Type"])
    assert int(actions["BrokerTaskDelete"]["Type"]) == 34 | 0x40 | 0x400 | 0x800
    assert "/RU SYSTEM" in create["Target"] and "/SC ONSTART" in create["Target"]
    assert f'/TN "{BROKER_TASK}"' in create["Target"]
    assert 'waymark-cli.exe\\" broker' in create["Target"]
    assert "/Delete /F" in actions["BrokerTaskDelete"]["Target"]
    assert execute["BrokerTaskCreate"]["Condition"] == f"{BROKER_PROPERTY} AND NOT REMOVE"
    assert execute["BrokerTaskDelete"]["Condition"] == 'REMOVE="ALL"'
    seq = {name: int(row["Sequence"]) for name, row in execute.items()}
    assert seq["InstallFiles"] < seq["BrokerTaskCreate"] < seq["BrokerTaskRun"]
    assert seq["BrokerTaskRun"] < seq["InstallFinalize"]
    assert seq["InstallInitialize"] < seq["BrokerTaskDelete"] < seq["RemoveFiles"]


def test_the_installer_starts_nothing_and_removes_the_old_version_first(msi: Path) -> None:
    # Only the enrollment broker's task runs a program, and only with BROKER_ENROLL_TOKEN
    # (or to delete it at uninstall): the tray agent is never started by the installer.
    conditions = {r["Action"]: r["Condition"] for r in msi_table(msi, "InstallExecuteSequence")}
    actions = [a for a in msi_table(msi, "CustomAction") if not a["Action"].startswith("Broker")]
    assert actions and all(int(a["Type"]) & MSIDBCA_TYPE_MASK == SET_PROPERTY for a in actions), (
        actions
    )
    assert conditions["BrokerTaskRun"].startswith(BROKER_PROPERTY)
    seq = sequence(msi, "InstallExecuteSequence")
    assert seq["InstallInitialize"] < seq["RemoveExistingProducts"] < seq["ProcessComponents"]


def test_the_start_menu_shortcut_runs_the_tray_and_carries_the_app_user_model_id(
    msi: Path,
) -> None:
    (shortcut,) = msi_table(msi, "Shortcut")
    files = {row["File"]: row for row in msi_table(msi, "File")}
    target = shortcut["Target"]
    assert target.startswith("[#") and files[target[2:-1]]["FileName"] == "waymark.exe"
    assert (shortcut["Directory_"], shortcut["Arguments"]) == ("ProgramMenuFolder", "run")
    assert "MsiShortcutProperty" in msi_tables(msi)
    (prop,) = msi_table(msi, "MsiShortcutProperty")
    assert prop["Shortcut_"] == shortcut["Shortcut"]
    assert prop["PropertyKey"] == "{9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}, 5"
    assert prop["PropVariantValue"] == APP_USER_MODEL_ID


def test_uninstall_cleans_every_installed_folder(msi: Path, onedir: Path) -> None:
    folders = {row["Directory"] for row in msi_table(msi, "Directory")}
    installed = folders - {"TARGETDIR", "ProgramFiles64Folder", "ProgramMenuFolder"}
    rows = msi_table(msi, "RemoveFile")
    assert all(r["InstallMode"] == "2" for r in rows)
    assert {r["DirProperty"] for r in rows if r["FileName"] == "*"} == installed
    assert {r["DirProperty"] for r in rows if r["FileName"] == ""} == installed
    assert len(installed) == 1 + sum(1 for p in onedir.rglob("*") if p.is_dir())


def test_component_guids_stay_the_same_from_version_to_version(
    onedir: Path, msi: Path, tmp_path: Path
) -> None:
    later = build_msi(onedir, tmp_path / "later.msi", "0.2.0")

    def guids(m: Path) -> dict[str, str]:
        return {row["Component"]: row["ComponentId"] for row in msi_table(m, "Component")}

    assert guids(later) == guids(msi)
    codes = [{r["Property"]: r["Value"] for r in msi_table(m, "Property")} for m in (msi, later)]
    assert codes[0]["UpgradeCode"] == codes[1]["UpgradeCode"]
    assert codes[0]["ProductCode"] != codes[1]["ProductCode"]


def test_a_version_windows_installer_cannot_order_is_refused(onedir: Path) -> None:
    with pytest.raises(ValueError, match=r"major\.minor\.build"):
        wxs(onedir, "1.0.0rc1", onedir / "x.ico")


def test_the_signed_msi_and_its_exe_files_verify_and_tampering_is_detected(
    onedir: Path, tmp_path: Path
) -> None:
    identity, ca = throwaway_identity(tmp_path / "cert")
    signed = build_msi(onedir, tmp_path / "signed.msi", "0.1.0", identity=identity)
    checked = verify(signed, ca)
    assert checked.returncode == 0 and "Signature verification: ok" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    assert "Current MsiDigitalSignatureEx" in checked.stdout  # the metadata is signed too
    assert verify(onedir / "waymark.exe", ca).returncode != 0  # the input stays unsigned
    extract = shutil.which("msiextract")
    assert extract, "msiextract is missing: apt-get install msitools"
    out = tmp_path / "extracted"
    done = subprocess.run([extract, "-C", str(out), str(signed)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for exe in ("waymark.exe", "waymark-cli.exe"):
        (found,) = out.rglob(exe)
        assert verify(found, ca).returncode == 0, exe
    # Someone edits a table after signing: the signature no longer matches.
    tampered = tmp_path / "tampered.msi"
    shutil.copyfile(signed, tampered)
    edit = (
        "UPDATE `Property` SET `Value` = 'https://evil.example' "
        "WHERE `Property` = 'ARPURLINFOABOUT'"
    )
    done = subprocess.run(["msibuild", str(tampered), "-q", edit], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert verify(tampered, ca).returncode != 0


def test_every_public_property_is_in_the_admin_guide() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "admin-guide.md").read_text()
    for option in installer_options():
        assert f"| `{option.installer_property}` | `{option.key}` |" in guide
    assert "Input Monitoring" in guide and "doctor --json" in guide
