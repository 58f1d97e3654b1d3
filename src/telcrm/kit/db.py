"""Database engine, sessions and the unit of work.

One request or job is one transaction, committed at the edge (the request dependency or the
job runner). Domain code flushes; it never commits. Anything that must happen only once the
data is durable (event delivery, callbacks, cache invalidation) is registered with
``UnitOfWork.after_commit`` and runs after the commit, or never if the transaction rolls back.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
from sqlalchemy import String, create_engine, literal_column
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.util import greenlet_spawn

from telcrm.kit import bulk, prepared

if TYPE_CHECKING:
    from telcrm.kit.auth import Context

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None] | None]


class JsonText(str):
    """A JSON value already serialised (a snapshot taken when it was recorded): written as it is."""

    __slots__ = ()


def snapshot(value: Any) -> JsonText:
    """``value`` as JSON text now: later changes to it in the transaction do not change what is written."""
    return JsonText(orjson.dumps(value).decode())


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists, strings, numbers, booleans, None), through
    orjson: a sixth of ``copy.deepcopy``'s time for an order document (5 µs against 30)."""
    return orjson.loads(orjson.dumps(value))


def _dumps(value: Any) -> str:
    return value if isinstance(value, JsonText) else orjson.dumps(value).decode()


_JSON = "jsonb"


@functools.lru_cache(maxsize=1024)
def _is_json(column: Any) -> bool:
    return column.type.__visit_name__ in ("JSONB", "JSON")


def _param(column: Any, value: Any) -> Any:
    """A value for ``column`` as the statement takes it: JSON columns as JSON text (None is SQL NULL)."""
    return _dumps(value) if value is not None and _is_json(column) else value


# PostgreSQL takes at most 65,535 parameters in one statement
MAX_PARAMETERS = 30_000


def _rows_sql(casts: tuple[str, ...], count: int) -> str:
    """``($1::cast, $2, ...), (...)`` for ``count`` rows: PostgreSQL's own numbered placeholders, run
    on a raw cursor, so that psycopg does not parse a long multi-row statement at every call (it
    caches its parse only for short statements)."""
    width = len(casts)
    return ", ".join(
        "(" + ", ".join(f"${r * width + i + 1}{cast}" for i, cast in enumerate(casts)) + ")" for r in range(count)
    )


@functools.lru_cache(maxsize=256)
def _insert_parts(table: str, columns: tuple[str, ...], jsonb: tuple[str, ...], upsert: str | None = None) -> Parts:
    """A multi-row INSERT as what comes before its rows, each value's cast, and what comes after;
    with ``upsert`` (a unique column), a row whose key is there already updates its other columns."""
    casts = tuple("::jsonb" if c in jsonb else "" for c in columns)
    tail = ""
    if upsert is not None:
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != upsert)
        tail = f" ON CONFLICT ({upsert}) DO UPDATE SET {sets}"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ", casts, tail


