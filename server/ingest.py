"""Decoding and checking an event batch: pure functions, no I/O.

Limits (docs/api.md): at most 1 MiB on the wire, 5 MiB once decompressed
(decompression stops at the cap, so a gzip bomb costs 5 MiB, not memory
exhaustion), 500 events.  Each event is checked on its own and answered with
``ok``, ``duplicate`` or ``rejected:<why>``; a batch that is refused as a
whole raises a :mod:`server.errors` error.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from agent.rules.records import RECORD_FIELDS, UUID_FIELD, WIRE_FIELDS, Rejected, WireRecord
from server.days import utc_day
from server.errors import Invalid, TooLarge, UnsupportedEncoding
from server.json_guard import loads_strict

__all__ = [
    "ALLOWED_FIELDS",
    "MAX_COMPRESSED",
    "MAX_DECOMPRESSED",
    "MAX_EVENTS",
    "CheckedEvent",
    "check_event",
    "decode_body",
    "parse_batch",
]

MAX_COMPRESSED: Final = 1024 * 1024
MAX_DECOMPRESSED: Final = 5 * 1024 * 1024
MAX_EVENTS: Final = 500
#: What an event may name: the wire table's fields and nothing else (a title, say).
ALLOWED_FIELDS: Final = frozenset(f.name for f in WIRE_FIELDS)


@dataclass(frozen=True, slots=True)
class CheckedEvent(WireRecord):
    """An event that passed every check, ready to store, with its local day (tenant time)."""

    day: str = field(kw_only=True)


def decode_body(raw: bytes, content_encoding: str | None) -> bytes:
    """The JSON bytes of a request body, gunzipped with a hard cap."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        if len(raw) > MAX_DECOMPRESSED:
            raise TooLarge(f"body is larger than {MAX_DECOMPRESSED} bytes")
        return raw
    if encoding != "gzip":
        raise UnsupportedEncoding(f"Content-Encoding {encoding} not supported")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, MAX_DECOMPRESSED + 1)
    except zlib.error as exc:
        raise Invalid(f"body is not valid gzip: {exc}", code="bad_gzip") from exc
    if len(out) > MAX_DECOMPRESSED:
        raise TooLarge(f"body decompresses to more than {MAX_DECOMPRESSED}")
    if not inflater.eof:
        raise Invalid("gzip body is truncated", code="bad_gzip")
    return out


def parse_batch(data: bytes) -> list[Any]:
    """The list under ``events``; malformed or oversized batches raise a domain error
    (JSON nested too deeply, NaN and Infinity included: :mod:`server.json_guard`)."""
    doc = loads_strict(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise Invalid('body must be an object {"events": [...]}', code="bad_shape")
    items: list[Any] = doc["events"]
    if len(items) > MAX_EVENTS:
        raise TooLarge(f"{len(items)} events; at most {MAX_EVENTS}", code="too_many_events")
    return items


def check_event(
    item: object,
    now: float,
    day_of: Callable[[float], str] = utc_day,
    oldest: float | None = None,
) -> tuple[str | None, CheckedEvent | str]:
    """``(uuid, event)`` for a good event, ``(uuid or None, "rejected:<why>")`` otherwise.

    The checks are the wire table's (agent.rules.records), in its order; the
    first that fails names the rejection.  An event from before ``oldest`` (the
    retention period) is ``rejected:too_old``: it would be deleted at once.
    ``day_of`` names the day it is filed under (the tenant's time zone).
    """
    if not isinstance(item, dict):
        return None, "rejected:not_an_object"
    try:
        uid = str(UUID_FIELD.kind.check(item.get("uuid"), now))
    except Rejected:
        return None, "rejected:uuid"
    extra = item.keys() - ALLOWED_FIELDS
    if extra:
        # Never store what the contract does not name (a title, say).
        return uid, f"rejected:unknown_field:{sorted(extra)[0][:32]}"
    values: dict[str, Any] = {}
    for f in RECORD_FIELDS:
        value = item.get(f.name)
        if value is None:
            if f.required:
                return uid, f"rejected:{f.name}"
            continue
        try:
            values[f.name] = f.kind.check(value, now)
        except Rejected as exc:
            return uid, f"rejected:{exc.why or f.name}"
    if oldest is not None and values["t"] < oldest:
        return uid, "rejected:too_old"
    return uid, CheckedEvent(**values, uuid=uid, day=day_of(values["t"]))
