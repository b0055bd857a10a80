"""Settings precedence, validation and managed policy decoding."""

from __future__ import annotations

import json
import plistlib
from pathlib import Path

import pytest

from agent.config import policy as policy_mod
from agent.config.option_types import REG_DWORD, REG_MULTI_SZ, REG_SZ
from agent.config.options import OPTIONS, OPTIONS_BY_KEY, admin_guide_markdown, coerce
from agent.config.policy import (
    Policy,
    decode_policy,
    decode_registry_values,
    read_policy,
)
from agent.config.settings import ManagedSettingError, SettingsStore

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_come_from_the_declared_options(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path)
    for option in OPTIONS:
        assert store.get(option.key) == option.default


def test_personal_setting_is_saved_and_reloaded(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path)
    store.set("toast_position", "top-left")
    store.set("never_interrupt", ["zoom.us", "POWERPNT.EXE"])
    again = SettingsStore.open(tmp_path)
    assert again.get("toast_position") == "top-left"
    assert again.get("never_interrupt") == ["zoom.us", "POWERPNT.EXE"]


def test_policy_wins_over_the_person_and_refuses_changes(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"language": "en"}))
    pol = Policy(values={"language": "it", "organisation": "Example Corp"}, source="test")
    store = SettingsStore.open(tmp_path, pol)
    assert store.get("language") == "it"
    assert store.is_managed("language")
    assert store.organisation == "Example Corp"
    with pytest.raises(ManagedSettingError, match="managed by Example Corp"):
        store.set("language", "en")


def test_policy_only_keys_cannot_be_set_by_the_person(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path)
    with pytest.raises(ManagedSettingError, match="not a personal setting"):
        store.set("telemetry_mode", "org-notice")


def test_invalid_value_is_refused_with_the_option_name(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path)
    with pytest.raises(ValueError, match="quiet_hours: expected HH:MM-HH:MM"):
        store.set("quiet_hours", "lunch")
    with pytest.raises(ValueError, match="toast_position: expected one of"):
        store.set("toast_position", "middle")


def test_subscribers_hear_the_changed_key(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path)
    heard: list[str] = []
    store.subscribe(heard.append)
    store.set("language", "it")
    store.set_internal("paused_until", 1234.0)
    assert heard == ["language", "paused_until"]


def test_telemetry_waits_for_consent_unless_org_notice(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path)
    assert not store.telemetry_enabled
    store.set("consent", "declined")
    assert not store.telemetry_enabled
    store.set("consent", "granted")
    assert store.telemetry_enabled
    notice = SettingsStore(None, Policy(values={"telemetry_mode": "org-notice"}))
    assert notice.telemetry_enabled


