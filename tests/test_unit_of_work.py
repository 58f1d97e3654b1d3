"""The unit of work's plain-SQL writers (ADR 10): many rows in one statement, changed work orders
written once at commit, documents written without the ORM's flush, each as the ORM would."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import DateTime, Integer, String, any_, bindparam, event, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from telcrm.kit import db as kitdb
from telcrm.kit import prepared
from telcrm.kit.auth import SYSTEM_CALLER, Context
from telcrm.kit.db import Database, UnitOfWork
from telcrm.models import HubSubscription, Product, ProductOrder, WorkOrder
from telcrm.ordering import repository
from telcrm.ordering.service import orders
from tests.conftest import Sql


def _run(client: TestClient, work: Callable[[UnitOfWork], Awaitable[Any]]) -> Any:
    db: Database = client.app_state.db  # type: ignore[attr-defined]

    async def go() -> Any:
        async with db.unit_of_work() as uow:
            return await work(uow)

    return client.portal.call(go)  # type: ignore[union-attr]


def _order(sql: Sql, order_id: str = "O1") -> None:
    sql.conn.execute(
        "INSERT INTO product_order (id, body, version, state) VALUES (%s, '{}', 1, 'inProgress')", (order_id,)
    )


def _work(n: int, order_id: str = "O1") -> dict[str, Any]:
    return {
        "id": f"W{n:04d}",
        "order_id": order_id,
        "item_id": "1",
        "root_item_id": "1",
        "domain": "mobile",
        "task": "sim",
        "action": "add",
        "seq": n,
        "status": "pending",
        "attempt": 1,
        "send_attempts": 0,
        "next_attempt_at": datetime.now(UTC),
        "payload": {"n": n, "text": "号码"},
    }


def test_insert_rows_writes_many_rows_in_few_statements(
    client: TestClient, sql: Sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    _order(sql)
    monkeypatch.setattr(kitdb, "MAX_PARAMETERS", 13 * 40)  # 40 work orders per statement
    statements: list[str] = []

    execute = psycopg.AsyncRawCursor.execute

    async def counting(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        statements.append(str(query))
        return await execute(self, query, params, **kw)

    monkeypatch.setattr(psycopg.AsyncRawCursor, "execute", counting)

    async def work(uow: UnitOfWork) -> None:
        await uow.insert_rows("work_order", repository.WORK_COLUMNS, [_work(n) for n in range(100)], jsonb=("payload",))

    _run(client, work)
    assert len(statements) == 3  # 40 + 40 + 20 rows
    assert sql.count("work_order") == 100
    assert sql.value("SELECT payload FROM work_order WHERE id = 'W0042'") == {"n": 42, "text": "号码"}


def test_update_rows_sets_values_by_key_and_never_cuts_a_value(client: TestClient, sql: Sql) -> None:
    _order(sql)
    _run(
        client,
        lambda uow: uow.insert_rows("work_order", repository.WORK_COLUMNS, [_work(1), _work(2)], jsonb=("payload",)),
    )
    sql.conn.execute("UPDATE work_order SET result = '{\"x\": 1}', updated_at = now() - interval '1 hour'")
    table = WorkOrder.__table__
    later = datetime.now(UTC) + timedelta(minutes=5)

    async def change(uow: UnitOfWork) -> None:
        await uow.update_rows(
            table,
            "id",
            ("status", "next_attempt_at", "result"),
            [("W0001", "sent", later, None), ("W0002", "failed", later, {"why": "x"})],
        )

    _run(client, change)
    rows = sql.rows(
        "SELECT id, status, result, next_attempt_at, updated_at > now() - interval '1 minute'"
        " FROM work_order ORDER BY id"
    )
    assert rows == [("W0001", "sent", None, later, True), ("W0002", "failed", {"why": "x"}, later, True)]

    async def too_long(uow: UnitOfWork) -> None:
        await uow.update_rows(table, "id", ("status",), [("W0001", "much-too-long-a-status")])

    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        _run(client, too_long)
    assert sql.value("SELECT status FROM work_order WHERE id = 'W0001'") == "sent"  # rolled back, not cut to 12


def test_changed_work_orders_are_written_once_at_commit_and_read_once_per_transaction(
    client: TestClient, sql: Sql
) -> None:
    _order(sql)
    _order(sql, "O2")
    rows = [_work(n) for n in range(3)] + [_work(n, "O2") for n in range(10, 12)]
    _run(client, lambda uow: uow.insert_rows("work_order", repository.WORK_COLUMNS, rows, jsonb=("payload",)))

    async def work(uow: UnitOfWork) -> None:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER)
        first = await repository.work_orders(ctx, ["O1"], lock=True)
        first[0].status, first[0].result = "completed", {"iccid": "8986"}
        again = await repository.work_orders(ctx, ["O1"])
        # the same objects: the change not yet written is not lost to a fresh read
        assert [id(w) for w in again] == [id(w) for w in first] and again[0].status == "completed"
        assert sql.value("SELECT status FROM work_order WHERE id = 'W0000'") == "pending"  # not before commit
        async with uow.savepoint():
            first[1].attempt = 2
        with pytest.raises(LookupError):
            async with uow.savepoint():
                # read first inside a savepoint that rolls back: what it changed there is not written
                other = await repository.work_orders(ctx, ["O2"], lock=True)
                other[0].status = "cancelled"
                raise LookupError("the nested step failed")

    _run(client, work)
    assert sql.rows("SELECT id, status, attempt, result FROM work_order ORDER BY id") == [
        ("W0000", "completed", 1, {"iccid": "8986"}),
        ("W0001", "pending", 2, None),
        ("W0002", "pending", 1, None),
        ("W0010", "pending", 1, None),
        ("W0011", "pending", 1, None),
    ]


def _product(id_: str, **extra: Any) -> Product:
    return Product(id=id_, body={"id": id_, "name": "宽带 300M"}, version=1, status="active", name="宽带 300M", **extra)


def test_write_object_inserts_and_updates_like_a_flush(client: TestClient, sql: Sql) -> None:
    async def work(uow: UnitOfWork) -> dict[str, Any]:
        row = _product("P1")
        await uow.write_object(row)
        session = uow.session.sync_session
        assert row in session and not session.new and not session.dirty  # persistent and clean
        created = row.created_at  # filled from the database (no lazy load, which async would refuse)
        assert isinstance(created, datetime) and row.termination_date is None
        row.body = {**row.body, "status": "suspended"}
        row.status, row.version = "suspended", 2
        await uow.write_object(row)
        assert not session.dirty
        found = (await uow.session.execute(select(Product).where(Product.id == "P1"))).scalar_one()
        assert found is row
        return {"created": created, "updated": row.updated_at}

    seen = _run(client, work)
    assert sql.rows("SELECT status, version, body->>'status', created_at FROM product") == [
        ("suspended", 2, "suspended", seen["created"])
    ]
    assert seen["updated"] >= seen["created"]


def test_a_unit_of_work_that_needs_no_orm_opens_no_session_and_still_commits_or_rolls_back(
    client: TestClient, sql: Sql
) -> None:
    """Plain statements alone (the hot paths): no session is opened, and the transaction still
    commits when the block ends, or leaves nothing when it fails after a write."""
    _order(sql)

    async def plain(uow: UnitOfWork) -> None:
        await uow.insert_rows("work_order", repository.WORK_COLUMNS, [_work(1)], jsonb=("payload",))
        uow.buffer(
            "test.rows", lambda rows: uow.insert_rows("work_order", repository.WORK_COLUMNS, rows, jsonb=("payload",))
        ).append(_work(2))
        assert uow._session is None

    async def unbuffered(uow: UnitOfWork) -> None:  # committed by the connection, no message
        await uow.insert_rows("work_order", repository.WORK_COLUMNS, [_work(3)], jsonb=("payload",))
        assert uow._session is None

    async def failing(uow: UnitOfWork) -> None:
        await uow.insert_rows("work_order", repository.WORK_COLUMNS, [_work(4)], jsonb=("payload",))
        assert uow._session is None
        raise RuntimeError("after the write")

    _run(client, plain)
    _run(client, unbuffered)
    with pytest.raises(RuntimeError):
        _run(client, failing)
    assert sql.rows("SELECT id FROM work_order ORDER BY id") == [("W0001",), ("W0002",), ("W0003",)]


def test_plain_statements_and_a_session_opened_later_are_one_transaction(client: TestClient, sql: Sql) -> None:
    """The session opened after plain statements sees their rows, and its changes and theirs commit
    or roll back together."""
    _order(sql)

    def work(fail: bool, n: int) -> Callable[[UnitOfWork], Awaitable[None]]:
        async def go(uow: UnitOfWork) -> None:
            await uow.insert_rows("work_order", repository.WORK_COLUMNS, [_work(n)], jsonb=("payload",))
            found = (await uow.session.execute(select(WorkOrder).where(WorkOrder.id == f"W{n:04d}"))).scalar_one()
            found.status = "sent"  # the session's flush writes it at commit
            if fail:
                raise RuntimeError("after both")

        return go

    with pytest.raises(RuntimeError):
        _run(client, work(True, 1))
    _run(client, work(False, 2))
    assert sql.rows("SELECT id, status FROM work_order") == [("W0002", "sent")]


def test_objects_written_before_the_session_opens_join_it_persistent_and_clean(client: TestClient, sql: Sql) -> None:
    async def work(uow: UnitOfWork) -> None:
        early, deferred = _product("P1"), _product("P2")
        await uow.write_object(early)
        uow.defer_write(deferred)
        assert uow._session is None
        session = uow.session.sync_session
        assert early in session and deferred in session and not session.new and not session.dirty
        # from the identity map: the deferred row is not in the database before the commit
        assert await uow.session.get(Product, "P2") is deferred
        deferred.status = "suspended"
        uow.defer_write(deferred)  # written once, with the later values

    _run(client, work)
    assert sql.rows("SELECT id, status FROM product ORDER BY id") == [("P1", "active"), ("P2", "suspended")]


class _Scratch(DeclarativeBase):
    pass


def _label(context: Any) -> str:
    """SQLAlchemy hands a default of one argument the statement's parameters."""
    return f"{context.get_current_parameters()['kind']}:{context.current_parameters['id']}"


