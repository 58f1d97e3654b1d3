"""Orders end to end, and catalog reads: prints capture latency, completion rate and checks.

Usage (after `telcrm demo-data --customers 1000000` on the same database settings):

    TELCRM_DATA_DIR=D .venv/bin/python bench/bench_orders.py [--rate 200] [--duration 60] [--workers 2]

It starts `telcrm serve` (with its work-order sender) and `telcrm provisioning-sim` (delay 0.5 s
± 0.3 s, 5 % failures of which 30 % permanent), then:
1. catalog: wrk on the active offering list (browse) and on single offerings (detail);
2. orders: after ``--warmup`` seconds of orders at the same rate (timed apart), an open-loop load
   generator POSTs orders at ``--rate`` per second for ``--duration`` seconds (a mix of mobile
   plans with a number from the pool, broadband, IPTV and converged bundles, for sampled active
   individual customers with their own account and user), records each capture's latency, then
   waits until every order has ended and checks that nothing was lost or doubled: every order
   stored once and ended, one product per completed item, one Create event per order and per
   product, one billing start per product, no work order or number left open. Work orders left
   open by an earlier, interrupted run are waited for first.
Server, simulator, database and load generator share this machine's cores.

To start every run from the same database, save the built data directory once and restore it
before each run with ``bench/snapshot.py``: it also drops the copy from the page cache and waits
until the virtual machine is quiet, so that the host's reclaim of a 19-GB copy does not freeze the
machine in the middle of the run (ADR 10, nineteenth session). ``--sample`` reports, per 10 s,
whether the machine froze (a real-time timer's lateness) and the free memory handed to the host.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import psycopg

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import pg_sampler  # noqa: E402
from bench_api import make_key, run_wrk, wait_healthy  # noqa: E402

from telcrm.demo.catalog import _items, load_catalog  # noqa: E402
from telcrm.kit.embedded import resolve_database_url  # noqa: E402
from telcrm.kit.settings import get_settings  # noqa: E402
from telcrm.ordering.pool import add_numbers  # noqa: E402

ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"
OFFERING = "/tmf-api/productCatalogManagement/v4/productOffering"
SPEC = "/tmf-api/productCatalogManagement/v4/productSpecification"
MIX = [("mobile", 0.6), ("broadband", 0.2), ("iptv", 0.1), ("converged", 0.1)]


def sample_shops(conn: psycopg.Connection[Any], size: int) -> list[tuple[str, str, str]]:
    """Active individual customers with a billing account and a user of their own."""
    total = conn.execute("SELECT count(*) FROM customer").fetchone()[0]  # type: ignore[index]
    pct = min(100.0, max(0.01, 100.0 * size * 4 / max(total, 1)))
    rows = conn.execute(
        f"""WITH c AS MATERIALIZED (
                SELECT id FROM customer TABLESAMPLE SYSTEM ({pct})
                WHERE status = 'active' AND category = 'individual' LIMIT {size * 2})
            SELECT c.id, a.id, u.id FROM c
            JOIN LATERAL (SELECT id FROM account WHERE customer_id = c.id AND kind = 'BillingAccount'
                          AND state = 'active' AND account_type IS DISTINCT FROM 'groupPaid' LIMIT 1) a ON true
            JOIN LATERAL (SELECT id FROM customer_user WHERE customer_id = c.id LIMIT 1) u ON true
            LIMIT {size}"""
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def free_numbers(conn: psycopg.Connection[Any], size: int) -> list[str]:
    rows = conn.execute(
        "SELECT number FROM number_pool WHERE status = 'free' AND kind = 'mobile' ORDER BY number LIMIT %s", (size,)
    ).fetchall()
    return [r[0] for r in rows]


def order_body(n: int, shop: tuple[str, str, str], kind: str, number: str | None, tag: str) -> dict[str, Any]:
    customer, account, user = shop

    def item(item_id: str, offering: str, **extra: Any) -> dict[str, Any]:
        return {"id": item_id, "action": "add", "productOffering": {"id": offering}, **extra}

    def numbered(item_id: str, offering: str) -> dict[str, Any]:
        chars = [{"name": "serviceNumber", "value": number}]
        return item(item_id, offering, product={"productCharacteristic": chars})

    if kind == "mobile":
        items = [numbered("1", random.choice(["po-mobile-59", "po-mobile-99", "po-mobile-199"]))]
    elif kind == "broadband":
        items = [item("1", random.choice(["po-broadband-100m", "po-broadband-300m", "po-broadband-1000m"]))]
    elif kind == "iptv":
        items = [item("1", "po-iptv")]
    else:
        parts = [numbered("1.1", "po-mobile-99"), item("1.2", "po-broadband-300m"), item("1.3", "po-iptv")]
        items = [item("1", "po-bundle-converged", productOrderItem=parts)]
    return {
        "externalId": f"{tag}-{n}",
        "category": "B2C",
        "relatedParty": [
            {"id": customer, "role": "customer", "@referredType": "Customer"},
            {"id": user, "role": "user", "@referredType": "User"},
        ],
        "billingAccount": {"id": account},
        "productOrderItem": items,
    }


class RawClient:
    """A lean HTTP/1.1 keep-alive client for the load generator: requests are encoded before the
    run, so the generator spends little CPU of its own on the machine it shares with the server
    (httpx took ~2 ms of CPU per order here)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)

    def request(self, path: str, key: str, body: dict[str, Any]) -> bytes:
        data = orjson.dumps(body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        return head.encode() + data

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        async with self.slots:
            if self.idle:
                reader, writer = self.idle.pop()
                try:
                    return await self._exchange(reader, writer, raw)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                        raise
                    # the server closed the idle connection (keep-alive timeout): nothing was read
            reader, writer = await asyncio.open_connection(self.host, self.port)
            return await self._exchange(reader, writer, raw)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
    ) -> tuple[int, bytes]:
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            sizes = [line.split(":", 1)[1] for line in lines[1:] if line.lower().startswith("content-length:")]
            length = int(sizes[0])
            body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer))
        return status, body

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def load(
    base: str, key: str, bodies: list[dict[str, Any]], rate: float
) -> list[tuple[float, int, str, str, float]]:
    """Open loop: order n leaves at start + n / rate whatever the earlier ones are doing.
    Each answer: latency, status, the order's state and id, when it left (seconds into the load)."""
    results: list[tuple[float, int, str, str, float]] = []
    host, port = base.split("//", 1)[1].split(":")
    client = RawClient(host, int(port), 64)
    requests = [client.request(ORDER, key, body) for body in bodies]

    async def one(raw: bytes) -> None:
        started = time.perf_counter()
        at = started - start
        try:
            status, body = await client.send(raw)
            doc = orjson.loads(body) if body else {}
            state, id_ = str(doc.get("state", "")), str(doc.get("id", ""))
            results.append((time.perf_counter() - started, status, state, id_, at))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            results.append((time.perf_counter() - started, 0, type(exc).__name__, "", at))

    tasks = []
    # the generator's own collector pauses would be measured as the server's latency
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for n, raw in enumerate(requests):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(raw)))
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
    client.close()
    return results


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop, the event loop the server runs on: its sockets cost about
    half the CPU of asyncio's own loop, CPU the generator takes from the machine it shares."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def cpu_by_part(server: int, sim: int) -> dict[str, float]:
    """CPU seconds used so far by the server (with its worker processes), the simulator, PostgreSQL
    and this generator, from /proc (Linux); processes that ended are not counted."""
    return pg_sampler.cpu_by_part(server, sim, os.getpid())


