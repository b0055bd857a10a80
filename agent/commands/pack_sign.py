"""`waymark pack keygen | sign | publish | rollout`: the publisher's side of signed packs.

The private key stays on the publisher's machine; the server only ever sees
the public key (``waymark-server publisher-key add``) and signed bundles.
The commands that talk to the server take the publisher's admin token from
``--token`` or, better, from ``WAYMARK_ADMIN_TOKEN`` (out of shell history and
``ps``).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["ADMIN_TOKEN_ENV", "parse_duration", "register"]

#: Where the admin token commands read it from when ``--token`` is not given.
ADMIN_TOKEN_ENV = "WAYMARK_ADMIN_TOKEN"
_TOKEN_HELP = (
    f"publisher admin token (wma_…); default ${ADMIN_TOKEN_ENV}, which keeps it out of "
    "shell history and the process list"
)


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``2w``, ``1d12h`` as a timedelta (the pack format's durations)."""
    from agent.timespans import parse_duration as seconds

    try:
        return timedelta(seconds=seconds(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    """Add the ``keygen``, ``sign`` and ``publish`` parsers to the ``pack`` group."""
    keygen: argparse.ArgumentParser = sub.add_parser(
        "keygen", help="create an Ed25519 publisher key pair"
    )
    keygen.add_argument("--out", type=Path, required=True, help="folder for the two key files")
    keygen.add_argument("--name", default="publisher", help="file name stem (default publisher)")
    keygen.set_defaults(func=_keygen)

    sign: argparse.ArgumentParser = sub.add_parser(
        "sign", help="validate a pack and sign it into a bundle"
    )
    sign.add_argument("pack", type=Path, help="the pack (YAML or JSON)")
    sign.add_argument("--key", type=Path, required=True, help="private key (from keygen)")
    sign.add_argument("--out", type=Path, required=True, help="bundle file to write")
    sign.add_argument("--expires", type=parse_duration, default=timedelta(days=90))
    sign.add_argument("--min-agent-version", default="0.1.0")
    sign.set_defaults(func=_sign)

    publish: argparse.ArgumentParser = sub.add_parser(
        "publish", help="upload a signed bundle to a Waymark server"
    )
    publish.add_argument("bundle", type=Path)
    publish.add_argument("--server", required=True, help="server URL, e.g. https://waymark.corp")
    publish.add_argument("--token", help=_TOKEN_HELP)
    publish.add_argument("--rollout", type=int, default=100, help="percent of devices (0-100)")
    publish.add_argument("--group", action="append", dest="groups", help="limit to a group")
    publish.set_defaults(func=_publish)

    rollout: argparse.ArgumentParser = sub.add_parser(
        "rollout",
        help="set how many devices get a published version",
        description="Set the rollout percentage (and optionally the groups) of a version "
        "already published: PUT /v1/admin/packs/PACK_ID/versions/VERSION/rollout.",
    )
    rollout.add_argument("pack_id", metavar="PACK_ID")
    rollout.add_argument("version", metavar="VERSION", type=int)
    rollout.add_argument("percent", metavar="PERCENT", type=int, help="0-100")
    rollout.add_argument("--server", required=True, help="server URL, e.g. https://waymark.corp")
    rollout.add_argument("--token", help=_TOKEN_HELP)
    groups = rollout.add_mutually_exclusive_group()
    groups.add_argument(
        "--group",
        action="append",
        dest="groups",
        help="limit to this group (repeat for more); default: keep the groups",
    )
    groups.add_argument("--all-groups", action="store_true",
                        help="lift the version's group limit")  # fmt: skip
    rollout.set_defaults(func=_rollout)


def _fail(message: str) -> int:
    print(f"waymark: {message}", file=sys.stderr)
    return 1


def _keygen(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.rules.bundle import key_id, private_key_pem, public_key_text

    args.out.mkdir(parents=True, exist_ok=True)
    private_path = args.out / f"{args.name}.key"
    public_path = args.out / f"{args.name}.pub"
    if private_path.exists():
        return _fail(f"{private_path} exists; refusing to overwrite a private key")
    key = Ed25519PrivateKey.generate()
    # Created 0600 from the start, so the key is never readable by others.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(key))
    public_path.write_text(public_key_text(key.public_key()) + "\n", encoding="ascii")
    print(f"private key: {private_path} (keep it secret; only `waymark pack sign` needs it)")
    print(f"public key:  {public_path} (key id {key_id(key.public_key())})")
    print(f"trust it on the server: waymark-server publisher-key add TENANT {public_path}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from agent.rules.bundle import key_id, load_private_key, make_bundle
    from agent.rules.loader import PackError, load_pack_text

    try:
        source = args.pack.read_text(encoding="utf-8")
    except OSError as exc:
        return _fail(f"cannot read {args.pack}: {exc.strerror}")
    try:
        pack = load_pack_text(source, str(args.pack))
    except PackError as exc:
        print(str(exc), file=sys.stderr)
        return _fail(f"{args.pack} does not validate; nothing was signed")
    try:
        key = load_private_key(args.key.read_bytes())
    except (OSError, ValueError) as exc:
        return _fail(f"cannot use {args.key} as a private key: {exc}")
    data = make_bundle(
        pack_source=source,
        pack_id=pack.id,
        version=pack.version,
        private_key=key,
        created=datetime.now(UTC),
        expires_in=args.expires,
        min_agent_version=args.min_agent_version,
    )
    args.out.write_bytes(data)
    print(
        f"signed {pack.id} version {pack.version} with key {key_id(key.public_key())} "
        f"→ {args.out} (expires in {args.expires.days} days)"
    )
    return 0


def _admin_token(args: argparse.Namespace) -> str | None:
    """``--token``, else ``$WAYMARK_ADMIN_TOKEN``; None when neither is set."""
    token = args.token or os.environ.get(ADMIN_TOKEN_ENV, "")
    return token.strip() or None


def _admin_call(args: argparse.Namespace, method: str, path: str, **request: Any) -> Any:
    """Send one admin request; the response, or a message saying why there is none."""
    import httpx

    from agent.sync.client import system_trust

    token = _admin_token(args)
    if token is None:
        return f"give the publisher admin token: set {ADMIN_TOKEN_ENV} (or --token)"
    headers = {"Authorization": f"Bearer {token}", **request.pop("headers", {})}
    try:
        return httpx.request(method, args.server.rstrip("/") + path, headers=headers,
                             timeout=60, verify=system_trust(), **request)  # fmt: skip
    except httpx.HTTPError as exc:
        return f"cannot reach {args.server}: {exc}"


def _refusal(r: Any) -> str:
    try:
        return str(r.json().get("message", r.text))
    except (ValueError, AttributeError):
        return str(r.text)


def _publish(args: argparse.Namespace) -> int:
    if not 0 <= args.rollout <= 100:
        return _fail("--rollout is a percentage from 0 to 100")
    try:
        data = args.bundle.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.bundle}: {exc.strerror}")
    params: dict[str, Any] = {"rollout": args.rollout}
    if args.groups:
        params["groups"] = args.groups
    r = _admin_call(args, "POST", "/v1/admin/bundles", content=data, params=params,
                    headers={"Content-Type": "application/vnd.waymark.bundle+json"})  # fmt: skip
    if isinstance(r, str):
        return _fail(r)
    if r.status_code != 201:
        return _fail(f"the server refused the bundle ({r.status_code}): {_refusal(r)}")
    info = r.json()
    print(
        f"published {info['pack_id']} version {info['version']} to {info['rollout']}% "
        f"of devices (sha256 {info['sha256'][:12]}…)"
    )
    return 0


def _rollout(args: argparse.Namespace) -> int:
    if not 0 <= args.percent <= 100:
        return _fail("PERCENT is a percentage from 0 to 100")
    body: dict[str, Any] = {"percent": args.percent}
    if args.groups:
        body["groups"] = args.groups
    elif args.all_groups:
        body["groups"] = []
    path = f"/v1/admin/packs/{args.pack_id}/versions/{args.version}/rollout"
    r = _admin_call(args, "PUT", path, json=body)
    if isinstance(r, str):
        return _fail(r)
    if r.status_code != 200:
        return _fail(f"the server refused the rollout ({r.status_code}): {_refusal(r)}")
    info = next((v for v in r.json() if v.get("version") == args.version), None)
    if info is None:
        return _fail(f"the server did not list {args.pack_id} v{args.version} after the change")
    groups = ", ".join(info["groups"]) if info.get("groups") else "all groups"
    print(f"{args.pack_id} v{args.version} now goes to {info['rollout']}% of devices "
          f"({groups})")  # fmt: skip
    return 0
