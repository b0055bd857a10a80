"""The ``/dashboard`` pages: the adoption report as charts and tables, drawn on the server.

No JavaScript and no external assets, so it works offline and behind strict
CSPs.  Pure functions from a report document to HTML; the routes (sign-in,
the filters in the URL) are in :mod:`server.routes.dashboard`, the SVG in
:mod:`server.charts`.  Every chart has a table with the same numbers under
it; a withheld figure is a gap in a chart and "withheld" in a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape
from typing import Any, Final
from urllib.parse import urlencode

from server.charts import COLOURS, Interval, Marker, interval_chart, line_chart
from server.rollups import HOLDOUT, TREATMENT

__all__ = ["FILTERS", "STYLESHEET", "render_dashboard", "render_login"]

#: The query parameters the dashboard understands (the report's filters).
FILTERS: Final = ("since", "until", "pack_id", "group", "window_days")
#: The dashboard's stylesheet (server/static/, served by server.routes.dashboard_assets):
#: its CSP allows no inline style.
STYLESHEET: Final = "/dashboard/static/dashboard.css"


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<link rel=stylesheet href={STYLESHEET}></head><body>{body}</body></html>"
    )


def _csrf_field(csrf: str) -> str:
    """The hidden field every dashboard form posts back (checked against the session)."""
    return f"<input type=hidden name=csrf value='{escape(csrf)}'>"


def render_login(csrf: str, error: str = "") -> str:
    """The sign-in page (``csrf``: the value of its pre-session CSRF cookie), with ``error``
    said above the form when there is one."""
    note = f"<p class=error>{escape(error)}</p>" if error else ""
    return _page(
        "Waymark — sign in",
        "<h1>Waymark adoption dashboard</h1>"
        f'<div class=card><form method=post action="/dashboard/login">{_csrf_field(csrf)}'
        "<label>Admin token (publisher or analyst) <input name=token type=password "
        "autocomplete=off></label> <button type=submit>Sign in</button></form>"
        f"{note}</div>",
    )


def render_dashboard(
    report: dict[str, Any],
    bundles: Sequence[Any],
    tenant_note: str,
    query: Mapping[str, str],
    error: str = "",
    notices: Sequence[str] = (),
    *,
    csrf: str,
) -> str:
    """The whole dashboard page for one report document, its filters and the tenant's bundles.

    ``notices`` are alerts for the tenant's administrators (enrollment bursts); ``csrf`` is
    the session's token, which the sign-out form posts back.
    """
    days = _days(report["since"], report["until"])
    markers = [
        Marker(v["day"], f"{v['pack_id']} v{v['version']} {v['rollout']}%"
               + (" (rollback)" if v["action"] == "rollback" else ""))
        for v in report["versions"]
    ]  # fmt: skip
    per_habit: dict[str, dict[str, dict[str, int | None]]] = {}
    for h in report["habits"]:
        figures = per_habit.setdefault(h["habit"], {name: {} for name in COLOURS})
        for name in COLOURS:
            figures[name][h["day"]] = h[name]
    lifts = {a["habit"]: a for a in report["adoption"]}
    habits = sorted(set(per_habit) | set(lifts))
    cards = "".join(
        _habit_card(habit, days, per_habit.get(habit, {}), lifts.get(habit), markers, report)
        for habit in habits
    )
    note = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    note += "".join(f"<p class=notice role=alert>{escape(n)}</p>" for n in notices)
    body = (
        "<h1>Waymark adoption dashboard</h1>"
        f"<p class=muted>{escape(tenant_note)} · days in {escape(report['time_zone'])} · "
        f"{report['since']} to {report['until']}"
        f"{' · pack ' + escape(report['pack_id']) if report['pack_id'] else ''}"
        f"{' · group ' + escape(report['group']) if report['group'] else ''} · "
        f"figures from fewer than {report['min_devices']} devices are withheld and drawn "
        "as gaps.</p><form method=post action='/dashboard/logout'>"
        f"{_csrf_field(csrf)}<button>Sign out</button></form>"
        f"{note}{_filters(report, bundles, query)}"
        "<h2>Did the nudges change the habit?</h2>"
        f"{_overview(report)}"
        "<h2>Per habit</h2>"
        f"{cards or '<p class=muted>No telemetry for these filters yet.</p>'}"
        "<h2>Pack versions and rollout</h2>"
        f"{_versions(bundles, report)}"
    )
    return _page("Waymark — adoption", body)


def enrollment_notice(prefix: str, last_hour: int, usual: float) -> str:
    """The dashboard's alert on an enrollment burst of one token."""
    return (
        f"{last_hour} device(s) enrolled in the last hour with token {prefix}… "
        f"(usual: {usual:.0f} an hour). If you did not start a rollout, revoke the token "
        "(`waymark-server token revoke`) and check `waymark-server device pending`."
    )


