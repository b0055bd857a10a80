"""Server ingestion under load: 200 simulated agents posting 100-event batches.

The server runs as its own process (`waymark-server serve`, one uvicorn
worker) on 127.0.0.1; the load generator is one asyncio process with httpx.
Both share the machine's cores.  Bodies are prepared before the clock starts,
so the generator spends its time sending.  Bounded: a fixed number of batches
per agent and a deadline per backend.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from server.cli import open_store
from server.testing import free_port, postgres_available, running_postgres, wait_for

AGENTS = 200
BATCH = 100
BATCHES_PER_AGENT = 8
DEADLINE_S = 40.0
#: Paced mode: every agent sends a batch every 2 s (10,000 events/s offered in all),
#: a load below saturation, to show latency when the server keeps up.
PACED_INTERVAL_S = 2.0
PACED_BATCHES = 5
#: Server processes (2 cores are shared with the generator and PostgreSQL).
WORKERS = int(os.environ.get("WAYMARK_BENCH_WORKERS", "2"))


def _bodies(count: int) -> list[bytes]:
    now = time.time()
    return [
        json.dumps(
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
        for _ in range(count)
    ]


async def _load(
    url: str, secrets: list[str], interval: float | None
) -> tuple[float, list[float], int, int]:
    """Closed loop (``interval=None``: send again as soon as answered) or paced."""
    bodies = [_bodies(BATCHES_PER_AGENT) for _ in secrets]
    latencies: list[float] = []
    stored = 0
    errors = 0
    deadline = time.monotonic() + DEADLINE_S
    rng = random.Random(1)
    t0 = time.perf_counter()

    async def agent(secret: str, mine: list[bytes]) -> None:
        nonlocal stored, errors
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        # One client (one keep-alive connection) per agent, as in the field; a
        # shared 200-connection pool costs the generator more than the server.
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            offset = rng.random() * (interval or 0.0)
            for k, body in enumerate(mine if interval is None else mine[:PACED_BATCHES]):
                if interval is not None:
                    due = t0 + offset + k * interval
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if time.monotonic() > deadline:
                    return
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/events", content=body, headers=headers)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - start)
                if r.status_code == 200:
                    stored += int(r.json()["ok"])
                else:
                    errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(agent(s, b) for s, b in zip(secrets, bodies, strict=True)))
    elapsed = time.perf_counter() - start
    return elapsed, latencies, stored, errors


def _run(db_url: str, data_dir: Path) -> list[dict[str, float]]:
    store = open_store(db_url)
    tenant = store.create_tenant("bench")
    secrets = [store.enroll_device(tenant, [], "linux", "0.1.0")[1] for _ in range(AGENTS)]
    store.engine.dispose()
    port = free_port()
    env = {**os.environ, "WAYMARK_SERVER_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "server", "serve", "--db", db_url, "--port", str(port),
           "--rate-burst", "100000", "--rate-per-second", "100000",
           "--workers", str(WORKERS)]  # fmt: skip
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + (data_dir / "server.log").read_text())
            try:
                return httpx.get(url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, "waymark-server to answer /healthz")
        return [_measure(url, proc.pid, secrets, mode) for mode in (None, PACED_INTERVAL_S)]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _measure(url: str, pid: int, secrets: list[str], interval: float | None) -> dict[str, float]:
    server_cpu0, own_cpu0 = _cpu_seconds(pid), _own_cpu()
    elapsed, latencies, stored, errors = asyncio.run(_load(url, secrets, interval))
    server_cpu, own_cpu = _cpu_seconds(pid) - server_cpu0, _own_cpu() - own_cpu0
    latencies.sort()
    return {
        "events_per_s": stored / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "requests": float(len(latencies)),
        "stored": float(stored),
        "errors": float(errors),
        "seconds": elapsed,
        "server_cpu": server_cpu / elapsed,
        "generator_cpu": own_cpu / elapsed,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (Linux /proc), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(_cpu_seconds(int(kid)) for kid in kids)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> str:
    rows: list[tuple[str, list[dict[str, float]] | str]] = []
    with tempfile.TemporaryDirectory(prefix="waymark-bench-") as tmp:
        folder = Path(tmp)
        sqlite_url = f"sqlite:///{folder / 'b.db'}"
        rows.append(("SQLite (WAL, synchronous=NORMAL)", _run(sqlite_url, folder)))
        if postgres_available():
            with running_postgres(durable=True) as cluster:
                url = cluster.create_database("bench")
                rows.append(("PostgreSQL 15 (fsync on, local)", _run(url, folder)))
        else:
            rows.append(("PostgreSQL", "not installed: skipped"))
    lines = [
        "## Server ingestion (bench/server_ingest.py)",
        "",
        f"{AGENTS} concurrent simulated agents (httpx async, one client each, one process) "
        f"post batches of {BATCH} events (plain JSON, fresh UUIDs) to `POST /v1/events` on "
        f"127.0.0.1; the server is `waymark-server serve --workers {WORKERS}` (uvicorn, "
        f"httptools + uvloop). CPU columns are shares of one core (server: all its "
        f"processes); generator, server, PostgreSQL and whatever else runs share the "
        f"machine's cores. *Saturation*: each agent sends its next batch as soon as the "
        f"last is answered ({BATCHES_PER_AGENT} each), so latency there is mostly queueing "
        f"behind the other {AGENTS - 1} agents. *Paced*: each agent sends {PACED_BATCHES} "
        f"batches, one every {PACED_INTERVAL_S:.0f} s from a random start "
        f"({AGENTS * BATCH / PACED_INTERVAL_S:,.0f} events/s offered). "
        f"Budget: ≥ 20,000 events/s on PostgreSQL and p99 ≤ 200 ms.",
        "",
        "| database | load | events/s | p50 | p99 | batches | errors | wall "
        "| server CPU | generator CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, results in rows:
        if isinstance(results, str):
            lines.append(f"| {name} | {results} | | | | | | | | |")
            continue
        for mode, r in zip(("saturation", "paced"), results, strict=True):
            lines.append(
                f"| {name} | {mode} | {r['events_per_s']:,.0f} | {r['p50_ms']:.0f} ms "
                f"| {r['p99_ms']:.0f} ms | {r['requests']:.0f} | {r['errors']:.0f} "
                f"| {r['seconds']:.1f} s | {r['server_cpu']:.0%} | {r['generator_cpu']:.0%} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
