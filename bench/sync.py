"""Agent sync: how fast a backlog drains from the outbox to the real server.

A laptop that was offline for a while comes back with records waiting.  The
agent's sync worker (agent/sync/worker.py, the code the agent runs) sends
them to `waymark-server serve` on 127.0.0.1 (SQLite) in gzip batches of 500
until the outbox is empty; the device secret is held in memory (no keyring
here).  Measured: records per second end to end, the time per batch, and the
agent's CPU per 1,000 records.  Bounded: a fixed backlog and a deadline.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

from agent.rules.records import Record
from agent.sync.client import DeviceCredentials, ServerClient
from agent.sync.outbox import Outbox
from agent.sync.packs import SyncedPacks
from agent.sync.worker import SyncWorker
from bench._server import server_process
from server.cli import open_store

BACKLOGS = (1_000, 50_000)
DEADLINE_S = 120.0


class _Held:
    """The device's credentials in memory (the agent keeps them in the OS keyring)."""

    def __init__(self) -> None:
        self.value: DeviceCredentials | None = None

    def load(self) -> DeviceCredentials | None:
        return self.value

    def save(self, credentials: DeviceCredentials) -> None:
        self.value = credentials

    def clear(self) -> None:
        self.value = None


class _Consenting:
    telemetry_enabled = True

    def __init__(self, token: str) -> None:
        self._values: dict[str, object] = {"enroll_token": token}

    def get(self, key: str) -> object:
        return self._values.get(key)


class _TimedClient(ServerClient):
    """The real client, timing each upload."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.batch_seconds: list[float] = []

    def upload(self, secret, rows):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return super().upload(secret, rows)
        finally:
            self.batch_seconds.append(time.perf_counter() - start)


def _drain(url: str, token: str, folder: Path, backlog: int) -> dict[str, float]:
    box = Outbox(folder / f"outbox-{backlog}.db")
    client = _TimedClient(url)
    worker = SyncWorker(client=client, credentials=_Held(), outbox=box,
                        settings=_Consenting(token), packs=SyncedPacks(folder / "sync"),
                        on_pack=None, os_name="linux", groups=())  # fmt: skip
    worker.run_once()  # enrolls and opens the connection; the outbox is still empty
    for i in range(backlog):
        box.append(Record(1.79e9 + i, "shown", "m365-habits", 7, rule="share-link",
                          habit="share-links"))  # fmt: skip
    box.flush()
    cpu0 = _cpu()
    start = time.perf_counter()
    deadline = start + DEADLINE_S
    while box.count_pending() and time.perf_counter() < deadline:
        worker.run_once()
    elapsed = time.perf_counter() - start
    cpu = _cpu() - cpu0
    sent = worker.sent
    worker.stop()
    box.close()
    per_batch = sorted(client.batch_seconds) or [float("nan")]
    return {
        "backlog": backlog,
        "sent": sent,
        "per_s": sent / elapsed if sent else float("nan"),
        "batch_p50_ms": 1000 * statistics.median(per_batch),
        "batch_p99_ms": 1000 * per_batch[min(len(per_batch) - 1, int(0.99 * len(per_batch)))],
        "cpu_ms_per_1000": 1000 * cpu / sent * 1000 if sent else float("nan"),
        "seconds": elapsed,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="waymark-bench-sync-") as tmp:
        folder = Path(tmp)
        db_url = f"sqlite:///{folder / 'server.db'}"
        store = open_store(db_url)
        token = store.add_enroll_token(store.create_tenant("bench"))
        store.engine.dispose()
        with server_process(db_url, folder) as server:
            rows = [_drain(server.url, token, folder, n) for n in BACKLOGS]
    lines = [
        "## Agent sync (bench/sync.py)",
        "",
        "A backlog in the agent's outbox drained by its sync worker to `waymark-server serve` "
        "(one process, SQLite) on 127.0.0.1, in gzip batches of 500; timing starts after a "
        "first, empty round (enrollment, connection). Agent CPU is the agent side only (this "
        "process): outbox reads and marks, JSON, gzip, HTTP.",
        "",
        "| backlog | sent | records/s | per batch p50 | per batch p99 | agent CPU per 1,000 "
        "| wall |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backlog']:,.0f} | {r['sent']:,.0f} | {r['per_s']:,.0f} "
            f"| {r['batch_p50_ms']:.1f} ms | {r['batch_p99_ms']:.1f} ms "
            f"| {r['cpu_ms_per_1000']:.1f} ms | {r['seconds']:.2f} s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
