"""Security headers on every answer: what a browser may do with it, and that it is not cached.

- every answer: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  and ``Cache-Control: no-store`` unless the route chose its own (answers carry
  tokens, device secrets and tenant figures: no cache keeps them);
- ``/dashboard`` pages: the Content-Security-Policy :data:`DASHBOARD_CSP` (only
  this server's own stylesheet; no script at all, no framing) and
  ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``;
- API answers: ``default-src 'none'; frame-ancestors 'none'`` — a JSON answer
  opened as a page can load nothing and be framed by nobody;
- over https (:func:`server.routes.https.request_is_https`):
  ``Strict-Transport-Security``.

FastAPI's own ``/docs`` and ``/redoc`` pages load their script from a CDN and
get no CSP here.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.routes.https import request_is_https
from server.settings import ServerSettings

__all__ = ["API_CSP", "DASHBOARD_CSP", "HSTS", "SecurityHeadersMiddleware"]

DASHBOARD_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'"
#: One year, this host only (a tenant's other hosts are its own business).
HSTS: Final = "max-age=31536000"
_FRAMEWORK_PAGES: Final = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """ASGI middleware: adds the headers above to every HTTP answer."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        https = request_is_https(HTTPConnection(scope), self.settings)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers.setdefault("Cache-Control", "no-store")
                if path == "/dashboard" or path.startswith("/dashboard/"):
                    headers["Content-Security-Policy"] = DASHBOARD_CSP
                    headers["X-Frame-Options"] = "DENY"
                elif not path.startswith(_FRAMEWORK_PAGES):
                    headers["Content-Security-Policy"] = API_CSP
                if https:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, with_headers)
