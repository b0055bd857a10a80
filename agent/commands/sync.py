"""`waymark sync`: one sync round now, in the foreground, and what came of it.

For IT checking a rollout: is the server reachable, is this device enrolled,
did the statistics go, which pack did the server give.  It uses the same data
folder, policy and keyring as the running agent (the outbox is safe to share).
It exits 1 when the round failed: no server in policy, no keyring, cannot
enroll, cannot send, or the server's pack was refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sync",
        help="send statistics and fetch the pack now",
        description="Run one sync round with the server named by policy (server_url): enroll "
        "if needed (enroll_token), send waiting statistics if the person agreed, fetch and "
        "verify the pack. Prints what happened.",
        epilog="Exit status: 0 the round worked (statistics sent if allowed, the pack "
        "unchanged or new and verified); 1 it did not: no server_url in policy, a bad "
        "server address, no OS keyring, the device cannot enroll (no or refused "
        "enroll_token), statistics could not be sent (server unreachable or refusing), or "
        "the server's pack was refused (a key not in publisher_keys, an older version, "
        "expired, invalid); 2 a wrong command line. --json prints the same as one object "
        "(error and pack_refused say why; pack_withheld names a newer version this device is "
        "not in, e.g. outside its rollout percentage).",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agent.app import build_sync_worker, open_settings
    from agent.config.paths import data_dir
    from agent.sync.client import SyncError
    from agent.sync.credentials import CredentialError
    from agent.sync.outbox import Outbox

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    settings = open_settings(folder, sys.platform)
    url = settings.get("server_url")
    if not isinstance(url, str) or not url:
        print("waymark: no server_url in policy: this agent does not sync", file=sys.stderr)
        return 1
    outbox = Outbox(folder / "outbox.db")
    before = outbox.count_pending()
    error: str | None = None
    try:
        worker = build_sync_worker(
            url,
            settings=settings,
            outbox=outbox,
            data_dir=folder,
            platform=sys.platform,
            on_pack=None,  # the running agent notices the new pack file itself
        )
    except ValueError as exc:
        print(f"waymark: {exc}", file=sys.stderr)
        outbox.close()
        return 1
    try:
        worker.run_once()
    except (SyncError, CredentialError) as exc:
        error = str(exc)
    finally:
        worker.stop()
        left = outbox.count_pending()
        outbox.close()
    status = worker.status()
    report = {
        "server": status.server,
        "device_id": status.device_id,
        "telemetry": settings.telemetry_enabled,
        "sent": status.sent,
        "pending_before": before,
        "pending": left,
        "pack": status.pack,
        "pack_refused": worker.pack_refused,
        "pack_withheld": worker.pack_withheld,
        "error": error or status.last_error,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"Server: {status.server}")
        print(f"Device: {status.device_id or 'not enrolled'}")
        consent = "on" if settings.telemetry_enabled else "off (no consent yet)"
        print(f"Statistics: {consent}; sent {status.sent}, waiting {left}")
        if worker.pack_refused:
            print(f"Pack: refused ({worker.pack_refused}); the running pack stays")
        elif worker.pack_withheld:
            print(f"Pack: {status.pack or 'unchanged'}; {worker.pack_withheld}")
        else:
            print(f"Pack: {status.pack or 'unchanged'}")
        if report["error"]:
            print(f"Error: {report['error']}")
    return 1 if error or worker.pack_refused else 0
