"""Server ingestion under load: 200 simulated agents posting 100-event batches.

The server runs as its own processes (`waymark-server serve --workers 2`) on
127.0.0.1; PostgreSQL (fsync on) runs beside it.  The load generator is one
asyncio process speaking HTTP/1.1 over one keep-alive connection per agent,
with every request written out before the clock starts: the generator shares
the two cores with the server and the database, so it must cost little (an
httpx client per agent took 60 % of a core, as much as the server).

Two loads:

* *paced* — the budget's load: every agent sends one batch a second from a
  random start (200 × 100 events/s = 20,000 events/s offered).  Latency here
  is service time plus whatever queueing the server lets build up.
* *saturation* — each agent sends its next batch as soon as the last is
  answered: the capacity.  Latency there is queueing behind the other 199
  agents by construction (Little's law: 200 requests in flight at X
  batches/s wait 200 / X s on average), so the p99 budget is judged on the
  paced load.

Bounded: a fixed number of batches per agent and a deadline per load.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench._server import server_process
from devtools.postgres import postgres_available, running_postgres
from server.cli import open_store

AGENTS = 200
BATCH = 100
SATURATION_BATCHES = 16
PACED_INTERVAL_S = 1.0
PACED_BATCHES = 10
DEADLINE_S = 60.0
#: Server processes (2 cores are shared with the generator and PostgreSQL).
WORKERS = int(os.environ.get("WAYMARK_BENCH_WORKERS", "2"))
BUDGET_EVENTS_PER_S = 20_000
BUDGET_P99_MS = 200.0


def _requests(secret: str, count: int, now: float) -> list[bytes]:
    """``count`` complete HTTP requests, each a batch of fresh events."""
    out = []
    for _ in range(count):
        body = json.dumps(
            {
                "events": [
                    {
                        "uuid": str(uuid.uuid4()),
                        "t": now - 60,
                        "kind": "shown" if i % 3 else "suppressed",
                        "pack_id": "m365-habits",
                        "pack_version": 7,
                        "rule": "share-link",
                        "habit": "share-links",
                        "reason": None if i % 3 else "cooldown",
                    }
                    for i in range(BATCH)
                ]
            }
        ).encode()
        head = (
            "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    stored: int = 0
    errors: int = 0


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Send one request on a keep-alive connection; the status and body of the answer."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise ValueError("the answer has no Content-Length")
    return status, await reader.readexactly(length)


async def _agent(
    port: int, requests: list[bytes], interval: float | None, t0: float, tally: _Tally
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    offset = random.random() * (interval or 0.0)
    try:
        for k, request in enumerate(requests):
            if interval is not None:
                await asyncio.sleep(max(0.0, t0 + offset + k * interval - time.perf_counter()))
            start = time.perf_counter()
            try:
                status, body = await _exchange(reader, writer, request)
            except (OSError, ValueError, asyncio.IncompleteReadError):
                tally.errors += 1
                return
            tally.latencies.append(time.perf_counter() - start)
            if status == 200:
                tally.stored += int(json.loads(body)["ok"])
            else:
                tally.errors += 1
    finally:
        writer.close()


async def _load(port: int, secrets: list[str], interval: float | None) -> tuple[float, _Tally]:
    count = SATURATION_BATCHES if interval is None else PACED_BATCHES
    now = time.time()
    requests = [_requests(secret, count, now) for secret in secrets]
    tally = _Tally()
    random.seed(1)
    t0 = time.perf_counter()
    agents = (_agent(port, mine, interval, t0, tally) for mine in requests)
    await asyncio.wait_for(asyncio.gather(*agents), DEADLINE_S)
    return time.perf_counter() - t0, tally


@dataclass
class _Row:
    load: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    batches: int
    errors: int
    seconds: float
    server_cpu: float
    database_cpu: float
    generator_cpu: float


def _measure(
    port: int, server: int, database: int | None, secrets: list[str], interval: float | None
) -> _Row:
    cpu0 = (_tree_cpu(server), _tree_cpu(database), _own_cpu())
    elapsed, tally = asyncio.run(_load(port, secrets, interval))
    cpu1 = (_tree_cpu(server), _tree_cpu(database), _own_cpu())
    used = [(b - a) / elapsed for a, b in zip(cpu0, cpu1, strict=True)]
    lat = sorted(tally.latencies) or [float("nan")]
    return _Row(
        load="saturation" if interval is None else f"paced, {AGENTS * BATCH / interval:,.0f}/s",
        events_per_s=tally.stored / elapsed,
        p50_ms=1000 * statistics.median(lat),
        p99_ms=1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        batches=len(tally.latencies),
        errors=tally.errors,
        seconds=elapsed,
        server_cpu=used[0],
        database_cpu=used[1],
        generator_cpu=used[2],
    )


def _run(db_url: str, data_dir: Path, database_pid: int | None) -> list[_Row]:
    store = open_store(db_url)
    tenant = store.create_tenant("bench")
    secrets = [store.enroll_device(tenant, [], "linux", "0.1.0")[1] for _ in range(AGENTS)]
    store.engine.dispose()
    with server_process(db_url, data_dir, WORKERS) as server:
        # A short warm-up: connections opened, statements prepared.
        _measure(server.port, server.pid, database_pid, secrets[:20], None)
        return [
            _measure(server.port, server.pid, database_pid, secrets, interval)
            for interval in (PACED_INTERVAL_S, None)
        ]


def _tree_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(_tree_cpu(int(kid)) for kid in kids)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _postmaster_pid(folder: Path) -> int | None:
    try:
        return int((folder / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def main() -> str:
    results: list[tuple[str, list[_Row] | str]] = []
    with tempfile.TemporaryDirectory(prefix="waymark-bench-") as tmp:
        folder = Path(tmp)
        if postgres_available():
            with running_postgres(durable=True) as cluster:
                url = cluster.create_database("bench")
                pid = _postmaster_pid(cluster.folder)
                results.append(("PostgreSQL 15 (fsync on)", _run(url, folder, pid)))
        else:
            results.append(("PostgreSQL", "not installed: skipped"))
        sqlite_url = f"sqlite:///{folder / 'b.db'}"
        results.append(("SQLite (WAL, synchronous=NORMAL)", _run(sqlite_url, folder, None)))
    lines = [
        "## Server ingestion (bench/server_ingest.py)",
        "",
        f"{AGENTS} simulated agents, one keep-alive HTTP/1.1 connection each, post batches of "
        f"{BATCH} events (plain JSON, fresh UUIDs) to `POST /v1/events` on 127.0.0.1. The "
        f"server is `waymark-server serve --workers {WORKERS}` (uvicorn, h11 with a bounded "
        "request head, uvloop, one `SO_REUSEPORT` socket per worker; "
        "events written with group commit, the report's rollups kept in the same "
        "transaction). Generator, server and database share the "
        "machine's cores; CPU columns are shares of one core (server: all its processes; "
        "database: the postmaster and its backends). *Paced*: every agent sends one batch "
        f"every {PACED_INTERVAL_S:.0f} s from a random start, {PACED_BATCHES} each — the "
        "budget's load. *Saturation*: every agent sends its next batch as soon as the last is "
        f"answered ({SATURATION_BATCHES} each) — the capacity; its latency is queueing behind "
        f"the other {AGENTS - 1} agents (Little's law), so p99 is judged on the paced load.",
        "",
        "| database | load | events/s | p50 | p99 | batches | errors | wall "
        "| server CPU | database CPU | generator CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in results:
        if isinstance(rows, str):
            lines.append(f"| {name} | {rows} | | | | | | | | | |")
            continue
        for r in rows:
            database = f"{r.database_cpu:.0%}" if r.database_cpu else "(in server)"
            lines.append(
                f"| {name} | {r.load} | {r.events_per_s:,.0f} | {r.p50_ms:.0f} ms "
                f"| {r.p99_ms:.0f} ms | {r.batches} | {r.errors} | {r.seconds:.1f} s "
                f"| {r.server_cpu:.0%} | {database} | {r.generator_cpu:.0%} |"
            )
    lines += ["", _verdict(results)]
    return "\n".join(lines) + "\n"


def _verdict(results: list[tuple[str, list[_Row] | str]]) -> str:
    rows = results[0][1]
    if isinstance(rows, str):
        return "Budget on PostgreSQL: not measured (PostgreSQL is not installed)."
    paced, saturation = rows
    met = (
        paced.events_per_s >= 0.99 * BUDGET_EVENTS_PER_S
        and paced.p99_ms <= BUDGET_P99_MS
        and saturation.events_per_s >= BUDGET_EVENTS_PER_S
        and paced.errors == saturation.errors == 0
    )
    return (
        f"Budget on PostgreSQL: ≥ {BUDGET_EVENTS_PER_S:,} events/s with p99 ≤ "
        f"{BUDGET_P99_MS:.0f} ms — **{'met' if met else 'missed'}** "
        f"({paced.events_per_s:,.0f} events/s ingested at p99 {paced.p99_ms:.0f} ms paced; "
        f"capacity {saturation.events_per_s:,.0f} events/s)."
    )


if __name__ == "__main__":
    print(main())
