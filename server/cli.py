"""The ``waymark-server`` command: serve, migrate, and the tenant admin commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine

from server.db import make_engine, migration_state, upgrade
from server.enrollment import DEFAULT_EXPIRES_DAYS, MAX_COUNT, Enrollment
from server.enrollment import DEFAULT_PER_HOUR as DEFAULT_ENROLL_PER_HOUR
from server.errors import DomainError, NotFound
from server.settings import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_RETAIN_DAYS,
    ServerSettings,
    proxies_from_text,
)
from server.store import Store

__all__ = ["build_parser", "main", "open_store"]


class SchemaError(Exception):
    """The database schema does not match this version of the server."""


def open_store(url: str | None) -> Store:
    """A store over ``url``; an empty database is migrated, an old one is refused."""
    engine = make_engine(url)
    try:
        _check_schema(engine, url)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def _check_schema(engine: Engine, url: str | None) -> None:
    state = migration_state(engine)
    if state == "empty":
        upgrade(engine)
    elif state == "behind":
        raise SchemaError(
            "the database schema is older than this server; back it up, then run "
            "`waymark-server migrate" + (f" --db {url}" if url else "") + "`"
        )
    elif state == "ahead":
        raise SchemaError(
            "the database was migrated by a newer waymark-server; upgrade this server"
        )


@contextmanager
def _opened(url: str | None) -> Iterator[Store]:
    store = open_store(url)
    try:
        yield store
    finally:
        store.engine.dispose()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.routes.limits import MAX_HEADER_BYTES
    from server.routes.protocol import HEADER_TIMEOUT_ENV, BoundedH11Protocol
    from server.workers import SPREAD_BY_KERNEL, SpreadWorkers, reuse_port_sockets

    settings = ServerSettings(
        rate_per_second=args.rate_per_second,
        rate_burst=args.rate_burst,
        retain_days=args.retain_days,
        enroll_per_source_hour=args.enroll_per_source_hour,
        enroll_source_burst=args.enroll_source_burst,
        trusted_proxies=proxies_from_text(args.trust_proxy),
        metrics_token=args.metrics_token,
        body_timeout=args.body_timeout,
    )
    os.environ[HEADER_TIMEOUT_ENV] = str(args.header_timeout)
    common = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": False,
        # Longer than a load balancer's idle timeout, so the server is not the side
        # that closes a connection a client is about to reuse.
        "timeout_keep_alive": 75,
        # h11 bounds a request's head (httptools does not); the protocol adds its deadline.
        "http": BoundedH11Protocol,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # Connections and requests at once, per process; beyond, 503 at once.
        "limit_concurrency": args.limit_concurrency,
        # X-Forwarded-* are read by server.routes.https, from --trust-proxy peers only.
        "proxy_headers": False,
    }
    with _opened(args.db) as store:
        print(f"waymark-server: listening on http://{args.host}:{args.port}", file=sys.stderr)
        if args.workers <= 1:
            uvicorn.run(create_app(store, settings), **common)
            return 0
    # Several processes: each builds its own app from the environment.
    os.environ["WAYMARK_RATE_PER_SECOND"] = str(args.rate_per_second)
    os.environ["WAYMARK_RATE_BURST"] = str(args.rate_burst)
    os.environ["WAYMARK_RETAIN_DAYS"] = str(args.retain_days)
    os.environ["WAYMARK_ENROLL_PER_SOURCE_HOUR"] = str(args.enroll_per_source_hour)
    os.environ["WAYMARK_ENROLL_SOURCE_BURST"] = str(args.enroll_source_burst)
    os.environ["WAYMARK_TRUST_PROXY"] = args.trust_proxy or ""
    os.environ["WAYMARK_METRICS_TOKEN"] = args.metrics_token or ""
    os.environ["WAYMARK_BODY_TIMEOUT"] = str(args.body_timeout)
    if args.db:
        os.environ["WAYMARK_SERVER_DB"] = args.db
    if not SPREAD_BY_KERNEL:
        uvicorn.run("server.asgi:app_from_env", factory=True, workers=args.workers, **common)
        return 0
    # One socket per worker, so that new connections are spread over all of them.
    config = uvicorn.Config("server.asgi:app_from_env", factory=True, workers=args.workers,
                            **common)  # fmt: skip
    sockets = reuse_port_sockets(args.host, args.port, args.workers, config.backlog)
    SpreadWorkers(config, sockets).run()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    try:
        before = migration_state(engine)
        if before == "ahead":
            raise SchemaError("the database was migrated by a newer waymark-server")
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"waymark-server: database schema is current (was {before})")
    return 0


def _tenant_create(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        tenant = store.create_tenant(args.name)
    print(f"tenant {args.name} created (id {tenant})")
    return 0


# ---------------------------------------------------------------- enrollment (issue 14 §1)


def _lifetime(text: str) -> float | None:
    """``--expires`` of an enrollment token: a duration (``30d``, ``12h``, ``2w``) or ``never``."""
    return None if text.strip().lower() == "never" else _expiry(text)


def _positive(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_COUNT}")
    return int(text)


def _when(at: float | None) -> str:
    if at is None:
        return "never"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _token_enroll(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        info, secret = Enrollment(store).create_token(
            store.tenant_id(args.tenant),
            expires_in=args.expires,
            max_uses=args.max_uses,
            per_hour=args.per_hour,
        )
    print(secret)
    print(
        f"token {info.id} ({info.prefix}…): expires {_when(info.expires)}, "
        f"{'unlimited' if info.max_uses is None else info.max_uses} device(s), "
        f"at most {info.per_hour or DEFAULT_ENROLL_PER_HOUR} enrollments an hour",
        file=sys.stderr,
    )
    return 0


def _enroll_token_list(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        tokens = Enrollment(store).tokens(store.tenant_id(args.tenant))
    now = time.time()
    print(f"{'id':>4}  {'prefix':<10} {'created':<20} {'expires':<20} {'uses':>9} "
          f"{'per hour':>8}  state")  # fmt: skip
    for t in tokens:
        uses = f"{t.uses}/{'∞' if t.max_uses is None else t.max_uses}"
        print(
            f"{t.id:>4}  {t.prefix + '…':<10} {_when(t.created):<20} {_when(t.expires):<20} "
            f"{uses:>9} {t.per_hour or DEFAULT_ENROLL_PER_HOUR:>8}  {t.state(now)}"
        )
    return 0


def _enroll_token_revoke(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        info = Enrollment(store).revoke_token(store.tenant_id(args.tenant), args.token_id)
    print(f"token {info.id} ({info.prefix}…) revoked: it enrolls no more devices "
          "(devices it enrolled keep working)")  # fmt: skip
    return 0


def _tenant_approval(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        done = Enrollment(store).set_approval(
            store.tenant_id(args.tenant), args.mode, args.per_hour
        )
    if done.mode == "manual":
        print(f"tenant {args.tenant}: new devices wait for `waymark-server device approve`")
    elif done.per_hour is None:
        print(f"tenant {args.tenant}: new devices are approved at once")
    else:
        print(f"tenant {args.tenant}: {done.per_hour} new device(s) per token and hour are "
              "approved, the rest wait for `waymark-server device approve`")  # fmt: skip
    return 0


def _device_pending(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        pending = Enrollment(store).pending(store.tenant_id(args.tenant))
    for d in pending:
        print(f"{d.id}  {d.os:<8} {d.agent_version:<10} enrolled {_when(d.created)}  "
              f"token {d.token_id if d.token_id is not None else '-'}")  # fmt: skip
    print(f"{len(pending)} device(s) waiting for approval", file=sys.stderr)
    return 0


def _device_approve(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        tenant = store.tenant_id(args.tenant) if args.tenant else None
        enrollment = Enrollment(store)
        ids = list(args.device_id)
        if args.all:
            if tenant is None:
                raise ValueError("--all needs --tenant")
            ids += [d.id for d in enrollment.pending(tenant)]
        if not ids:
            raise ValueError("name device ids, or --all --tenant NAME")
        n = enrollment.approve(tenant, ids)
    print(f"{n} device(s) approved (the others named were approved already)")
    return 0


def _add_enrollment_commands(
    db: argparse.ArgumentParser,
    tenant_sub: Any,
    token_sub: Any,
    device_sub: Any,
) -> None:
    """``token enroll``, ``tenant approval``, ``device pending|approve``."""
    enroll = token_sub.add_parser(
        "enroll",
        parents=[db],
        help="an enrollment token for agents (printed once; limits: docs/admin-guide.md)",
    )
    enroll.add_argument("tenant")
    enroll.add_argument(
        "--expires",
        type=_lifetime,
        default=DEFAULT_EXPIRES_DAYS * 86400.0,
        metavar="LIFETIME",
        help=f"12h, 30d, 2w or never (default {DEFAULT_EXPIRES_DAYS}d)",
    )
    enroll.add_argument(
        "--max-uses", type=_positive, metavar="N", help="devices it may add (default unlimited)"
    )
    enroll.add_argument(
        "--per-hour",
        type=_positive,
        metavar="N",
        help=f"enrollments per rolling hour (default {DEFAULT_ENROLL_PER_HOUR})",
    )
    enroll.set_defaults(func=_token_enroll)

    approval = tenant_sub.add_parser(
        "approval", parents=[db], help="whether new devices wait for approval"
    )
    approval.add_argument("tenant")
    approval.add_argument(
        "mode", choices=("auto", "manual"), help="auto: approve at once; manual: all wait"
    )
    approval.add_argument(
        "--per-hour",
        type=int,
        metavar="N",
        help="auto only: approve N new devices per token and hour, the rest wait",
    )
    approval.set_defaults(func=_tenant_approval)

    pending = device_sub.add_parser("pending", parents=[db], help="devices waiting for approval")
    pending.add_argument("tenant")
    pending.set_defaults(func=_device_pending)
    approve = device_sub.add_parser(
        "approve", parents=[db], help="let waiting devices send telemetry"
    )
    approve.add_argument("device_id", nargs="*", help="device ids (`device pending` lists them)")
    approve.add_argument("--tenant", help="only this tenant's devices (needed with --all)")
    approve.add_argument("--all", action="store_true", help="every waiting device of --tenant")
    approve.set_defaults(func=_device_approve)


# ---------------------------------------------------------------- /enrollment


def _token_admin(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        token_id, token = store.credentials.issue_admin_token(
            store.tenant_id(args.tenant), args.role, actor="cli", expires_in=args.expires
        )
    print(token)
    until = f"expires {_when(time.time() + args.expires)}" if args.expires else "never expires"
    print(f"admin token {token_id} ({args.role}) {until}; shown once", file=sys.stderr)
    return 0


def _publisher_key_add(args: argparse.Namespace) -> int:
    text: str = args.pubkey
    candidate = Path(text)
    if len(text) < 4096 and candidate.is_file():
        text = candidate.read_text(encoding="utf-8")
    with _opened(args.db) as store:
        kid = store.credentials.add_publisher_key(store.tenant_id(args.tenant), text, actor="cli")
    print(f"publisher key {kid} added to tenant {args.tenant}")
    return 0


def _tenant_timezone(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        store.set_time_zone(store.tenant_id(args.tenant), args.zone)
    print(f"tenant {args.tenant}: report days follow {args.zone} from the next event on")
    return 0


def _device_erase(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        done = store.erase_device(args.device_id.lower(), None, actor="cli")
    if not done.device_found:
        raise NotFound(f"no device {args.device_id}")
    print(
        f"device {args.device_id} erased: {done.events} raw event(s), "
        f"{done.exposures} exposure(s) and the device row; the audit log says when"
    )
    return 0


def _purge(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        done = store.purge(args.retain_days, actor="cli")
    print(
        f"retention ({args.retain_days} days): {done.events} raw event(s) deleted, "
        f"{done.exposures} exposure(s) of idle devices deleted (their cohort counts stay)"
    )
    return 0


def _rollups_rebuild(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        read = store.rebuild_rollups(store.tenant_id(args.tenant))
    print(f"tenant {args.tenant}: rollups rebuilt from {read} raw event(s)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from server.report_csv import report_csv
    from server.reports import build_report

    with _opened(args.db) as store:
        doc = build_report(
            store,
            store.tenant_id(args.tenant),
            args.since,
            args.until,
            args.pack_id,
            group=args.group,
            window_days=args.window_days,
        )
    text = report_csv(doc) if args.format == "csv" else json.dumps(doc, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


# ---------------------------------------------------------------- credentials and audit
#
# `token list|revoke`, `device list|revoke`, `publisher-key list|revoke`, `audit`:
# what server.credentials does, audited with the actor "cli".


def _expiry(text: str) -> float:
    from agent.timespans import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("an expiry is a positive duration such as 90d")
    return seconds


def _admin_token_list(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        tokens = store.credentials.admin_tokens(store.tenant_id(args.tenant))
    now = time.time()
    print(f"{'id':>6}  {'role':<9}  {'created':<20}  {'expires':<20}  state")
    for t in tokens:
        state = (
            f"revoked {_when(t.revoked)}" if t.revoked is not None
            else "expired" if t.expires is not None and t.expires <= now
            else "active"
        )  # fmt: skip
        print(f"{t.id:>6}  {t.role:<9}  {_when(t.created):<20}  {_when(t.expires):<20}  {state}")
    return 0


def _admin_token_revoke(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        store.credentials.revoke_admin_token(
            store.tenant_id(args.tenant), args.token_id, actor="cli"
        )
    print(f"admin token {args.token_id} revoked: refused from the next request on, "
          "its dashboard sessions ended")  # fmt: skip
    return 0


def _device_list(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        tenant, after = store.tenant_id(args.tenant), ""
        print(f"{'device':<36}  {'os':<8}  {'agent':<10}  {'last seen':<20}  state")
        while page := store.credentials.devices(tenant, after=after):
            for d in page:
                state = f"revoked {_when(d.revoked)}" if d.revoked is not None else "active"
                print(f"{d.id:<36}  {d.os:<8}  {d.agent_version:<10}  "
                      f"{_when(d.last_seen):<20}  {state}")  # fmt: skip
            after = page[-1].id
    return 0


def _device_revoke(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        store.credentials.revoke_device(None, args.device_id.lower(), actor="cli")
    print(f"device {args.device_id} revoked: its secret is refused from the next request on "
          "(its data stays; `device erase` deletes it)")  # fmt: skip
    return 0


def _publisher_key_list(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        keys = store.credentials.publisher_keys(store.tenant_id(args.tenant))
    for k in keys:
        state = f"revoked {_when(k.revoked)}" if k.revoked is not None else "trusted"
        print(f"{k.key_id}  {k.public_key}  added {_when(k.created)}  {state}")
    return 0


def _publisher_key_revoke(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        tenant = store.tenant_id(args.tenant)
        store.credentials.revoke_publisher_key(tenant, args.key_id, actor="cli")
        left = [k for k in store.credentials.publisher_keys(tenant) if k.revoked is None]
    print(f"publisher key {args.key_id} revoked: uploads signed with it are refused and its "
          "bundles are no longer served")  # fmt: skip
    if not left:
        print("warning: the tenant trusts no publisher key now; add one before the next "
              "upload", file=sys.stderr)  # fmt: skip
    return 0


def _audit(args: argparse.Namespace) -> int:
    from server.audit import audit_entries

    with _opened(args.db) as store:
        entries = audit_entries(store.engine, store.tenant_id(args.tenant), args.limit)
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        detail = {k: v for k, v in e.items() if k not in ("at", "action", "actor", "object")}
        extra = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(detail.items()))
        print(f"{_when(e['at'])}  {e['actor']:<12}  {e['action']:<22}  "
              f"{e.get('object', '-')}  {extra}".rstrip())  # fmt: skip
    return 0


#: The two kinds of token, each with its own ids: (list, revoke) commands.
_TOKEN_COMMANDS: Final[dict[str, tuple[Callable[[argparse.Namespace], int], ...]]] = {
    "enroll": (_enroll_token_list, _enroll_token_revoke),
    "admin": (_admin_token_list, _admin_token_revoke),
}
_TOKEN_KINDS: Final = tuple(_TOKEN_COMMANDS)


def _token_list(args: argparse.Namespace) -> int:
    for kind in [args.kind] if args.kind else _TOKEN_KINDS:
        if not args.kind:
            print(f"{kind} tokens:")
        _TOKEN_COMMANDS[kind][0](args)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    return _TOKEN_COMMANDS[args.kind][1](args)


def _credential_parsers(
    db: argparse.ArgumentParser, sub: Any, token_sub: Any, device_sub: Any, key_sub: Any
) -> None:
    """The credential lifecycle commands, in the groups they belong to."""
    tokens = token_sub.add_parser(
        "list", parents=[db], help="a tenant's enrollment and admin tokens (never the secrets)"
    )
    tokens.add_argument("tenant")
    tokens.add_argument("kind", nargs="?", choices=_TOKEN_KINDS, help="only this kind")
    tokens.set_defaults(func=_token_list)
    revoke = token_sub.add_parser(
        "revoke", parents=[db], help="revoke a token by its kind and the id `token list` shows"
    )
    revoke.add_argument("tenant")
    revoke.add_argument("kind", choices=_TOKEN_KINDS)
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(func=_token_revoke)

    devices = device_sub.add_parser("list", parents=[db], help="a tenant's devices")
    devices.add_argument("tenant")
    devices.set_defaults(func=_device_list)
    revoke = device_sub.add_parser(
        "revoke", parents=[db], help="refuse a device's secret from now on (its data stays)"
    )
    revoke.add_argument("device_id")
    revoke.set_defaults(func=_device_revoke)

    keys = key_sub.add_parser("list", parents=[db], help="a tenant's publisher keys")
    keys.add_argument("tenant")
    keys.set_defaults(func=_publisher_key_list)
    revoke = key_sub.add_parser(
        "revoke",
        parents=[db],
        help="stop trusting a key: its uploads are refused, its bundles no longer served",
    )
    revoke.add_argument("tenant")
    revoke.add_argument("key_id", help="the 16-hex-digit key id (`publisher-key list`)")
    revoke.set_defaults(func=_publisher_key_revoke)

    audit = sub.add_parser(
        "audit", parents=[db], help="who created, revoked, erased or rolled out what, and when"
    )
    audit.add_argument("tenant")
    audit.add_argument("--limit", type=int, default=1000, help="the newest this many entries")
    audit.add_argument("--json", action="store_true", help="print a JSON list")
    audit.set_defaults(func=_audit)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get("WAYMARK_SERVER_DB") or None,
        help="database URL: postgresql://user:pass@host/db or sqlite:///path (default: "
        "$WAYMARK_SERVER_DB, else SQLite in the data folder, which "
        "$WAYMARK_SERVER_DATA_DIR overrides)",
    )
    parser = argparse.ArgumentParser(
        prog="waymark-server",
        description="Waymark reference backend: enrollment, telemetry, signed packs, reports.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", parents=[db], help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--rate-per-second", type=float, default=2.0, help="per-device refill")
    serve.add_argument("--rate-burst", type=int, default=60, help="per-device burst")
    serve.add_argument("--log-level", default="warning")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on one port, the kernel spreading connections over them "
        "(rate limits are per process)",
    )
    serve.add_argument(
        "--trust-proxy",
        metavar="ADDRS",
        default=os.environ.get("WAYMARK_TRUST_PROXY") or None,
        help="comma-separated peer addresses of a TLS-terminating proxy whose "
        "X-Forwarded-Proto is believed (for HSTS and Secure cookies), or * for any peer "
        "(default: $WAYMARK_TRUST_PROXY, else none)",
    )
    serve.add_argument(
        "--metrics-token",
        metavar="TOKEN",
        default=os.environ.get("WAYMARK_METRICS_TOKEN") or None,
        help="GET /metrics needs Authorization: Bearer TOKEN (default: "
        "$WAYMARK_METRICS_TOKEN; without a token /metrics is off)",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=1000,
        metavar="N",
        help="connections and requests at once per process; beyond, 503 (default %(default)s)",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="time a client has to send a request's headers, then 408 (default %(default)s)",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="time a client has to send a request's body, then 408 (default %(default)s)",
    )
    serve.set_defaults(func=_serve)

    serve.add_argument(
        "--retain-days",
        type=int,
        default=DEFAULT_RETAIN_DAYS,
        help="keep raw events this many days, then delete them (rollups are kept; "
        "default %(default)s)",
    )

    serve.add_argument(
        "--enroll-per-source-hour",
        type=float,
        default=ServerSettings().enroll_per_source_hour,
        help="enrollments an hour from one source address, after the burst (per process; "
        "default %(default)s: raise it when many agents share one NAT address)",
    )
    serve.add_argument(
        "--enroll-source-burst",
        type=int,
        default=ServerSettings().enroll_source_burst,
        help="enrollments at once from one source address (default %(default)s)",
    )

    migrate = sub.add_parser("migrate", parents=[db], help="upgrade the database schema")
    migrate.set_defaults(func=_migrate)

    tenant = sub.add_parser("tenant", help="manage tenants")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_sub.add_parser("create", parents=[db], help="create a tenant")
    create.add_argument("name")
    create.set_defaults(func=_tenant_create)

    token = sub.add_parser("token", help="issue, list and revoke tokens (printed once)")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    admin = token_sub.add_parser("admin", parents=[db], help="an admin token")
    admin.add_argument("tenant")
    admin.add_argument("--role", choices=("publisher", "analyst"), required=True)
    admin.add_argument(
        "--expires", type=_expiry, metavar="DURATION", help="stop working after this long, "
        "e.g. 90d or 12h (default: never; `token revoke` ends it sooner)",
    )  # fmt: skip
    admin.set_defaults(func=_token_admin)

    zone = tenant_sub.add_parser(
        "set-timezone", parents=[db], help="the time zone whose days the reports use"
    )
    zone.add_argument("tenant")
    zone.add_argument("zone", help="IANA name, e.g. Europe/Rome (default of a tenant: UTC)")
    zone.set_defaults(func=_tenant_timezone)

    device = sub.add_parser("device", help="list, revoke or erase devices")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    erase = device_sub.add_parser(
        "erase",
        parents=[db],
        help="delete everything about one device: raw events, exposures, the device row",
    )
    erase.add_argument("device_id", help="the device id (the agent's settings window shows it)")
    erase.set_defaults(func=_device_erase)
    _add_enrollment_commands(db, tenant_sub, token_sub, device_sub)

    purge = sub.add_parser(
        "purge", parents=[db], help="run the retention job once (serve runs it every hour)"
    )
    purge.add_argument("--retain-days", type=int, default=DEFAULT_RETAIN_DAYS)
    purge.set_defaults(func=_purge)

    rollups = sub.add_parser("rollups", help="the report's rollups")
    rollups_sub = rollups.add_subparsers(dest="rollups_command", required=True)
    rebuild = rollups_sub.add_parser(
        "rebuild", parents=[db], help="refill a tenant's rollups from the raw events it has"
    )
    rebuild.add_argument("tenant")
    rebuild.set_defaults(func=_rollups_rebuild)

    report = sub.add_parser(
        "report", parents=[db], help="the adoption report (the same floor as the API)"
    )
    report.add_argument("tenant")
    report.add_argument("--format", choices=("json", "csv"), default="json")
    report.add_argument("--since", type=_day, help="first local day, YYYY-MM-DD")
    report.add_argument("--until", type=_day, help="last local day, YYYY-MM-DD (default today)")
    report.add_argument("--pack-id", help="only this pack")
    report.add_argument("--group", help="only devices in this group")
    report.add_argument("--window-days", type=int, default=14, help="the lift's window")
    report.add_argument("--output", "-o", help="write to this file instead of stdout")
    report.set_defaults(func=_report)

    key = sub.add_parser("publisher-key", help="trust, list or revoke pack publishers' keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    add = key_sub.add_parser("add", parents=[db], help="add a public key (base64 text or file)")
    add.add_argument("tenant")
    add.add_argument("pubkey", help="base64 public key, PEM, or a file holding either")
    add.set_defaults(func=_publisher_key_add)
    _credential_parsers(db, sub, token_sub, device_sub, key_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (SchemaError, DomainError, ValueError) as exc:
        print(f"waymark-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