def open_work_orders(url: str) -> int:
    """Work orders the server still has to send, or to hear back about: the queue of open work
    orders (a waiting work order always follows one of these in its order)."""
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM work_order_queue").fetchone()
    return int(found[0]) if found else 0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def upgrade_catalog(base: str, key: str) -> None:
    """Give the demo specifications their networkDomain if the data predates it."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for kind, id_, doc in _items():
            if kind != "ProductSpecification":
                continue
            current = http.get(f"{SPEC}/{id_}").json()
            names = {c["name"] for c in current.get("productSpecCharacteristic", [])}
            if "networkDomain" not in names:
                r = http.patch(
                    f"{SPEC}/{id_}",
                    json={"productSpecCharacteristic": doc["productSpecCharacteristic"]},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                r.raise_for_status()


def check(conn: psycopg.Connection[Any], tag: str, placed: int) -> dict[str, Any]:
    def one(query: str, *args: Any) -> Any:
        return conn.execute(query, args).fetchone()[0]  # type: ignore[index]

    like = f"{tag}-%"
    # the run's orders and products, each read once: the checks below join these small tables
    # (and reach the events through the customer-id index) instead of reading the whole event
    # and product tables per check
    conn.execute("DROP TABLE IF EXISTS run_orders, run_products")
    conn.execute(
        "CREATE TEMP TABLE run_orders AS SELECT id, customer_id, external_id, state, body FROM product_order"
        " WHERE external_id LIKE %s",
        (like,),
    )
    conn.execute(
        "CREATE TEMP TABLE run_products AS SELECT id, customer_id, body->'productOrderItem'->0->>'productOrderId'"
        " AS order_id, body->'productOrderItem'->0->>'orderItemId' AS item_id FROM product"
        " WHERE customer_id IN (SELECT customer_id FROM run_orders)"
        " AND body->'productOrderItem'->0->>'productOrderId' IN (SELECT id FROM run_orders)"
    )
    conn.execute("ANALYZE run_orders")
    conn.execute("ANALYZE run_products")
    mine = "SELECT id FROM run_orders"

    def events(event_type: str, of: str) -> Any:
        return one(
            f"SELECT count(*) FROM outbox_event WHERE customer_id IN (SELECT customer_id FROM {of})"
            f" AND event_type = %s AND resource_id IN (SELECT id FROM {of})",
            event_type,
        )

    out: dict[str, Any] = {}
    out["orders stored"] = one("SELECT count(*) FROM run_orders")
    out["orders with a duplicate externalId"] = one(
        "SELECT count(*) FROM (SELECT external_id FROM run_orders GROUP BY 1 HAVING count(*) > 1) d"
    )
    for state, count in conn.execute("SELECT state, count(*) FROM run_orders GROUP BY 1 ORDER BY 1"):
        out[f"orders {state}"] = count
    out["work orders still open"] = one(
        f"SELECT count(*) FROM work_order WHERE order_id IN ({mine})"
        " AND status IN ('waiting', 'pending', 'sent', 'withdrawing')"
    )
    out["work orders retried"] = one(f"SELECT count(*) FROM work_order WHERE order_id IN ({mine}) AND attempt > 1")
    out["products made"] = one("SELECT count(*) FROM run_products")
    out["products doubled (same order item twice)"] = one(
        "SELECT count(*) FROM (SELECT order_id, item_id FROM run_products GROUP BY 1, 2 HAVING count(*) > 1) d"
    )
    out["completed items without a product"] = one(
        """SELECT count(*) FROM run_orders o,
              jsonb_path_query(o.body, '$.productOrderItem[*] ? (@.state == "completed")') AS root
            WHERE NOT (root ? 'product')"""
    )
    out["order Create events"] = events("ProductOrderCreateEvent", "run_orders")
    out["product Create events"] = events("ProductCreateEvent", "run_products")
    out["billing start events"] = events("ProductBillingStartEvent", "run_products")
    out["numbers left reserved"] = one(
        f"SELECT count(*) FROM number_pool WHERE status = 'reserved' AND order_id IN ({mine})"
    )
    problems = []
    if out["orders stored"] != placed or out["orders with a duplicate externalId"]:
        problems.append("orders lost or doubled")
    if out["products doubled (same order item twice)"] or out["completed items without a product"]:
        problems.append("products doubled or missing")
    if out["order Create events"] != out["orders stored"] or out["product Create events"] != out["products made"]:
        problems.append("events lost or doubled")
    if out["billing start events"] != out["products made"]:
        problems.append("billing starts lost or doubled")
    out["verdict"] = "OK: nothing lost or doubled" if not problems else "; ".join(problems)
    return out


def machine_state() -> str:
    """How fast this machine is just now, for comparing runs: the same code ran 1.5x slower from
    one hour to the next on the same (virtual) machine (ADR 10). The time of a fixed pure-Python
    loop, and the share of the last 10 s in which some task waited for a core (the kernel's
    pressure stall information, where there is one)."""
    started = time.perf_counter()
    x = 0
    for i in range(10_000_000):
        x += i
    loop = time.perf_counter() - started
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
        stall = f"; waiting for a core {float(some.split()[1].split('=')[1]):.1f}% of the last 10 s"
    except (OSError, IndexError, ValueError):
        stall = ""
    return f"machine: a 10M-step Python loop took {loop:.2f} s{stall}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200.0, help="orders per second offered")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--catalog-duration", type=int, default=15)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--sim-port", type=int, default=8101)
    parser.add_argument("--sim-delay", type=float, default=0.5, help="seconds until the simulator answers a work order")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of orders at --rate before the measured load (fresh server processes open their"
        " database connections and fill their caches); checked like the others, timed apart",
    )
    parser.add_argument(
        "--sample",
        action="store_true",
        help="sample PostgreSQL's wait events, lock waits (waiter and blocker), WAL, autovacuum and the"
        " machine's busy and stolen cores during the catalog phase (per 5 s) and the load (per 10 s)",
    )
    parser.add_argument(
        "--latency-log",
        type=Path,
        help="write each measured capture as 'unix time, status, latency ms' to this file"
        " (and, with --sample, the sampled seconds beside it: .seconds.jsonl)",
    )
    args = parser.parse_args()
    random.seed(args.seed)
    settings = get_settings()
    url = resolve_database_url(settings.database_url, settings.data_dir)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run(
        [str(ROOT / ".venv/bin/telcrm"), "migrate"], env={**os.environ, "TELCRM_DATABASE_URL": url}, check=True
    )
    load_catalog(url)  # the demo catalog, if the data predates it
    total = int(args.rate * args.duration)
    warm = int(args.rate * args.warmup)
    need = total + warm
    with psycopg.connect(plain) as conn:
        customers = conn.execute("SELECT count(*) FROM customer").fetchone()[0]  # type: ignore[index]
        shops = sample_shops(conn, min(total, 20000))
        numbers = free_numbers(conn, need)
        if len(numbers) < need:
            # earlier runs took them: add fresh ones (prefix 198, after those of the demo data), as
            # staff would with `telcrm numbers add`
            last = conn.execute("SELECT max(number) FROM number_pool WHERE number LIKE '198________'").fetchone()
            start = int(last[0][3:]) + 1 if last and last[0] else 0
            added = add_numbers(plain, [f"198{n:08d}" for n in range(start, start + 2 * need)], "mobile")
            print(f"the number pool had {len(numbers)} free mobile numbers, {need} needed: {added} added")
            numbers = free_numbers(conn, need)
    if len(numbers) < need:
        raise SystemExit(f"the number pool has {len(numbers)} free mobile numbers; {need} needed")
    admin_key = asyncio.run(make_key(url, "bench-orders", "admin"))
    sim_key = asyncio.run(make_key(url, "bench-provisioning", "system"))
    base = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "TELCRM_DATABASE_URL": url,
        "TELCRM_PROVISIONING_URL": f"http://127.0.0.1:{args.sim_port}",
        "TELCRM_BASE_URL": base,
        "TELCRM_PROVISIONING_API_KEY": sim_key,
    }
    telcrm = str(ROOT / ".venv/bin/telcrm")
    delay = str(args.sim_delay)
    sim = subprocess.Popen(
        [telcrm, "provisioning-sim", "--port", str(args.sim_port), "--seed", str(args.seed), "--delay", delay],
        env=env,
    )
    server = subprocess.Popen([telcrm, "serve", "--port", str(args.port), "--workers", str(args.workers)], env=env)
    sampler: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(args.port)
        wait_healthy(args.sim_port)
        upgrade_catalog(base, admin_key)
        print(f"customers in database: {customers:,}; server workers: {args.workers}")
        print(machine_state())
        samples = Path(tempfile.gettempdir()) / f"telcrm-bench-samples-{os.getpid()}.jsonl"
        sampler = (  # from here on: the catalog phase's seconds too
            subprocess.Popen(
                [sys.executable, str(ROOT / "bench/pg_sampler.py"), plain, str(samples), str(server.pid), str(sim.pid)]
            )
            if args.sample
            else None
        )
        phases: list[tuple[str, float]] = []  # catalog scenarios and when each began
        if not args.catalog_duration:
            pass  # catalog figures not asked for
        elif shutil.which("wrk"):
            offerings = [i for k, i, _ in _items() if k == "ProductOffering"]
            browse = [f"{OFFERING}?lifecycleStatus=active&limit=20&offset={o}" for o in (0, 20, 40)]
            detail = [f"{OFFERING}/{i}" for i in offerings]
            run_wrk(args.port, detail, admin_key, 3, 4, 1)
            print(f"{'catalog':<26}{'conns':>6}{'req/s':>10}{'p50':>10}{'p90':>10}{'p99':>10}{'non-2xx':>9}")
            for name, paths in (("browse (20 per page)", browse), ("offering detail", detail)):
                phases.append((name, time.time()))
                f = run_wrk(args.port, paths, admin_key, args.catalog_duration, 4, 1)
                print(f"{name:<26}{4:>6}{f['rps']:>10}{f['p50']:>10}{f['p90']:>10}{f['p99']:>10}{f['non2xx']:>9}")
        else:
            print("wrk is not installed (apt-get install wrk): catalog figures skipped")
        backlog = open_work_orders(plain)
        if backlog:
            # work orders left open by an earlier run (stopped before its orders ended) would be
            # sent first and counted against this run: let the server finish them before the load
            print(f"{backlog} work orders of earlier runs still open: waiting for them to end")
            deadline = time.perf_counter() + 600
            while backlog and time.perf_counter() < deadline:
                time.sleep(2)
                backlog = open_work_orders(plain)
            if backlog:
                raise SystemExit(f"{backlog} work orders of earlier runs still open after 10 minutes")
        tag = f"bench{int(time.time())}"
        kinds = random.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=need)
        bodies = [order_body(n, random.choice(shops), kinds[n], numbers[n], tag) for n in range(need)]
        warmed: list[tuple[float, int, str, str, float]] = []
        if warm:
            warmed = run_loop(load(base, admin_key, bodies[total:], args.rate))
            times = [r[0] for r in warmed if r[1] == 201]
            print(
                f"warm-up: {len(times)} of {warm} orders captured in {args.warmup:g} s; capture p50"
                f" {pct(times, 50):.1f} ms, p99 {pct(times, 99):.1f} ms (not counted below)"
            )
            time.sleep(1)
        bodies = bodies[:total]
        started = time.perf_counter()
        started_wall = time.time()
        cpu_before = cpu_by_part(server.pid, sim.pid)
        try:
            results = run_loop(load(base, admin_key, bodies, args.rate))
        finally:
            if sampler:
                sampler.terminate()
                sampler.wait(30)
        offered = time.perf_counter() - started
        if args.latency_log:
            args.latency_log.write_text(
                "".join(f"{started_wall + at:.3f},{code},{latency * 1000:.2f}\n" for latency, code, _, _, at in results)
            )
        cpu_loaded = cpu_by_part(server.pid, sim.pid)
        latencies = [r[0] for r in results if r[1] == 201]
        statuses: dict[str, int] = {}
        for _, code, state, _, _ in results:
            statuses[f"{code} {state}"] = statuses.get(f"{code} {state}", 0) + 1
        print(f"\norders offered: {total} at {args.rate:g}/s over {offered:.1f} s; answers: {statuses}")
        print(
            f"capture latency: p50 {pct(latencies, 50):.1f} ms, p90 {pct(latencies, 90):.1f} ms,"
            f" p99 {pct(latencies, 99):.1f} ms, max {max(latencies) * 1000:.1f} ms"
        )
        windows: dict[int, list[float]] = {}
        for latency, code, _, _, at in results:
            if code == 201:
                windows.setdefault(int(at // 10), []).append(latency)
        print("capture p99 per 10 s of the load: " + ", ".join(f"{pct(w, 99):.0f}" for _, w in sorted(windows.items())))
        if sampler and samples.exists():
            for name, began in phases:  # the catalog phase's seconds (the sampler writes them when stopped)
                print(f"catalog, {name}, per 5 s (wrk's own CPU is in cores busy, in none of the parts):")
                print("\n".join(pg_sampler.windows(samples, began, 5, until=began + args.catalog_duration)))
            print("PostgreSQL per 10 s of the load (sampled 5 times a second; CPU = running, not waiting):")
            print("\n".join(pg_sampler.windows(samples, started_wall)))
            if args.latency_log:  # the seconds too, beside the latencies
                shutil.move(samples, args.latency_log.with_suffix(".seconds.jsonl"))
            else:
                samples.unlink()
        print(
            "CPU per order during the load: "
            + ", ".join(
                f"{k} {(cpu_loaded[k] - cpu_before[k]) * 1000 / max(len(latencies), 1):.1f} ms" for k in cpu_loaded
            )
        )
        # the orders still open, polled by primary key (a LIKE on externalId over a million orders
        # would cost PostgreSQL more CPU than the orders themselves, and count against them)
        open_ids = [r[3] for r in results if r[3]]
        with psycopg.connect(plain, autocommit=True) as conn:

            def still_open(ids: list[str]) -> list[str]:
                return [
                    row[0]
                    for row in conn.execute(
                        "SELECT id FROM product_order WHERE id = ANY(%s)"
                        " AND state NOT IN ('completed', 'partial', 'failed', 'rejected', 'cancelled')",
                        (ids,),
                    )
                ]

            open_ids = still_open(open_ids)
            print(
                f"orders ended while the load ran: {total - len(open_ids)}"
                f" ({(total - len(open_ids)) / offered:.0f}/s; the rest were placed in the last seconds"
                " or wait for a retry of a failed work order)"
            )
            while open_ids and time.perf_counter() - started <= args.duration * 10:
                time.sleep(0.5)
                open_ids = still_open(open_ids)
            ended = time.perf_counter() - started
            cpu_after = cpu_by_part(server.pid, sim.pid)
            print(
                f"all orders ended {ended - offered:.1f} s after the last was placed;"
                f" {total / ended:.0f} orders/s carried to completion over {ended:.1f} s"
            )
            # when each order of the load ended (its completionDate, the time of the transaction
            # that ended it), per 10 s of the load: the first window fills the pipeline (an order
            # takes its work orders' round trips to end); from then on, a server that keeps up ends
            # as many orders in each window as were offered
            ended_per_window = conn.execute(
                "SELECT floor((extract(epoch FROM (body->>'completionDate')::timestamptz) - %s) / 10)::int AS w,"
                " count(*) FROM product_order WHERE id = ANY(%s) GROUP BY w ORDER BY w",
                (started_wall, [r[3] for r in results if r[3]]),
            ).fetchall()
            during = {w: n for w, n in ended_per_window if w is not None and w >= 0 and (w + 1) * 10 <= offered}
            steady = ""
            if len(during) > 1:
                rate = sum(n for w, n in during.items() if w) / (10 * max(during))
                steady = f"; from 10 s to {max(during) * 10 + 10} s: {rate:.0f}/s"
            print("orders ended per 10 s of the load: " + ", ".join(f"{n}" for _, n in sorted(during.items())) + steady)
            per_order = {k: (cpu_after[k] - cpu_before[k]) * 1000 / max(len(latencies), 1) for k in cpu_after}
            print(
                "CPU per order, load start to last order ended: "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in per_order.items())
                + f"; all {sum(per_order.values()):.1f} ms"
                + f" (this machine has {os.cpu_count()} cores: at most {os.cpu_count() or 1:d} s of CPU per second)"
            )
            # failed items' completed work is undone after the order ended: let that finish too
            deadline = time.perf_counter() + 120
            while (
                time.perf_counter() < deadline
                and conn.execute(
                    "SELECT count(*) FROM work_order w JOIN product_order o ON o.id = w.order_id"
                    " WHERE o.external_id LIKE %s AND w.status IN ('waiting', 'pending', 'sent', 'withdrawing')",
                    (f"{tag}-%",),
                ).fetchone()[0]
            ):  # type: ignore[index]
                time.sleep(0.5)
            placed = len(latencies) + sum(1 for r in warmed if r[1] == 201)
            for name, value in check(conn, tag, placed).items():
                print(f"  {name:<44}{value}")
        stats = httpx.get(f"http://127.0.0.1:{args.sim_port}/stats").json()
        print(f"provisioning simulator: {stats}")
    finally:
        if sampler is not None and sampler.poll() is None:  # stopped early (an error before the load ended)
            sampler.terminate()
        server.terminate()
        sim.terminate()
        server.wait(timeout=30)
        sim.wait(timeout=30)


if __name__ == "__main__":
    main()
