"""``/dashboard``: sign in with an admin token, then the report as charts (not in OpenAPI).

The report's filters are in the URL (``?since=…&until=…&pack_id=…&group=…&window_days=…``),
so a view can be bookmarked and shared; ``/dashboard/report.csv`` exports it.

The token is kept in an HttpOnly, SameSite=Strict cookie for 8 hours; the
pages themselves are drawn by :mod:`server.dashboard`.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from server.dashboard import FILTERS, enrollment_notice, render_dashboard, render_login
from server.errors import Invalid
from server.report_csv import report_csv
from server.reports import build_report
from server.routes.admin import ReportQuery
from server.routes.dependencies import EnrollmentDep, StoreDep
from server.store import Admin, Store

__all__ = ["COOKIE", "router"]

COOKIE: Final = "waymark_admin"
#: How long a sign-in lasts.
SESSION_SECONDS: Final = 8 * 3600

router = APIRouter(include_in_schema=False)


def _signed_in(request: Request, store: Store) -> Admin | None:
    token = request.cookies.get(COOKIE)
    return store.admin(token) if token else None


def _filtered_report(store: Store, admin: Admin, request: Request) -> tuple[dict[str, Any], str]:
    """The report for the filters in the URL; a filter that makes no sense is dropped, and said."""
    params = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    try:
        query = ReportQuery.model_validate({k: v for k, v in params.items() if v})
        return _build(store, admin, query), ""
    except (ValidationError, Invalid) as exc:
        problem = exc.message if isinstance(exc, Invalid) else _first_problem(exc)
        return _build(store, admin, ReportQuery()), f"{problem}; showing the default report."


def _build(store: Store, admin: Admin, q: ReportQuery) -> dict[str, Any]:
    return build_report(
        store, admin.tenant_id, q.since, q.until, q.pack_id, group=q.group,
        window_days=q.window_days,
    )  # fmt: skip


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {error['msg']}"


@router.get("/dashboard")
def dashboard(request: Request, store: StoreDep, enrollment: EnrollmentDep) -> HTMLResponse:
    """The report of the signed-in admin's tenant for the filters in the URL, or the sign-in."""
    admin = _signed_in(request, store)
    if admin is None:
        return HTMLResponse(render_login())
    report, problem = _filtered_report(store, admin, request)
    bursts = enrollment.bursts(admin.tenant_id)
    html = render_dashboard(
        report,
        store.list_bundles(admin.tenant_id),
        f"signed in as {admin.role}",
        query=dict(request.query_params),
        error=problem,
        notices=[enrollment_notice(b.prefix, b.last_hour, b.usual) for b in bursts],
    )
    return HTMLResponse(html, status_code=400 if problem else 200,
                        headers={"Cache-Control": "no-store"})  # fmt: skip


@router.get("/dashboard/report.csv")
def dashboard_csv(request: Request, store: StoreDep) -> Response:
    """The dashboard's report as CSV (the same filters, the same floor)."""
    admin = _signed_in(request, store)
    if admin is None:
        return RedirectResponse("/dashboard", status_code=303)
    report, problem = _filtered_report(store, admin, request)
    if problem:
        return Response(problem, status_code=400, media_type="text/plain; charset=utf-8")
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="waymark-report.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/dashboard/login")
async def login(request: Request, store: StoreDep) -> Response:
    """Check the posted admin token; keep it in the session cookie if it is one."""
    form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    admin = await run_in_threadpool(store.admin, token) if token else None
    if admin is None:
        return HTMLResponse(render_login("That token is not a valid admin token."), 401)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=SESSION_SECONDS,
    )
    return response


@router.post("/dashboard/logout")
def logout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(COOKIE)
    return response
