"""``serve --workers N``: N server processes on one port, each with its own listening socket.

uvicorn's supervisor hands one shared socket to every worker, and whichever
worker wakes first accepts: a burst of new connections (every agent
reconnecting after a restart, a load balancer opening its pool) often lands
entirely on one process, which then does all the work on one core while the
others idle (measured: 200 connections opened at once went 200 / 0 in two
runs of three).  Here each worker listens on its own socket bound with
``SO_REUSEPORT`` to the same address, and the kernel spreads new connections
over them by a hash of the client's address and port, whatever their timing.

The supervision is uvicorn's (:class:`uvicorn.supervisors.Multiprocess`: health
pings, a dead worker replaced, SIGINT/SIGTERM/SIGHUP), with one change: a
worker, and any worker that replaces it, serves the socket of its slot, so no
socket is ever left without a process accepting from it.  The methods
overridden here follow uvicorn 0.55's (pyproject.toml asks for at least that);
``tests/server/test_workers.py`` runs them.
"""

from __future__ import annotations

import socket
import sys
from typing import Final

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process, logger

__all__ = ["SPREAD_BY_KERNEL", "SpreadWorkers", "reuse_port_sockets"]

#: Whether this OS can spread connections over several sockets on one port.
SPREAD_BY_KERNEL: Final = sys.platform == "linux"


def reuse_port_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` sockets listening on ``host:port`` with ``SO_REUSEPORT`` (port 0: the one
    the first socket got), one per worker.

    They listen from the start, before any worker runs: the kernel spreads connections
    over listening sockets only, so a socket that began listening when its worker came up
    would leave the first worker every connection made before then (every agent
    reconnecting after a restart).  Until its worker accepts, a socket's connections wait
    in its backlog.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if sys.platform == "linux":  # (SPREAD_BY_KERNEL; written out for the type checker)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            port = sock.getsockname()[1]
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class SpreadWorkers(Multiprocess):
    """uvicorn's supervisor with one socket per worker slot (see the module docstring)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)

    def _start(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(slot) for slot in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: replace each worker, its successor serving before it is retired."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(f"worker [{new.pid}] was not ready in time; keeping "
                                 f"[{old.pid}] and stopping the restart")  # fmt: skip
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """A dead or hung worker is replaced by one serving the same socket."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving (the app, the database): a new one would too.
                logger.error(f"worker [{process.pid}] failed to start; stopping")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"worker [{process.pid}] died; starting another on its socket")
            self.processes[slot] = self._start(slot)
