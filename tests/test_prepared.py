"""kit.prepared: a commit's writes as prepared statements in one pipeline, on a real connection."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from telcrm.kit import prepared
from tests.conftest import Sql, _plain

INSERT = b"INSERT INTO prep_t (id, note, doc) VALUES ($1, $2, $3::jsonb)"
INSERT_TWO = b"INSERT INTO prep_t (id, note, doc) VALUES ($1, $2, $3::jsonb), ($4, $5, $6::jsonb)"


def _rows(*ids: int) -> list[bytes | None]:
    return [v for i in ids for v in (b"%d" % i, f"note {i} 'q' \\".encode(), b'{"n": %d}' % i)]


def _on_one_connection(database_url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        conn = await psycopg.AsyncConnection.connect(_plain(database_url))
        try:
            await conn.execute("CREATE TEMP TABLE prep_t (id int PRIMARY KEY, note text, doc jsonb)")
            await conn.commit()
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


async def _ours(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cursor = await conn.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'telcrm_%' ORDER BY name")
    names = [row[0] for row in await cursor.fetchall()]
    await conn.rollback()
    return names


def _traced(conn: psycopg.AsyncConnection[Any], path: Path) -> None:
    with path.open("w") as out:
        conn.pgconn.trace(os.dup(out.fileno()))
    conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)


def _sent(path: Path) -> list[str]:
    return [line.split("\t")[2] for line in path.read_text().splitlines() if line.startswith("F\t")]


def test_row_counts_are_cut_into_few_statement_sizes() -> None:
    def sizes(count: int, limit: int = 1000) -> list[int]:
        parts = list(prepared.chunks(count, limit))
        assert [start for start, _ in parts] == [sum(size for _, size in parts[:n]) for n in range(len(parts))]
        return [size for _, size in parts]

    assert sizes(0) == [] and sizes(1) == [1] and sizes(16) == [16]
    assert sizes(17) == [16, 1] and sizes(37) == [32, 5] and sizes(100) == [64, 32, 4]
    assert sizes(40, limit=8) == [8, 8, 8, 8, 8] and sizes(3, limit=2) == [2, 1]
    assert {s for n in range(1, 600) for s in sizes(n)} <= set(range(1, 17)) | {32, 64, 128, 256, 512}


def test_a_statement_is_prepared_once_per_connection_and_everything_goes_in_one_flush(
    database_url: str, sql: Sql, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"

    async def work(conn: psycopg.AsyncConnection[Any]) -> list[str]:
        _traced(conn, first)
        await prepared.commit(conn, [(INSERT, _rows(1)), (b"UPDATE prep_t SET note = 'plain' WHERE id = 1", None)])
        conn.pgconn.untrace()
        await conn.execute("SELECT 1")  # a transaction begun, as a unit of work's reads begin it
        _traced(conn, second)
        await prepared.commit(conn, [(INSERT, _rows(2)), (INSERT_TWO, _rows(3, 4))])
        conn.pgconn.untrace()
        cursor = await conn.execute("SELECT id, note, doc FROM prep_t ORDER BY id")
        rows = await cursor.fetchall()
        await conn.rollback()
        assert rows == [
            (1, "plain", {"n": 1}),
            (2, "note 2 'q' \\", {"n": 2}),
            (3, "note 3 'q' \\", {"n": 3}),
            (4, "note 4 'q' \\", {"n": 4}),
        ]
        return await _ours(conn)

    names = _on_one_connection(database_url, work)
    assert len(names) == 4  # BEGIN, COMMIT, INSERT and INSERT_TWO; the plain statement is not prepared
    for path in (first, second):  # every message sent before the first answer: one flush, one wait
        kinds = [line.split("\t")[0] for line in path.read_text().splitlines()]
        assert "F" not in kinds[kinds.index("B") :], kinds
    one, two = _sent(first), _sent(second)
    # BEGIN (nothing was read yet), INSERT, the plain statement, COMMIT: all parsed the first time
    assert one.count("Parse") == 4 and one.count("Execute") == 4 and one.count("Sync") == 1 and one[-1] == "Sync"
    # within a transaction: INSERT, INSERT_TWO and COMMIT, of them only INSERT_TWO new
    assert two.count("Parse") == 1 and two.count("Execute") == 3 and two.count("Sync") == 1, two


def test_psycopg_dropping_every_prepared_statement_is_followed(database_url: str) -> None:
    """After a rollback, psycopg sends DEALLOCATE ALL once it has prepared statements of its own:
    ours are gone too, and the next commit prepares them again instead of failing."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[list[str], list[str], list[str]]:
        await prepared.commit(conn, [(INSERT, _rows(1))])
        before = await _ours(conn)
        await conn.execute("SELECT %s::int", [1], prepare=True)  # psycopg prepares one of its own
        await conn.rollback()  # ROLLBACK, then DEALLOCATE ALL
        gone = await _ours(conn)
        await prepared.commit(conn, [(INSERT, _rows(2))])
        return before, gone, await _ours(conn)

    before, gone, after = _on_one_connection(database_url, work)
    assert len(before) == 3 and gone == [] and len(after) == 3 and not set(after) & set(before)


