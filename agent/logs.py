"""Logging set-up: JSON lines in the log folder, short lines on stderr.

Hook callbacks never log (DESIGN.md); everything else logs through
``logging.getLogger(__name__)``.  The JSON file lets end-to-end tests and
support read what happened without parsing prose.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["JsonFormatter", "setup_logging"]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(
    log_dir: Path, verbose: bool = False, extra_handlers: tuple[logging.Handler, ...] = ()
) -> Path:
    """Log to ``log_dir/agent.log`` (rotated, 5 × 1 MiB) and to stderr."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "agent.log"
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_waymark", False):
            root.removeHandler(handler)
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1 << 20, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(JsonFormatter())
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setFormatter(logging.Formatter("waymark: %(levelname)s: %(message)s"))
    stderr_handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # extra_handlers: the journal or the Event Log (agent/log_sinks.py), set up by the caller.
    ours: tuple[logging.Handler, ...] = (file_handler, stderr_handler, *extra_handlers)
    for handler in ours:
        setattr(handler, "_waymark", True)  # noqa: B010 - marks our own handlers
        root.addHandler(handler)
    return path