@functools.lru_cache(maxsize=256)
def _update_parts(table: Any, key: str, columns: tuple[str, ...]) -> Parts:
    """``UPDATE ... FROM (VALUES ...)`` as what comes before its rows, each value's cast, and what
    comes after."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    names = (key, *columns)
    # a cast to VARCHAR(n) would cut a longer value silently: cast to VARCHAR, the column checks the length
    casts = tuple(
        "::" + re.sub(r"^VARCHAR\(\d+\)$", "VARCHAR", table.c[name].type.compile(dialect=dialect)) for name in names
    )
    sets = [f"{c} = v.{c}" for c in columns]
    if "updated_at" in table.c and "updated_at" not in columns:
        sets.append("updated_at = now()")
    head = f"UPDATE {table.name} AS t SET {', '.join(sets)} FROM (VALUES "
    return head, casts, f") AS v({', '.join(names)}) WHERE t.{key} = v.{key}"


Parts = tuple[str, tuple[str, ...], str]  # a multi-row statement: before its rows, each value's cast, after


@functools.lru_cache(maxsize=512)
def _rows_statement(parts: Parts, count: int) -> str:
    head, casts, tail = parts
    return head + _rows_sql(casts, count) + tail


@functools.lru_cache(maxsize=512)
def _rows_statement_bytes(parts: Parts, count: int) -> bytes:
    return _rows_statement(parts, count).encode()


@functools.lru_cache(maxsize=256)
def _object_insert_sql(table: Any, columns: tuple[str, ...], returning: tuple[str, ...]) -> str:
    values = ", ".join(f"%s::{_JSON}" if _is_json(table.c[c]) else "%s" for c in columns)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({values})"
    return sql + (f" RETURNING {', '.join(returning)}" if returning else "")


@functools.lru_cache(maxsize=256)
def _object_update_sql(table: Any, key: str, columns: tuple[str, ...]) -> str:
    sets = [f"{c} = %s::{_JSON}" if _is_json(table.c[c]) else f"{c} = %s" for c in columns]
    returning = ""
    if "updated_at" in table.c and "updated_at" not in columns:
        sets.append("updated_at = now()")
        returning = " RETURNING updated_at"
    return f"UPDATE {table.name} SET {', '.join(sets)} WHERE {key} = %s{returning}"


class _DefaultContext:
    """What a context-sensitive Python column default is given in place of SQLAlchemy's execution
    context: the row's values so far (``current_parameters``, ``get_current_parameters()``)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.current_parameters = values

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return self.current_parameters


def _python_default(table: str, column: Any, values: dict[str, Any]) -> Any:
    """A column's client-side default for a row written by ``write_object``, as a flush computes
    it: a scalar, or a Python function (SQLAlchemy has made every such function take one context
    argument; one that reads the row gets its explicit values and the defaults before it). A SQL
    expression default would have to go into the statement itself: refused."""
    default = column.default
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(_DefaultContext(values))
    raise TypeError(f"write_object takes scalar, Python function or server defaults only: {table}.{column.key}")


def _is_now(server_default: Any) -> bool:
    """Whether a column's server default is ``now()`` (the timestamps every document table has)."""
    arg = getattr(server_default, "arg", None)
    return getattr(arg, "name", None) == "now"


DEFERRED = "db.deferred"  # the buffer of ``UnitOfWork.defer_write``


def inline(value: str) -> Any:
    """``value`` written into the statement's text, not sent as a parameter. For a constant that a
    partial index's predicate names (``status = 'pending'``): psycopg prepares a statement from its
    fifth run on, and PostgreSQL may then plan it once for any value of its parameters (a generic
    plan), which cannot use an index holding only the rows of one value. The sender's query for
    due work orders read the whole ``work_order`` table ten times a second that way (ADR 10). Not
    where another predicate picks a few rows (one order's): a constant the statistics hold rare
    can lead the planner to walk all its rows instead."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise ValueError(f"not a plain constant: {value!r}")
    return literal_column(f"'{value}'", String)


def _frozen(value: Any) -> Any:
    """``value`` as a hashable key: dicts and lists as sorted tuples and tuples."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


class Ahead:
    """A look-up a later step of the transaction makes, sent before it with others in one round trip
    (``UnitOfWork.read_ahead``); that step's ``first`` or ``all`` then takes the rows read. Equal
    to another for the same statement and equal parameters."""

    __slots__ = ("key", "params", "statement")

    def __init__(self, statement: Prebuilt, params: dict[str, Any]) -> None:
        self.statement, self.params = statement, params
        self.key = (id(statement), _frozen(params))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ahead) and other.key == self.key


