"""`waymark-server serve` as its own process on 127.0.0.1, for the benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devtools.waiting import free_port, stop_process, wait_for

__all__ = ["ServerProcess", "server_process"]


@dataclass(frozen=True)
class ServerProcess:
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def server_process(db_url: str, data_dir: Path, workers: int = 1) -> Iterator[ServerProcess]:
    """Serve ``db_url`` (rate limits lifted) until the block ends; its log is in ``data_dir``."""
    port = free_port()
    env = {**os.environ, "WAYMARK_SERVER_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "server", "serve", "--db", db_url, "--port", str(port),
           "--rate-burst", "100000", "--rate-per-second", "100000",
           "--workers", str(workers)]  # fmt: skip
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        try:

            def healthy() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError("server exited: " + log_path.read_text())
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                        return True
                except OSError:
                    return False

            wait_for(healthy, 30, "waymark-server to answer /healthz")
            yield ServerProcess(port, proc.pid)
        finally:
            stop_process(proc)
