"""Benchmark of the demo data generator: N customers into a fresh embedded PostgreSQL.

    .venv/bin/python bench/bench_demo_data.py                   # 1,000,000 customers
    .venv/bin/python bench/bench_demo_data.py --customers 100000 --keep

Prints the time, the rows per table, table and database sizes, and the machine's load (other
processes running at the same time slow the figures down). The data directory is a new
temporary directory, removed afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from telcrm.demo.generator import TABLES, generate
from telcrm.kit.embedded import ensure_embedded, stop_embedded
from telcrm.migrations import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: up to 2)")
    parser.add_argument("--data-dir", type=Path, default=None, help="embedded server directory (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the server and its data afterwards")
    args = parser.parse_args()
    console = Console()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="telcrm-bench-demo-"))
    url = ensure_embedded(data_dir)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        upgrade(url)
        load_before = os.getloadavg()
        server_before = _server_cpu(data_dir)
        started = time.perf_counter()
        cpu_before = os.times()
        generate(url, customers=args.customers, seed=args.seed, console=console, workers=args.workers)
        elapsed = time.perf_counter() - started
        cpu_after = os.times()
        server = _server_cpu(data_dir) - server_before
        load_after = os.getloadavg()

        with psycopg.connect(dsn) as conn:
            conn.execute("CHECKPOINT")
            sizes = Table(title="tables", show_edge=False)
            for column in ("table", "rows", "heap+toast", "indexes", "total"):
                sizes.add_column(column, justify="left" if column == "table" else "right")
            for table in (*TABLES, "number_pool"):
                row = conn.execute(
                    f"SELECT count(*), pg_table_size('{table}'), pg_indexes_size('{table}'),"
                    f" pg_total_relation_size('{table}') FROM {table}"
                ).fetchone()
                assert row is not None
                sizes.add_row(table, f"{row[0]:,}", *(_mb(v) for v in row[1:]))
            db_size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        console.print(sizes)
        children = (cpu_after.children_user + cpu_after.children_system) - (
            cpu_before.children_user + cpu_before.children_system
        )
        own = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        console.print(f"customers:            {args.customers:,} (seed {args.seed})")
        console.print(f"wall time:            {elapsed:.1f} s  ({args.customers / elapsed:,.0f} customers/s)")
        console.print(f"generator CPU:        {own:.1f} s in this process, {children:.1f} s in worker processes")
        console.print(f"PostgreSQL CPU:       {server:.1f} s (all server processes)")
        total = own + children + server
        console.print(
            f"total CPU:            {total:.1f} s, so at least {total / (os.cpu_count() or 1):.1f} s of wall time"
            " on this machine with nothing else running"
        )
        console.print(f"database size:        {_mb(db_size[0] if db_size else 0)}")
        console.print(
            f"load average:         {load_before[0]:.2f} before, {load_after[0]:.2f} after ({os.cpu_count()} CPUs)"
        )
    finally:
        if not args.keep:
            stop_embedded(data_dir)
            if args.data_dir is None:
                shutil.rmtree(data_dir, ignore_errors=True)
        else:
            console.print(f"kept: TELCRM_DATA_DIR={data_dir}")


def _server_cpu(data_dir: Path) -> float:
    """CPU seconds used so far by the embedded server: the postmaster, its live and its ended children."""
    postmaster = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # own and reaped children's user and system time
        elif parent == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _mb(value: int) -> str:
    return f"{value / 1024 / 1024:,.0f} MB"


if __name__ == "__main__":
    main()