class _Ticket(_Scratch):
    """A row type of this test only (a temporary table), with every kind of column default."""

    __tablename__ = "uow_ticket"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="plain")  # scalar
    token: Mapped[str] = mapped_column(String(40), default=lambda: "generated")  # function of nothing
    label: Mapped[str] = mapped_column(String(60), default=_label)  # a function of the row
    stamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str | None] = mapped_column(String(20))


class _Counted(_Scratch):
    __tablename__ = "uow_counted"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=literal(1) + 1)  # a SQL expression


def test_write_object_computes_python_defaults_as_a_flush_would(client: TestClient) -> None:
    async def work(uow: UnitOfWork) -> list[tuple[Any, ...]]:
        conn = await uow.driver()
        await conn.execute(
            "CREATE TEMP TABLE uow_ticket (id varchar(20) PRIMARY KEY, kind varchar(20) NOT NULL,"
            " token varchar(40) NOT NULL, label varchar(60) NOT NULL, stamp timestamptz NOT NULL DEFAULT now(),"
            " note varchar(20)) ON COMMIT DROP"
        )
        await uow.write_object(_Ticket(id="T1"))
        await uow.write_object(_Ticket(id="T2", kind="vip", note="kept"))
        mine = _Ticket(id="T3", kind="x", token="given", label="given")
        await uow.write_object(mine)
        assert mine.stamp is not None and not uow.session.sync_session.dirty
        uow.session.add(_Ticket(id="T4"))  # the same through the session's own flush
        await uow.session.flush()
        with pytest.raises(TypeError, match=r"uow_counted\.n"):
            await uow.write_object(_Counted(id="C1"))
        rows = await (await conn.execute("SELECT id, kind, token, label, note FROM uow_ticket ORDER BY id")).fetchall()
        return [tuple(r) for r in rows]

    assert _run(client, work) == [
        ("T1", "plain", "generated", "plain:T1", None),
        ("T2", "vip", "generated", "vip:T2", "kept"),
        ("T3", "x", "given", "given", None),
        ("T4", "plain", "generated", "plain:T4", None),
    ]


