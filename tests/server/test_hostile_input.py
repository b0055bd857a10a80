"""The hostile-input corpus: every route, every hostile input, with and without auth — no 5xx.

For every operation in /openapi.json and every dashboard route, the corpus
below is sent to the real server (SQLite and PostgreSQL): hostile bodies
under each kind of authorisation (none, the right token, bad Authorization
headers), hostile path parameters, query parameters and JSON fields with the
right token.  Every answer must be below 500, and the server must log no
exception (the autouse ``log_fail`` fixture fails the test on any WARNING+
record, uvicorn's "Exception in ASGI application" included).
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import httpx

from devtools.live_server import RunningServer
from tests.server.conftest import METRICS_TOKEN, Tenant, auth, enroll
from tests.server.conftest import pack_text as _pack_text

# ---------------------------------------------------------------- the corpus (data)


@dataclass(frozen=True)
class Body:
    """One hostile request body: its bytes and the headers that describe it."""

    name: str
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _deep(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


def _json(name: str, doc: str | bytes, **headers: str) -> Body:
    data = doc.encode() if isinstance(doc, str) else doc
    return Body(name, data, {"Content-Type": "application/json", **headers})


def _gzip(name: str, raw: bytes) -> Body:
    return Body(
        name,
        gzip.compress(raw, compresslevel=9),
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


#: Bodies sent to every operation, under every kind of authorisation.
BODIES: Final[tuple[Body, ...]] = (
    Body("empty", b""),
    _json("empty json", b""),
    _json("deep array 1,000", _deep(1000)),
    _json("deep array 100,000", _deep(100_000)),
    _json("deep object 1,000", b'{"a":' * 1000 + b"1" + b"}" * 1000),
    _json("deep object 100,000", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    _json("deep never closed", b"[" * 100_000),
    _json("deep mismatched", b"[" * 50_000 + b"}" * 50_000),
    _json("events deep 1,000", b'{"events":' + _deep(1000) + b"}"),
    _json("NaN", '{"token": NaN, "percent": NaN, "to_version": NaN, "groups": NaN}'),
    _json("Infinity", '{"percent": Infinity, "to_version": -Infinity, "events": Infinity}'),
    _json("1e400", '{"percent": 1e400, "to_version": -1e400, "events": [1e400]}'),
    _json("-0", '{"percent": -0, "to_version": -0.0, "groups": -0}'),
    _json("huge int", '{"percent": ' + "9" * 4000 + ', "to_version": ' + "9" * 4000 + "}"),
    _json("huger int", '{"percent": ' + "9" * 5000 + "}"),
    _json("array", "[]"),
    _json("array of objects", '[{"token": "x"}, {"events": []}]'),
    _json("string", '"hello"'),
    _json("null", "null"),
    _json("number", "42"),
    _json("object of nulls", '{"token": null, "groups": null, "percent": null, "events": null}'),
    _json("invalid utf-8", b'{"token": "\xff\xfe\xfd", "groups": ["\xc3\x28"]}'),
    _json("lone surrogate", '{"token": "\\ud800", "groups": ["\\udfff"], "percent": "\\ud800"}'),
    _json("nul bytes", '{"token": "wme_\\u0000", "groups": ["a\\u0000b"]}'),
    _json("over-long strings", json.dumps({"token": "t" * 15000, "groups": ["g" * 300]})),
    _json("many keys", json.dumps({f"k{i}": i for i in range(1500)})),
    _json("utf-16", '{"token": "x"}'.encode("utf-16"), **{"Content-Type": "application/json"}),
    _json("not json", b"{this is not json"),
    Body("text/plain json", b'{"token": "x"}', {"Content-Type": "text/plain"}),
    Body(
        "form", b"token=x&groups=a&percent=5", {"Content-Type": "application/x-www-form-urlencoded"}
    ),
    Body(
        "form deep", b"token=" + b"[" * 10000, {"Content-Type": "application/x-www-form-urlencoded"}
    ),
    Body(
        "multipart garbage",
        b"--b\r\nContent-Disposition: form-data; name=token\r\n\r\nx\r\n--b--",
        {"Content-Type": "multipart/form-data; boundary=b"},
    ),
    Body("multipart no boundary", b"--x", {"Content-Type": "multipart/form-data"}),
    Body(
        "xml",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'a'>]><x>&a;</x>",
        {"Content-Type": "application/xml"},
    ),
    Body("+json deep", _deep(100_000), {"Content-Type": "application/vnd.waymark.bundle+json"}),
    Body("odd content type", b"{}", {"Content-Type": "application/json; charset=" + "x" * 2000}),
    Body("bad content type", b"{}", {"Content-Type": ';;;/;="\\'}),
    Body("binary", bytes(range(256)) * 8, {"Content-Type": "application/octet-stream"}),
    Body(
        "over the small cap",
        b'{"token": "' + b"x" * 20000 + b'"}',
        {"Content-Type": "application/json"},
    ),
    _gzip("gzip bomb 100 MiB", b"\0" * (100 * 1024 * 1024)),
    _gzip("gzip bomb json", b'{"events": [' + b"{}," * (3 * 1024 * 1024) + b"{}]}"),
    _gzip("gzip deep", _deep(1_000_000)),
    _gzip("gzip NaN", b'{"events": [{"uuid": NaN, "t": Infinity}]}'),
    _gzip("gzip 1e400", b'{"events": [{"t": 1e400}]}'),
    Body(
        "gzip truncated",
        gzip.compress(b'{"events": []}')[:-6],
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ),
    Body(
        "gzip header, plain body",
        b'{"events": []}',
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ),
    Body(
        "gzip twice",
        gzip.compress(gzip.compress(b'{"events": []}')),
        {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"},
    ),
    Body(
        "brotli",
        b"\x8b\x02\x80{}\x03",
        {"Content-Type": "application/json", "Content-Encoding": "br"},
    ),
    Body("odd encoding", b"{}", {"Content-Encoding": "x" * 1000}),
)

_T_GOOD: Final = 1_796_026_502.5


def _event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uuid": "0b6c3f0e-8f5e-4a57-9d07-6c1f1c8f4f11",
        "t": _T_GOOD,
        "kind": "shown",
        "pack_id": "m365-habits",
        "pack_version": 7,
        "rule": "share-link",
        "habit": "share-links",
    }
    return {**base, **fields}


#: Values put in each field of a JSON body (one field at a time), and each query parameter.
HOSTILE_VALUES: Final[tuple[Any, ...]] = (
    None, True, 0, -0.0, -1, 2**31, 2**63, 10**400, 1e308, -1e308, 1.5, "", " ", "x" * 5000,
    "0001-01-01", "0001-01-05", "9999-12-31", "0000-00-00", "2026-02-30",
    "../../../etc/passwd", "%00", "\u0000", "ü" * 100, "\ud800", [], [None] * 100, {},
    {"a": {"b": {"c": []}}}, ["x" * 300] * 40,
)  # fmt: skip

#: Raw JSON text for each field (what json.dumps cannot write).
HOSTILE_RAW: Final[tuple[str, ...]] = ("NaN", "Infinity", "-Infinity", "1e400", "9" * 4000)

#: Query parameter values (strings: a URL carries nothing else).
HOSTILE_QUERY: Final[tuple[str, ...]] = (
    "", "0001-01-01", "0001-01-05", "9999-12-31", "0000-00-00", "2026-13-40", "-1",
    "99999999999999999999999999", "1e400", "NaN", "inf", "-0", "x" * 5000,
    "../../etc/passwd", "\u0000", "ü", "\ud800", "[]", "{}",
)  # fmt: skip

#: Path parameter values (quoted whole, and some raw).
HOSTILE_PATH: Final[tuple[str, ...]] = (
    "..", "../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%00", "x" * 5000,
    "-1", "99999999999999999999999", "1e3", "NaN", "ü", " ", "*", "m365-habits/../x",
)  # fmt: skip

#: Authorization headers that are not a valid token.
BAD_AUTH: Final[tuple[str | bytes, ...]] = (
    "Bearer",
    "Bearer , wmd_x",
    "Basic dXNlcjpwYXNz",
    "Bearer wmd_" + "x" * 8000,
    "Bearer wma_not-a-token",
    "Bearer wme_not-a-token",
    "bearer  \t wmd_spaces",
    b"Bearer \xff\xfe\xfd",
    "Bearer " + "../" * 100,
    "Negotiate " + "A" * 4000,
)

#: The bodies sent with each bad Authorization header.
WITH_BAD_AUTH: Final = frozenset(
    {"empty", "deep array 100,000", "NaN", "gzip bomb 100 MiB", "over the small cap"}
)

# ---------------------------------------------------------------- sending it


@dataclass
class Tally:
    """What the corpus sent and what came back."""

    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def record(self, what: str, response: httpx.Response) -> None:
        self.sent += 1
        self.by_status[response.status_code] = self.by_status.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            self.server_errors.append(f"{what}: {response.status_code} {response.text[:200]}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    body_fields: tuple[str, ...]


def _operations(spec: Mapping[str, Any]) -> Iterator[Operation]:
    schemas = spec["components"]["schemas"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            content = op.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            yield Operation(
                method.upper(),
                path,
                tuple(p["name"] for p in params if p["in"] == "path"),
                tuple(p["name"] for p in params if p["in"] == "query"),
                tuple(schema.get("properties", {})),
            )


#: The dashboard's routes (not in the OpenAPI): method, path, query parameters, form fields.
DASHBOARD: Final = (
    Operation("GET", "/dashboard", (), ("since", "until", "pack_id", "group", "window_days"), ()),
    Operation(
        "GET",
        "/dashboard/report.csv",
        (),
        ("since", "until", "pack_id", "group", "window_days"),
        (),
    ),
    Operation("POST", "/dashboard/login", (), (), ("token",)),
    Operation("POST", "/dashboard/logout", (), (), ()),
    Operation("GET", "/dashboard/static/dashboard.css", (), (), ()),
)


@dataclass
class Credentials:
    device: dict[str, str]
    publisher: dict[str, str]
    analyst: dict[str, str]
    metrics: dict[str, str]
    cookie: dict[str, str]
    enroll_token: str
    erasable: str

    def valid_for(self, op: Operation) -> dict[str, str]:
        if op.path.startswith("/v1/admin"):
            return self.publisher
        if op.path in ("/v1/events", "/v1/pack", "/v1/device/groups"):
            return self.device
        if op.path == "/metrics":
            return self.metrics
        if op.path.startswith("/dashboard"):
            return self.cookie
        return {}


def _path_values(op: Operation, creds: Credentials) -> dict[str, str]:
    # Credentials that do not exist (404), so that revoking them leaves the corpus its own.
    good = {"pack_id": "m365-habits", "version": "1", "device_id": creds.erasable,
            "token_id": "999999", "key_id": "0123456789abcdef"}  # fmt: skip
    return {name: good[name] for name in op.path_params}


def _base_body(op: Operation, creds: Credentials) -> dict[str, Any]:
    bases: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/enroll"): {"token": creds.enroll_token, "os": "linux", "groups": ["a"]},
        ("POST", "/v1/events"): {"events": [_event()]},
        ("PUT", "/v1/device/groups"): {"groups": ["sales"]},
        ("POST", "/v1/admin/packs/{pack_id}/rollback"): {"to_version": 1},
        ("PUT", "/v1/admin/packs/{pack_id}/versions/{version}/rollout"): {"percent": 50},
        ("POST", "/v1/admin/enroll-tokens"): {"expires_days": 30, "max_uses": 10},
        ("PUT", "/v1/admin/approval"): {"mode": "auto", "per_hour": None},
        ("POST", "/v1/admin/devices/approve"): {"device_ids": [creds.erasable]},
    }
    return bases.get((op.method, op.path), {})


def _quoted(value: str, safe: str = "") -> str:
    # A lone surrogate goes on the wire as the bytes it would be (not UTF-8: that's the point).
    return quote(value.encode("utf-8", "surrogatepass"), safe=safe)


def _url(op: Operation, values: Mapping[str, str], *, raw: bool = False) -> str:
    """The operation's URL; ``raw`` leaves "/" and "%" in the values as they are."""
    url = op.path
    for name, value in values.items():
        url = url.replace("{" + name + "}", _quoted(value, "/%" if raw else ""))
    return url


