"""Dashboard sessions: the cookie is a random session id, sign-out ends it, CSRF on every POST.

Each test replays an attack against today's dashboard: a cookie that is the
admin token itself, a cookie kept after sign-out, a session that outlives its
revoked token, and cross-site posts of the sign-in and sign-out forms.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from devtools.live_server import RunningServer, running_server
from server import schema as s
from server.credentials import Credentials
from server.sessions import Sessions
from server.settings import ServerSettings
from server.store import Store
from tests.integration.test_sync_tls import company_pki
from tests.server.conftest import Tenant, auth, dashboard_csrf, dashboard_sign_in

SIGNED_IN = "Sign out"
SIGN_IN_FORM = "Admin token (publisher or analyst)"


def cookie_header(response: httpx.Response, name: str) -> str:
    """The Set-Cookie line of ``name`` in ``response``."""
    lines = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(lines) == 1, response.headers.get_list("set-cookie")
    return lines[0]


def signed_in(client: httpx.Client) -> bool:
    page = client.get("/dashboard")
    assert page.status_code == 200, page.text
    return SIGNED_IN in page.text


def session_rows(store: Store) -> list[dict[str, object]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(s.dashboard_sessions))]


def test_the_session_cookie_is_a_random_id_never_the_admin_token(
    live: RunningServer, store: Store, acme: Tenant
) -> None:
    with httpx.Client(base_url=live.url) as http:
        r = dashboard_sign_in(http, acme.analyst_token)
        assert r.status_code == 303, r.text
        line = cookie_header(r, "waymark_session")
        value = line.split(";", 1)[0].split("=", 1)[1]
        assert acme.analyst_token not in line and len(value) >= 40
        flags = {f.strip().lower() for f in line.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/dashboard"} <= flags
        assert "secure" not in flags  # plain http on loopback
        assert signed_in(http)
        (row,) = session_rows(store)
        assert row["id_hash"] == hashlib.sha256(value.encode()).hexdigest()
        assert value not in json.dumps(row, default=str)
        assert acme.analyst_token not in json.dumps(row, default=str)
    # A second sign-in is a second session, with its own id and CSRF token.
    with httpx.Client(base_url=live.url) as other:
        assert dashboard_sign_in(other, acme.analyst_token).status_code == 303
    first, second = session_rows(store)
    assert first["id_hash"] != second["id_hash"] and first["csrf"] != second["csrf"]


def test_signing_out_ends_the_session_even_for_a_cookie_kept_by_someone(
    live: RunningServer, store: Store, acme: Tenant
) -> None:
    with httpx.Client(base_url=live.url) as http:
        assert dashboard_sign_in(http, acme.publisher_token).status_code == 303
        kept = http.cookies["waymark_session"]
        page = http.get("/dashboard").text
        csrf = page.split("name=csrf value='", 1)[1].split("'", 1)[0]
        r = http.post("/dashboard/logout", data={"csrf": csrf})
        assert r.status_code == 303
        assert 'waymark_session=""' in cookie_header(r, "waymark_session")
        assert not signed_in(http)
    assert session_rows(store) == []
    # The stolen or kept cookie is worth nothing now.
    with httpx.Client(base_url=live.url, cookies={"waymark_session": kept}) as thief:
        assert not signed_in(thief)
        assert thief.get("/dashboard/report.csv").status_code == 303
    # The admin token itself still works: signing out ends the session, not the token.
    assert httpx.get(live.url + "/v1/admin/packs", headers=auth(acme.publisher_token)).is_success


def test_revoking_or_expiring_the_admin_token_ends_its_sessions(
    live: RunningServer, store: Store, acme: Tenant
) -> None:
    spare_id, spare = store.credentials.issue_admin_token(acme.id, "analyst", actor="cli")
    with httpx.Client(base_url=live.url) as http:
        assert dashboard_sign_in(http, spare).status_code == 303 and signed_in(http)
        r = httpx.post(f"{live.url}/v1/admin/tokens/{spare_id}/revoke",
                       headers=auth(acme.publisher_token))  # fmt: skip
        assert r.status_code == 200
        assert not signed_in(http)
    assert session_rows(store) == []
    # A token past its expiry: the session it started ends with it.
    past = Credentials(store.engine, clock=lambda: time.time() - 7200)
    old_id, _old = past.issue_admin_token(acme.id, "analyst", actor="cli", expires_in=3600)
    session_id, _session = Sessions(store.engine).start(acme.id, old_id, "analyst")
    assert Sessions(store.engine).lookup(session_id) is None
    # And a session past its own end is refused, whatever its token.
    live_id = next(t.id for t in store.credentials.admin_tokens(acme.id) if t.role == "analyst")
    then = Sessions(store.engine, clock=lambda: time.time() - 9 * 3600)
    stale, _ = then.start(acme.id, live_id, "analyst")
    assert Sessions(store.engine).lookup(stale) is None
    fresh, _ = Sessions(store.engine).start(acme.id, live_id, "analyst")
    assert Sessions(store.engine).lookup(fresh) is not None


def test_a_cross_site_sign_in_without_the_forms_csrf_token_is_refused(
    live: RunningServer, store: Store, acme: Tenant
) -> None:
    with httpx.Client(base_url=live.url) as http:
        # A page elsewhere posts the form: no CSRF field, or one it made up, and it
        # cannot set this site's cookie.
        for data in ({"token": acme.analyst_token},
                     {"token": acme.analyst_token, "csrf": "made-up"}):  # fmt: skip
            r = http.post("/dashboard/login", data=data)
            assert r.status_code == 403 and "waymark_session" not in r.headers.get("set-cookie", "")
        # A CSRF cookie from this site but a field that differs from it.
        dashboard_csrf(http)
        r = http.post("/dashboard/login", data={"token": acme.analyst_token, "csrf": "x" * 43})
        assert r.status_code == 403 and "had expired" in r.text
        assert session_rows(store) == []
        # The real form works.
        assert dashboard_sign_in(http, acme.analyst_token).status_code == 303
        assert signed_in(http)


def test_a_cross_site_sign_out_without_the_sessions_csrf_token_is_refused(
    live: RunningServer, store: Store, acme: Tenant
) -> None:
    with httpx.Client(base_url=live.url) as http, httpx.Client(base_url=live.url) as other:
        assert dashboard_sign_in(http, acme.analyst_token).status_code == 303
        assert dashboard_sign_in(other, acme.analyst_token).status_code == 303
        theirs = other.get("/dashboard").text.split("name=csrf value='", 1)[1].split("'", 1)[0]
        for data in ({}, {"csrf": "made-up"}, {"csrf": theirs}):
            r = http.post("/dashboard/logout", data=data)
            assert r.status_code == 403, data
            assert signed_in(http)
        assert len(session_rows(store)) == 2


def test_a_legacy_cookie_holding_the_raw_admin_token_signs_nothing_in(
    live: RunningServer, acme: Tenant
) -> None:
    with httpx.Client(base_url=live.url, cookies={"waymark_admin": acme.analyst_token}) as http:
        page = http.get("/dashboard")
        assert SIGN_IN_FORM in page.text and SIGNED_IN not in page.text
        assert 'waymark_admin=""' in cookie_header(page, "waymark_admin")
        assert http.get("/dashboard/report.csv").status_code == 303


def test_on_https_the_cookies_are_secure(tmp_path: Path, store: Store, acme: Tenant) -> None:
    root, cert, key = company_pki(tmp_path)
    with (
        running_server(store, ServerSettings(), tls=(cert, key)) as srv,
        httpx.Client(base_url=srv.url, verify=ssl.create_default_context(cafile=root)) as http,
    ):
        form = http.get("/dashboard")
        assert "secure" in cookie_header(form, "waymark_login_csrf").lower().split("; ")
        r = dashboard_sign_in(http, acme.analyst_token)
        assert r.status_code == 303
        flags = [f.strip().lower() for f in cookie_header(r, "waymark_session").split(";")]
        assert {"secure", "httponly", "samesite=strict"} <= set(flags)