class Prebuilt:
    """A hot statement, written with SQLAlchemy Core (names and types checked against the models)
    and compiled once to PostgreSQL text; run on the transaction's psycopg connection with plain
    parameters, it returns plain tuples. About a fifth of the CPU of the same statement through the
    ORM (ADR 10). Only for statements whose rows need no ORM types (JSONB comes back parsed)."""

    def __init__(self, statement: Any) -> None:
        from sqlalchemy.dialects import postgresql

        compiled = statement.compile(dialect=postgresql.dialect(paramstyle="pyformat"))
        self.sql: str = str(compiled)
        self.defaults: dict[str, Any] = dict(compiled.params)  # literal values the statement carries

    async def _execute(self, uow: UnitOfWork, params: dict[str, Any]) -> psycopg.AsyncCursor[Any]:
        conn = await uow.driver()
        return await conn.execute(self.sql, {**self.defaults, **params})  # type: ignore[arg-type]

    def ahead(self, **params: Any) -> Ahead:
        """This statement with these parameters, to be run early with others (``UnitOfWork.read_ahead``)."""
        return Ahead(self, params)

    async def run(self, uow: UnitOfWork, **params: Any) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        return (await self._execute(uow, params)).rowcount

    async def write(self, uow: UnitOfWork, **params: Any) -> None:
        """Run a statement that returns no rows, with the commit's other writes when it is one of
        them (``UnitOfWork.write``)."""
        await uow.write(self.sql, {**self.defaults, **params})

    def _read_ahead(self, uow: UnitOfWork, params: dict[str, Any]) -> list[tuple[Any, ...]] | None:
        """The rows ``UnitOfWork.read_ahead`` read for this statement and these parameters, once."""
        return uow.ahead.pop(Ahead(self, params), None) if uow.ahead else None

    async def all(self, uow: UnitOfWork, **params: Any) -> list[tuple[Any, ...]]:
        read = self._read_ahead(uow, params)
        if read is not None:
            return read
        return await (await self._execute(uow, params)).fetchall()

    async def first(self, uow: UnitOfWork, **params: Any) -> tuple[Any, ...] | None:
        read = self._read_ahead(uow, params)
        if read is not None:
            return read[0] if read else None
        return await (await self._execute(uow, params)).fetchone()

    async def first_in_scope(self, ctx: Context, **params: Any) -> tuple[Any, ...] | None:
        """The first row, without its last three columns, if the caller's scope admits it: a statement
        for this ends with the row's ``customer_id, dealer_id, manager_id`` (the Scoped columns), and
        the scope's rule is applied to those values (``Scope.admits``, as the scoped queries do)."""
        row = await self.first(ctx.uow, **params)
        if row is None or not ctx.caller.scope.admits(*row[-3:]):
            return None
        return row[:-3]


def _with_options(url: str, options: str) -> str:
    """``options`` after any the URL already passes to PostgreSQL (connect_args would replace them)."""
    given = make_url(url).query.get("options")
    earlier = " ".join(given) if isinstance(given, tuple) else given
    return f"{earlier} {options}" if earlier else options


def kept_connections(pool_size: int) -> int:
    """How many connections the transaction pool of a ``Database`` keeps at most: ``pool_size`` and
    half as many again (its read pool keeps half of that)."""
    return pool_size + pool_size // 2


def read_kept(keep: int) -> int:
    """How many connections the read pool of a ``Database`` keeps at most, its transaction pool
    keeping ``keep``: half as many (what ``telcrm serve`` opens for reads)."""
    return max(1, keep // 2)


SYNC_POOL = 2  # connections of a Database's sync engine (COPY jobs, migrations), no overflow
# Connections a server process holds besides its pools: the cache's and the live updates' listeners
# and the live updates' teller (kit.cache, kit.live), and the sync engine.
OTHER_CONNECTIONS = 3 + SYNC_POOL


def connections_per_process(pool_size: int) -> int:
    """The most database sessions one server process holds with pools of ``pool_size``."""
    keep = kept_connections(pool_size)
    return keep + read_kept(keep) + OTHER_CONNECTIONS


class TooFewConnections(Exception):
    """The database server does not allow the sessions the server processes would need."""


def fitting_pool_size(url: str, processes: int, wanted: int, *, spare: int = 10) -> tuple[int, int]:
    """The largest pool size up to ``wanted`` with which ``processes`` server processes stay within
    the sessions the database server still allows: ``max_connections`` less its reserved slots, the
    sessions open now and ``spare`` for tools and other clients. Returns (pool size, sessions
    allowed). A pool that outgrew the limit would fail requests with "too many clients" under load."""
    with psycopg.connect(bulk.plain_url(url)) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - coalesce(current_setting('reserved_connections', true)::int, 0)"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
        ).fetchone()
    allowed = int(row[0]) if row else 0
    budget = (allowed - spare) // max(1, processes)
    size = wanted
    while size > 1 and connections_per_process(size) > budget:
        size -= 1
    if connections_per_process(size) > budget:
        raise TooFewConnections(
            f"{processes} server processes need at least {connections_per_process(1) * processes + spare}"
            f" database sessions and the server allows {allowed} more: raise its max_connections or"
            " run fewer processes"
        )
    return size, allowed


