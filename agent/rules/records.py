"""Telemetry records, and the one table of their fields on the wire.

A :class:`Record` never holds a window title, typed text, a position or a file
name; it names the rule, habit, pack, what happened and why.

Each field is declared once, here: its Python type and whether it may be
missing come from the annotation (``str | None``), its check, text limit and
meaning from the ``wire(...)`` metadata.  :data:`WIRE_FIELDS` is read from
these declarations, and everything else is derived from it: the outbox's
columns and wire encoding (agent.sync.outbox), the server's ingest checks
(server.ingest), its SQL columns (server.schema) and the OpenAPI schema of
an event (:func:`event_json_schema`).  Adding a field is one edit here plus a
server migration.
"""

from __future__ import annotations

import re
import types
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal, Union, get_args, get_origin, get_type_hints

__all__ = [
    "RECORD_FIELDS",
    "RECORD_KINDS",
    "UUID_FIELD",
    "WIRE_FIELDS",
    "ClientUuid",
    "Count",
    "FieldKind",
    "Moment",
    "OneOf",
    "Record",
    "RecordKind",
    "Rejected",
    "Text",
    "WireField",
    "WireRecord",
    "event_json_schema",
    "wire",
]

RecordKind = Literal[
    "shown", "suppressed", "adopted", "acted", "snoozed", "dismissed", "never"
]  # fmt: skip
RECORD_KINDS: Final[tuple[str, ...]] = get_args(RecordKind)

#: No text field may hold more: a record names things, it never carries content.
MAX_TEXT: Final = 128
#: Parts of names no field may have (privacy invariants 1 and 2): what such a
#: field would carry must never leave a hook thread.
FORBIDDEN_NAME_PARTS: Final = (
    "title", "text", "typed", "clipboard", "position", "coord", "filename", "file_name", "path",
    "url",
)  # fmt: skip

# The form agents send (``str(uuid4())``): taken as is, without building a UUID object.
_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Before 2000 or this far ahead: a broken clock, not a real event.
_EARLIEST: Final = 946684800.0
_LATEST: Final = 1e11
_WIRE_KEY: Final = "waymark.wire"


class Rejected(Exception):
    """A value failed its field's check; ``why`` is the rejection if not the field's name."""

    def __init__(self, why: str | None = None) -> None:
        super().__init__(why)
        self.why = why


class FieldKind:
    """How a field's values are checked on ingest and described in the OpenAPI schema."""

    __slots__ = ()
    #: The Python type of a checked value (the annotation must agree).
    python_type: ClassVar[type]
    #: Longest text (the SQL column's width); None for numbers.
    max_length: int | None = None

    def check(self, value: object, now: float) -> object:
        """The checked value, or :class:`Rejected`; ``now`` is the receiver's clock."""
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of a value on the wire."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Text(FieldKind):
    """1 to ``max_length`` printable characters."""

    python_type: ClassVar[type] = str
    max_length: int

    def check(self, value: object, now: float) -> object:
        # Printable only: no NUL (PostgreSQL refuses it) and no control characters.
        if isinstance(value, str) and 0 < len(value) <= self.max_length and value.isprintable():
            return value
        raise Rejected

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": self.max_length}


@dataclass(frozen=True, slots=True)
class OneOf(FieldKind):
    """One of ``options``; ``max_length`` is the width kept for options to come."""

    python_type: ClassVar[type] = str
    options: tuple[str, ...]
    max_length: int

    def __post_init__(self) -> None:
        too_long = [o for o in self.options if len(o) > self.max_length]
        if too_long:
            raise ValueError(f"options longer than {self.max_length}: {too_long}")

    def check(self, value: object, now: float) -> object:
        # A tuple, not a set: an unhashable value (a list) is simply not an option.
        if isinstance(value, str) and value in self.options:
            return value
        raise Rejected

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(self.options)}


@dataclass(frozen=True, slots=True)
class Count(FieldKind):
    """A whole number from ``minimum`` up to, not including, ``below``."""

    python_type: ClassVar[type] = int
    minimum: int = 0
    below: int = 2**31

    def check(self, value: object, now: float) -> object:
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.minimum <= value < self.below
        ):
            return value
        raise Rejected

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "exclusiveMaximum": self.below}


@dataclass(frozen=True, slots=True)
class Moment(FieldKind):
    """POSIX seconds or ISO 8601 (no offset: UTC), from 2000, ≤ ``max_ahead`` s in the future.

    A moment after that is ``rejected:future``: clocks drift, but not by a day.
    """

    python_type: ClassVar[type] = float
    max_ahead: float = 24 * 3600.0

    def check(self, value: object, now: float) -> object:
        if isinstance(value, bool):
            raise Rejected
        try:
            if isinstance(value, int | float):
                t = float(value)
            elif isinstance(value, str):
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                t = moment.timestamp()
            else:
                raise Rejected
        except (ValueError, OverflowError):  # not a date, or out of range (10**400, year 1)
            raise Rejected from None
        if not _EARLIEST <= t < _LATEST:  # also refuses NaN
            raise Rejected
        if t > now + self.max_ahead:
            raise Rejected("future")
        return t

    def json_schema(self) -> dict[str, Any]:
        return {"oneOf": [{"type": "number"}, {"type": "string"}]}