def _days(since: str, until: str) -> list[str]:
    first, last = date.fromisoformat(since), date.fromisoformat(until)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _filters(report: dict[str, Any], bundles: Sequence[Any], query: Mapping[str, str]) -> str:
    packs = sorted({b.pack_id for b in bundles})

    def options(values: Sequence[str], chosen: str | None, everything: str) -> str:
        items = [f"<option value=''>{everything}</option>"] + [
            f"<option{' selected' if v == chosen else ''}>{escape(v)}</option>" for v in values
        ]
        return "".join(items)

    csv_link = "/dashboard/report.csv" + (
        "?" + urlencode({k: v for k, v in query.items() if k in FILTERS and v}) if query else ""
    )
    return (
        "<div class=card><form class=filters method=get action='/dashboard'>"
        f"<label>From <input type=date name=since value='{report['since']}'></label>"
        f"<label>to <input type=date name=until value='{report['until']}'></label>"
        f"<label>Pack <select name=pack_id>{options(packs, report['pack_id'], 'all packs')}"
        "</select></label>"
        f"<label>Group <select name=group>{options(report['groups'], report['group'], 'everyone')}"
        "</select></label>"
        "<label>Adoption window <input type=number name=window_days min=1 max=90 "
        f"class=narrow value='{report['window_days']}'> days</label>"
        "<button type=submit>Show</button></form> "
        f"<a href='{escape(csv_link)}'>Download CSV</a></div>"
    )


def _overview(report: dict[str, Any]) -> str:
    rows = [
        Interval(a["habit"], a["lift"], *(a["lift_ci95"] or (None, None)))
        for a in report["adoption"]
    ]
    if not rows:
        return "<div class=card><p class=muted>No habit has been triggered yet.</p></div>"
    window = report["window_days"]
    chart = interval_chart("Lift per habit: adoption, nudged minus holdout, 95 % interval", rows)
    table = _table(
        f"Lift per habit (adoption within {window} days of the first trigger)",
        ("habit", "nudged devices", "nudged adopted", "holdout devices", "holdout adopted",
         "lift", "95 % interval", "verdict"),
        [
            (
                a["habit"], _n(a, TREATMENT, "devices"), _pct_of(a, TREATMENT),
                _n(a, HOLDOUT, "devices"), _pct_of(a, HOLDOUT), _pp(a["lift"]),
                _interval(a["lift_ci95"]), a["verdict"],
            )
            for a in report["adoption"]
        ],
    )  # fmt: skip
    return (
        f"<div class=card>{chart}<p class=muted>Each row compares devices whose tip for the habit "
        f"triggered in the nudged group with those held back (the holdout), counting adoption "
        f"within {window} days of each device's first trigger, whether or not a toast was then "
        f"shown. A lift needs at least {report['min_devices']} devices in each group whose "
        f"{window}-day window has ended.</p>{_details(table)}</div>"
    )


def _habit_card(
    habit: str,
    days: Sequence[str],
    figures: Mapping[str, Mapping[str, int | None]],
    lift: dict[str, Any] | None,
    markers: Sequence[Marker],
    report: dict[str, Any],
) -> str:
    series = {name: [figures.get(name, {}).get(day, 0) for day in days] for name in COLOURS}
    trend = line_chart(f"{habit}: shown, acted on and adopted per day", days, series, markers)
    trend_table = _table(
        f"{habit} per day",
        ("day", *COLOURS),
        [(day, *(_num(series[name][i]) for name in COLOURS)) for i, day in enumerate(days)],
    )
    return (
        f"<div class=card><h3>{escape(habit)}</h3>{_verdict(lift)}<div class=cols><div>"
        f"<div class=legend>{_legend()}</div>{trend}{_details(trend_table)}</div>"
        f"<div>{_lift_block(lift, report)}</div></div></div>"
    )


def _verdict(lift: dict[str, Any] | None) -> str:
    if lift is None:
        return "<p class='verdict flat'>Not triggered in this period.</p>"
    tone = "flat"
    if lift["significant"]:
        tone = "up" if lift["lift"] > 0 else "down"
    return f"<p class='verdict {tone}'>{escape(lift['verdict'])}</p>"


