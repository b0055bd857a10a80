"""The ``/dashboard`` pages: the adoption report as charts, drawn on the server as inline SVG.

No JavaScript and no external assets, so it works offline and behind strict
CSPs.  Pure functions from a report document to HTML; the routes (login with
an admin token kept in a cookie) are in :mod:`server.routes.dashboard`.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any, Final

__all__ = ["lift_chart", "line_chart", "render_dashboard", "render_login"]

COLOURS: Final = {"shown": "#2563eb", "acted": "#16a34a", "adopted": "#d97706"}
_CSS: Final = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1f2937;
background:#f8fafc}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:16px;margin:12px 0}
.muted{color:#6b7280;font-size:13px}table{border-collapse:collapse;font-size:14px}
td,th{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:12px}.legend span{margin-right:14px;font-size:13px}
form{display:inline}input{padding:6px;width:28em}button{padding:6px 12px}
.bar{background:#dbeafe;height:12px;display:inline-block;vertical-align:middle}
"""


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>"
    )


def render_login(error: str = "") -> str:
    """The sign-in page, with ``error`` said above the form when there is one."""
    note = f'<p style="color:#b91c1c">{escape(error)}</p>' if error else ""
    return _page(
        "Waymark — sign in",
        "<h1>Waymark adoption dashboard</h1>"
        '<div class=card><form method=post action="/dashboard/login">'
        "<label>Admin token (publisher or analyst) <input name=token type=password "
        "autocomplete=off></label> <button type=submit>Sign in</button></form>"
        f"{note}</div>",
    )


def line_chart(days: list[str], series: dict[str, list[int | None]], width: int = 520) -> str:
    """An SVG line chart of daily counts; ``None`` (withheld) leaves a gap."""
    height, left, bottom, top = 200, 44, 28, 12
    values = [v for vs in series.values() for v in vs if v is not None]
    peak = max(values, default=0) or 1
    n = max(len(days), 2)
    step = (width - left - 10) / (n - 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: int) -> float:
        return top + (height - top - bottom) * (1 - v / peak)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="daily counts">',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - 10}" y2="{y(0):.1f}" stroke="#9ca3af"/>',
        f'<text x="{left - 6}" y="{y(peak) + 4:.1f}" font-size="11" '
        f'text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" font-size="11" text-anchor="end">0</text>',
    ]
    for i in sorted({0, len(days) - 1, len(days) // 2}):
        if 0 <= i < len(days):
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" font-size="11" '
                f'text-anchor="middle">{escape(days[i][5:])}</text>'
            )
    for name, vs in series.items():
        colour = COLOURS.get(name, "#6b7280")
        run: list[str] = []
        runs: list[list[str]] = [run]
        for i, v in enumerate(vs):
            if v is None:
                run = []
                runs.append(run)
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
        for r in runs:
            if len(r) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(r)}"/>'
                )
    parts.append("</svg>")
    return "".join(parts)


