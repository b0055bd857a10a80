"""Guessing admin tokens: wrong ones from one address spend a small budget, then 429.

Replays the attack on the real server: a script posting tokens to the
dashboard's sign-in form, and the same against the admin API.  Before this
budget every guess got its 401 as fast as the server could answer.
"""

from __future__ import annotations

import httpx

from devtools.live_server import running_server
from server.ratelimit import MAX_KEYS, RateLimiter
from server.settings import ServerSettings
from server.store import Store
from tests.server.conftest import METRICS_TOKEN, Tenant, auth, dashboard_sign_in, enroll

BURST = 4
WRONG = "wma_" + "x" * 43


def test_wrong_admin_tokens_spend_the_addresss_budget_on_the_dashboard_and_the_api(
    store: Store, acme: Tenant
) -> None:
    settings = ServerSettings(admin_failure_burst=BURST, admin_failures_per_source_hour=60.0,
                              metrics_token=METRICS_TOKEN)  # fmt: skip
    with running_server(store, settings) as srv, httpx.Client(base_url=srv.url) as browser:
        # The right token spends nothing: signing in again and again is fine.
        for _ in range(BURST * 3):
            browser.cookies.clear()  # signed out: the sign-in form again
            assert dashboard_sign_in(browser, acme.analyst_token).status_code == 303
        browser.cookies.clear()
        for _ in range(BURST - 1):
            r = dashboard_sign_in(browser, WRONG)
            assert r.status_code == 401 and "not a valid admin token" in r.text
        # The API shares the budget: its wrong bearer token is the last one allowed.
        r = browser.get("/v1/admin/audit", headers=auth(WRONG))
        assert r.status_code == 401, r.text
        # Spent: the next guess, and even the right token, wait for the budget to refill.
        r = dashboard_sign_in(browser, WRONG)
        assert r.status_code == 429 and "Too many wrong tokens from this address" in r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "name=csrf" in r.text  # still the sign-in form, with a fresh CSRF field
        assert dashboard_sign_in(browser, acme.analyst_token).status_code == 429
        r = browser.get("/v1/admin/audit", headers=auth(acme.publisher_token))
        assert r.status_code == 429 and r.json()["error"] == "source_rate_limited", r.text
        assert int(r.headers["Retry-After"]) >= 1
        # Devices are not admins: their uploads and pack checks are not affected.
        device = auth(enroll(browser, acme))
        assert browser.get("/v1/pack", headers=device).status_code in (200, 204)
        metrics = browser.get("/metrics", headers=auth(METRICS_TOKEN)).text
    assert f'waymark_admin_auth_refused_total{{reason="unknown_token"}} {BURST}' in metrics
    assert 'waymark_admin_auth_refused_total{reason="source_rate_limited"} 3' in metrics


def test_behind_a_trusted_proxy_the_budget_is_the_clients_not_the_proxys(
    store: Store, acme: Tenant
) -> None:
    settings = ServerSettings(admin_failure_burst=BURST,
                              trusted_proxies=frozenset({"127.0.0.1"}))  # fmt: skip
    with running_server(store, settings) as srv, httpx.Client(base_url=srv.url) as http:

        def audit(client: str, token: str) -> int:
            headers = {**auth(token), "X-Forwarded-For": f"198.51.100.7, {client}"}
            return http.get("/v1/admin/audit", headers=headers).status_code

        assert [audit("203.0.113.1", WRONG) for _ in range(BURST + 1)] == [401] * BURST + [429]
        assert audit("203.0.113.1", acme.publisher_token) == 429
        # Another client behind the same proxy still gets in: the proxy's address is
        # not what is limited, the client it names is.
        assert audit("203.0.113.2", acme.publisher_token) == 200


def test_varying_the_address_cannot_grow_the_budgets_memory() -> None:
    now = [0.0]
    limiter = RateLimiter(per_second=1.0, burst=2, clock=lambda: now[0])
    assert limiter.acquire("attacker") == 0 and limiter.acquire("attacker") == 0
    assert limiter.acquire("attacker") > 0  # spent
    for i in range(3 * MAX_KEYS):
        limiter.acquire(f"2001:db8::{i:x}")
        now[0] += 1e-6
        assert len(limiter) <= MAX_KEYS
    # The most recently used keys are kept: one spent a moment ago is still limited.
    limiter.acquire("recent")
    limiter.acquire("recent")
    assert limiter.wait("recent") > 0
    # Once every bucket has refilled, all are as good as absent: they go first.
    now[0] += 10.0
    before = len(limiter)
    for i in range(MAX_KEYS - before + 1):
        limiter.acquire(f"later-{i}")
    assert len(limiter) == MAX_KEYS - before + 1  # only the keys used since