@pytest.mark.allow_log("settings.json is corrupt \\(not JSON")
def test_broken_settings_file_is_kept_aside_and_defaults_used(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{not json")
    store = SettingsStore.open(tmp_path)
    assert store.get("language") == "system"
    (aside,) = tmp_path.glob("settings.json.corrupt-*")
    assert aside.read_text() == "{not json"


def test_registry_values_decode_by_type() -> None:
    raw = decode_registry_values(
        [
            ("allow_quit", 0, REG_DWORD),
            ("groups", ["sales", "", "it"], REG_MULTI_SZ),
            ("server_url", "https://waymark.example.com", REG_SZ),
            ("retention_days", 14, REG_DWORD),
        ]
    )
    assert raw == {
        "allow_quit": False,
        "groups": ["sales", "it"],
        "server_url": "https://waymark.example.com",
        "retention_days": 14,
    }


def test_bad_policy_values_become_warnings_and_others_still_apply() -> None:
    pol = decode_policy({"allow_quit": "maybe", "language": "it", "colour": "red"}, "policy.json")
    assert pol.values == {"language": "it"}
    assert any("allow_quit: expected true or false" in w for w in pol.warnings)
    assert any("unknown policy key 'colour'" in w for w in pol.warnings)


def test_policy_may_set_any_language_a_pack_may_have() -> None:
    pol = decode_policy({"language": "de_CH"}, "policy.json")
    assert pol.values == {"language": "de-CH"} and pol.ignored == ()


@pytest.mark.parametrize("value", ["granted", "unknown"])
def test_policy_cannot_give_the_persons_consent(value: str, tmp_path: Path) -> None:
    pol = decode_policy({"consent": value, "telemetry_mode": "opt-in"}, "policy.json")
    assert "consent" not in pol.values
    assert pol.ignored == (
        ("consent", f"{value} cannot be set by policy: consent is the person's to give: a "
         "policy may only set declined (use telemetry_mode: org-notice to collect "
         "statistics after informing employees)"),
    )  # fmt: skip
    assert any("consent" in w and "ignored" in w for w in pol.warnings)
    store = SettingsStore.open(tmp_path, pol)
    assert store.get("consent") == "unknown" and not store.is_managed("consent")
    assert not store.telemetry_enabled  # nothing is sent until the person says yes


def test_policy_templates_offer_only_the_consent_values_policy_may_set() -> None:
    option = OPTIONS_BY_KEY["consent"]
    offered = set(getattr(option.type, "policy_choices", ()))
    assert offered == set(option.type.choices) - set(option.policy_refuses) == {"declined"}
    assert "granted" not in option.type.admx_elements("consent")


def test_policy_may_turn_statistics_off_for_everyone(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path, decode_policy({"consent": "declined"}, "p"))
    assert store.get("consent") == "declined" and store.is_managed("consent")
    with pytest.raises(ManagedSettingError):
        store.set("consent", "granted")


def test_in_org_notice_mode_consent_is_the_organisations(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path, decode_policy({"telemetry_mode": "org-notice"}, "p"))
    assert store.is_managed("consent")
    locked = store.locked_by("consent")
    assert locked is not None and locked.key == "telemetry_mode"
    with pytest.raises(ManagedSettingError):
        store.set("consent", "declined")
    assert store.telemetry_enabled
    assert not SettingsStore.open(tmp_path / "other").is_managed("consent")


def test_linux_policy_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"organisation": "ACME", "telemetry_mode": "org-notice"}))
    monkeypatch.setenv("WAYMARK_POLICY_FILE", str(path))
    pol = read_policy("linux")
    assert pol.values["telemetry_mode"] == "org-notice"
    assert pol.organisation == "ACME"


@pytest.mark.allow_log("invalid JSON")
def test_invalid_policy_json_names_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{\n  "organisation": "ACME",\n  oops\n}')
    monkeypatch.setenv("WAYMARK_POLICY_FILE", str(path))
    pol = read_policy("linux")
    assert pol.values == {}
    assert any(w.startswith(f"{path}:3:3: invalid JSON") for w in pol.warnings)


def test_macos_managed_preferences_plist_decodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = plistlib.dumps({"allow_quit": False, "groups": ["finance"]})
    loaded = plistlib.loads(data)
    pol = decode_policy(loaded, "org.waymark.agent")
    assert pol.values == {"allow_quit": False, "groups": ["finance"]}
    assert policy_mod.MACOS_DOMAIN == "org.waymark.agent"


def test_coerce_accepts_comma_separated_lists() -> None:
    assert coerce(OPTIONS_BY_KEY["groups"], "sales, it;ops") == ["sales", "it", "ops"]


def test_admin_guide_is_generated_from_the_options() -> None:
    committed = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    assert committed == admin_guide_markdown(), (
        "docs/admin-guide.md is stale: run `python -m agent.config.options > docs/admin-guide.md`"
    )
    for option in OPTIONS:
        assert f"`{option.key}`" in committed


