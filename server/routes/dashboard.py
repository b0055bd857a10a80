"""``/dashboard``: sign in with an admin token, then the report as charts (not in OpenAPI).

The token is kept in an HttpOnly, SameSite=Strict cookie for 8 hours; the
pages themselves are drawn by :mod:`server.dashboard`.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from server.dashboard import render_dashboard, render_login
from server.reports import build_report
from server.routes.dependencies import StoreDep
from server.store import Admin, Store

__all__ = ["COOKIE", "router"]

COOKIE: Final = "waymark_admin"
#: How long a sign-in lasts.
SESSION_SECONDS: Final = 8 * 3600

router = APIRouter(include_in_schema=False)


def _signed_in(request: Request, store: Store) -> Admin | None:
    token = request.cookies.get(COOKIE)
    return store.admin(token) if token else None


@router.get("/dashboard")
def dashboard(request: Request, store: StoreDep) -> HTMLResponse:
    """The report of the signed-in admin's tenant, or the sign-in page."""
    admin = _signed_in(request, store)
    if admin is None:
        return HTMLResponse(render_login())
    report = build_report(store, admin.tenant_id, None, None, None)
    html = render_dashboard(
        report, store.list_bundles(admin.tenant_id), f"signed in as {admin.role}"
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


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
