"""The admin guide's deployment walk-through says what the agent really does.

docs/admin-guide.md is generated (agent/config/options.py plus
agent/config/admin_guide_deployment.md; test_config.py fails when it drifts).
Here: the folders it names are the ones the agent uses on each OS (from
platformdirs, as agent/config/paths.py computes them), the health check's exit
codes are doctor's, and the Linux wipe, run literally, removes the data, the
logs and the device secret from a real GNOME Keyring.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import platformdirs.macos
import platformdirs.unix
import platformdirs.windows
import pytest

from agent.commands.doctor import EXIT_FIX, EXIT_OK
from agent.sync.credentials import SERVICE
from tests.secret_service import python_in, secret_service

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = GUIDE.index(f"\n### {title}\n")
    end = GUIDE.find("\n### ", start + 1)
    return GUIDE[start : end if end > 0 else None]


def _code_after(text: str, label: str) -> str:
    match = re.search(rf"\n{re.escape(label)}\n\n```\w*\n(.*?)\n```", text, re.S)
    assert match, f"no code block after {label!r}"
    return match.group(1)


def test_the_guide_covers_install_policy_logs_health_upgrade_and_uninstall_per_os() -> None:
    for title in ("Windows with Intune", "Windows with Group Policy", "macOS with Jamf Pro",
                  "Linux (Debian and Ubuntu)", "Upgrades", "Logs", "Health check",
                  "Uninstalling, and what stays behind"):  # fmt: skip
        assert f"\n### {title}\n" in GUIDE, title
    assert "## Keys" in GUIDE and "## Where policy lives" in GUIDE
    linux = _section("Linux (Debian and Ubuntu)")
    assert "DEBIAN_FRONTEND=noninteractive apt-get install -y ./waymark_" in linux
    assert "/usr/lib/systemd/user/waymark.service" in linux
    logs = _section("Logs")
    assert "`waymark run --log-journal`" in logs and "journalctl --user -t waymark" in logs
    assert "ProviderName='Waymark'" in logs and "agent.log.5" in logs


def test_the_folders_the_guide_names_are_the_agents_on_each_os(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = os.path.expanduser("~")
    linux = platformdirs.unix.Unix("Waymark", "Waymark")
    macos = platformdirs.macos.MacOS("Waymark", "Waymark")
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", lambda csidl: "%LOCALAPPDATA%")
    windows = platformdirs.windows.Windows("Waymark", "Waymark")
    folders = {
        "Linux data": linux.user_data_dir.replace(home, "~"),
        "Linux logs": linux.user_log_dir.replace(home, "~"),
        "macOS data": macos.user_data_dir.replace(home, "~"),
        "macOS logs": macos.user_log_dir.replace(home, "~"),
        "Windows data": windows.user_data_dir.replace("/", "\\"),
        "Windows logs": windows.user_log_dir.replace("/", "\\"),
    }
    assert folders["Windows logs"] == r"%LOCALAPPDATA%\Waymark\Waymark\Logs"
    logs_table = _section("Logs")
    stays = _section("Uninstalling, and what stays behind")
    for what, folder in folders.items():
        if what.endswith("logs"):
            assert f"`{folder}/agent.log`" in logs_table or f"`{folder}\\agent.log`" in logs_table
        assert f"`{folder}`" in stays, (what, folder)
    wipe = {os_name: _code_after(stays, f"{os_name}:") for os_name in ("macOS", "Linux")}
    wipe["Windows"] = _code_after(stays, "Windows (PowerShell):")
    assert "~/.local/share/Waymark ~/.local/state/Waymark" in wipe["Linux"]
    assert r"~/Library/Application\ Support/Waymark ~/Library/Logs/Waymark" in wipe["macOS"]
    assert r'"$env:LOCALAPPDATA\Waymark"' in wipe["Windows"]  # holds data and logs
    for commands in wipe.values():
        assert SERVICE in commands  # the keyring entry's service name


def test_the_health_checks_exit_codes_are_doctors(tmp_path: Path) -> None:
    table = dict(re.findall(r"(?m)^\| ([0-9]) \| (.+?) \|$", _section("Health check")))
    assert set(table) == {str(EXIT_OK), str(EXIT_FIX), "2"}
    assert table[str(EXIT_FIX)].startswith("something an admin must fix")
    policy = tmp_path / "policy.json"
    policy.write_text('{"no_such_key": 1}')
    env = {**os.environ, "WAYMARK_POLICY_FILE": str(policy), "WAYMARK_DATA_DIR": str(tmp_path)}
    env.pop("DISPLAY", None)
    fix = subprocess.run([sys.executable, "-m", "agent", "doctor", "--json"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert fix.returncode == EXIT_FIX, fix.stderr
    assert any("no_such_key is ignored" in p for p in json.loads(fix.stdout)["problems"])
    wrong = subprocess.run([sys.executable, "-m", "agent", "doctor", "--no-such-option"],
                           env=env, capture_output=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert wrong.returncode == 2


def test_the_linux_wipe_removes_data_logs_and_every_keyring_entry(tmp_path: Path) -> None:
    with secret_service(tmp_path / "keyring") as env:
        home = Path(env["HOME"])
        env = {k: v for k, v in env.items() if not k.startswith("XDG_") or k == "XDG_RUNTIME_DIR"}
        env.pop("DISPLAY", None)
        env.pop("WAYMARK_DATA_DIR", None)
        env["WAYMARK_POLICY_FILE"] = str(tmp_path / "no-policy.json")
        script = tmp_path / "events.jsonl"
        script.write_text('{"t": 0.0, "kind": "focus", "app": "outlook.exe", "title": "Inbox"}\n')
        ran = subprocess.run([sys.executable, "-m", "agent", "run", "--headless", "--no-hooks",
                              "--script", str(script)], env=env, capture_output=True, text=True,
                             timeout=120, cwd=ROOT)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        data, logs = home / ".local/share/Waymark", home / ".local/state/Waymark/log"
        assert (data / "outbox.db").exists() and (logs / "agent.log").exists()
        # Two data folders of one account are two devices: two entries.
        accounts = ["https://a.example|t1|/d1", "https://a.example|t1|/d2"]
        stored = python_in(env, "import keyring\n" + "".join(
            f"keyring.set_password({SERVICE!r}, {a!r}, 'secret')\n" for a in accounts))  # fmt: skip
        assert stored.returncode == 0, stored.stderr
        reads = "import keyring\n" + "".join(
            f"print(keyring.get_password({SERVICE!r}, {a!r}))\n" for a in accounts)  # fmt: skip
        assert python_in(env, reads).stdout.split() == ["secret", "secret"]

        wipe = _code_after(_section("Uninstalling, and what stays behind"), "Linux:")
        done = subprocess.run(["sh", "-euc", wipe], env=env, capture_output=True, text=True,
                              timeout=60, cwd=home)  # fmt: skip
        assert done.returncode == 0, done.stderr

        assert not data.exists() and not (home / ".local/state/Waymark").exists()
        left = python_in(env, reads)
        assert left.stdout.split() == ["None", "None"], left.stderr