def test_policy_templates_are_generated_from_the_options() -> None:
    import xml.dom.minidom

    from agent.config.policy_templates import outputs

    for path, data in outputs(ROOT).items():
        assert path.read_bytes() == data, (
            f"{path.relative_to(ROOT)} is stale: run `python -m agent.config.policy_templates`"
        )
    admx = xml.dom.minidom.parse(str(ROOT / "installers/windows/policy/waymark.admx"))
    names = {p.getAttribute("name") for p in admx.getElementsByTagName("policy")}
    assert names == {o.key for o in OPTIONS if o.key not in ("paused_until", "notice_seen")}
    for locale in ("en-US", "it-IT"):
        adml = xml.dom.minidom.parse(str(ROOT / f"installers/windows/policy/{locale}/waymark.adml"))
        ids = {s.getAttribute("id") for s in adml.getElementsByTagName("string")}
        assert names <= ids
    profile = plistlib.loads(
        (ROOT / "installers/macos/org.waymark.agent.mobileconfig").read_bytes()
    )
    payload = profile["PayloadContent"][0]
    assert payload["PayloadType"] == "org.waymark.agent"
    assert (
        decode_policy(
            {k: v for k, v in payload.items() if not k.startswith("Payload")}, "profile"
        ).warnings
        == ()
    )


def test_windows_policy_layers_group_policy_over_the_installer_key() -> None:
    from agent.config.policy import WINDOWS_KEYS, merge_layers

    assert WINDOWS_KEYS[0][1] == r"SOFTWARE\Waymark\Agent"  # lowest first
    installer = {"server_url": "https://from-msi.example", "organisation": "Acme", "Version": "1"}
    gpo_user = {"organisation": "Acme Sales"}
    gpo_machine = {"server_url": "https://from-gpo.example"}
    merged, source = merge_layers(
        [
            (r"HKLM\SOFTWARE\Waymark\Agent", installer),
            (r"HKCU\SOFTWARE\Policies\Waymark\Agent", gpo_user),
            (r"HKLM\SOFTWARE\Policies\Waymark\Agent", gpo_machine),
        ]
    )
    assert merged == {"server_url": "https://from-gpo.example", "organisation": "Acme Sales"}
    assert source.startswith(r"HKLM\SOFTWARE\Waymark\Agent + ")
    assert merge_layers([("empty", {"Version": "2"})]) == ({}, "")


def test_a_new_policy_announces_exactly_the_keys_it_changes(tmp_path: Path) -> None:
    store = SettingsStore.open(tmp_path, Policy({"never_interrupt": ["zoom"]}))
    store.set("quiet_hours", "12:00-13:00")
    heard: list[str] = []
    store.subscribe(heard.append)
    changed = store.replace_policy(
        Policy({"never_interrupt": ["zoom"], "quiet_hours": "12:00-13:00"})
    )
    assert changed == ["quiet_hours"] == heard  # same value, but now managed
    assert store.is_managed("quiet_hours")
    assert store.replace_policy(Policy({})) == ["quiet_hours", "never_interrupt"]


def test_the_admin_guide_example_policy_works_as_written(tmp_path: Path) -> None:
    from agent.sync.packs import pinned_keys

    guide = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    block = guide.split("## Example: /etc/waymark/policy.json", 1)[1]
    example = json.loads(block.split("```json", 1)[1].split("```", 1)[0])
    policy = decode_policy(example, "admin-guide.md")
    assert policy.warnings == ()
    assert policy.values == example
    assert len(pinned_keys(policy.values["publisher_keys"])) == 1  # the openssl (SPKI) form
    shipped = json.loads((ROOT / "installers/linux/policy.example.json").read_text("utf-8"))
    assert decode_policy(shipped, "policy.example.json").warnings == ()
    assert len(pinned_keys(shipped["publisher_keys"])) == 1


@pytest.mark.allow_log("not UTF-8")
def test_a_policy_file_that_is_not_utf8_is_ignored_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "policy.json"
    path.write_bytes(b'{"organisation": "Caf\xe9"}')  # Latin-1, as an old editor saves it
    monkeypatch.setenv("WAYMARK_POLICY_FILE", str(path))
    policy = read_policy("linux")
    assert policy.values == {}
    assert "not UTF-8" in policy.unreadable