class _Started(_Scratch):
    __tablename__ = "uow_started"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    starts: Mapped[int] = mapped_column(Integer, server_default="0")  # a server default other than now()


def test_deferred_writes_go_at_commit_one_statement_per_table_and_one_row_per_object(
    client: TestClient, sql: Sql
) -> None:
    """UnitOfWork.defer_write: nothing is written before commit; then each object once, with its
    last values, and each table's new rows (and changed rows) in one statement."""

    async def work(uow: UnitOfWork) -> None:
        conn = await uow.driver()

        async def count() -> int:
            return (await (await conn.execute("SELECT count(*) FROM product")).fetchone())[0]  # type: ignore[index]

        stored = _product("P3")
        await uow.write_object(stored)
        first, second = _product("P1"), _product("P2")
        uow.defer_write(first)
        uow.defer_write(second)
        session = uow.session.sync_session
        assert first in session and not session.new and not session.dirty  # persistent and clean at once
        assert isinstance(first.created_at, datetime) and first.updated_at == first.created_at  # now(), here
        first.body = {**first.body, "status": "suspended"}
        first.status, first.version = "suspended", 2
        uow.defer_write(first)  # changed after it was deferred as new: written once, as it is now
        stored.status, stored.version = "terminated", 2
        uow.defer_write(stored)
        stored.name = "宽带 1000M"
        uow.defer_write(stored)  # deferred twice: both changes
        assert await count() == 1  # only the row written at once
        with pytest.raises(LookupError):
            async with uow.savepoint():
                uow.defer_write(_product("P4"))
                raise LookupError("the nested step failed: its deferred row goes too")
        with pytest.raises(TypeError, match=r"uow_started\.starts"):
            uow.defer_write(_Started(id="S1"))

    _run(client, work)
    assert sql.rows("SELECT id, status, version, name, body->>'status' FROM product ORDER BY id") == [
        ("P1", "suspended", 2, "宽带 300M", "suspended"),
        ("P2", "active", 1, "宽带 300M", None),
        ("P3", "terminated", 2, "宽带 1000M", None),
    ]
    # rows one statement wrote carry its command id: the two new ones share one
    commands = dict(sql.rows("SELECT id, cmin::text FROM product"))
    assert commands["P1"] == commands["P2"] != commands["P3"]


def test_an_orders_state_change_writes_no_index_entry(client: TestClient, sql: Sql) -> None:
    """No index of product_order names a column an order's progress changes (the held queue's
    names ``held_at``, not ``state``), and its pages keep room: completing an order is a HOT
    update, not nine new index entries (revision 0015)."""
    _order(sql)

    async def work(uow: UnitOfWork) -> tuple[int, int]:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER)
        (row,) = await repository.lock_orders(ctx, ["O1"])
        await orders.rewrite(ctx, row, {**row.body, "state": "completed"}, {"state": "completed"})
        conn = await uow.driver()
        counts = await (
            await conn.execute(
                "SELECT pg_stat_get_xact_tuples_updated('product_order'::regclass),"
                " pg_stat_get_xact_tuples_hot_updated('product_order'::regclass)"
            )
        ).fetchone()
        return counts  # type: ignore[return-value]

    assert _run(client, work) == (1, 1)
    assert sql.rows("SELECT state, held_at FROM product_order WHERE id = 'O1'") == [("completed", None)]


