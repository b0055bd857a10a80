"""Golden replays of the default pack.

Each ``tests/golden/NAME.jsonl`` is a recorded day of events; the engine's real
output (``waymark replay --json`` lines) must equal ``tests/golden/NAME.expected.jsonl``.

When the default pack or the engine changes on purpose, regenerate and review
the diff before committing:

    WAYMARK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_engine_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.commands.replay import replay
from agent.hooks.scripted import load_script
from agent.rules.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent.parent
GOLDEN = ROOT / "tests" / "golden"
DEFAULT_PACK = ROOT / "assets" / "packs" / "default" / "pack.yaml"
CASES = sorted(p for p in GOLDEN.glob("*.jsonl") if not p.name.endswith(".expected.jsonl"))
UPDATE = os.environ.get("WAYMARK_UPDATE_GOLDEN") == "1"


def _output(case: Path) -> str:
    pack = load_pack(DEFAULT_PACK)
    script = load_script(case, pack=pack)
    assert script.problems == [], "golden inputs must be well-formed"
    result = replay(pack, script)
    return "".join(json.dumps(d.as_json(t)) + "\n" for t, d in result.decisions)


def test_there_are_golden_days() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_default_pack_replay_matches_the_committed_decisions(case: Path) -> None:
    expected_file = case.with_name(f"{case.stem}.expected.jsonl")
    actual = _output(case)
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8")
    assert actual.splitlines() == expected.splitlines()
    assert actual, "a golden day should produce decisions"
