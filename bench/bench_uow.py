"""The CPU one unit of work costs, against the same statements on a bare psycopg connection.

Usage (any database telcrm can reach, e.g. the embedded one of a data directory):

    TELCRM_DATA_DIR=D .venv/bin/python bench/bench_uow.py [--count 3000] [--rounds 2]

Each kind runs ``--count`` times one after the other, in rounds, after 200 untimed runs:
``plain`` (a unit of work with one ``SELECT 1`` on its psycopg connection, as the hot paths run
their statements), ``session`` (the same through the ORM session), and ``psycopg`` (``BEGIN;
SELECT 1; COMMIT`` on a bare connection: what the database round trips cost alone). It prints this
process's CPU per unit of work: the unit of work's own cost is the difference with ``psycopg``.
On a busy or shared machine, compare two commits alternately, several rounds each.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_orders import run_loop  # noqa: E402

from telcrm.kit.db import Database  # noqa: E402
from telcrm.kit.embedded import resolve_database_url  # noqa: E402
from telcrm.kit.settings import get_settings  # noqa: E402

WARM = 200


async def run(url: str, count: int, rounds: int) -> None:
    db = Database(url, pool_size=4)
    bare = await psycopg.AsyncConnection.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    async def plain() -> None:
        async with db.unit_of_work() as uow:
            await (await uow.driver()).execute("SELECT 1")

    async def session() -> None:
        async with db.unit_of_work() as uow:
            await uow.session.execute(text("SELECT 1"))

    async def bare_psycopg() -> None:
        async with bare.transaction():
            await bare.execute("SELECT 1")

    kinds: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("plain", plain),
        ("session", session),
        ("psycopg", bare_psycopg),
    ]
    try:
        for round_ in range(1, rounds + 1):
            for name, one in kinds:
                for _ in range(WARM):
                    await one()
                started = time.process_time()
                for _ in range(count):
                    await one()
                cpu = (time.process_time() - started) / count
                print(f"round {round_}: {name:<8} {cpu * 1000:.3f} ms of CPU per unit of work ({count} runs)")
    finally:
        await bare.close()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = get_settings()
    run_loop(run(resolve_database_url(settings.database_url, settings.data_dir), args.count, args.rounds))


if __name__ == "__main__":
    main()
