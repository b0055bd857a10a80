"""Telemetry records: what the engine keeps about its decisions and what is sent.

A :class:`Record` never holds a window title, typed text, a position or a file
name; it names the rule, habit, pack, what happened and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = ["RECORD_KINDS", "Record", "RecordKind"]

RecordKind = Literal[
    "shown", "suppressed", "adopted", "acted", "snoozed", "dismissed", "never"
]  # fmt: skip
RECORD_KINDS: Final[tuple[str, ...]] = get_args(RecordKind)


@dataclass(frozen=True, slots=True)
class Record:
    """One telemetry fact. Never holds a title, typed text or a position.

    ``app`` is the logical app name and is only kept when policy allows it.
    """

    t: float
    kind: RecordKind
    pack_id: str
    pack_version: int
    rule: str | None = None
    habit: str | None = None
    reason: str | None = None
    action: str | None = None
    app: str | None = None
