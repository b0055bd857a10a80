"""What the client used, decided here once: https or not (for HSTS and ``Secure``
cookies), and its address (for the per-address budgets).

Behind a TLS-terminating proxy the connection to this server is plain http from
the proxy's address; the proxy says what the client used in ``X-Forwarded-Proto``
and ``X-Forwarded-For``.  Those headers are believed only from a peer the
operator named (``--trust-proxy``, ``WAYMARK_TRUST_PROXY``): from anyone else
they are claims anybody can make.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from server.settings import ServerSettings

__all__ = ["request_is_https", "source_address"]


def _from_trusted_proxy(request: HTTPConnection, settings: ServerSettings) -> bool:
    trusted = settings.trusted_proxies
    peer = request.client.host if request.client else None
    return bool(trusted) and ("*" in trusted or peer in trusted)


def request_is_https(request: HTTPConnection, settings: ServerSettings) -> bool:
    """True when the client's side of ``request`` is https.

    The connection's own scheme counts first; then, from a trusted proxy only, the
    last value of ``X-Forwarded-Proto`` (the one the nearest proxy set).
    """
    if request.url.scheme == "https":
        return True
    if not _from_trusted_proxy(request, settings):
        return False
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.rsplit(",", 1)[-1].strip().lower() == "https"


def source_address(request: HTTPConnection, settings: ServerSettings) -> str:
    """Who is asking, for the per-address budgets: the peer, or from a trusted proxy
    the last ``X-Forwarded-For`` entry (the one that proxy added)."""
    if _from_trusted_proxy(request, settings):
        forwarded = request.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"
