"""The wire table: a telemetry field is declared once, and a new one needs only a migration.

The test copies agent/, server/ and devtools/ into a scratch folder, adds one
field to :class:`agent.rules.records.Record` there, and runs the copy in a
child process: the outbox, the ingest checks, the OpenAPI schema and the
SQLAlchemy table all know the field, and Alembic finds exactly one column
missing from the migrated database.  With that one migration added, a record
carrying the field goes from the agent's outbox through the real client and
the real server into its column.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agent.rules.records import Record
from agent.sync.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "agent" / "rules" / "records.py"
#: Where a new field goes: after the last field of Record, before WireRecord.
ANCHOR = "\n\n\n@dataclass(frozen=True, slots=True)\nclass WireRecord(Record):"
NEW_FIELD = """
    surface: str | None = field(
        default=None, metadata=wire(Text(32), "where the tip was shown: toast or tray")
    )"""

MIGRATION = '''\
"""Events say where a tip was shown.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("surface", sa.String(32)))


def downgrade() -> None:
    op.drop_column("events", "surface")
'''

# Run inside the copy: every derived declaration, and Alembic's view of what is missing.
DERIVED = """
import json, sqlite3, sys, tempfile, time, uuid
from pathlib import Path

import agent.rules.records, server.schema
for module in (agent.rules.records, server.schema):  # the copy, not the installed tree
    assert Path(module.__file__).resolve().is_relative_to(Path.cwd().resolve()), module
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from agent.rules.records import Record
from agent.sync.outbox import Outbox
from server.app import create_app
from server.cli import open_store
from server.ingest import ALLOWED_FIELDS, check_event
from server.schema import events, metadata

out = {}
box = Outbox(sys.argv[1])  # a file written by the code before the field existed
box.append(Record(t=1.79e9, kind="shown", pack_id="p", pack_version=1, surface="tray"))
with sqlite3.connect(sys.argv[1]) as db:
    out["outbox_columns"] = [row[1] for row in db.execute("PRAGMA table_info(outbox)")]
out["outbox_wire"] = [row.to_wire() for row in box.take(10)]
box.close()

out["allowed"] = sorted(ALLOWED_FIELDS)
event = {"uuid": str(uuid.uuid4()), "t": time.time() - 60, "kind": "shown",
         "pack_id": "p", "pack_version": 1}
out["checked"] = check_event({**event, "surface": "tray"}, time.time())[1].surface
out["too_long"] = check_event({**event, "surface": "x" * 33}, time.time())[1]

store = open_store(f"sqlite:///{Path(tempfile.mkdtemp()) / 'server.db'}")
spec = create_app(store).openapi()
body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
out["openapi"] = body["schema"]["properties"]["events"]["items"]["properties"]["surface"]
out["sql"] = [str(events.c.surface.type), events.c.surface.nullable]
with store.engine.connect() as conn:
    diff = compare_metadata(MigrationContext.configure(conn), metadata)
out["diff"] = [[d[0], d[2], d[3].name] for d in diff]
print(json.dumps(out))
"""

# Run inside the copy once the migration is there: agent → client → server → column.
END_TO_END = """
import json, sys, tempfile
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from agent.rules.records import Record
from agent.sync.client import ServerClient
from agent.sync.outbox import Outbox
from devtools.live_server import running_server
from server.cli import open_store
from server.schema import events, metadata

store = open_store(f"sqlite:///{Path(tempfile.mkdtemp()) / 'server.db'}")
with store.engine.connect() as conn:
    diff = compare_metadata(MigrationContext.configure(conn), metadata)
tenant = store.create_tenant("acme")
token = store.add_enroll_token(tenant)
box = Outbox(Path(tempfile.mkdtemp()) / "outbox.db")
box.append(Record(t=1.79e9, kind="shown", pack_id="p", pack_version=1, surface="tray"))
with running_server(store) as live:
    client = ServerClient(live.url)
    secret = client.enroll(token, "linux", "0.1.0", []).secret
    result = client.upload(secret, box.take())
    client.close()
with store.engine.connect() as conn:
    stored = conn.execute(select(events.c.surface)).scalars().all()
print(json.dumps({"diff": [str(d) for d in diff], "accepted": len(result.accepted),
                  "stored": stored}))
"""


def run_in(copy: Path, script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.fixture
def copy_with_a_new_field(tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    for package in ("agent", "server", "devtools"):
        shutil.copytree(
            ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    records = copy / "agent" / "rules" / "records.py"
    source = records.read_text()
    assert source.count(ANCHOR) == 1
    # The one edit: a field in the wire table.
    records.write_text(source.replace(ANCHOR, NEW_FIELD + ANCHOR))
    return copy


def test_a_new_field_needs_one_declaration_and_one_migration(
    copy_with_a_new_field: Path, tmp_path: Path
) -> None:
    copy = copy_with_a_new_field
    old_outbox = tmp_path / "outbox.db"
    Outbox(old_outbox).close()  # written by today's code, without the field

    derived = run_in(copy, DERIVED, str(old_outbox))
    assert derived["outbox_columns"][-1] == "surface"
    assert derived["outbox_wire"][0]["surface"] == "tray"
    assert "surface" in derived["allowed"]
    assert derived["checked"] == "tray"
    assert derived["too_long"] == "rejected:surface"
    assert derived["openapi"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 32,
        "description": "where the tip was shown: toast or tray",
    }
    assert derived["sql"] == ["VARCHAR(32)", True]
    # What is left to do is exactly one migration: add that column.
    assert derived["diff"] == [["add_column", "events", "surface"]]

    (copy / "server" / "migrations" / "versions" / "0002_surface.py").write_text(MIGRATION)
    after = run_in(copy, END_TO_END)
    assert after == {"diff": [], "accepted": 1, "stored": ["tray"]}
    # Today's code still reads the outbox the copy widened.
    with closing(sqlite3.connect(old_outbox)) as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    box = Outbox(old_outbox)
    assert [r.kind for r in box.take()] == ["shown"]
    box.close()


@contextmanager
def records_with(new_field: str, tmp_path: Path) -> Iterator[ModuleType]:
    """agent/rules/records.py with ``new_field`` added to Record, loaded as its own module."""
    path = tmp_path / "records_variant.py"
    path.write_text(RECORDS.read_text().replace(ANCHOR, new_field + ANCHOR))
    name = f"records_variant_{abs(hash(new_field))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve the string annotations through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("new_field", "refusal"),
    [
        ("\n    window_title: str | None = field(default=None, metadata=wire(Text(64), 'x'))",
         "never carries a title"),
        ("\n    typed_text: str | None = field(default=None, metadata=wire(Text(64), 'x'))",
         "never carries a text"),
        ("\n    file_name: str | None = field(default=None, metadata=wire(Text(64), 'x'))",
         "never carries a file_name"),
        ("\n    click_position: int | None = field(default=None, metadata=wire(Count(), 'x'))",
         "never carries a position"),
        ("\n    note: str | None = field(default=None, metadata=wire(Text(4000), 'x'))",
         "at most 128 characters"),
        ("\n    count: int | None = field(default=None, metadata=wire(Text(8), 'x'))",
         "Text checks <class 'str'>"),
        ("\n    bare: str | None = None", "declare it with field(metadata=wire"),
    ],
)  # fmt: skip
def test_the_table_refuses_fields_that_could_carry_content(
    new_field: str, refusal: str, tmp_path: Path
) -> None:
    with (
        pytest.raises(TypeError, match=refusal.replace("(", r"\(")),
        records_with(new_field, tmp_path),
    ):
        pass


def test_a_harmless_field_loads_and_joins_the_table(tmp_path: Path) -> None:
    with records_with(NEW_FIELD, tmp_path) as module:
        assert [f.name for f in module.WIRE_FIELDS][-1] == "surface"
        assert module.Record(t=1.0, kind="shown", pack_id="p", pack_version=1).surface is None


def test_todays_records_are_what_the_contract_names() -> None:
    from agent.rules.records import RECORD_KINDS, WIRE_FIELDS, event_json_schema

    assert [(f.name, f.python_type, f.required) for f in WIRE_FIELDS] == [
        ("uuid", str, True),
        ("t", float, True),
        ("kind", str, True),
        ("pack_id", str, True),
        ("pack_version", int, True),
        ("rule", str, False),
        ("habit", str, False),
        ("reason", str, False),
        ("action", str, False),
        ("app", str, False),
    ]
    schema = event_json_schema()
    assert schema["required"] == ["uuid", "t", "kind", "pack_id", "pack_version"]
    assert schema["properties"]["kind"]["enum"] == sorted(RECORD_KINDS)
    assert schema["additionalProperties"] is False
    assert Record(1.0, "shown", "p", 1).rule is None