_STATE_OF = kitdb.Prebuilt(select(ProductOrder.state).where(ProductOrder.id == bindparam("id")))
_STATES_OF = kitdb.Prebuilt(
    select(ProductOrder.id, ProductOrder.state)
    .where(ProductOrder.id == any_(bindparam("ids", type_=ARRAY(String))))
    .order_by(ProductOrder.id)
)


def test_read_ahead_reads_in_one_pipeline_and_each_step_takes_its_rows_once(client: TestClient, sql: Sql) -> None:
    """Capture's first look-ups go in one round trip (ADR 10): what ``read_ahead`` read is what the
    later ``first``/``all`` with equal parameters get, once; other parameters read the database."""
    _order(sql, "O1")
    _order(sql, "O2")

    async def work(uow: UnitOfWork) -> list[Any]:
        await uow.read_ahead([_STATE_OF.ahead(id="O1"), _STATES_OF.ahead(ids=["O1", "O2"]), _STATE_OF.ahead(id="none")])
        sql.conn.execute("UPDATE product_order SET state = 'completed'")  # committed by another session
        return [
            await _STATE_OF.first(uow, id="O1"),  # read ahead, before the change
            await _STATE_OF.first(uow, id="O1"),  # taken once: now from the database
            await _STATES_OF.all(uow, ids=["O1", "O2"]),
            await _STATE_OF.first(uow, id="none"),  # read ahead: no row
            await _STATE_OF.first(uow, id="O2"),  # never read ahead
            len(uow.ahead),
        ]

    assert _run(client, work) == [
        ("inProgress",),
        ("completed",),
        [("O1", "inProgress"), ("O2", "inProgress")],
        None,
        ("completed",),
        0,
    ]


def test_write_object_flushes_what_the_session_still_holds_first(client: TestClient, sql: Sql) -> None:
    """A row the session has not written yet is written before the object (statements keep the
    program's order); here a listener registered in the same transaction."""

    async def work(uow: UnitOfWork) -> None:
        uow.session.add(HubSubscription(id="S1", api="productInventory", callback="http://127.0.0.1:9/x", query=None))
        await uow.write_object(_product("P2"))
        assert sql.count("hub_subscription") == 0  # another connection: nothing committed yet
        conn = await uow.driver()
        assert (await (await conn.execute("SELECT count(*) FROM hub_subscription")).fetchone()) == (1,)

    _run(client, work)
    assert sql.count("hub_subscription") == 1 and sql.count("product") == 1


def test_commit_sends_buffered_writes_and_commit_together_and_a_failing_one_leaves_nothing(
    client: TestClient, sql: Sql
) -> None:
    """UnitOfWork.commit: the buffered rows and COMMIT go in one message; when one of them fails,
    the transaction's other writes (direct and buffered) are gone and nothing runs after commit."""
    _order(sql)
    told: list[str] = []

    def work(*, fail: bool) -> Callable[[UnitOfWork], Awaitable[None]]:
        async def go(uow: UnitOfWork) -> None:
            await (await uow.driver()).execute("UPDATE product_order SET version = 2 WHERE id = 'O1'")
            uow.buffer(
                "test.work",
                lambda rows: uow.insert_rows("work_order", repository.WORK_COLUMNS, rows, jsonb=("payload",)),
            ).extend(
                [_work(1), _work(1) if fail else _work(2)]  # the same id twice: a unique violation
            )
            uow.buffer(
                "test.other",
                lambda rows: uow.insert_rows("work_order", repository.WORK_COLUMNS, rows, jsonb=("payload",)),
            ).append(_work(3))
            uow.after_commit(lambda: told.append("committed"))

        return go

    with pytest.raises(psycopg.errors.UniqueViolation):
        _run(client, work(fail=True))
    assert sql.count("work_order") == 0
    assert sql.value("SELECT version FROM product_order WHERE id = 'O1'") == 1
    assert told == []
    _run(client, work(fail=False))  # the pool's connections are fine afterwards
    assert sql.rows("SELECT id FROM work_order ORDER BY id") == [("W0001",), ("W0002",), ("W0003",)]
    assert sql.value("SELECT version FROM product_order WHERE id = 'O1'") == 2
    assert told == ["committed"]


