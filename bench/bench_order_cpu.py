"""The server's CPU per order, in one process, one request at a time: capture, then results.

Usage (on a database with demo data, e.g. after `telcrm demo-data`):

    TELCRM_DATA_DIR=D .venv/bin/python bench/bench_order_cpu.py [--orders 400] [--profile results]

The app runs in this process (no uvicorn, no sender: the results are posted here) and an httpx
client calls it over ASGI, so nothing else competes for the core and the CPU time of each
request is this process's: the order mix of ``bench_orders.py`` is captured one order at a time,
then the results of their work orders are posted in batches of 25 (all completed) until every
order has ended. It prints the CPU per order of each part (this process's, and the whole machine's:
with the database's backends and the kernel's work, meaningful on an otherwise idle machine), and of
``GET /health`` as the in-process client's and framework's share of a request (a request with one
database round trip).
``--profile capture|results`` runs that part under cProfile and prints where its time went.
On a busy or shared machine, compare runs of two commits alternately, several times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import make_key  # noqa: E402
from bench_orders import MIX, ORDER, free_numbers, order_body, run_loop, sample_shops  # noqa: E402
from pg_sampler import _cpu_ticks  # noqa: E402

from telcrm.api.app import create_app  # noqa: E402
from telcrm.demo.catalog import load_catalog  # noqa: E402
from telcrm.kit.embedded import resolve_database_url  # noqa: E402
from telcrm.kit.settings import get_settings  # noqa: E402

RESULTS = "/api/provisioning/workOrderResults"
BATCH = 25
WARM = 100  # orders captured first, not counted: caches filled, statements prepared
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine() -> float:
    """Seconds of CPU the whole machine has spent busy (all cores, the kernel's work included), or
    0 where there is no /proc/stat. Over a phase of this bench on an otherwise idle machine: this
    process, the database's backends and the kernel's socket and scheduling work together."""
    ticks = _cpu_ticks()
    return ticks[0] / TICK if ticks else 0.0


async def run(url: str, count: int, profile: str | None) -> None:
    random.seed(7)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    settings = get_settings().model_copy(update={"run_dispatcher": False, "database_url": url, "db_pool_warm": 0})
    admin = await make_key(url, "bench-cpu", "admin")
    system = await make_key(url, "bench-cpu-provisioning", "system")
    total = WARM + count
    with psycopg.connect(plain) as conn:
        shops = sample_shops(conn, total)
        numbers = free_numbers(conn, total)
    if len(numbers) < total:
        raise SystemExit(f"the number pool has {len(numbers)} free mobile numbers; {total} needed")
    tag = f"cpu{int(time.time())}"
    kinds = random.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=total)
    bodies = [order_body(n, random.choice(shops), kinds[n], numbers[n], tag) for n in range(total)]
    profiler = cProfile.Profile()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            staff = {"Authorization": f"Bearer {admin}"}
            provisioning = {"Authorization": f"Bearer {system}"}
            warm: list[str] = []
            for body in bodies[:WARM]:
                answer = await client.post(ORDER, json=body, headers=staff)
                assert answer.status_code == 201, answer.text
                warm.append(answer.json()["id"])
            started = time.process_time()
            for _ in range(count):
                await client.get("/health")
            health = (time.process_time() - started) / count
            ids: list[str] = []
            cpu = 0.0
            whole = machine()
            for body in bodies[WARM:]:
                started = time.process_time()
                if profile == "capture":
                    profiler.enable()
                answer = await client.post(ORDER, json=body, headers=staff)
                if profile == "capture":
                    profiler.disable()
                cpu += time.process_time() - started
                assert answer.status_code == 201, answer.text
                ids.append(answer.json()["id"])
            whole = machine() - whole
            print(
                f"capture: {cpu / count * 1000:.2f} ms of CPU per order ({count} orders, one at a time);"
                f" whole machine {whole / count * 1000:.2f} ms"
            )
            cpu, posts, sent, whole = 0.0, 0, 0, 0.0
            with psycopg.connect(plain, autocommit=True) as conn:
                for orders, timed in ((ids, True), (warm, False)):  # the warm-up orders end too, untimed
                    while due := conn.execute(
                        "SELECT id, attempt FROM work_order WHERE order_id = ANY(%s)"
                        " AND status IN ('pending', 'sent') ORDER BY created_at, seq",
                        (orders,),
                    ).fetchall():
                        for start in range(0, len(due), BATCH):
                            results: list[dict[str, Any]] = [
                                {"id": id_, "attempt": attempt, "status": "completed", "resource": {"ref": "bench"}}
                                for id_, attempt in due[start : start + BATCH]
                            ]
                            started, busy = time.process_time(), machine()
                            if timed and profile == "results":
                                profiler.enable()
                            answer = await client.post(RESULTS, json={"results": results}, headers=provisioning)
                            if timed and profile == "results":
                                profiler.disable()
                            assert answer.status_code == 200, answer.text
                            if timed:
                                cpu += time.process_time() - started
                                whole += machine() - busy
                                posts, sent = posts + 1, sent + len(results)
                ended = conn.execute(
                    "SELECT count(*) FROM product_order WHERE id = ANY(%s) AND state = 'completed'", (ids,)
                ).fetchone()
            print(
                f"results: {cpu / count * 1000:.2f} ms of CPU per order ({sent} results in {posts} posts;"
                f" {ended[0] if ended else 0} of {count} orders completed); whole machine {whole / count * 1000:.2f} ms"
            )
            print(f"GET /health: {health * 1000:.2f} ms of CPU per request (client and framework included)")
    if profile:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats("telcrm", 40)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--profile", choices=["capture", "results"])
    args = parser.parse_args()
    settings = get_settings()
    url = resolve_database_url(settings.database_url, settings.data_dir)
    load_catalog(url)  # the demo catalog, if the data has none (a build of bench_demo_data.py), as bench_orders.py
    run_loop(run(url, args.orders, args.profile))  # on uvloop, the event loop telcrm serve runs on


if __name__ == "__main__":
    main()