def test_a_failing_statement_stops_the_rest_and_the_connection_goes_on(database_url: str) -> None:
    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[list[Any], list[Any]]:
        await prepared.commit(conn, [(INSERT, _rows(1))])
        with pytest.raises(psycopg.errors.UniqueViolation):  # raised as psycopg raises it
            await prepared.commit(
                conn,
                [(INSERT_TWO, _rows(2, 3)), (INSERT, _rows(1)), (b"INSERT INTO prep_t (id) VALUES (9)", None)],
            )
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INERROR
        await conn.rollback()
        left = await (await conn.execute("SELECT id FROM prep_t ORDER BY id")).fetchall()
        await conn.rollback()
        # INSERT_TWO was first prepared in the failed pipeline: prepared again, the commit goes through
        await prepared.commit(conn, [(INSERT_TWO, _rows(2, 3))])
        return left, await (await conn.execute("SELECT id FROM prep_t ORDER BY id")).fetchall()

    left, after = _on_one_connection(database_url, work)
    assert left == [(1,)] and after == [(1,), (2,), (3,)]


def test_the_least_recently_used_statements_are_dropped_beyond_the_limit(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepared, "MAX_PREPARED", 3)

    async def work(conn: psycopg.AsyncConnection[Any]) -> list[list[str]]:
        seen = []
        for n in range(1, 6):
            cols = ", ".join(f"${i}" for i in range(1, n + 1))
            sql = f"INSERT INTO prep_t (id) SELECT greatest({cols}, 0) + {n * 100}".encode()
            await prepared.commit(conn, [(sql, [b"%d" % i for i in range(1, n + 1)])])
            seen.append(await _ours(conn))
        return seen

    seen = _on_one_connection(database_url, work)
    # each commit's statements are prepared (BEGIN, the insert, COMMIT), older ones dropped first
    # until the rest fit under the limit
    assert [len(names) for names in seen] == [3, 3, 3, 3, 3]
    assert all(not set(a) & set(b) for a, b in itertools.pairwise(seen))


LOOK = "SELECT id, note, doc FROM prep_t WHERE id = %(id)s"
LOOK_MANY = "SELECT id, doc FROM prep_t WHERE id = ANY(%(ids)s) ORDER BY id"
LOCK = "SELECT pg_advisory_xact_lock(%(key)s)"


def test_look_ups_go_prepared_in_one_flush_and_come_back_as_psycopg_loads_them(
    database_url: str, tmp_path: Path
) -> None:
    """prepared.read (UnitOfWork.read_ahead): the statements, converted as psycopg converts them
    (its placeholders, parameters and types), in one flush with one Sync after BEGIN; their rows
    loaded by psycopg's loaders (JSON parsed, integers as int); prepared once per connection."""
    first, second = tmp_path / "first", tmp_path / "second"

    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, Any, Any, list[str]]:
        await prepared.commit(conn, [(INSERT_TWO, _rows(1, 2))])
        _traced(conn, first)
        read = await prepared.read(
            conn, [(LOCK, {"key": 7}), (LOOK, {"id": 1}), (LOOK_MANY, {"ids": [2, 1, 5]}), (LOOK, {"id": 5})]
        )
        conn.pgconn.untrace()
        status = conn.pgconn.transaction_status  # begun by the read, as psycopg's first read begins it
        await conn.rollback()
        _traced(conn, second)
        again = await prepared.read(conn, [(LOOK, {"id": 2}), (LOOK, {"id": 2**40})])  # an int8 this time
        conn.pgconn.untrace()
        await conn.rollback()
        return read, status, again, await _ours(conn)

    read, status, again, names = _on_one_connection(database_url, work)
    assert read == [
        [("",)],
        [(1, "note 1 'q' \\", {"n": 1})],
        [(1, {"n": 1}), (2, {"n": 2})],
        [],
    ]
    assert status == psycopg.pq.TransactionStatus.INTRANS
    assert again == [[(2, "note 2 'q' \\", {"n": 2})], []]
    for path in (first, second):  # every message sent before the first answer: one flush, one wait
        kinds = [line.split("\t")[0] for line in path.read_text().splitlines()]
        assert "F" not in kinds[kinds.index("B") :], kinds
    one, two = _sent(first), _sent(second)
    # BEGIN was prepared by the commit before; the lock and the two look-ups are new
    assert one.count("Parse") == 3 and one.count("Execute") == 5 and one.count("Sync") == 1 and one[-1] == "Sync"
    # LOOK again, and LOOK with an int8 parameter: psycopg types it otherwise, so it is another statement
    assert two.count("Parse") == 1 and two.count("Execute") == 3, two
    assert len(names) == 3 + 3 + 1  # BEGIN, COMMIT, INSERT_TWO; the three look-ups; LOOK for an int8


def test_a_failing_look_up_is_raised_as_psycopg_raises_it_and_stops_the_rest(database_url: str) -> None:
    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, Any]:
        await prepared.commit(conn, [(INSERT, _rows(1))])
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            await prepared.read(
                conn,
                [
                    ("SELECT %(n)s::int", {"n": "not a number"}),
                    ("UPDATE prep_t SET note = 'changed' RETURNING id", {}),
                ],
            )
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INERROR
        await conn.rollback()
        notes = await (await conn.execute("SELECT note FROM prep_t")).fetchall()
        await conn.rollback()
        return notes, await prepared.read(conn, [("SELECT %(n)s::int", {"n": "12"})])

    notes, read = _on_one_connection(database_url, work)
    assert notes == [("note 1 'q' \\",)] and read == [[(12,)]]