def test_the_commits_writes_go_in_one_pipeline_and_every_value_comes_back_as_it_went(
    client: TestClient, sql: Sql, tmp_path: Path
) -> None:
    """UnitOfWork.commit: the deferred and buffered rows, a statement given to ``write`` and COMMIT
    reach PostgreSQL in one pipeline (libpq's trace: every message the client sent went before the
    first answer, with one Sync), the rows' values as parameters of prepared statements; and they
    come back as they went."""
    _order(sql)
    _run(client, lambda uow: uow.insert_rows("work_order", repository.WORK_COLUMNS, [_work(3)], jsonb=("payload",)))
    odd = 'it\'s 100% \\ "quoted" $1 %s -- 号码 ☎ \n'
    later = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    payload = {"text": odd, "nested": {"list": [1, 2.5, None, True], "empty": ""}, "none": None}
    trace = tmp_path / "trace"
    traced: list[Any] = []

    async def work(uow: UnitOfWork) -> None:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="test")
        await repository.insert_work_orders(ctx, [{**_work(1), "payload": payload}, _work(2)])
        (row,) = await repository.work_orders(ctx, ["O1"])
        row.reason, row.next_attempt_at, row.result = odd, later, payload
        order = await uow.session.get(ProductOrder, "O1")
        assert order is not None
        order.body = {"note": odd}
        uow.defer_write(order)
        uow.buffer(
            "test.write",
            lambda _: uow.write("UPDATE product_order SET external_id = %s WHERE id = %s", (odd[:40], "O1")),
        ).append(True)
        # a writer with nothing to write sends no statement (an empty VALUES list would fail the commit)
        uow.buffer("test.nothing", lambda _: uow.insert_rows("work_order", repository.WORK_COLUMNS, [])).append(True)
        pgconn = (await uow.driver()).pgconn
        traced.append(pgconn)
        with trace.open("w") as out:
            pgconn.trace(os.dup(out.fileno()))
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)

    _run(client, work)
    traced[0].untrace()
    lines = [line.split("\t") for line in trace.read_text().splitlines()]
    sent = [line[2] for line in lines if line[0] == "F"]
    first_answer = next(n for n, line in enumerate(lines) if line[0] == "B")
    assert all(line[0] == "B" for line in lines[first_answer:]), lines  # one flush, then one wait
    assert "Query" not in sent and sent.count("Sync") == 1 and sent[-1] == "Sync", sent
    # the work orders' insert and update, the queue's insert and upsert, the order's update, the
    # written statement, COMMIT (the transaction was begun by the read)
    assert sent.count("Execute") == 4 + 1 + 1 + 1 and sent.count("Bind") == sent.count("Execute"), sent
    assert sql.rows("SELECT id, payload FROM work_order ORDER BY id") == [
        ("W0001", payload),
        ("W0002", _work(2)["payload"]),
        ("W0003", _work(3)["payload"]),
    ]
    assert sql.rows("SELECT reason, next_attempt_at, result FROM work_order WHERE id = 'W0003'") == [
        (odd, later, payload)
    ]
    assert sql.rows("SELECT body, external_id FROM product_order") == [({"note": odd}, odd[:40])]


def test_transactions_never_start_parallel_workers_and_reads_still_may(client: TestClient) -> None:
    """A look-up of a hundred ids over the resource tables got a parallel plan, starting worker
    processes per result batch (ADR 10): the transactions' connections turn parallel plans off."""
    db: Database = client.app_state.db  # type: ignore[attr-defined]
    show = "SHOW max_parallel_workers_per_gather"

    async def go() -> tuple[Any, Any]:
        async with db.unit_of_work() as uow:
            writing = (await uow.session.execute(text(show))).scalar()
        async with db.read_only() as uow:
            reading = (await uow.session.execute(text(show))).scalar()
        return writing, reading

    writing, reading = client.portal.call(go)  # type: ignore[union-attr]
    assert writing == "0"
    assert reading != "0"  # the server's own setting (2 by default) for reports and searches


