"""`waymark broker`: the enrollment broker, run by the system as root (Linux) or SYSTEM (Windows).

It keeps the enrollment token away from users: each user's agent asks it
(``/run/waymark/enroll.sock``, or ``\\\\.\\pipe\\waymark-enroll``) and gets only
its own device secret (agent/sync/broker.py).  The deb's
``waymark-enroll-broker.service`` and the MSI's scheduled task start it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    from agent.sync.broker import DEFAULT_KEY_FILE, DEFAULT_SOCKET, DEFAULT_TOKEN_FILE

    p: argparse.ArgumentParser = sub.add_parser(
        "broker",
        help="enroll this computer's users without showing them the token (run as root)",
        description="Serve the enrollment broker: users' agents ask it for their own device "
        "secret, the enrollment token stays in a file (Linux, macOS) or registry key "
        "(Windows) only the system reads. The server is policy's server_url unless --server "
        "names one. Exit status: 0 stopped by a signal, 1 it cannot start (token file open "
        "to other users, no server, not root), 2 a wrong command line.",
    )
    p.add_argument("--server", help="the Waymark server URL (default: policy's server_url)")
    p.add_argument(
        "--socket", type=Path, default=DEFAULT_SOCKET, help="UNIX socket (default: %(default)s)"
    )
    p.add_argument(
        "--token-file",
        type=Path,
        default=DEFAULT_TOKEN_FILE,
        help="root-only token file (default: %(default)s)",
    )
    p.add_argument(
        "--key-file",
        type=Path,
        default=DEFAULT_KEY_FILE,
        help="the broker's key (default: %(default)s)",
    )
    p.set_defaults(func=_run)


def _fail(message: str) -> int:
    print(f"waymark broker: {message}", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace) -> int:
    import logging

    from agent.config.policy import read_policy
    from agent.sync.client import DeviceCredentials, ServerClient

    logging.basicConfig(level=logging.INFO, format="waymark broker: %(levelname)s: %(message)s")
    url = args.server or read_policy(quiet=True).values.get("server_url")
    if not isinstance(url, str) or not url:
        return _fail("no server: pass --server or set server_url in policy")
    try:
        client = ServerClient(url)
    except ValueError as exc:
        return _fail(str(exc))

    def enroll(
        token: str, installation: str, groups: Sequence[str], os_name: str, version: str
    ) -> DeviceCredentials:
        return client.enroll(token, os_name, version, groups, installation)

    if sys.platform == "win32":
        from agent.sync.broker_windows import PipeBroker, registry_key, registry_token

        try:
            PipeBroker(read_token=registry_token, key=registry_key(), enroll=enroll).serve_forever()
        except OSError as exc:
            return _fail(str(exc))
        return 0
    else:
        return _serve_unix(args, client, enroll)


def _serve_unix(args: argparse.Namespace, client: Any, enroll: Any) -> int:
    from agent.sync.broker import EnrollBroker, file_token, load_key

    try:
        read = file_token(args.token_file)
        read()  # refuse to start on a token file other users can read
        broker = EnrollBroker(
            args.socket, read_token=read, key=load_key(args.key_file), enroll=enroll
        )
    except OSError as exc:
        return _fail(str(exc))
    broker.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: broker.stop())
    print(f"waymark broker: serving {args.socket} for {client.base_url}", file=sys.stderr)
    broker.wait()
    broker.stop()
    client.close()
    return 0
