"""Load the customer 360 and search endpoints with wrk and print latency and throughput.

Usage (after `telcrm demo-data --customers 1000000` on the same database settings):

    .venv/bin/python bench/bench_api.py [--workers 2] [--duration 20] [--connections 32]

It samples real customer ids, mobile numbers, ID numbers, account numbers and names from the
database, starts `telcrm serve` with the given number of worker processes, runs wrk (Debian
package `wrk`) against 127.0.0.1 for each scenario, and prints requests/s and the latency
percentiles wrk measured. Server and load generator share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from telcrm.kit.db import Database  # noqa: E402
from telcrm.kit.embedded import resolve_database_url  # noqa: E402
from telcrm.kit.settings import get_settings  # noqa: E402

LUA = """
local paths = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  n = math.random(#paths)
end
request = function()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
"""


def sample(url: str, size: int) -> dict[str, list[str]]:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        total = conn.execute("SELECT count(*) FROM customer").fetchone()[0]  # type: ignore[index]
        pct = min(100.0, max(0.01, 100.0 * size * 3 / max(total, 1)))
        ids = [r[0] for r in conn.execute(f"SELECT id FROM customer TABLESAMPLE SYSTEM ({pct}) LIMIT {size}")]
        keys: dict[str, list[str]] = {"360": ids}
        for kind in ("phone", "id", "num", "name"):
            rows = conn.execute(
                f"SELECT key FROM search_key TABLESAMPLE SYSTEM ({pct}) WHERE kind = %s AND customer_id IS NOT NULL"
                f" LIMIT {size}",
                (kind,),
            ).fetchall()
            keys[kind] = [r[0] for r in rows]
        keys["num"] = [k for k in keys["num"] if k.startswith("A")] or keys["num"]
    return keys


async def make_key(url: str, name: str = "bench", role: str = "agent") -> str:
    from telcrm.identity import service as identity

    db = Database(url, pool_size=1)
    try:
        async with db.unit_of_work() as uow:
            return await identity.create_api_key(uow.session, name=name, role=role)
    finally:
        await db.dispose()


def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("server did not become healthy")


@contextlib.contextmanager
def served(url: str, port: int, workers: int) -> Iterator[None]:
    """`telcrm serve` on ``url`` (no dispatcher) for the block, once it answers /health."""
    env = {**os.environ, "TELCRM_DATABASE_URL": url, "TELCRM_RUN_DISPATCHER": "false"}
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/telcrm"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_wrk(port: int, paths: list[str], key: str, duration: int, connections: int, threads: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "paths.lua"
        lua.write_text(LUA)
        listing = Path(tmp) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {key}",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}",
            "--",
            str(listing),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    figures = {"rps": re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)}  # type: ignore[union-attr]
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        figures[f"p{pct}"] = m.group(1) if m else "?"
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = errors.group(1) if errors else "0"
    socket_errors = re.search(r"Socket errors: (.*)", out)
    figures["socket_errors"] = socket_errors.group(1) if socket_errors else "none"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--search-connections", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--sample", type=int, default=5000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")

    settings = get_settings()
    url = resolve_database_url(settings.database_url, settings.data_dir)
    keys = sample(url, args.sample)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        customers = conn.execute("SELECT count(*) FROM customer").fetchone()[0]  # type: ignore[index]
    api_key = asyncio.run(make_key(url))
    with served(url, args.port, args.workers):
        q = urllib.parse.quote
        scenarios = [
            ("customer 360", [f"/api/customers/{i}/360" for i in keys["360"]], args.connections),
            ("search by phone", [f"/api/customers/search?q={q(k)}" for k in keys["phone"]], args.search_connections),
            ("search by ID number", [f"/api/customers/search?q={q(k)}" for k in keys["id"]], args.search_connections),
            (
                "search by account no.",
                [f"/api/customers/search?q={q(k)}" for k in keys["num"]],
                args.search_connections,
            ),
            ("search by name", [f"/api/customers/search?q={q(k)}" for k in keys["name"]], args.search_connections),
        ]
        # warm-up: touch every sampled path once
        run_wrk(args.port, scenarios[0][1], api_key, 5, 8, 1)
        print(f"customers in database: {customers:,}; server workers: {args.workers}; wrk threads: 1")
        print(f"{'scenario':<24}{'conns':>6}{'req/s':>10}{'p50':>10}{'p90':>10}{'p99':>10}{'non-2xx':>9}")
        for name, paths, conns in scenarios:
            random.shuffle(paths)
            f = run_wrk(args.port, paths, api_key, args.duration, conns, 1)
            print(f"{name:<24}{conns:>6}{f['rps']:>10}{f['p50']:>10}{f['p90']:>10}{f['p99']:>10}{f['non2xx']:>9}")
            if f["socket_errors"] != "none":
                print(f"   socket errors: {f['socket_errors']}")


if __name__ == "__main__":
    main()