def _generic_plan(sql: Sql, statement: str, *args: str) -> str:
    """The plan PostgreSQL makes once for any parameter values of ``statement`` (as for a statement
    psycopg has prepared), with sequential scans made as costly as they get, as JSON text."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    numbered = re.sub(r"%\((\w+)\)s", number, statement)
    sql.conn.execute("SET plan_cache_mode = force_generic_plan")
    sql.conn.execute("SET enable_seqscan = off")
    try:
        sql.conn.execute(f"PREPARE generic_q AS {numbered}")
        plan = sql.value(f"EXPLAIN (FORMAT JSON) EXECUTE generic_q({', '.join(args)})")
        sql.conn.execute("DEALLOCATE generic_q")
    finally:
        sql.conn.execute("RESET plan_cache_mode")
        sql.conn.execute("RESET enable_seqscan")
    return json.dumps(plan)


def test_the_due_work_orders_are_found_through_the_queue_even_with_a_generic_plan(sql: Sql) -> None:
    """The sender's look-up of due work orders once read the whole table when psycopg had
    prepared it (a generic plan could not use the partial index of ``status = 'pending'`` rows
    for ``status = $1``). It now goes through the queue's index, then each work order's key."""
    assert set(repository._DUE) == {"pending", "withdrawing"}
    for status, statement in repository._DUE.items():
        assert f"work_order_queue.status = '{status}'" in statement.sql
        plan = _generic_plan(sql, statement.sql, "now()", "100")
        assert "ix_work_order_queue_due" in plan and '"pk_work_order"' in plan
        assert "Seq Scan" not in plan
    unanswered = _generic_plan(sql, repository._UNANSWERED.sql, "now()")
    assert "ix_work_order_queue_due" in unanswered and "Seq Scan" not in unanswered
    with pytest.raises(ValueError):
        kitdb.inline("x' OR 'a' = 'a")


async def _statements(uow: UnitOfWork) -> list[str]:
    """The text of every statement the transaction's connection runs from now on, as it runs."""
    seen: list[str] = []
    conn = await uow.session.connection()
    sync = conn.sync_connection
    assert sync is not None
    event.listen(sync, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def _plan(sql: Sql, statement: str, params: dict[str, Any]) -> str:
    """The plan of ``statement`` with its values written in as literals, as the commit sends it
    (``UnitOfWork.write``), as JSON text."""
    rendered = psycopg.ClientCursor(sql.conn).mogrify(statement, params)
    return json.dumps(sql.value(f"EXPLAIN (FORMAT JSON) {rendered}"))


def test_taking_an_orders_numbers_walks_the_orders_entries_not_every_reserved_one(sql: Sql) -> None:
    """Numbers are taken at commit with 'reserved' written into the text. While the statistics
    held 'reserved' rare (all numbers free when last analysed), the planner walked every reserved
    entry of the (status, number) index, dead ones too, for every result batch (ADR 10); with no
    index by status but the free numbers' it takes the orders' own entries of the order-id index."""
    sql.conn.execute(
        "INSERT INTO number_pool (number, kind, status)"
        " SELECT '170' || lpad(n::text, 8, '0'), 'mobile', 'free' FROM generate_series(1, 3000) n"
    )
    sql.conn.execute("ANALYZE number_pool")
    sql.conn.execute(
        "UPDATE number_pool SET status = 'reserved', order_id = 'O' || number, item_id = '1'"
        " WHERE number <= '17000002000'"
    )
    params = {
        "order_ids": ["O17000000001", "O17000000002"],
        "reserved": "reserved",
        "pair_orders": ["O17000000001", "O17000000002"],
        "pair_items": ["1", "1"],
    }
    plan = _plan(sql, repository._TAKE.sql, params)
    assert "ix_number_pool_order_id" in plan, plan
    # the old index is what the planner took: the check can fail
    sql.conn.execute("CREATE INDEX ix_test_status_number ON number_pool (status, number)")
    try:
        assert "ix_test_status_number" in _plan(sql, repository._TAKE.sql, params)
    finally:
        sql.conn.execute("DROP INDEX ix_test_status_number")


def test_free_numbers_and_lapsed_reservations_are_read_from_their_partial_indexes(sql: Sql, client: TestClient) -> None:
    """选号 reads the range of free numbers its prefix names, also in a generic plan (psycopg
    prepares a statement from its fifth run); the sweep reads only numbers with a deadline."""
    sql.conn.execute(
        "INSERT INTO number_pool (number, kind, status, order_id, item_id, reserved_until)"
        " SELECT '17' || lpad(n::text, 9, '0'), 'mobile',"
        " CASE WHEN n % 3 = 0 THEN 'reserved' ELSE 'free' END,"
        " CASE WHEN n % 3 = 0 THEN 'O' || n END, CASE WHEN n % 3 = 0 THEN '1' END,"
        " CASE WHEN n % 300 = 0 THEN now() - interval '1 day' END"
        " FROM generate_series(1, 30000) n"
    )
    sql.conn.execute("ANALYZE number_pool")
    db: Database = client.app_state.db  # type: ignore[attr-defined]
    seen: list[str] = []

    async def go() -> tuple[list[dict[str, str]], list[str]]:
        nonlocal seen
        async with db.unit_of_work() as uow:
            ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="test")
            seen = await _statements(uow)
            free = await repository.free_numbers(ctx, "1700000012", 5)
            lapsed = await repository.expired_reservations(ctx, datetime.now(UTC), 1000)
            return free, lapsed

    free, lapsed = client.portal.call(go)  # type: ignore[union-attr]
    assert [f["number"] for f in free] == ["17000000121", "17000000122", "17000000124", "17000000125", "17000000127"]
    assert sorted(lapsed) == sorted(f"O{n}" for n in range(300, 30001, 300))
    listing, sweep = seen
    values = {"status_1": "'free'", "param_1": "'1700000012'", "param_2": "'1700000013'"}
    values |= {"param_3": "'1700000012'", "param_4": "5"}
    args = [values.get(name, "NULL") for name in re.findall(r"%\((\w+)\)s", listing)]
    plan = _generic_plan(sql, listing, *args)
    assert "ix_number_pool_free" in plan and '"Index Cond"' in plan, plan
    assert "ix_number_pool_reserved_until" in _generic_plan(sql, sweep, "now()", "1000")


def test_numbers_taken_in_one_transaction_are_taken_in_one_statement_item_by_item(sql: Sql, client: TestClient) -> None:
    """take_numbers: at commit, the named items' reserved numbers of every order, and no other."""
    sql.conn.execute(
        "INSERT INTO number_pool (number, kind, status, order_id, item_id) VALUES"
        " ('17000000001', 'mobile', 'reserved', 'O1', '1'), ('17000000002', 'mobile', 'reserved', 'O1', '2'),"
        " ('17000000003', 'mobile', 'reserved', 'O2', '1'), ('17000000004', 'mobile', 'reserved', 'O3', '1'),"
        " ('17000000005', 'mobile', 'free', NULL, NULL)"
    )

    async def work(uow: UnitOfWork) -> None:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER)
        await repository.take_numbers(ctx, "O1", ["1"])
        await repository.take_numbers(ctx, "O2", ["1", "9"])
        assert sql.value("SELECT count(*) FROM number_pool WHERE status = 'taken'") == 0  # not before commit

    _run(client, work)
    assert sql.rows("SELECT number, status FROM number_pool ORDER BY number") == [
        ("17000000001", "taken"),
        ("17000000002", "reserved"),
        ("17000000003", "taken"),
        ("17000000004", "reserved"),
        ("17000000005", "free"),
    ]
    # rows one statement wrote carry its command id
    assert len(set(sql.rows("SELECT cmin::text FROM number_pool WHERE status = 'taken'"))) == 1


