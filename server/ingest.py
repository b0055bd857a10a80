"""Decoding and checking an event batch: pure functions, no I/O.

Limits (docs/api.md): at most 1 MiB on the wire, 5 MiB once decompressed
(decompression stops at the cap, so a gzip bomb costs 5 MiB, not memory
exhaustion), 500 events.  Each event is checked on its own and answered with
``ok``, ``duplicate`` or ``rejected:<why>``; a batch that is refused as a
whole raises a :mod:`server.errors` error.
"""

from __future__ import annotations

import json
import re
import time
import uuid as uuidlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from server.errors import Invalid, TooLarge, UnsupportedEncoding

__all__ = [
    "ALLOWED_FIELDS",
    "KINDS",
    "MAX_COMPRESSED",
    "MAX_DECOMPRESSED",
    "MAX_EVENTS",
    "CheckedEvent",
    "check_event",
    "decode_body",
    "parse_batch",
    "utc_day",
]

MAX_COMPRESSED: Final = 1024 * 1024
MAX_DECOMPRESSED: Final = 5 * 1024 * 1024
MAX_EVENTS: Final = 500
MAX_FUTURE_SECONDS: Final = 24 * 3600
MAX_TEXT: Final = 128
KINDS: Final = frozenset(
    {"shown", "suppressed", "adopted", "acted", "snoozed", "dismissed", "never"}
)
ALLOWED_FIELDS: Final = frozenset(
    {"uuid", "t", "kind", "pack_id", "pack_version", "rule", "habit", "reason", "action", "app"}
)
_OPTIONAL_TEXT: Final = ("rule", "habit", "reason", "action", "app")
#: The form agents send (``str(uuid4())``): taken as is, without building a UUID object.
_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DAYS: dict[int, str] = {}


@dataclass(frozen=True, slots=True)
class CheckedEvent:
    """An event that passed every check, ready to store."""

    uuid: str
    t: float
    day: str
    kind: str
    pack_id: str
    pack_version: int
    rule: str | None
    habit: str | None
    reason: str | None
    action: str | None
    app: str | None


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
    """The list under ``events``; malformed or oversized batches raise a domain error."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"body is not JSON: {exc}", code="bad_json") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise Invalid('body must be an object {"events": [...]}', code="bad_shape")
    items: list[Any] = doc["events"]
    if len(items) > MAX_EVENTS:
        raise TooLarge(f"{len(items)} events; at most {MAX_EVENTS}", code="too_many_events")
    return items


def _time(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        t = float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        t = moment.timestamp()
    else:
        return None
    # Before 2000 or not finite: a broken clock, not a real event.
    return t if 946684800.0 <= t < 1e11 else None


def _text(value: object) -> bool:
    # Printable only: no NUL (PostgreSQL refuses it) and no control characters.
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.isprintable()


def utc_day(t: float) -> str:
    """``YYYY-MM-DD`` of a Unix time in UTC (memoised: a batch spans a day or two)."""
    number = int(t // 86400)
    day = _DAYS.get(number)
    if day is None:
        day = time.strftime("%Y-%m-%d", time.gmtime(number * 86400))
        if len(_DAYS) > 4096:
            _DAYS.clear()
        _DAYS[number] = day
    return day


def check_event(item: object, now: float) -> tuple[str | None, CheckedEvent | str]:
    """``(uuid, event)`` for a good event, ``(uuid or None, "rejected:<why>")`` otherwise."""
    if not isinstance(item, dict):
        return None, "rejected:not_an_object"
    raw_uuid = item.get("uuid")
    if not isinstance(raw_uuid, str) or len(raw_uuid) > 64:
        return None, "rejected:uuid"
    if _CANONICAL_UUID.fullmatch(raw_uuid):
        uid = raw_uuid
    else:
        try:
            uid = str(uuidlib.UUID(raw_uuid))
        except ValueError:
            return None, "rejected:uuid"
    extra = item.keys() - ALLOWED_FIELDS
    if extra:
        # Never store what the contract does not name (a title, say).
        return uid, f"rejected:unknown_field:{sorted(extra)[0][:32]}"
    t = _time(item.get("t"))
    if t is None:
        return uid, "rejected:t"
    if t > now + MAX_FUTURE_SECONDS:
        return uid, "rejected:future"
    kind = item.get("kind")
    if kind not in KINDS:
        return uid, "rejected:kind"
    if not _text(item.get("pack_id")):
        return uid, "rejected:pack_id"
    version = item.get("pack_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**31:
        return uid, "rejected:pack_version"
    for name in _OPTIONAL_TEXT:
        value = item.get(name)
        if value is not None and not _text(value):
            return uid, f"rejected:{name}"
    return uid, CheckedEvent(
        uuid=uid,
        t=t,
        day=utc_day(t),
        kind=str(kind),
        pack_id=str(item["pack_id"]),
        pack_version=version,
        rule=item.get("rule"),
        habit=item.get("habit"),
        reason=item.get("reason"),
        action=item.get("action"),
        app=item.get("app"),
    )