def _send(
    http: httpx.Client,
    tally: Tally,
    what: str,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str | bytes] | None = None,
    content: bytes | None = None,
    query: Mapping[str, str] | None = None,
) -> None:
    if query:
        url += "?" + "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in query.items())
    wire = [
        (k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in (headers or {}).items()
    ]
    response = http.request(method, url, headers=wire, content=content)
    tally.record(f"{method} {url[:80]} [{what}]", response)


def _hostile_fields(op: Operation, creds: Credentials) -> Iterator[tuple[str, bytes]]:
    """Bodies with one field of the route's JSON body set to each hostile value."""
    base = _base_body(op, creds)
    fields = list(op.body_fields)
    if op.path == "/v1/events":
        fields += [f"events[0].{name}" for name in _event()]
    for name in fields:
        for i, value in enumerate(HOSTILE_VALUES):
            yield f"{name}={i}", _with_field(base, name, value)
        for raw in HOSTILE_RAW:
            marker = "__RAW__"
            text = _with_field(base, name, marker).decode()
            yield f"{name}={raw[:10]}", text.replace(f'"{marker}"', raw).encode()


def _with_field(base: Mapping[str, Any], name: str, value: Any) -> bytes:
    doc = json.loads(json.dumps(base))
    if name.startswith("events[0]."):
        doc["events"][0][name.split(".", 1)[1]] = value
    else:
        doc[name] = value
    return json.dumps(doc).encode("utf-8", "surrogatepass")


def run_corpus(http: httpx.Client, ops: list[Operation], creds: Credentials) -> Tally:
    tally = Tally()
    json_type = {"Content-Type": "application/json"}
    for op in ops:
        valid = creds.valid_for(op)
        url = _url(op, _path_values(op, creds))
        auths: list[tuple[str, Mapping[str, str | bytes]]] = [("no auth", {}), ("valid", valid)]
        if op.path.startswith("/v1/admin"):
            auths.append(("analyst", creds.analyst))
        bad = [(f"bad auth {i}", {"Authorization": a}) for i, a in enumerate(BAD_AUTH)]
        # 1. Every hostile body without and with the right token (and an analyst's); the bad
        # Authorization headers with a few bodies each (the token is checked before the body).
        for (who, auth_headers), body in [
            *itertools.product(auths, BODIES),
            *itertools.product(bad, [b for b in BODIES if b.name in WITH_BAD_AUTH]),
        ]:
            headers = {**auth_headers, **body.headers}
            _send(http, tally, f"{who}, {body.name}", op.method, url, headers=headers,
                  content=body.content)  # fmt: skip
        # 2. Hostile path parameters, quoted and raw.
        for name in op.path_params:
            for value in HOSTILE_PATH:
                values = {**_path_values(op, creds), name: value}
                content = json.dumps(_base_body(op, creds)).encode()
                for raw in (False, True):
                    _send(http, tally, f"path {name}", op.method, _url(op, values, raw=raw),
                          headers={**valid, **json_type}, content=content)  # fmt: skip
        # 3. Hostile query parameters, one at a time.
        for name in op.query_params:
            for value in HOSTILE_QUERY:
                _send(http, tally, f"query {name}", op.method, url, headers=valid,
                      query={name: value})  # fmt: skip
        # 4. Hostile values in each field of the JSON body.
        if op.body_fields or op.path == "/v1/events":
            for what, content in _hostile_fields(op, creds):
                _send(http, tally, what, op.method, url, headers={**valid, **json_type},
                      content=content)  # fmt: skip
    return tally


def _credentials(live: RunningServer, http: httpx.Client, acme: Tenant) -> Credentials:
    secret = enroll(http, acme)
    erasable = http.post(
        "/v1/enroll", json={"token": acme.enroll_token, "os": "linux", "groups": []}
    ).json()["device_id"]
    publisher = auth(acme.publisher_token)
    assert acme.bundle(1) and _pack_text(1)
    r = http.post("/v1/admin/bundles", content=acme.bundle(1), headers=publisher)
    assert r.status_code == 201, r.text
    with httpx.Client(base_url=live.url) as browser:
        # Sign in as a browser does: open the form (and post back its CSRF field, if any).
        form = browser.get("/dashboard").text
        csrf = re.search(r"name=csrf value='([^']*)'", form)
        fields = {"token": acme.analyst_token, **({"csrf": csrf.group(1)} if csrf else {})}
        assert browser.post("/dashboard/login", data=fields).status_code == 303
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        assert browser.get("/dashboard").text.count("Sign out") == 1
    return Credentials(
        device=auth(secret),
        publisher=publisher,
        analyst=auth(acme.analyst_token),
        metrics=auth(METRICS_TOKEN),
        cookie={"Cookie": cookie},
        enroll_token=acme.enroll_token,
        erasable=erasable,
    )


def test_no_hostile_input_on_any_route_causes_a_server_error(
    live: RunningServer, client: httpx.Client, acme: Tenant
) -> None:
    spec = client.get("/openapi.json").json()
    ops = [*_operations(spec), *DASHBOARD]
    assert len(ops) >= 18  # 13 API operations + the dashboard's 5
    creds = _credentials(live, client, acme)
    tally = run_corpus(client, ops, creds)
    print(f"\nhostile corpus: {tally.sent} requests, by status {sorted(tally.by_status.items())}")
    assert tally.server_errors == []
    assert tally.sent >= 3000
    # The corpus reached the handlers, not only the limits: some of it was accepted.
    assert tally.by_status.get(200, 0) > 0 and tally.by_status.get(422, 0) > 0
    # No budget ran out on the way (the `live` server's are generous): a 429 would mean
    # the requests after it never reached their handlers.
    assert 429 not in tally.by_status