def test_the_reservation_sweep_names_the_reserved_status_in_its_text(client: TestClient, sql: Sql) -> None:
    """With the status a parameter, a generic plan of the sweep for lapsed number reservations
    read every number ever taken (the order-id index, ``order_id IS NOT NULL``) every few seconds."""
    db: Database = client.app_state.db  # type: ignore[attr-defined]
    seen: list[str] = []

    async def go() -> list[str]:
        nonlocal seen
        async with db.unit_of_work() as uow:
            ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="test")
            seen = await _statements(uow)
            return await repository.expired_reservations(ctx, datetime.now(UTC), 10)

    assert client.portal.call(go) == []  # type: ignore[union-attr]
    assert any("number_pool.status = 'reserved'" in statement for statement in seen), seen


def test_connections_opened_in_a_burst_are_kept_not_closed(database_url: str) -> None:
    """Overflow connections were closed as they came back and opened again at the next burst,
    each a new PostgreSQL session (ADR 10): a pool keeps all the connections it opens."""

    async def go() -> tuple[int, int]:
        db = Database(database_url, pool_size=2)
        try:
            held: list[Any] = []
            for _ in range(3):  # a burst: 2 and half as many again at once
                held.append(await db.engine.connect())
                await held[-1].exec_driver_sql("SELECT 1")
            for conn in held:
                await conn.close()
            return db.engine.pool.checkedin(), db.engine.pool.checkedout()  # type: ignore[attr-defined]
        finally:
            await db.dispose()

    assert asyncio.run(go()) == (3, 0)


def test_warming_opens_what_the_pool_keeps_before_the_first_request(database_url: str) -> None:
    """``telcrm serve`` opens every connection its pools keep for transactions (and half as many
    for reads) before it serves, so no burst waits for new PostgreSQL sessions."""

    async def go() -> tuple[int, int, int]:
        db = Database(database_url, pool_size=4)
        try:
            await db.warm(db.keep)
            return db.keep, db.engine.pool.checkedin(), db.read_engine.pool.checkedin()  # type: ignore[attr-defined]
        finally:
            await db.dispose()

    assert asyncio.run(go()) == (6, 6, 3)


def test_server_processes_pools_fit_in_the_sessions_the_database_allows(database_url: str) -> None:
    """``telcrm serve`` sizes each process's pools so that all its processes together stay within
    the sessions the database server allows, leaving some for tools; the largest such size."""
    size, allowed = kitdb.fitting_pool_size(database_url, 1, 16)
    per = kitdb.connections_per_process
    assert size == 16 and per(16) + 10 <= allowed
    # as many processes as the default pools do not fit: smaller pools, the largest that fit
    n = allowed // per(16) + 1
    size, allowed = kitdb.fitting_pool_size(database_url, n, 16)
    budget = (allowed - 10) // n
    assert 1 <= size < 16 and per(size) <= budget < per(size + 1)
    # what a pool keeps in all: transactions, half as many reads, the listeners and the sync engine
    assert per(4) == 6 + 3 + 5
    with pytest.raises(kitdb.TooFewConnections, match="raise its max_connections"):
        kitdb.fitting_pool_size(database_url, allowed, 16)


def test_database_options_keep_the_ones_the_url_gives() -> None:
    assert kitdb._with_options("postgresql+psycopg://u@h/db", "-c a=0") == "-c a=0"
    assert kitdb._with_options("postgresql+psycopg://u@h/db?options=-c%20b%3D1", "-c a=0") == "-c b=1 -c a=0"


def test_a_finished_unit_of_work_leaves_no_reference_cycle_behind(client: TestClient, sql: Sql) -> None:
    """Buffer writers and hooks close over the context, which holds the unit of work: released at
    the end, so reference counting frees the request's objects and the collector has nothing to
    chase (its passes stalled the event loop for tens of ms under load, ADR 10)."""
    import gc

    _order(sql)

    async def work(uow: UnitOfWork) -> None:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="test")
        uow.buffer(
            "test.rows",
            lambda rows: ctx.uow.insert_rows("work_order", repository.WORK_COLUMNS, rows, jsonb=("payload",)),
        ).append(_work(1))
        uow.after_commit(lambda: ctx.extra.setdefault("done", True))

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        _run(client, work)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, (UnitOfWork, Context))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert sql.count("work_order") == 1
    assert left == []


def test_the_embedded_server_gets_its_checkpoint_settings() -> None:
    """kit.embedded._configure (ADR 15): applied by ALTER SYSTEM and a reload where they differ.
    Run against the test server itself (embedded, or the configured one, which is put back)."""
    import time

    from telcrm.kit import embedded
    from tests.conftest import _admin_url, _plain

    url = _plain(_admin_url())
    with psycopg.connect(url, autocommit=True) as conn:
        before = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in embedded.SETTINGS}  # type: ignore[index]
        embedded._configure(conn)
    try:
        for _ in range(50):  # a reload reaches new sessions at once, running ones at their next command
            with psycopg.connect(url, autocommit=True) as conn:
                now = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in embedded.SETTINGS}  # type: ignore[index]
            if now == embedded.SETTINGS:
                break
            time.sleep(0.1)
        assert now == {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}
    finally:
        if os.environ.get("TELCRM_TEST_DATABASE_URL"):  # not ours: as it was
            with psycopg.connect(url, autocommit=True) as conn:
                for name in embedded.SETTINGS:
                    conn.execute(f"ALTER SYSTEM RESET {name}")
                conn.execute("SELECT pg_reload_conf()")
    assert set(before) == {"max_wal_size", "checkpoint_timeout"}


