"""``/dashboard``: sign in with an admin token, then the report as charts (not in OpenAPI).

The report's filters are in the URL (``?since=…&until=…&pack_id=…&group=…&window_days=…``),
so a view can be bookmarked and shared; ``/dashboard/report.csv`` exports it.

Signing in trades the admin token for a server-side session (:mod:`server.sessions`):
the ``waymark_session`` cookie (HttpOnly, SameSite=Strict, Secure on https) carries a
random session id, never the token, and signing out deletes the session.  Every POST
carries a CSRF token in a hidden field: the session's, or for the sign-in form (before
there is a session) the value of the ``waymark_login_csrf`` cookie (double submit).
The pages themselves are drawn by :mod:`server.dashboard`.
"""

from __future__ import annotations

import math
import secrets
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from server.dashboard import FILTERS, enrollment_notice, render_dashboard, render_login
from server.errors import Invalid, RateLimited, Unauthenticated
from server.report_csv import report_csv
from server.reports import build_report
from server.routes.admin import ReportQuery
from server.routes.auth import checked_admin
from server.routes.dependencies import EnrollmentDep, StoreDep, parts_of
from server.routes.https import request_is_https
from server.sessions import SESSION_SECONDS, Session, Sessions, same_secret
from server.store import Admin, Store

__all__ = ["COOKIE", "LOGIN_CSRF_COOKIE", "router"]

#: The session cookie: a random session id (the admin token never leaves the sign-in form).
COOKIE: Final = "waymark_session"
#: The pre-session CSRF cookie of the sign-in form (double submit).
LOGIN_CSRF_COOKIE: Final = "waymark_login_csrf"
#: Where older servers kept the raw admin token: cleared whenever it is seen.
_LEGACY_COOKIE: Final = "waymark_admin"
#: How long the sign-in form stays usable.
_LOGIN_CSRF_SECONDS: Final = 3600
#: The most of a form body that is read (a token and a CSRF field fit in far less).
_FORM_LIMIT: Final = 4096

router = APIRouter(include_in_schema=False)


def _request_is_https(request: Request) -> bool:
    """Whether the browser reached us over https (the Secure flag of the cookies)."""
    return request_is_https(request, parts_of(request).settings)


def _set_cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=_request_is_https(request),
        max_age=age,
        path="/dashboard",
    )


def _sessions(store: Store) -> Sessions:
    return Sessions(store.engine)


def _signed_in(request: Request, store: Store) -> Session | None:
    session_id = request.cookies.get(COOKIE)
    return _sessions(store).lookup(session_id) if session_id else None


def _admin(session: Session) -> Admin:
    return Admin(tenant_id=session.tenant_id, role=session.role, token_id=session.admin_token_id)


def _login_page(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    """The sign-in form with a fresh pre-session CSRF token in its cookie and its field."""
    csrf = secrets.token_urlsafe(32)
    response = HTMLResponse(render_login(csrf, error), status_code=status,
                            headers={"Cache-Control": "no-store"})  # fmt: skip
    _set_cookie(response, request, LOGIN_CSRF_COOKIE, csrf, _LOGIN_CSRF_SECONDS)
    if _LEGACY_COOKIE in request.cookies:
        response.delete_cookie(_LEGACY_COOKIE)
    return response


async def _form(request: Request) -> dict[str, str]:
    fields = parse_qs((await request.body())[:_FORM_LIMIT].decode("utf-8", "replace"))
    return {name: values[0].strip() for name, values in fields.items() if values}


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
    session = _signed_in(request, store)
    if session is None:
        return _login_page(request)
    admin = _admin(session)
    report, problem = _filtered_report(store, admin, request)
    bursts = enrollment.bursts(admin.tenant_id)
    html = render_dashboard(
        report,
        store.list_bundles(admin.tenant_id),
        f"signed in as {admin.role}",
        query=dict(request.query_params),
        error=problem,
        csrf=session.csrf,
        notices=[enrollment_notice(b.prefix, b.last_hour, b.usual) for b in bursts],
    )
    return HTMLResponse(html, status_code=400 if problem else 200,
                        headers={"Cache-Control": "no-store"})  # fmt: skip


@router.get("/dashboard/report.csv")
def dashboard_csv(request: Request, store: StoreDep) -> Response:
    """The dashboard's report as CSV (the same filters, the same floor)."""
    session = _signed_in(request, store)
    if session is None:
        return RedirectResponse("/dashboard", status_code=303)
    report, problem = _filtered_report(store, _admin(session), request)
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
    """Check the form's CSRF token and the posted admin token; start a session if both hold."""
    form = await _form(request)
    if not same_secret(form.get("csrf", ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _login_page(request, "The sign-in form had expired; please sign in again.", 403)
    token = form.get("token", "")
    if not token:
        return _login_page(request, "Paste an admin token to sign in.", 401)
    try:
        admin = await checked_admin(parts_of(request), request, token)
    except Unauthenticated:
        return _login_page(request, "That token is not a valid admin token.", 401)
    except RateLimited as exc:
        minutes = max(1, math.ceil(exc.retry_after / 60))
        wait = f"{minutes} minute{'s' if minutes > 1 else ''}"
        page = _login_page(
            request, f"Too many wrong tokens from this address; try again in {wait}.", 429
        )
        page.headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return page
    session_id, _session = await run_in_threadpool(
        _sessions(store).start, admin.tenant_id, admin.token_id, admin.role
    )
    response = RedirectResponse("/dashboard", status_code=303)
    _set_cookie(response, request, COOKIE, session_id, SESSION_SECONDS)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/dashboard")
    if _LEGACY_COOKIE in request.cookies:
        response.delete_cookie(_LEGACY_COOKIE)
    return response


@router.post("/dashboard/logout")
async def logout(request: Request, store: StoreDep) -> Response:
    """End the session (its row is deleted: the cookie is worth nothing after this)."""
    session_id = request.cookies.get(COOKIE, "")
    session = await run_in_threadpool(_signed_in, request, store)
    if session is not None:
        form = await _form(request)
        if not same_secret(form.get("csrf", ""), session.csrf):
            return Response("this sign-out did not come from the dashboard's own form",
                            status_code=403, media_type="text/plain; charset=utf-8")  # fmt: skip
        await run_in_threadpool(_sessions(store).end, session_id)
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response