def _lift_block(lift: dict[str, Any] | None, report: dict[str, Any]) -> str:
    floor, window = report["min_devices"], report["window_days"]
    minimum = (
        f"<p class=muted>Shown only with at least {floor} devices in each group whose "
        f"{window}-day window has ended; cohorts are the weeks of each device's first trigger."
        "</p>"
    )
    if lift is None:
        return minimum
    cohorts = lift["cohorts"]
    span = (
        f"Cohorts {cohorts['since']} to {cohorts['until']} ({cohorts['weeks']} weeks)."
        if cohorts["weeks"]
        else "No cohort week has completed its window yet."
    )
    waiting = lift["in_window"]
    still = (
        f" Still within their window: {_num(waiting[TREATMENT])} nudged, "
        f"{_num(waiting[HOLDOUT])} held out."
    )
    arms = _table(
        f"{lift['habit']}: adoption within {window} days",
        ("group", "devices", "adopted", "rate", "95 % interval", "shown a toast"),
        [
            ("nudged", _n(lift, TREATMENT, "devices"), _n(lift, TREATMENT, "adopted"),
             _pct_of(lift, TREATMENT), _interval(_get(lift, TREATMENT, "rate_ci95"), pct=True),
             _pct(_get(lift, TREATMENT, "exposure"))),
            ("holdout", _n(lift, HOLDOUT, "devices"), _n(lift, HOLDOUT, "adopted"),
             _pct_of(lift, HOLDOUT), _interval(_get(lift, HOLDOUT, "rate_ci95"), pct=True),
             _pct(_get(lift, HOLDOUT, "exposure"))),
            ("difference", "", "", _pp(lift["lift"]), _interval(lift["lift_ci95"]), ""),
        ],
    )  # fmt: skip
    weeks = lift["weeks"]
    weekly = ""
    if weeks:
        chart = interval_chart(
            f"{lift['habit']}: lift per cohort week",
            [Interval(w["week"], w["lift"], *(w["lift_ci95"] or (None, None))) for w in weeks],
        )
        table = _table(
            f"{lift['habit']}: lift per cohort week",
            ("week", "nudged devices", "holdout devices", "lift", "95 % interval"),
            [
                (w["week"], _n(w, TREATMENT, "devices"), _n(w, HOLDOUT, "devices"),
                 _pp(w["lift"]), _interval(w["lift_ci95"]))
                for w in weeks
            ],
        )  # fmt: skip
        weekly = f"{chart}{_details(table)}"
    by_group = ""
    if lift.get("by_group"):
        table = _table(
            f"{lift['habit']}: lift per group",
            ("group", "nudged devices", "holdout devices", "lift", "95 % interval", "verdict"),
            [
                (g["group"], _n(g, TREATMENT, "devices"), _n(g, HOLDOUT, "devices"),
                 _pp(g["lift"]), _interval(g["lift_ci95"]),
                 g["verdict"] if not g["withheld"] else "withheld (fewer than 10 devices)")
                for g in lift["by_group"]
            ],
        )  # fmt: skip
        by_group = _details(table, "Lift per group")
    return f"{arms}<p class=muted>{span}{still}</p>{minimum}{weekly}{by_group}"


def _versions(bundles: Sequence[Any], report: dict[str, Any]) -> str:
    rollout_rows = "".join(
        f"<tr><td>{escape(b.pack_id)}</td><td>{b.version}</td>"
        f'<td><svg class=bar width="{b.rollout}" height="12" aria-hidden="true">'
        f'<rect width="{b.rollout}" height="12"/></svg> {b.rollout}%</td>'
        f"<td>{escape(', '.join(b.groups) if b.groups else 'all')}</td>"
        f"<td>{'withdrawn' if b.withdrawn else 'live'}</td><td><code>{b.key_id}</code></td></tr>"
        for b in bundles
    )
    history = _table(
        "Changes in this period (the dashed lines on the charts)",
        ("day", "pack", "version", "change", "rollout", "groups"),
        [
            (v["day"], v["pack_id"], str(v["version"]), v["action"], f"{v['rollout']}%",
             ", ".join(v["groups"]) if v["groups"] else "all")
            for v in report["versions"]
        ],
    )  # fmt: skip
    return (
        "<div class=card><table><caption>Versions</caption><tr><th scope=col>pack</th>"
        "<th scope=col>version</th><th scope=col>rollout</th><th scope=col>groups</th>"
        f"<th scope=col>state</th><th scope=col>key</th></tr>{rollout_rows}</table>"
        f"{history}</div>"
    )


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    header = "".join(f"<th scope=col>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f"<th scope=row>{escape(c)}</th>" if i == 0 else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><caption>{escape(caption)}</caption><tr>{header}</tr>{body}</table>"


def _details(table: str, summary: str = "Table of this chart") -> str:
    return f"<details><summary>{escape(summary)}</summary>{table}</details>"


def _legend() -> str:
    return "".join(
        f'<span><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{c}"/></svg> {n}</span>'
        for n, c in COLOURS.items()
    )


def _get(entry: dict[str, Any], arm: str, name: str) -> Any:
    figures = entry.get(arm)
    return None if figures is None else figures[name]


def _n(entry: dict[str, Any], arm: str, name: str) -> str:
    return _num(_get(entry, arm, name))


def _pct_of(entry: dict[str, Any], arm: str) -> str:
    return _pct(_get(entry, arm, "rate"))


def _num(v: int | None) -> str:
    return "withheld" if v is None else f"{v:,}"


def _pct(v: float | None) -> str:
    return "withheld" if v is None else f"{v * 100:.1f} %"


def _pp(v: float | None) -> str:
    return "withheld" if v is None else f"{v * 100:+.1f} points"


def _interval(v: Sequence[float] | None, pct: bool = False) -> str:
    if v is None:
        return "withheld"
    if pct:
        return f"{v[0] * 100:.1f}–{v[1] * 100:.1f} %"
    return f"{v[0] * 100:+.1f} to {v[1] * 100:+.1f} points"
