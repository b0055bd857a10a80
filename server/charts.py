"""Inline SVG charts for the dashboard: pure functions from figures to markup.

Every chart scales to its container (a ``viewBox`` and ``width: 100%``), is
labelled for screen readers (``role="img"`` with a title), and draws a
withheld figure (``None``: fewer than 10 devices) as a shaded gap, never as
zero.  The dashboard puts a table with the same numbers under each chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final, NamedTuple

__all__ = ["COLOURS", "Interval", "Marker", "interval_chart", "line_chart"]

COLOURS: Final = {"shown": "#2563eb", "acted": "#16a34a", "adopted": "#d97706"}
_GAP: Final = "#e5e7eb"
_AXIS: Final = "#9ca3af"
_POSITIVE: Final = "#16a34a"
_NEUTRAL: Final = "#6b7280"
_NEGATIVE: Final = "#dc2626"


class Marker(NamedTuple):
    """A vertical line on a time axis: a pack version rolled out or changed."""

    day: str
    label: str


def _svg(width: int, height: int, title: str, body: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def line_chart(
    title: str,
    days: Sequence[str],
    series: Mapping[str, Sequence[int | None]],
    markers: Sequence[Marker] = (),
    width: int = 720,
) -> str:
    """Daily counts as lines; a day whose figure is withheld is a shaded gap in its line."""
    height, left, right, bottom, top = 230, 48, 12, 30, 22
    values = [v for vs in series.values() for v in vs if v is not None]
    peak = max(values, default=0) or 1
    n = max(len(days), 2)
    step = (width - left - right) / (n - 1)

    def x(i: float) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - v / peak)

    parts = [
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" '
        f'stroke="{_AXIS}"/>',
        f'<text x="{left - 6}" y="{y(peak) + 4:.1f}" font-size="11" text-anchor="end">'
        f"{peak:,}</text>",
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" font-size="11" text-anchor="end">0</text>',
    ]
    # A day with every figure withheld is a shaded band; one withheld figure is a gap
    # in its own line with a tick of its colour under the axis.
    for i in range(len(days)):
        hidden = [name for name, vs in series.items() if vs[i] is None]
        if not hidden:
            continue
        what = "all figures" if len(hidden) == len(series) else ", ".join(hidden)
        label = f"{escape(days[i])}: {escape(what)} withheld (fewer than 10 devices)"
        if len(hidden) == len(series):
            parts.append(
                f'<rect x="{x(i) - step / 2:.1f}" y="{top}" width="{max(step, 2):.1f}" '
                f'height="{height - top - bottom}" fill="{_GAP}"><title>{label}</title></rect>'
            )
            continue
        for k, name in enumerate(hidden):
            ty = y(0) + 4 + 4 * k
            parts.append(
                f'<line x1="{x(i):.1f}" y1="{ty:.1f}" x2="{x(i):.1f}" y2="{ty + 3:.1f}" '
                f'stroke="{COLOURS.get(name, _NEUTRAL)}" stroke-width="2">'
                f"<title>{label}</title></line>"
            )
    ticks = sorted({0, len(days) - 1, len(days) // 2})
    for i in ticks:
        if 0 <= i < len(days):
            anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 6}" font-size="11" '
                f'text-anchor="{anchor}">{escape(days[i])}</text>'
            )
    index = {day: i for i, day in enumerate(days)}
    for m in markers:
        if m.day not in index:
            continue
        mx = x(index[m.day])
        parts += [
            f'<line x1="{mx:.1f}" y1="{top - 4}" x2="{mx:.1f}" y2="{height - bottom}" '
            f'stroke="#7c3aed" stroke-dasharray="4 3"/>',
            f'<text x="{mx + 3:.1f}" y="{top - 8}" font-size="10" fill="#7c3aed">'
            f"{escape(m.label)}</text>",
        ]
    for name, vs in series.items():
        parts += _line(vs, x, y, COLOURS.get(name, _NEUTRAL))
    return _svg(width, height, title, parts)


def _line(vs: Sequence[int | None], x: Any, y: Any, colour: str) -> list[str]:
    """A polyline per run of shown values (a withheld day ends a run) and a dot per value."""
    parts: list[str] = []
    run: list[str] = []
    for i, v in enumerate([*vs, None]):
        if v is None:
            if len(run) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(run)}"/>'
                )
            run = []
            continue
        point = f"{x(i):.1f},{y(v):.1f}"
        run.append(point)
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
    return parts


class Interval(NamedTuple):
    """One row of an interval chart: a label, the estimate and its 95 % interval (or None)."""

    label: str
    value: float | None
    low: float | None
    high: float | None


def interval_chart(title: str, rows: Sequence[Interval], width: int = 720) -> str:
    """Differences in percentage points with their 95 % intervals, one row each.

    Green when the interval is above zero, red below, grey across it; a row
    without a value is drawn as withheld.
    """
    height = 30 * len(rows) + 34
    left, right = 170, width - 200
    shown = [r for r in rows if r.value is not None and r.low is not None and r.high is not None]
    lo = min([-0.1, *(float(r.low) for r in shown if r.low is not None)])
    hi = max([0.1, *(float(r.high) for r in shown if r.high is not None)])

    def x(v: float) -> float:
        return left + (right - left) * (v - lo) / (hi - lo)

    parts = [
        f'<line x1="{x(0):.1f}" y1="6" x2="{x(0):.1f}" y2="{height - 22}" stroke="{_AXIS}"/>',
        f'<text x="{x(0):.1f}" y="{height - 8}" font-size="11" text-anchor="middle">0</text>',
        f'<text x="{x(lo):.1f}" y="{height - 8}" font-size="11" text-anchor="start">'
        f"{lo * 100:+.0f} pp</text>",
        f'<text x="{x(hi):.1f}" y="{height - 8}" font-size="11" text-anchor="end">'
        f"{hi * 100:+.0f} pp</text>",
    ]
    for i, r in enumerate(rows):
        cy = 20 + 30 * i
        parts.append(
            f'<text x="{left - 8}" y="{cy + 4}" font-size="12" text-anchor="end">'
            f"{escape(r.label)}</text>"
        )
        if r.value is None or r.low is None or r.high is None:
            parts.append(
                f'<text x="{(left + right) / 2:.1f}" y="{cy + 4}" font-size="11" '
                f'fill="{_NEUTRAL}" text-anchor="middle">withheld (fewer than 10 devices '
                "per arm)</text>"
            )
            continue
        colour = _POSITIVE if r.low > 0 else _NEGATIVE if r.high < 0 else _NEUTRAL
        parts += [
            f'<line x1="{x(r.low):.1f}" y1="{cy}" x2="{x(r.high):.1f}" y2="{cy}" '
            f'stroke="{colour}" stroke-width="2"/>',
            f'<line x1="{x(r.low):.1f}" y1="{cy - 5}" x2="{x(r.low):.1f}" y2="{cy + 5}" '
            f'stroke="{colour}"/>',
            f'<line x1="{x(r.high):.1f}" y1="{cy - 5}" x2="{x(r.high):.1f}" y2="{cy + 5}" '
            f'stroke="{colour}"/>',
            f'<circle cx="{x(r.value):.1f}" cy="{cy}" r="4.5" fill="{colour}"/>',
            f'<text x="{width - 4}" y="{cy + 4}" font-size="11" text-anchor="end">'
            f"{r.value * 100:+.1f} pp [{r.low * 100:+.1f}, {r.high * 100:+.1f}]</text>",
        ]
    return _svg(width, height, title, parts)
