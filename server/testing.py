"""Real components for tests and benchmarks: a throwaway PostgreSQL and a live server.

Both listen on 127.0.0.1 only and clean up after themselves.  Waiting is on
conditions with deadlines, never on fixed sleeps.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from server.app import ServerSettings, create_app
from server.store import Store

__all__ = [
    "PostgresCluster",
    "RunningServer",
    "free_port",
    "postgres_available",
    "running_postgres",
    "running_server",
    "wait_for",
]

PG_BIN_CANDIDATES = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true, or raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> Path | None:
    for folder in PG_BIN_CANDIDATES:
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def postgres_available() -> bool:
    return _pg_bin() is not None


@dataclass
class PostgresCluster:
    """A running PostgreSQL on 127.0.0.1:``port`` with trust auth for ``postgres``."""

    port: int
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; run them as the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def running_postgres(
    *, durable: bool = False, settings: dict[str, str] | None = None
) -> Iterator[PostgresCluster]:
    """initdb into a temporary folder, start on a free port, stop and delete at the end.

    ``durable=False`` turns fsync off: tests need isolation, not crash safety.
    """
    bin_dir = _pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="waymark-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data = folder / "data"
    port = free_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(folder),
        "max_connections": "200",
        **(
            {}
            if durable
            else {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        ),
        **(settings or {}),
    }
    opt_text = " ".join(f"-c {k}={v}" for k, v in options.items())
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(folder / "log"),
                    "-o",
                    opt_text,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        yield PostgresCluster(port=port, folder=folder)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres(
                    [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
                ),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class RunningServer:
    """A live server in this process, on its own loopback port."""

    url: str
    store: Store
    server: uvicorn.Server


@contextmanager
def running_server(
    store: Store,
    settings: ServerSettings | None = None,
    *,
    log_level: str = "warning",
    port: int = 0,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[RunningServer]:
    """Serve ``store`` with uvicorn on 127.0.0.1 (``port``, or a free one) until the block ends.

    ``tls`` is (certificate file, key file): then the server speaks https.
    """
    app = create_app(store, settings)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = int(sock.getsockname()[1])
    certificate, key = tls if tls is not None else (None, None)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ssl_certfile=certificate,
        ssl_keyfile=key,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="waymark-server", daemon=True
    )
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 30, "the server to start")
        if not server.started:
            raise RuntimeError("the server thread ended before it started")
        scheme = "https" if tls is not None else "http"
        yield RunningServer(url=f"{scheme}://127.0.0.1:{port}", store=store, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
