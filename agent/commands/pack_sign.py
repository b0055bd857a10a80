"""`waymark pack keygen | sign | publish`: the publisher's side of signed packs.

The private key stays on the publisher's machine; the server only ever sees
the public key (``waymark-server publisher-key add``) and signed bundles.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["parse_duration", "register"]


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
    publish.add_argument("--token", required=True, help="publisher admin token (wma_…)")
    publish.add_argument("--rollout", type=int, default=100, help="percent of devices (0-100)")
    publish.add_argument("--group", action="append", dest="groups", help="limit to a group")
    publish.set_defaults(func=_publish)


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


def _publish(args: argparse.Namespace) -> int:
    import httpx

    from agent.sync.client import system_trust

    if not 0 <= args.rollout <= 100:
        return _fail("--rollout is a percentage from 0 to 100")
    try:
        data = args.bundle.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.bundle}: {exc.strerror}")
    params: dict[str, Any] = {"rollout": args.rollout}
    if args.groups:
        params["groups"] = args.groups
    url = args.server.rstrip("/") + "/v1/admin/bundles"
    try:
        r = httpx.post(
            url,
            content=data,
            params=params,
            headers={
                "Authorization": f"Bearer {args.token}",
                "Content-Type": "application/vnd.waymark.bundle+json",
            },
            timeout=60,
            verify=system_trust(),
        )
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach {args.server}: {exc}")
    if r.status_code != 201:
        try:
            detail = r.json().get("message", r.text)
        except ValueError:
            detail = r.text
        return _fail(f"the server refused the bundle ({r.status_code}): {detail}")
    info = r.json()
    print(
        f"published {info['pack_id']} version {info['version']} to {info['rollout']}% "
        f"of devices (sha256 {info['sha256'][:12]}…)"
    )
    return 0
