"""`waymark pack validate`: exit codes, FILE:LINE:COL lines and the summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PACK = ROOT / "assets" / "packs" / "default" / "pack.yaml"

BAD = """\
waymark: 1
id: bad
version: 1
title: Bad
rules:
  - id: r
    when: {event: chord, chord: shift+ctrl+v, app: outlook}
    toast: {title: {en: Hi}, actions: [{id: a, label: {en: A}, open: "http://x.example"}]}
"""


def test_valid_pack_prints_a_summary_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack", "validate", str(DEFAULT_PACK)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1
    assert "waymark-default v3:" in out and "22 rules" in out and "locales en, it" in out


def test_invalid_pack_prints_file_line_col_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["pack", "validate", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert (
        lines[0] == f"{bad}:7:33: rules[1].when.chord: 'shift+ctrl+v' is not in normalised "
        "form; write 'ctrl+shift+v'"
    )
    assert lines[1].startswith(f"{bad}:7:52: rules[1].when.app: unknown app 'outlook'")
    assert lines[2].startswith(f"{bad}:8:70: rules[1].toast.actions[1].open:")
    assert lines[3] == f"{bad}: 3 problems"


def test_several_packs_exit_2_if_any_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["pack", "validate", str(DEFAULT_PACK), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "waymark-default" in out and f"{bad}:7:33:" in err


def test_missing_file_is_reported_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["pack", "validate", str(missing)]) == 2
    assert f"{missing}:1:1: cannot read the pack" in capsys.readouterr().err


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["pack", "validate", "--json", str(DEFAULT_PACK), str(bad)]) == 2
    good, wrong = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert good["ok"] and good["id"] == "waymark-default" and good["rules"] == 22
    assert not wrong["ok"] and wrong["issues"][0]["line"] == 7 and wrong["issues"][0]["col"] == 33


def test_the_installed_command_runs_as_a_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "pack", "validate", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{bad}:7:33:" in proc.stderr


def test_validate_imports_nothing_heavy() -> None:
    code = (
        "import sys, agent.commands.pack_validate; "
        "print(any(m in sys.modules for m in ('yaml', 're2', 'PySide6', 'httpx')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


GAPS = """\
waymark: 1
id: gaps
version: 1
title: Gaps
rules:
  - id: one
    when: {event: start}
    toast:
      title: {en: Welcome, de: Willkommen}
      body: {en: Hello}
  - id: two
    when: {event: lock}
    toast:
      title: {en: Locked, fr: Verrouillé}
      actions: [{id: a, label: {en: Why, de: Warum, fr: Pourquoi}}]
"""


def test_a_text_lacking_a_language_the_pack_has_is_a_warning_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "gaps.yaml"
    pack.write_text(GAPS, encoding="utf-8")
    assert main(["pack", "validate", str(pack)]) == 0  # warnings do not fail the check
    out, err = capsys.readouterr()
    assert out.startswith(f"{pack}: ok: gaps v1")
    assert err.splitlines() == [
        f"{pack}:9:14: warning: rules[1].toast.title has no text for fr (the pack has fr "
        "elsewhere); people reading fr see it in en",
        f"{pack}:10:13: warning: rules[1].toast.body has no text for de, fr (the pack has "
        "de, fr elsewhere); people reading de, fr see it in en",
        f"{pack}:14:14: warning: rules[2].toast.title has no text for de (the pack has de "
        "elsewhere); people reading de see it in en",
    ]
    assert main(["pack", "validate", "--json", str(pack)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and [(w["line"], w["col"]) for w in report["warnings"]] == [
        (9, 14), (10, 13), (14, 14)
    ]  # fmt: skip