class Database:
    """The engines for one PostgreSQL database: async for the app, sync for COPY and Alembic."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        # JSONB documents go through orjson both ways (several times faster than the json module)
        json_opts: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": orjson.loads}
        # Up to ``pool_size`` and half as many again connections per engine, each kept once opened:
        # no "overflow" connections closed when they come back. Under a burst those were opened and
        # closed again by the dozen, and every new PostgreSQL session costs a process start and cold
        # caches just when the machine has least to spare (ADR 10).
        self.keep = keep = kept_connections(pool_size)
        # Transactions are short look-ups and writes by key: a parallel plan (which PostgreSQL picks
        # for a look-up of a hundred ids across the resource tables) starts worker processes that
        # cost more than the statement, and on a small server takes CPU the other requests need.
        # The pools hand out the connection last given back (LIFO): under a light load a few
        # connections do all the work and keep their prepared statements and caches warm, where
        # taking them in turn warmed every one of them (ADR 10).
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=keep,
            max_overflow=0,
            pool_use_lifo=True,
            connect_args={"options": _with_options(url, "-c max_parallel_workers_per_gather=0")},
            **json_opts,
        )
        # sessions of their own, outside any unit of work (the health check, authentication)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Reads get their own pool of autocommit connections: no BEGIN/COMMIT round trips and no
        # isolation-level switching per checkout.
        self.read_engine: AsyncEngine = create_async_engine(
            url,
            pool_size=read_kept(keep),
            max_overflow=0,
            pool_use_lifo=True,
            isolation_level="AUTOCOMMIT",
            **json_opts,
        )
        self._sync: Engine | None = None

    async def warm(self, count: int) -> None:
        """Open ``count`` pooled connections for transactions and half as many for reads, at once,
        and leave them in the pools (a new PostgreSQL session costs a process start and cold caches)."""

        async def one(engine: AsyncEngine) -> None:
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
                await asyncio.sleep(0.05)  # held a moment, so the others open connections of their own

        await asyncio.gather(
            *(one(self.engine) for _ in range(count)), *(one(self.read_engine) for _ in range(read_kept(count)))
        )

    @property
    def sync_engine(self) -> Engine:
        if self._sync is None:
            self._sync = create_engine(self.url, pool_size=SYNC_POOL, max_overflow=0)
        return self._sync

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """A transaction that commits when the block ends normally and rolls back otherwise."""
        uow = UnitOfWork(await self.engine.connect())
        try:
            yield uow
        except BaseException:
            await uow.rollback()
            raise
        else:
            await uow.commit()
        finally:
            await _to_completion(uow.close())

    @asynccontextmanager
    async def read_only(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work for reads: autocommit, so no BEGIN/COMMIT round trips; never commits."""
        uow = UnitOfWork(await self.read_engine.connect())
        try:
            yield uow
        finally:
            await _to_completion(uow.close())

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.read_engine.dispose()
        if self._sync is not None:
            self._sync.dispose()


async def _to_completion(work: Awaitable[None]) -> None:
    """Await ``work`` (a unit of work's close: the connection goes back to its pool) to its end even
    if the awaiting task is cancelled meanwhile, then let the cancellation through, as SQLAlchemy's
    own context managers do: cut short, the connection would go back later, or never."""
    task = asyncio.ensure_future(work)
    cancelled: BaseException | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            cancelled = exc
    task.result()
    if cancelled is not None:
        raise cancelled