@dataclass(frozen=True, slots=True)
class ClientUuid(FieldKind):
    """A UUID in any spelling, kept canonical (36 characters)."""

    python_type: ClassVar[type] = str
    max_length: int = 36

    def check(self, value: object, now: float) -> object:
        if not isinstance(value, str) or len(value) > 64:
            raise Rejected
        if _CANONICAL_UUID.fullmatch(value):
            return value
        try:
            return str(uuidlib.UUID(value))
        except ValueError:
            raise Rejected from None

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "uuid"}


@dataclass(frozen=True, slots=True)
class _Wire:
    kind: FieldKind
    meaning: str


def wire(kind: FieldKind, meaning: str) -> Mapping[str, object]:
    """The ``field(metadata=...)`` that declares a record field's check and meaning."""
    return {_WIRE_KEY: _Wire(kind, meaning)}


@dataclass(frozen=True, slots=True)
class Record:
    """One telemetry fact. Never holds a title, typed text or a position."""

    t: float = field(metadata=wire(Moment(), "when it happened; no offset means UTC"))
    kind: RecordKind = field(metadata=wire(OneOf(RECORD_KINDS, 16), "what happened"))
    pack_id: str = field(metadata=wire(Text(128), "the pack that decided"))
    pack_version: int = field(metadata=wire(Count(), "the version of that pack"))
    rule: str | None = field(
        default=None, metadata=wire(Text(128), "rule id (absent on habit-level `adopted`)")
    )
    habit: str | None = field(default=None, metadata=wire(Text(128), "the habit the rule coaches"))
    reason: str | None = field(
        default=None, metadata=wire(Text(64), "for `suppressed`: the guard that held it back")
    )
    action: str | None = field(
        default=None,
        metadata=wire(Text(128), "for `acted`/`snoozed`: the button id, `snooze`, `got-it`"),
    )
    app: str | None = field(
        default=None,
        metadata=wire(Text(128), "logical app name, only when policy allows it"),
    )


@dataclass(frozen=True, slots=True)
class WireRecord(Record):
    """A record as it travels: with the client UUID that makes a resend harmless."""

    uuid: str = field(
        kw_only=True,
        metadata=wire(
            ClientUuid(), "made by the agent when it records the fact; the idempotency key"
        ),
    )

    def to_wire(self) -> dict[str, object]:
        """The JSON object sent to ``POST /v1/events`` (docs/api.md); no field is null."""
        out: dict[str, object] = {}
        for name in _WIRE_NAMES:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class WireField:
    """One field of a record as the wire, the outbox and the server's table know it."""

    name: str
    #: str, int or float.
    python_type: type
    #: Required on the wire and NOT NULL in storage (the annotation has no ``| None``).
    required: bool
    kind: FieldKind
    meaning: str


def _python_type(hint: object, where: str) -> tuple[type, bool]:
    """The base type of an annotation and whether it allows None."""
    nullable = False
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        nullable = len(args) < len(get_args(hint))
        if len(args) != 1:
            raise TypeError(f"{where}: a record field has one type, optionally | None")
        hint = args[0]
    if get_origin(hint) is Literal:
        hint = type(get_args(hint)[0])
    if hint not in (str, int, float):
        raise TypeError(f"{where}: a record field is str, int, float or a Literal of them")
    assert isinstance(hint, type)
    return hint, nullable


def _declared(f: Field[Any], hint: object, where: str) -> WireField:
    spec = f.metadata.get(_WIRE_KEY)
    if not isinstance(spec, _Wire):
        raise TypeError(f"{where}: declare it with field(metadata=wire(kind, meaning))")
    python_type, nullable = _python_type(hint, where)
    if python_type is not spec.kind.python_type:
        raise TypeError(f"{where}: {type(spec.kind).__name__} checks {spec.kind.python_type}")
    lowered = f.name.lower()
    for part in FORBIDDEN_NAME_PARTS:
        if part in lowered:
            raise TypeError(
                f"{where}: telemetry never carries a {part} (docs/privacy.md); "
                "name what happened, not what was on the screen"
            )
    if python_type is str and (spec.kind.max_length or MAX_TEXT + 1) > MAX_TEXT:
        raise TypeError(f"{where}: text fields hold at most {MAX_TEXT} characters")
    return WireField(f.name, python_type, not nullable, spec.kind, spec.meaning)


def _table(cls: type) -> dict[str, WireField]:
    hints = get_type_hints(cls)
    return {f.name: _declared(f, hints[f.name], f"{cls.__name__}.{f.name}") for f in fields(cls)}


#: The record's own fields, in the order of Record's positional arguments.
RECORD_FIELDS: Final[tuple[WireField, ...]] = tuple(_table(Record).values())
#: The client UUID, which the outbox adds when it stores a record.
UUID_FIELD: Final[WireField] = _table(WireRecord)["uuid"]
#: Every field on the wire: the client UUID first, then the record's fields.
WIRE_FIELDS: Final[tuple[WireField, ...]] = (UUID_FIELD, *RECORD_FIELDS)
_WIRE_NAMES: Final = tuple(f.name for f in WIRE_FIELDS)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of one event in a ``POST /v1/events`` batch."""
    return {
        "type": "object",
        "required": [f.name for f in WIRE_FIELDS if f.required],
        "properties": {
            f.name: {**f.kind.json_schema(), "description": f.meaning} for f in WIRE_FIELDS
        },
        "additionalProperties": False,
    }
