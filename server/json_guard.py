"""Refusing hostile JSON before a parser sees it: nesting too deep, NaN and Infinity.

Python's ``json`` recurses once per ``[`` or ``{``: a body nested 100,000 deep
raises ``RecursionError`` inside the parser, and ``NaN``/``Infinity`` (which
JSON does not allow, but Python accepts) become floats that no answer can
render.  :func:`check_json_bytes` finds both with a few passes at C speed
(``bytes.translate`` and ``bytes.replace``; strings are removed by a regular
expression only when a bracket or a "NaN" might be inside one), without
parsing; :func:`loads_strict` is ``json.loads`` behind the depth check, with
NaN, Infinity and ``1e400`` refused by the parser itself.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from server.errors import Invalid

__all__ = ["MAX_JSON_DEPTH", "check_depth", "check_finite", "check_json_bytes", "loads_strict"]

#: The deepest nesting a request body may have (the API's documents need 3).
MAX_JSON_DEPTH: Final = 32

# A JSON string, escapes included (the "unrolled loop" form: linear, no backtracking).
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# NaN, Infinity, -Infinity as bare tokens (outside strings, which are removed first).
_NON_FINITE: Final = re.compile(rb"(?<![\w.+-])[-+]?(?:NaN|Infinity)(?![\w.])")
# Keep only the brackets, and make every opener "[" and every closer "]".
_BRACKETS: Final = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


def check_json_bytes(data: bytes) -> None:
    """Raise :class:`~server.errors.Invalid` if ``data`` holds a bare NaN/Infinity or
    nests deeper than :data:`MAX_JSON_DEPTH`; otherwise do nothing.

    Nothing else is checked: malformed JSON is left for the parser to report.
    """
    check_finite(data)
    check_depth(data)


def check_finite(data: bytes) -> None:
    """Raise :class:`~server.errors.Invalid` if ``data`` holds NaN, Infinity or -Infinity
    outside a string."""
    if (b"NaN" in data or b"Infinity" in data) and _NON_FINITE.search(_without_strings(data)):
        raise Invalid(
            "body holds NaN or Infinity, which JSON does not allow; send a number or null",
            code="bad_json",
        )


def check_depth(data: bytes) -> None:
    """Raise :class:`~server.errors.Invalid` if ``data`` nests deeper than
    :data:`MAX_JSON_DEPTH`."""
    # Strings can only add brackets: a body that passes with its strings in passes (the
    # usual case, and the fast one); one that does not is looked at again without them,
    # so that "[[[" inside a string is no reason to refuse.
    if not (_shallow(data) or _shallow(_without_strings(data))):
        raise Invalid(
            f"body is JSON nested more than {MAX_JSON_DEPTH} deep", code="nested_too_deeply"
        )


def _without_strings(data: bytes) -> bytes:
    return _STRING.sub(b'""', data)


def _shallow(data: bytes) -> bool:
    """Whether the brackets of ``data`` nest at most :data:`MAX_JSON_DEPTH` deep."""
    brackets = data.translate(_BRACKETS, _NOT_BRACKETS)
    # Each round removes the innermost pairs; a pair left after MAX_JSON_DEPTH rounds
    # had that many levels inside it.
    for _ in range(MAX_JSON_DEPTH):
        if b"[]" not in brackets:
            break
        brackets = brackets.replace(b"[]", b"")
    # Openers never closed would make a parser recurse just as deep.
    return b"[]" not in brackets and brackets.count(b"[") <= MAX_JSON_DEPTH


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def loads_strict(data: bytes) -> Any:
    """``json.loads`` of a request body: its depth checked first (:func:`check_depth`),
    then parsed with NaN, Infinity and out-of-range numbers (``1e400``) refused.

    Raises :class:`~server.errors.Invalid` (``bad_json``, ``nested_too_deeply``).
    """
    check_depth(data)
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:  # not reachable after the check; kept as the last line of defence
        raise Invalid(
            f"body is JSON nested more than {MAX_JSON_DEPTH} deep", code="nested_too_deeply"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"body is not JSON: {exc}", code="bad_json") from exc
