"""Whether a request came over https: decided here, once, for HSTS and ``Secure`` cookies.

Behind a TLS-terminating proxy the connection to this server is plain http;
the proxy says what the client used in ``X-Forwarded-Proto``.  That header is
believed only from a peer the operator named (``--trust-proxy``,
``WAYMARK_TRUST_PROXY``): from anyone else it is a claim anybody can make.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from server.settings import ServerSettings

__all__ = ["request_is_https"]


def request_is_https(request: HTTPConnection, settings: ServerSettings) -> bool:
    """True when the client's side of ``request`` is https.

    The connection's own scheme counts first; then, from a trusted proxy only, the
    last value of ``X-Forwarded-Proto`` (the one the nearest proxy set).
    """
    if request.url.scheme == "https":
        return True
    trusted = settings.trusted_proxies
    peer = request.client.host if request.client else None
    if not trusted or ("*" not in trusted and peer not in trusted):
        return False
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.rsplit(",", 1)[-1].strip().lower() == "https"
