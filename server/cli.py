"""The ``waymark-server`` command: serve, migrate, and the tenant admin commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from server.db import make_engine, migration_state, upgrade
from server.errors import NotFound
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
    from server.settings import ServerSettings

    settings = ServerSettings(rate_per_second=args.rate_per_second, rate_burst=args.rate_burst)
    # Longer than a load balancer's idle timeout, so the server is not the side
    # that closes a connection a client is about to reuse.
    common = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": False,
        "timeout_keep_alive": 75,
    }
    with _opened(args.db) as store:
        print(f"waymark-server: listening on http://{args.host}:{args.port}", file=sys.stderr)
        if args.workers <= 1:
            uvicorn.run(create_app(store, settings), **common)
            return 0
    # Several processes: each builds its own app from the environment.
    os.environ["WAYMARK_RATE_PER_SECOND"] = str(args.rate_per_second)
    os.environ["WAYMARK_RATE_BURST"] = str(args.rate_burst)
    if args.db:
        os.environ["WAYMARK_SERVER_DB"] = args.db
    uvicorn.run(
        "server.asgi:app_from_env",
        factory=True,
        workers=args.workers,
        **common,
    )
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


def _token_enroll(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        print(store.add_enroll_token(store.tenant_id(args.tenant)))
    return 0


def _token_admin(args: argparse.Namespace) -> int:
    with _opened(args.db) as store:
        print(store.add_admin_token(store.tenant_id(args.tenant), args.role))
    return 0


def _publisher_key_add(args: argparse.Namespace) -> int:
    text: str = args.pubkey
    candidate = Path(text)
    if len(text) < 4096 and candidate.is_file():
        text = candidate.read_text(encoding="utf-8")
    with _opened(args.db) as store:
        kid = store.add_publisher_key(store.tenant_id(args.tenant), text)
    print(f"publisher key {kid} added to tenant {args.tenant}")
    return 0


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
        "--workers", type=int, default=1, help="server processes (rate limits are per process)"
    )
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser("migrate", parents=[db], help="upgrade the database schema")
    migrate.set_defaults(func=_migrate)

    tenant = sub.add_parser("tenant", help="manage tenants")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tenant_sub.add_parser("create", parents=[db], help="create a tenant")
    create.add_argument("name")
    create.set_defaults(func=_tenant_create)

    token = sub.add_parser("token", help="issue tokens (printed once)")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    enroll = token_sub.add_parser("enroll", parents=[db], help="an enrollment token for agents")
    enroll.add_argument("tenant")
    enroll.set_defaults(func=_token_enroll)
    admin = token_sub.add_parser("admin", parents=[db], help="an admin token")
    admin.add_argument("tenant")
    admin.add_argument("--role", choices=("publisher", "analyst"), required=True)
    admin.set_defaults(func=_token_admin)

    key = sub.add_parser("publisher-key", help="trust a pack publisher's public key")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    add = key_sub.add_parser("add", parents=[db], help="add a public key (base64 text or file)")
    add.add_argument("tenant")
    add.add_argument("pubkey", help="base64 public key, PEM, or a file holding either")
    add.set_defaults(func=_publisher_key_add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (SchemaError, NotFound, ValueError) as exc:
        print(f"waymark-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
