"""The real server, live in this process on a loopback port, for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from devtools.waiting import wait_for
from server.app import create_app
from server.routes.limits import MAX_HEADER_BYTES
from server.routes.protocol import BoundedH11Protocol
from server.settings import ServerSettings
from server.store import Store

__all__ = ["RunningServer", "running_server"]


@dataclass
class RunningServer:
    """A live server in this process, on its own loopback port."""

    url: str
    store: Store
    server: uvicorn.Server
    #: The app being served (its parts are ``app.state.parts``).
    app: FastAPI


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
        # The HTTP layer `waymark-server serve` runs (server/cli.py).
        http=BoundedH11Protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        proxy_headers=False,
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
        yield RunningServer(url=f"{scheme}://127.0.0.1:{port}", store=store, server=server, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
