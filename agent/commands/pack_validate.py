"""`waymark pack validate PACK [PACK...]`: check rule packs before they are signed.

Every problem is printed on stderr as ``FILE:LINE:COL: message`` (the form
editors and CI understand) and the exit status is 2 when any pack has one.  A
valid pack prints one summary line on stdout.  ``--json`` prints one JSON
object per pack on stdout instead.  Warnings (``FILE:LINE:COL: warning: …``,
e.g. a text that lacks a locale the pack uses elsewhere) do not change the
exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.rules.model import Pack

__all__ = ["register", "summary"]


def register(sub: Any) -> None:
    """Add the ``validate`` parser to the ``pack`` group."""
    p: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="check rule packs and print every problem as FILE:LINE:COL: message",
        description="Check one or more rule packs (YAML or JSON). Every problem is printed "
        "as FILE:LINE:COL: message on stderr and the exit status is 2; a valid pack prints "
        "a one-line summary. Warnings (FILE:LINE:COL: warning: …), such as a text that "
        "lacks a language the pack uses elsewhere, leave the exit status at 0. See "
        "docs/pack-format.md for the format.",
    )
    p.add_argument("packs", nargs="+", type=Path, metavar="PACK", help="rule pack file")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per pack: {file, ok, issues|id, version, rules, habits, "
        "warnings}",
    )
    p.set_defaults(func=_run)


def summary(pack: Pack) -> str:
    """One line describing a valid pack."""
    habits = sorted({r.habit for r in pack.rules})
    locales = sorted({loc for r in pack.rules for loc in r.toast.title})
    return (
        f"{pack.id} v{pack.version}: {len(pack.rules)} rule{'s' if len(pack.rules) != 1 else ''}, "
        f"{len(habits)} habit{'s' if len(habits) != 1 else ''} ({', '.join(habits) or 'none'}), "
        f"{len(pack.apps)} apps, locales {', '.join(locales) or pack.default_locale}"
    )


def _run(args: argparse.Namespace) -> int:
    from agent.rules.loader import PackError, PackIssue, load_pack, locale_gaps

    failed = False
    for path in args.packs:
        issues: list[PackIssue] = []
        warnings: list[PackIssue] = []
        pack: Pack | None = None
        try:
            pack = load_pack(path)
            warnings = locale_gaps(path.read_bytes(), str(path))
        except PackError as exc:
            issues = exc.issues
        except OSError as exc:
            issues = [PackIssue(str(path), 1, 1, f"cannot read the pack: {exc.strerror or exc}")]
        failed = failed or bool(issues)
        for issue in [*issues, *warnings]:
            print(str(issue), file=sys.stderr)
        if args.json:
            if pack is not None:
                out: dict[str, Any] = {
                    "file": str(path),
                    "ok": True,
                    "id": pack.id,
                    "version": pack.version,
                    "rules": len(pack.rules),
                    "habits": sorted({r.habit for r in pack.rules}),
                    "warnings": [
                        {"line": w.line, "col": w.col, "message": w.message} for w in warnings
                    ],
                }
            else:
                out = {
                    "file": str(path),
                    "ok": False,
                    "issues": [
                        {"line": i.line, "col": i.col, "message": i.message} for i in issues
                    ],
                }
            print(json.dumps(out, ensure_ascii=False))
        elif pack is not None:
            print(f"{path}: ok: {summary(pack)}")
        else:
            count = len(issues)
            print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
    return 2 if failed else 0