def _close(session: Session, connection: Connection) -> None:
    """Close a session and the connection it was opened on, in one pass into the sync world."""
    try:
        session.close()
    finally:
        connection.close()


def _changed_values(obj: Any, state: Any, table: Any, key: str) -> dict[str, Any]:
    """A persistent object's columns changed since it was read or last written, with their values."""
    return {name: getattr(obj, name) for name in state.committed_state if name in table.c and name != key}


def _new_values(table: Any, state: Any, now: datetime | None = None) -> dict[str, Any]:
    """A new object's column values as a flush computes them: its own, then the Python defaults,
    None where a column has no default. Columns with a server default are left to the database;
    given ``now`` (a write deferred to commit, which reads nothing back), a ``now()`` default is
    ``now`` and any other server default is refused."""
    values = {c.key: state.dict[c.key] for c in table.c if c.key in state.dict}
    for column in table.c:
        if column.key in values:
            continue
        if column.default is not None:
            values[column.key] = _python_default(table.name, column, values)
        elif column.server_default is None:
            values[column.key] = None
        elif now is None:
            continue
        elif _is_now(column.server_default):
            values[column.key] = now
        else:
            raise TypeError(f"defer_write takes now() as the only server default: {table.name}.{column.key}")
    return values


def _settle(uow: UnitOfWork, obj: Any, state: Any, values: dict[str, Any]) -> None:
    """``obj`` clean with ``values`` written, as after a flush (what Session.flush itself does to the
    objects it wrote), so a flush has nothing to do for it; persistent in the unit of work's session,
    or, while it has none, kept to join the session when one is opened (``UnitOfWork.session``)."""
    if state.key is None:
        make_transient_to_detached(obj)
    session = uow._session.sync_session if uow._session is not None else None
    if session is None:
        uow._settled[id(obj)] = obj
    elif not state.persistent:
        session.add(obj)
    for name, value in values.items():
        set_committed_value(obj, name, value)
    state._commit_all(state.dict, session.identity_map if session is not None else None)


