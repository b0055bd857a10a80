"""The limits of `waymark-server serve`, replayed as attacks against the real process.

Header size and count, slow headers and bodies (slowloris), a 300 MiB body
(with the server's memory measured before and after), the body cap of each
route class, HSTS only behind a trusted proxy, /metrics behind its token, and
the security headers.  The HTTP-level attacks use raw sockets against a real
``python -m server serve`` subprocess; the app-level ones the ``live`` server.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.waiting import free_port, stop_process, wait_for
from server.cli import build_parser, open_store
from server.errors import Invalid
from server.ingest import MAX_COMPRESSED
from server.json_guard import MAX_JSON_DEPTH, check_json_bytes, loads_strict
from server.routes.admin import MAX_BUNDLE_UPLOAD
from server.routes.headers import DASHBOARD_CSP, HSTS
from server.routes.limits import MAX_HEADERS, SMALL_BODY
from tests.server.conftest import METRICS_TOKEN, Tenant, auth, enroll, make_tenant

MiB = 1024 * 1024


@dataclass
class Served:
    """A `waymark-server serve` process on its own port and database."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    tenant: Tenant

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match, status
        return int(match.group(1)) / 1024

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def alive(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200

    def errors_logged(self) -> list[str]:
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if "Traceback" in line or "Exception" in line]


