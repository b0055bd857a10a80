"""The published JSON Schema agrees with the loader and the committed file is up to date."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agent.rules._spec import Record
from agent.rules.loader import PackError, load_pack, load_pack_text
from agent.rules.schema import PACK, build_schema


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2's booleans (true/false only), as editors with a JSON Schema read packs.

    PyYAML follows YAML 1.1, where the key ``on:`` (element triggers) is True;
    the pack loader reads YAML the 1.2 way, and so does this test.
    """


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "pack.schema.json"
FORMAT_DOC = ROOT / "docs" / "pack-format.md"
EXAMPLE_PACKS = sorted(
    p for p in (ROOT / "assets" / "packs").rglob("*") if p.suffix in (".yaml", ".yml", ".json")
)


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == build_schema(), (
        "docs/pack.schema.json is stale: run python -m agent.rules.schema > docs/pack.schema.json"
    )


def test_schema_module_prints_the_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agent.rules.schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert out.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(build_schema())


def test_there_are_example_packs() -> None:
    assert ROOT / "assets" / "packs" / "default" / "pack.yaml" in EXAMPLE_PACKS


@pytest.mark.parametrize("path", EXAMPLE_PACKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_pack_validates_against_schema_and_loads(path: Path) -> None:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)
    errors = [e.message for e in validator().iter_errors(data)]
    assert errors == []
    assert load_pack(path).rules


BAD = [
    ("unknown key", {"priorty": 1}),
    ("bad chord", {"when": {"event": "chord", "chord": "shift+ctrl+v"}}),
    ("chord on focus", {"when": {"event": "focus", "chord": "ctrl+v"}}),
    (
        "http link",
        {
            "toast": {
                "title": {"en": "x"},
                "actions": [{"id": "a", "label": {"en": "A"}, "open": "http://x.example"}],
            }
        },
    ),
    ("rollout over 100", {"audience": {"rollout": 101}}),
    ("bad hours", {"only": {"hours": "9-18"}}),
    ("bad day", {"only": {"days": ["funday"]}}),
    ("bad duration", {"count": {"at_least": 2, "within": "10 minutes"}}),
    ("at_least 0", {"count": {"at_least": 0, "within": "1m"}}),
    ("bad locale", {"toast": {"title": {"en_US": "x"}}}),
]


def _pack_with(rule_changes: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": "r", "when": {"event": "start"}, "toast": {"title": {"en": "x"}}}
    rule.update(rule_changes)
    return {"waymark": 1, "id": "p", "version": 1, "title": "t", "rules": [rule]}


def test_a_minimal_pack_is_valid_for_both() -> None:
    data = _pack_with({})
    assert list(validator().iter_errors(data)) == []
    load_pack_text(json.dumps(data))


@pytest.mark.parametrize(("what", "change"), BAD, ids=[b[0] for b in BAD])
def test_schema_and_loader_reject_the_same_mistakes(what: str, change: dict[str, Any]) -> None:
    data = _pack_with(change)
    assert list(validator().iter_errors(data)), f"schema accepts: {what}"
    with pytest.raises(PackError, match=r"p\.json:"):
        load_pack_text(json.dumps(data, indent=2), "p.json")


def _fields(record: Record, prefix: str = "") -> list[str]:
    names: list[str] = []
    for key, field in record.fields.items():
        names.append(key)
        spec: Any = field.spec
        inner = getattr(spec, "item", None) or getattr(spec, "value", None) or spec
        if isinstance(inner, Record):
            names.extend(_fields(inner))
    return names


def test_every_declared_field_is_documented() -> None:
    doc = FORMAT_DOC.read_text(encoding="utf-8")
    missing = sorted({name for name in _fields(PACK) if f"`{name}`" not in doc})
    assert missing == []
