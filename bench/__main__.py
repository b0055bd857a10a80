"""Run every benchmark module and write bench/results.md.

``python -m bench`` runs all; ``python -m bench engine hooks`` runs some.  Each
module's section is also kept in bench/results/<name>.md so that a partial run
keeps the other sections.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_")
    )
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for name in names:
        print(f"bench: running {name} …", flush=True)
        module = importlib.import_module(f"bench.{name}")
        section: str = module.main()
        (out_dir / f"{name}.md").write_text(section.rstrip() + "\n", encoding="utf-8")
        print(section, flush=True)
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{_cores()} cores. Budgets are in ../shared/DESIGN.md; "
        "each section says how it measured.\n"
    )
    sections = [p.read_text(encoding="utf-8") for p in sorted(out_dir.glob("*.md"))]
    (HERE / "results.md").write_text(header + "\n" + "\n".join(sections), encoding="utf-8")
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