@contextmanager
def serving(tmp_path: Path, *flags: str) -> Iterator[Served]:
    """`python -m server serve` over a fresh SQLite file with one tenant, until the block ends."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path / 'limits.db'}"
    store = open_store(url)
    tenant = make_tenant(store, "acme")
    store.engine.dispose()
    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "server", "serve", "--db", url, "--port", str(port), *flags]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    served = Served(proc, port, log, tenant)
    try:

        def answers() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return served.alive()
            except httpx.HTTPError:
                return False

        wait_for(answers, 60, "waymark-server serve")
        yield served
    finally:
        stop_process(proc, 20)


def _answer(sock: socket.socket, within: float) -> bytes:
    """What the server sends until it closes the connection (or ``within`` seconds pass)."""
    deadline = time.monotonic() + within
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _status(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


def _send_until_answered(sock: socket.socket, head: bytes, chunk: bytes, total: int) -> float:
    """Send ``head`` then ``chunk`` repeatedly up to ``total`` bytes, stopping when the server
    answers or closes; the seconds it took."""
    start = time.monotonic()
    sock.sendall(head)
    sent = 0
    try:
        while sent < total:
            ready, _, _ = select.select([sock], [], [], 0)
            if ready:
                break
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return time.monotonic() - start


# ---------------------------------------------------------------- the HTTP layer (serve)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path, "--header-timeout", "2", "--body-timeout", "3") as served:
        yield served


def test_a_64_mib_header_is_refused_at_once_and_costs_no_memory(server: Served) -> None:
    before = server.rss_mb()
    with server.connect() as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        took = _send_until_answered(sock, head, b"a" * 65536, 64 * MiB)
        answer = _answer(sock, 10)
    print(f"\n64 MiB header: answered {answer[:12]!r} after {took:.2f} s, "
          f"RSS {before:.0f} -> {server.rss_mb():.0f} MB")  # fmt: skip
    assert _status(answer) == 400
    assert took < 5  # main took 10 s and answered 200
    assert server.rss_mb() - before < 30
    assert server.alive()


def test_a_thousand_headers_are_refused(server: Served) -> None:
    # 1,000 tiny headers fit in the size bound (8 KiB): the count bound refuses them.
    lines = b"".join(b"a%d: b\r\n" % i for i in range(1000))
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
        answer = _answer(sock, 10)
    assert _status(answer) == 431 and b"too_many_headers" in answer
    # And 100 are still served.
    lines = b"".join(b"a%d: b\r\n" % i for i in range(MAX_HEADERS - 2))
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + lines + b"\r\n")
        assert _status(_answer(sock, 10)) == 200


def test_slowloris_headers_are_cut_off_after_the_header_timeout(server: Served) -> None:
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        answer = b""
        for byte in b"X-Slow: " + b"a" * 60:  # one byte a second, for up to a minute
            ready, _, _ = select.select([sock], [], [], 1.0)
            if ready:
                answer = _answer(sock, 5)
                break
            sock.sendall(bytes([byte]))
        took = time.monotonic() - start
    print(f"\nslowloris headers: {answer[:12]!r} after {took:.1f} s (header timeout 2 s)")
    assert _status(answer) == 408 and b"header_timeout" in answer
    assert took < 2 + 3
    # A connection that never says anything is closed too.
    with server.connect() as sock:
        start = time.monotonic()
        assert _answer(sock, 10) == b""
        assert time.monotonic() - start < 2 + 3
    assert server.alive()


def test_a_slow_body_is_answered_408_after_the_body_timeout(server: Served) -> None:
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(
            b"POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        answer = b""
        for _ in range(60):  # one byte a second
            ready, _, _ = select.select([sock], [], [], 1.0)
            if ready:
                answer = _answer(sock, 5)
                break
            sock.sendall(b" ")
        took = time.monotonic() - start
    print(f"\nslowloris body: {answer[:12]!r} after {took:.1f} s (body timeout 3 s)")
    assert _status(answer) == 408 and b"body_timeout" in answer
    assert took < 3 + 3


@pytest.mark.parametrize("path", ["/v1/enroll", "/dashboard/login"])
def test_a_300_mib_body_is_refused_and_the_server_memory_stays_flat(
    server: Served, path: str
) -> None:
    before = server.rss_mb()
    # Declared: refused before a byte of it is read.
    with server.connect() as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {300 * MiB}\r\n\r\n"
        ).encode()
        took = _send_until_answered(sock, head, b"x" * 65536, 300 * MiB)
        declared = _answer(sock, 10)
    # Chunked, no length: refused once the bytes read pass the cap.
    with server.connect() as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        took_chunked = _send_until_answered(sock, head, chunk, 300 * MiB)
        chunked = _answer(sock, 10)
    after = server.rss_mb()
    print(
        f"\n300 MiB to {path}: declared {declared[:12]!r} in {took:.2f} s, chunked "
        f"{chunked[:12]!r} in {took_chunked:.2f} s; RSS {before:.0f} -> {after:.0f} MB"
    )
    assert _status(declared) == 413 and _status(chunked) == 413
    assert took < 5 and took_chunked < 5
    assert after - before < 30  # main: 125 MB -> 880 MB
    assert server.alive()
    assert server.errors_logged() == []


def test_hsts_only_over_https_or_behind_a_trusted_proxy(tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-Proto": "https"}
    with serving(tmp_path / "untrusted") as plain:
        r = httpx.get(f"{plain.url}/healthz", headers=forwarded)
        assert "strict-transport-security" not in r.headers  # anybody can send that header
    with serving(tmp_path / "trusted", "--trust-proxy", "10.0.0.9, 127.0.0.1") as proxied:
        assert (
            httpx.get(f"{proxied.url}/healthz", headers=forwarded).headers[
                "strict-transport-security"
            ]
            == HSTS
        )
        r = httpx.get(f"{proxied.url}/healthz", headers={"X-Forwarded-Proto": "http"})
        assert "strict-transport-security" not in r.headers


def test_metrics_need_the_token_and_are_off_without_one(tmp_path: Path) -> None:
    with serving(tmp_path / "off") as off:
        r = httpx.get(f"{off.url}/metrics")
        assert r.status_code == 404 and r.json()["error"] == "metrics_off"
    with serving(tmp_path / "on", "--metrics-token", "wmm_s3cret") as on:
        assert httpx.get(f"{on.url}/metrics").status_code == 401
        assert httpx.get(f"{on.url}/metrics", headers=auth("wmm_wrong")).status_code == 401
        r = httpx.get(f"{on.url}/metrics", headers=auth("wmm_s3cret"))
        assert r.status_code == 200 and "waymark_http_requests_total" in r.text
        # Nothing per tenant: no tenant's name or id labels a series.
        assert "acme" not in r.text and "tenant" not in r.text
        # Nor can a client add series: made-up methods and paths are counted as one each.
        for i in range(20):
            httpx.request(f"X{i}", f"{on.url}/no/such/path/{i}")
        text = httpx.get(f"{on.url}/metrics", headers=auth("wmm_s3cret")).text
        assert 'method="OTHER",route="unmatched",status="404"} 20' in text, text
        assert "X1" not in text and "/no/such" not in text


def test_connections_past_the_concurrency_limit_are_answered_503_at_once(tmp_path: Path) -> None:
    with serving(tmp_path, "--limit-concurrency", "4", "--header-timeout", "30") as served:
        idle = [served.connect() for _ in range(4)]
        try:
            start = time.monotonic()
            r = httpx.get(f"{served.url}/healthz", timeout=10)
            assert r.status_code == 503 and time.monotonic() - start < 5
        finally:
            for sock in idle:
                sock.close()
        wait_for(served.alive, 10, "the server to take requests again")


def test_serve_help_names_every_limit_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for flag in ("--trust-proxy", "--metrics-token", "--limit-concurrency", "--header-timeout",
                 "--body-timeout"):  # fmt: skip
        assert flag in text


# ---------------------------------------------------------------- the JSON guard


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, None),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested_too_deeply"),
        (b"[{" * 17 + b"}]" * 17, "nested_too_deeply"),  # 34 levels, arrays and objects
        (b"[" * 100_000, "nested_too_deeply"),  # never closed: the parser would recurse
        (b"[" * 50_000 + b"}" * 50_000, "nested_too_deeply"),
        (b'{"a": "' + b"[" * 1000 + b'\\"[{"}', None),  # brackets in a string are text
        (b'{"a": "NaN", "Infinity": ["-Infinity"]}', None),
        (b'{"a": NaN}', "bad_json"),
        (b"[1, -Infinity]", "bad_json"),
        (b"[Infinity]", "bad_json"),
    ],
)
def test_the_json_guard_refuses_depth_and_non_finite_numbers_only(
    body: bytes, refused: str | None
) -> None:
    try:
        check_json_bytes(body)
    except Invalid as exc:
        assert exc.code == refused
    else:
        assert refused is None


def test_strict_loading_refuses_out_of_range_numbers() -> None:
    assert loads_strict(b'{"t": 1e308, "n": -0}') == {"t": 1e308, "n": 0}
    for text in (b"[1e400]", b"[-1e400]", b"[NaN]"):
        with pytest.raises(Invalid) as caught:
            loads_strict(text)
        assert caught.value.code == "bad_json"


# ---------------------------------------------------------------- the app (live server)


def _post(client: httpx.Client, path: str, size: int, headers: dict[str, str]) -> int:
    body = b'{"x": "' + b"a" * (size - 9) + b'"}'
    assert len(body) == size
    return client.post(path, content=body, headers=headers).status_code


def test_each_route_class_has_its_body_cap(client: httpx.Client, acme: Tenant) -> None:
    device = {**auth(enroll(client, acme)), "Content-Type": "application/json"}
    publisher = auth(acme.publisher_token)
    json_type = {"Content-Type": "application/json"}
    assert _post(client, "/v1/enroll", SMALL_BODY, json_type) == 422  # read, then refused
    assert _post(client, "/v1/enroll", SMALL_BODY + 1, json_type) == 413
    assert _post(client, "/dashboard/login", SMALL_BODY + 1, {}) == 413
    assert _post(client, "/v1/events", MAX_COMPRESSED, device) == 400  # not a batch
    assert _post(client, "/v1/events", MAX_COMPRESSED + 1, device) == 413
    assert _post(client, "/v1/admin/bundles", MAX_BUNDLE_UPLOAD, publisher) == 400
    assert _post(client, "/v1/admin/bundles", MAX_BUNDLE_UPLOAD + 1, publisher) == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    # Chunked (no Content-Length): the bytes read are counted.
    r = client.post("/v1/enroll", content=chunks(), headers=json_type)
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_deep_json_and_nan_are_refused_before_parsing(client: httpx.Client, acme: Tenant) -> None:
    json_type = {"Content-Type": "application/json"}
    deep = b'{"token": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    r = client.post("/v1/enroll", content=deep, headers=json_type)
    assert r.status_code == 400 and r.json()["error"] == "nested_too_deeply"
    r = client.post("/v1/enroll", content=b'{"token": NaN}', headers=json_type)
    assert r.status_code == 400 and "NaN" in r.json()["message"]
    # 1e400 parses to infinity, and the 422 that echoes it still renders.
    publisher = {**auth(acme.publisher_token), **json_type}
    r = client.put(
        "/v1/admin/packs/p/versions/1/rollout", content=b'{"percent": 1e400}', headers=publisher
    )
    assert r.status_code == 422 and r.json()["detail"][0]["input"] == "inf"
    device = {**auth(enroll(client, acme)), **json_type}
    r = client.post("/v1/events", content=b'{"events": ' + b"[" * 1000 + b"]" * 1000 + b"}",
                    headers=device)  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "nested_too_deeply"


def test_report_days_out_of_range_are_refused_with_the_field_named(
    client: httpx.Client, acme: Tenant
) -> None:
    publisher = auth(acme.publisher_token)
    for query, field in (("until=0001-01-05", "until"), ("since=9999-12-31", "since")):
        r = client.get(f"/v1/admin/reports?{query}", headers=publisher)
        assert r.status_code == 400 and r.json()["message"].startswith(field), r.text


def test_security_headers_on_api_and_dashboard_answers(client: httpx.Client, acme: Tenant) -> None:
    r = client.get("/v1/admin/packs", headers=auth(acme.publisher_token))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    unauthenticated = client.get("/v1/pack")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["x-content-type-options"] == "nosniff"
    page = client.get("/dashboard")
    assert page.headers["content-security-policy"] == DASHBOARD_CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in page.headers  # plain http, no trusted proxy
    # The page has no inline style or script for the CSP to block.
    assert "<style" not in page.text and "<script" not in page.text
    assert " style=" not in page.text
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    metrics = client.get("/metrics", headers=auth(METRICS_TOKEN))
    assert metrics.status_code == 200 and metrics.headers["cache-control"] == "no-store"


def test_serve_runs_several_workers_with_the_limits(tmp_path: Path) -> None:
    # The multi-process path hands the settings over in the environment.
    with serving(tmp_path, "--workers", "2", "--metrics-token", "wmm_w") as served:
        assert httpx.get(f"{served.url}/metrics", headers=auth("wmm_w")).status_code == 200
        big = httpx.post(f"{served.url}/v1/enroll", content=b"x" * (SMALL_BODY + 1))
        assert big.status_code == 413
    assert os.environ.get("WAYMARK_METRICS_TOKEN") != "wmm_w"  # serve ran in its own process