def test_shared_buffers_follow_the_machines_memory() -> None:
    """kit.embedded.start_settings (ADR 15): an eighth of the memory in 128MB steps, 128MB..4GB."""
    from telcrm.kit.embedded import start_settings

    assert start_settings(1000) == {"shared_buffers": "128MB"}  # PostgreSQL's own default at least
    assert start_settings(8000) == {"shared_buffers": "896MB"}
    assert start_settings(16384) == {"shared_buffers": "2GB"}  # as SHOW prints it
    assert start_settings(24105) == {"shared_buffers": "2944MB"}
    assert start_settings(256000) == {"shared_buffers": "4GB"}


def test_start_settings_replace_their_own_block_only(tmp_path: Path) -> None:
    from telcrm.kit.embedded import BEGIN, END, write_start_settings

    conf = tmp_path / "postgresql.conf"
    conf.write_text("max_connections = 100\n#shared_buffers = 128MB\n")
    assert write_start_settings(conf, {"shared_buffers": "1GB"})
    assert not write_start_settings(conf, {"shared_buffers": "1GB"})  # unchanged: not rewritten
    assert write_start_settings(conf, {"shared_buffers": "2GB"})
    text = conf.read_text()
    assert text.startswith("max_connections = 100\n#shared_buffers = 128MB\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "shared_buffers = '2GB'" in text and "'1GB'" not in text


def test_a_new_embedded_server_starts_once_with_its_start_settings(tmp_path: Path) -> None:
    """A real server from the wheel, in a directory of its own, asked for by three processes at
    once (as test workers do): one initdb, one server, and its first start already has them."""
    import subprocess
    import sys

    from telcrm.kit import embedded

    data = tmp_path / "embedded"
    code = "import sys; from pathlib import Path; from telcrm.kit.embedded import ensure_embedded;"
    code += " ensure_embedded(Path(sys.argv[1]), database='postgres')"
    try:
        starts = [subprocess.Popen([sys.executable, "-c", code, str(data)]) for _ in range(3)]
        assert [p.wait(120) for p in starts] == [0, 0, 0]
        url = embedded.ensure_embedded(data, database="postgres").replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            shown = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in embedded.start_settings()}  # type: ignore[index]
        assert shown == embedded.start_settings()
        embedded.ensure_embedded(data, database="postgres")  # found running: the block is not doubled
        assert (data / "pgdata" / "postgresql.conf").read_text().count(embedded.BEGIN) == 1
    finally:
        embedded.stop_embedded(data)


def test_values_sent_as_text_parameters_read_back_as_psycopg_sends_them(sql: Sql) -> None:
    """The commit's values go as text parameters written by ``kit.prepared.text_params``, most kinds
    without psycopg (ADR 10): each reads back as the same value as psycopg's own parameter does."""
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    param = prepared.text_params(sql.conn)  # type: ignore[arg-type]
    values: list[tuple[Any, str]] = [
        ("it's", "text"),
        ("''", "text"),
        ("back\\slash \\x41 \\'", "text"),
        ("号码 'quoted' \"double\" 宽带", "text"),
        ("", "text"),
        ("E'x'", "text"),
        ("$$dollar$$ $1 %s %(name)s", "text"),
        ("line\nbreak\ttab\r", "text"),
        ("😀", "varchar"),
        ('{"a": [1, "b\'c", null]}', "jsonb"),
        (0, "bigint"),
        (-5, "integer"),
        (2**62, "bigint"),
        (True, "boolean"),
        (False, "boolean"),
        (None, "text"),
        (datetime(2026, 11, 24, 3, 4, 5, 678901, tzinfo=UTC), "timestamptz"),
        (datetime(2026, 11, 24, 3, 4, 5, tzinfo=ZoneInfo("Asia/Shanghai")), "timestamptz"),
        (datetime(2026, 11, 24, 3, 4, 5), "timestamp"),
        (Decimal("12.50"), "numeric"),
        (1.5, "float8"),
        (["a", "b'c", 'd"e', None], "text[]"),
    ]
    for value, kind in values:
        mine = sql.conn.pgconn.exec_params(f"SELECT ($1::{kind})::text".encode(), [param(value)]).get_value(0, 0)
        theirs = sql.value(f"SELECT (%s::{kind})::text", value)
        assert (mine.decode() if mine is not None else None) == theirs, (value, param(value))
        assert value is None or theirs is not None
    assert param("x") == b"x" and param(None) is None and param(True) == b"t" and param(-5) == b"-5"
    assert param(values[16][0]) == b"2026-11-24T03:04:05.678901+00:00"
    # text psycopg refuses is refused the same way (a text parameter would end at the NUL)
    with pytest.raises(psycopg.DataError):
        param("nul \x00 inside")
