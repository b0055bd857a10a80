"""The ``waymark`` command.

Each subcommand lives in its own module under :mod:`agent.commands` with a
``register(subparsers)`` function that adds its parser and sets ``func``.
Command modules import nothing heavy (Qt, pynput, httpx) at import time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent import __version__
from agent.commands import (
    broker,
    doctor,
    inspect,
    pack_sign,
    pack_validate,
    replay,
    run,
    settings,
    sync,
    tip,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waymark",
        description="Waymark desktop coach: watches which app is in front and a few "
        "content-free actions, and shows a guidance toast when a coaching rule matches.",
    )
    parser.add_argument("--version", action="version", version=f"waymark {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run.register(sub)
    pack = sub.add_parser("pack", help="write, check, sign and publish rule packs")
    pack_sub = pack.add_subparsers(dest="pack_command", metavar="PACK_COMMAND", required=True)
    pack_validate.register(pack_sub)
    pack_sign.register(pack_sub)
    replay.register(sub)
    doctor.register(sub)
    inspect.register(sub)
    settings.register(sub)
    sync.register(sub)
    tip.register(sub)
    broker.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    return code