@dataclass
class UnitOfWork:
    """One transaction on a pooled connection. The ORM's session is opened on that connection only
    when something asks for it (``session``): the hot paths run their statements on the psycopg
    connection itself (``driver``), and a transaction that needs no session costs none of its
    machinery (0.1–0.2 ms of CPU per transaction, ``bench/bench_uow.py``: ADR 10)."""

    connection: AsyncConnection
    _after_commit: list[AfterCommit] = field(default_factory=list)
    _before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Rows gathered during the transaction and written in one statement just before it commits
    # (e.g. the outbox's events); a savepoint that rolls back drops what it added.
    buffers: dict[str, list[Any]] = field(default_factory=dict)
    committed: bool = False
    _driver: Any = None
    # rows read early by ``read_ahead``, each taken once by the step that asks for them
    ahead: dict[Ahead, list[tuple[Any, ...]]] = field(default_factory=dict)
    # while the commit gathers its writes: each statement with its parameters (``commit``)
    _batch: list[prepared.Statement] | None = None
    _param: Callable[[Any], bytes | None] | None = None
    _session: AsyncSession | None = None
    # objects written by ``write_object`` or ``defer_write`` before the session was opened
    _settled: dict[int, Any] = field(default_factory=dict)

    @property
    def session(self) -> AsyncSession:
        """The ORM's session, on this unit of work's connection and in its transaction, opened at
        the first use. The objects written before (``write_object``, ``defer_write``) join it,
        persistent and clean, as if it had been open all along."""
        if self._session is None:
            self._session = AsyncSession(bind=self.connection, expire_on_commit=False, autoflush=False)
            for obj in self._settled.values():
                self._session.sync_session.add(obj)
            self._settled.clear()
        return self._session

    async def driver(self) -> psycopg.AsyncConnection[Any]:
        """The psycopg connection under the unit of work: same connection, same transaction (and
        savepoint) as the session's statements. For the hot statements written as plain SQL with
        plain tuples, which cost a fifth of the CPU of an ORM statement (ADR 10); they touch no
        mapped object the session holds. psycopg begins the transaction at the first statement."""
        if self._driver is None:
            self._driver = self.connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        return self._driver  # type: ignore[no-any-return]

    async def read_ahead(self, looks: list[Ahead]) -> None:
        """Run ``looks`` now, in order, in one pipeline (``prepared.read``): one flush and one wait
        for all of them instead of one each (and the transaction's BEGIN goes with them). The steps
        that make these look-ups later take the rows read here. Only for reads whose answer may as
        well be read this early (and for a lock the steps take first, which the pipeline takes first
        too: each statement still sees what was committed before it ran)."""
        if not looks:
            return
        conn = await self.driver()
        statements = [(look.statement.sql, {**look.statement.defaults, **look.params}) for look in looks]
        read = await prepared.read(conn, statements)
        for look, rows in zip(looks, read, strict=True):
            self.ahead[look] = rows

    async def insert_rows(
        self,
        table: str,
        columns: tuple[str, ...],
        rows: list[dict[str, Any]],
        *,
        jsonb: tuple[str, ...] = (),
        upsert: str | None = None,
    ) -> None:
        """Insert ``rows`` (dicts with ``columns``; ``jsonb`` columns as JSON) on ``driver()`` with
        one multi-row INSERT (per 30,000 values): for the rows a transaction buffers until it
        commits. One statement, not one per row as ``executemany`` runs them: PostgreSQL parses,
        plans and executes once, and the client waits once (ADR 10). With ``upsert`` (a unique
        column), a row already there gets the other columns' new values."""
        if rows:
            values = [[_dumps(r[c]) if c in jsonb else r[c] for c in columns] for r in rows]
            await self._write_rows(_insert_parts(table, columns, jsonb, upsert), values)

    async def update_rows(self, table: Any, key: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Set ``columns`` of the rows of ``table`` (a SQLAlchemy Table) whose ``key`` is each
        tuple's first value to its other values, with one ``UPDATE ... FROM (VALUES ...)`` on
        ``driver()`` (per 30,000 values); ``updated_at`` too, when the table has it. For the rows
        a transaction changes many of at once (work orders), which the ORM would update one by
        one. JSONB values are given as Python values (None is SQL NULL)."""
        if not rows:
            return
        targets = [table.c[name] for name in (key, *columns)]
        values = [[_param(column, value) for column, value in zip(targets, row, strict=True)] for row in rows]
        await self._write_rows(_update_parts(table, key, columns), values)

    async def write_object(self, obj: Any) -> None:
        """Write a mapped object's new or changed column values with one plain statement on
        ``driver()`` instead of the session's flush (ADR 10), and leave it in the session as
        persistent and clean, as a flush would. For the documents of the busy paths (orders,
        products). Objects the session still has to write (new or changed ones, which the new
        row may refer to) are flushed first, so statements keep the order of the program."""
        state = sa_inspect(obj)
        if state.pending:
            state.session.expunge(obj)
        if self._session is not None:
            session = self._session.sync_session
            if session.new or [o for o in session.dirty if o is not obj]:
                await self._session.flush()
        table = state.mapper.local_table
        key = state.mapper.primary_key[0].key
        conn = await self.driver()
        if state.key is not None:
            values = _changed_values(obj, state, table, key)
            if not values:
                return
            columns = tuple(values)
            params = [_param(table.c[n], v) for n, v in values.items()]
            cursor = await conn.execute(_object_update_sql(table, key, columns), [*params, getattr(obj, key)])
            if cursor.rowcount != 1:
                raise RuntimeError(f"{table.name} {getattr(obj, key)} was not found to update")
            if "updated_at" in table.c and "updated_at" not in columns:
                values["updated_at"] = (await cursor.fetchone())[0]  # type: ignore[index]
        else:
            values = _new_values(table, state)
            returning = tuple(c.key for c in table.c if c.key not in values)
            columns = tuple(values)
            params = [_param(table.c[n], v) for n, v in values.items()]
            cursor = await conn.execute(_object_insert_sql(table, columns, returning), params)
            if returning:
                values.update(zip(returning, await cursor.fetchone(), strict=True))  # type: ignore[arg-type]
        _settle(self, obj, state, values)

    def defer_write(self, obj: Any) -> None:
        """Write a mapped object's new or changed column values at commit instead of now: the rows
        deferred in a transaction go first in the commit's pipeline, one multi-row INSERT or
        UPDATE per table and set of columns (ADR 10). The object is left persistent and clean at
        once, as ``write_object`` leaves it; the values are taken now (JSON as text), so later
        changes to the object need a write of their own. Deferred twice, an object is written
        once, with the later values. Only for rows nothing reads back from the database before the
        transaction ends (a capture's order, a result batch's orders and new products): a query
        would not see them yet. Server defaults other than ``now()`` cannot be deferred; ``now()``
        is this moment's time, set on the object too."""
        state = sa_inspect(obj)
        table = state.mapper.local_table
        key = state.mapper.primary_key[0].key
        now = datetime.now(UTC)
        if state.key is not None:
            values = _changed_values(obj, state, table, key)
            if not values:
                return
            if "updated_at" in table.c:
                values["updated_at"] = now
            kind = "update"
        else:
            if state.pending:
                state.session.expunge(obj)
            values = _new_values(table, state, now)
            kind = "insert"
        _settle(self, obj, state, values)
        params = {name: _param(table.c[name], value) for name, value in values.items()}
        self.buffers.setdefault(DEFERRED, []).append((kind, table, key, getattr(obj, key), params))

    async def _write_deferred(self, entries: list[Any]) -> None:
        """The rows ``defer_write`` kept, in the order first deferred, one statement per table, kind
        and columns (an update of a row deferred as an insert goes into its insert)."""
        rows: dict[tuple[str, Any], list[Any]] = {}
        for kind, table, key, id_, params in entries:
            row = rows.get((table.name, id_))
            if row is None:
                rows[(table.name, id_)] = [kind, table, key, id_, dict(params)]
            else:
                row[4].update(params)
        groups: dict[tuple[Any, ...], list[list[Any]]] = {}
        for kind, table, key, id_, params in rows.values():
            if kind == "insert":
                columns = tuple(c.key for c in table.c if c.key in params)
                groups.setdefault((kind, table, key, columns), []).append([params[c] for c in columns])
            else:
                columns = tuple(params)
                groups.setdefault((kind, table, key, columns), []).append([id_, *params.values()])
        for (kind, table, key, columns), values in groups.items():
            if kind == "insert":
                jsonb = tuple(c for c in columns if _is_json(table.c[c]))
                await self._write_rows(_insert_parts(table.name, columns, jsonb), values)
            else:
                await self._write_rows(_update_parts(table, key, columns), values)

    async def _write_rows(self, parts: Parts, rows: list[list[Any]]) -> None:
        """A multi-row statement (``parts`` as ``_insert_parts`` or ``_update_parts`` give them)
        for ``rows`` of statement-ready values: while the commit gathers its writes, kept for its
        one pipeline; otherwise run now on ``driver()``, one statement per 30,000 values."""
        if self._batch is not None:
            self._gather(parts, rows)
            return
        conn = await self.driver()
        per = max(1, MAX_PARAMETERS // len(parts[1]))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            params = [v for row in chunk for v in row]
            await psycopg.AsyncRawCursor(conn).execute(_rows_statement(parts, len(chunk)), params)

    def _gather(self, parts: Parts, rows: list[list[Any]]) -> None:
        """Keep a multi-row statement for the commit's pipeline, its values as text parameters: one
        statement per chunk of rows (``prepared.chunks``), so that a few prepared texts serve any
        number of rows."""
        assert self._batch is not None and self._param is not None
        param = self._param
        for start, size in prepared.chunks(len(rows), max(1, MAX_PARAMETERS // len(parts[1]))):
            values = [param(v) for row in rows[start : start + size] for v in row]
            self._batch.append((_rows_statement_bytes(parts, size), values))

    async def write(self, sql: str, params: Any) -> None:
        """Run a statement that returns nothing (``%s`` or ``%(name)s`` placeholders) on
        ``driver()``; while the commit gathers its writes, it goes with them, in the same pipeline
        (its values written into its text: it is not prepared)."""
        conn = await self.driver()
        if self._batch is not None:
            self._batch.append((psycopg.AsyncClientCursor(conn).mogrify(sql, params).encode(), None))
            return
        await conn.execute(sql, params)

    def release(self) -> None:
        """Drop what the transaction held once it is over. The buffers' writers and the hooks are
        closures over the request's context, which holds this unit of work: left alone, every
        request would leave a reference cycle for the garbage collector, whose passes then stall
        the event loop (ADR 10)."""
        self._before_commit.clear()
        self._after_commit.clear()
        self.buffers.clear()
        self.ahead.clear()
        self._settled.clear()
        self._driver = self._session = None

    async def close(self) -> None:
        """Close the session, if one was opened, and the connection (back to its pool: a rollback
        first, which sends nothing once the transaction is over); drop what the transaction held
        (``release``)."""
        try:
            if self._session is None:
                await self.connection.close()
            else:  # one greenlet switch for both, not one each
                await greenlet_spawn(_close, self._session.sync_session, self.connection.sync_connection)
        finally:
            self.release()

    def after_commit(self, hook: AfterCommit) -> None:
        """Run ``hook`` once the transaction has committed; dropped if it rolls back."""
        self._after_commit.append(hook)

    def buffer(self, name: str, write: Callable[[list[Any]], Awaitable[None]]) -> list[Any]:
        """The transaction's buffer ``name``; ``write`` stores its rows just before commit."""
        if name not in self.buffers:
            rows: list[Any] = []
            self.buffers[name] = rows

            async def flush() -> None:
                if rows:
                    await write(rows)
                    rows.clear()

            self._before_commit.append(flush)
        return self.buffers[name]

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction; rolled back, it also forgets the buffered rows it added."""
        marks = {name: len(rows) for name, rows in self.buffers.items()}
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            for name, rows in self.buffers.items():
                del rows[marks.get(name, 0) :]
            raise

    async def flush(self) -> None:
        if self._session is not None:
            await self._session.flush()

    async def commit(self) -> None:
        if any(self.buffers.values()):
            # the ORM's pending writes first (it checks their row counts as each comes back), then
            # the buffered rows and COMMIT in one pipeline of prepared statements: the client sends
            # once and waits once, and PostgreSQL neither parses nor plans them again (ADR 10). An
            # error in any of them skips the rest, COMMIT included: nothing is half-written.
            session = self._session
            if session is not None and (session.new or session.dirty or session.deleted):
                await session.flush()  # (else the flush is a no-op, at some cost)
            conn = await self.driver()
            self._batch, self._param = [], prepared.text_params(conn)
            try:
                deferred = self.buffers.get(DEFERRED)
                if deferred:  # the documents first: rows of the other buffers may refer to them
                    await self._write_deferred(deferred)
                for write in self._before_commit:
                    await write()
                opened = self._session  # (a writer may have opened the session)
                if opened is not None and (opened.new or opened.dirty):
                    raise RuntimeError("a buffered write changed mapped objects: they would miss the commit")
                statements = self._batch
            finally:
                self._batch = self._param = None
            await prepared.commit(conn, statements)
        if self._session is not None:
            await self._session.commit()  # flushes, commits (or ends what the pipeline committed)
        elif self._driver is not None:
            await self._driver.commit()  # nothing to send when the pipeline committed
        self.committed = True
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a hook failing must not turn a committed request into an error
                log.exception("after-commit hook failed")

    async def rollback(self) -> None:
        self._after_commit.clear()
        self.buffers.clear()
        if self._session is not None:
            await self._session.rollback()
        elif self._driver is not None:
            await self._driver.rollback()