def lift_chart(adoption: list[dict[str, Any]], width: int = 520) -> str:
    """Lift (nudged minus holdout adoption rate) per habit with its 95 % interval."""
    rows = [a for a in adoption if not a["withheld"]]
    if not rows:
        return "<p class=muted>No habit has 10 nudged and 10 holdout devices yet.</p>"
    width = max(width, 640)
    height = 30 * len(rows) + 30
    left, right = 150, width - 190
    lo: float = min(-0.1, *(float(a["lift_ci95"][0]) for a in rows))
    hi: float = max(0.1, *(float(a["lift_ci95"][1]) for a in rows))

    def x(v: float) -> float:
        return left + (right - left) * (v - lo) / (hi - lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="lift vs holdout">',
        f'<line x1="{x(0):.1f}" y1="5" x2="{x(0):.1f}" y2="{height - 20}" stroke="#9ca3af"/>',
        f'<text x="{x(0):.1f}" y="{height - 6}" font-size="11" text-anchor="middle">0</text>',
    ]
    for i, a in enumerate(rows):
        cy = 20 + 30 * i
        d, (clo, chi) = a["lift"], a["lift_ci95"]
        colour = "#16a34a" if clo > 0 else "#6b7280"
        parts += [
            f'<text x="{left - 8}" y="{cy + 4}" font-size="12" text-anchor="end">'
            f"{escape(a['habit'])}</text>",
            f'<line x1="{x(clo):.1f}" y1="{cy}" x2="{x(chi):.1f}" y2="{cy}" '
            f'stroke="{colour}" stroke-width="2"/>',
            f'<rect x="{min(x(0), x(d)):.1f}" y="{cy - 7}" width="{abs(x(d) - x(0)):.1f}" '
            f'height="14" fill="{colour}" opacity="0.35"/>',
            f'<circle cx="{x(d):.1f}" cy="{cy}" r="4" fill="{colour}"/>',
            f'<text x="{width - 4}" y="{cy + 4}" font-size="11" text-anchor="end">'
            f"{d * 100:+.1f} pp [{clo * 100:+.1f}, {chi * 100:+.1f}]</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def render_dashboard(report: dict[str, Any], bundles: list[Any], tenant_note: str) -> str:
    """The whole dashboard page for one report document and the tenant's bundles."""
    days = sorted({d["day"] for d in report["days"]})
    # Only visible figures are added, so a withheld part cannot be recovered by
    # subtraction; a day whose figures are all withheld is drawn as a gap.
    sums: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    hidden: set[tuple[str, str, str]] = set()
    for d in report["days"]:
        habit = d["habit"] or "(no habit)"
        for name in COLOURS:
            cell = sums[habit][name]
            cell[d["day"]] = cell.get(d["day"], 0) + (d[name] or 0)
            if d[name] is None:
                hidden.add((habit, name, d["day"]))
    per_habit = {
        habit: {
            name: {
                day: (None if value == 0 and (habit, name, day) in hidden else value)
                for day, value in cells.items()
            }
            for name, cells in figures.items()
        }
        for habit, figures in sums.items()
    }
    charts = []
    for habit, figures in sorted(per_habit.items()):
        series = {name: [figures.get(name, {}).get(day, 0) for day in days] for name in COLOURS}
        charts.append(
            f"<div class=card><b>{escape(habit)}</b>"
            f"<div class=legend>{_legend()}</div>{line_chart(days, series)}</div>"
        )
    adoption_rows = "".join(
        f"<tr><td>{escape(a['habit'])}</td><td>{_num(a['nudged_devices'])}</td>"
        f"<td>{_pct(a['nudged_rate'])}</td><td>{_num(a['holdout_devices'])}</td>"
        f"<td>{_pct(a['holdout_rate'])}</td></tr>"
        for a in report["adoption"]
    )
    rollout_rows = "".join(
        f"<tr><td>{escape(b.pack_id)}</td><td>{b.version}</td>"
        f"<td><span class=bar style='width:{b.rollout}px'></span> {b.rollout}%</td>"
        f"<td>{escape(', '.join(b.groups) if b.groups else 'all')}</td>"
        f"<td>{'withdrawn' if b.withdrawn else 'live'}</td><td><code>{b.key_id}</code></td></tr>"
        for b in bundles
    )
    body = (
        "<h1>Waymark adoption dashboard</h1>"
        f"<p class=muted>{escape(tenant_note)} · {report['since']} to {report['until']} · "
        f"figures from fewer than {report['min_devices']} devices are withheld."
        "</p><form method=post action='/dashboard/logout'><button>Sign out</button></form>"
        "<h2>Shown, acted on and adopted per day</h2>"
        f"<div class=grid>{''.join(charts) or '<p class=muted>No telemetry yet.</p>'}</div>"
        "<h2>Lift vs. holdout (adoption rate difference, 95 % interval)</h2>"
        f"<div class=card>{lift_chart(report['adoption'])}"
        "<table><tr><th>habit</th><th>nudged devices</th><th>adopted</th>"
        f"<th>holdout devices</th><th>adopted</th></tr>{adoption_rows}</table></div>"
        "<h2>Pack versions and rollout</h2><div class=card><table><tr><th>pack</th>"
        "<th>version</th><th>rollout</th><th>groups</th><th>state</th><th>key</th></tr>"
        f"{rollout_rows}</table></div>"
    )
    return _page("Waymark — adoption", body)


def _legend() -> str:
    return "".join(
        f'<span><svg width="10" height="10"><rect width="10" height="10" fill="{c}"/></svg> '
        f"{n}</span>"
        for n, c in COLOURS.items()
    )


def _num(v: int | None) -> str:
    return "withheld" if v is None else str(v)


def _pct(v: float | None) -> str:
    return "withheld" if v is None else f"{v * 100:.1f} %"
