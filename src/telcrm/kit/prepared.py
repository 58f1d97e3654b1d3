"""A commit's writes as prepared statements, all sent in one go (ADR 10, eighteenth session).

A unit of work gathers its buffered and deferred rows until it commits, then sends them and COMMIT
together. They used to go as one simple-query message with every value written into the text as
an SQL literal: one send and one wait, but PostgreSQL lexed, analysed and planned each statement
again at every commit, the long JSON documents' literals included (a fifth of its CPU under the
order load). Here each statement is prepared once per connection (its values are parameters) and
the whole commit goes through libpq's pipeline mode in one flush: Parse (first time only), Bind and
Execute per statement, COMMIT and one Sync; the client waits once for all the answers.

A prepared statement lives as long as its connection, unless psycopg drops every statement of the
session (``DEALLOCATE ALL``, which it sends after a rollback or a DDL statement once it has
prepared statements of its own): the names prepared here are forgotten at that moment too, so the
next commit prepares its statements again. A statement's text is cached per number of rows, so
row counts are bucketed (``chunks``) to keep the set of texts small.

A transaction's first look-ups (``UnitOfWork.read_ahead``) go the same way (``read``): each
statement converted by psycopg's own query conversion (the same text, parameters and types psycopg
would send), prepared once per connection, all of them sent in one flush with one Sync, and their
rows loaded by psycopg's loaders. psycopg's pipeline sent and flushed them one by one (ADR 10,
nineteenth session).
"""

from __future__ import annotations

import functools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors, pq, waiting
from psycopg._queries import PostgresQuery  # psycopg's query conversion (3.1-3.3), as its cursors use it
from psycopg.adapt import PyFormat, Transformer

Params = list[bytes | None]
Statement = tuple[bytes, Params | None]  # SQL with $n placeholders and its parameters, or plain SQL and None

# statements kept prepared per connection, least recently used dropped beyond this
MAX_PREPARED = 200
# a row count up to this is one statement; above it, chunks of a power of two and a rest up to this
EXACT_ROWS = 8

_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_IDLE = pq.TransactionStatus.IDLE
_WAIT_R = waiting.Wait.R
_WAIT_W = waiting.Wait.W


def chunks(count: int, limit: int) -> Iterator[tuple[int, int]]:
    """(start, size) of the statements for ``count`` rows, at most ``limit`` rows each: one for up to
    ``EXACT_ROWS`` rows, else the largest power of two that fits, again, until the rest is that small.
    37 rows go as 32 and 5, 100 as 64, 32 and 4: a few statement texts serve any number of rows."""
    start = 0
    while count - start > EXACT_ROWS:
        size = min(1 << ((count - start).bit_length() - 1), limit)
        yield start, size
        start += size
    while start < count:
        size = min(count - start, limit)
        yield start, size
        start += size


def text_params(conn: psycopg.AsyncConnection[Any]) -> Callable[[Any], bytes | None]:
    """A value as the text PostgreSQL's input function for its column reads (a parameter in text
    format): text, integers, booleans and aware times written here directly, the rest by psycopg's
    own dumpers (the same text psycopg would send). Text with a NUL is refused, as psycopg refuses
    it: a parameter ends at the first NUL."""
    dumpers = Transformer(conn)

    def param(value: Any) -> bytes | None:
        kind = type(value)
        if kind is str:
            if "\x00" not in value:
                return value.encode()
        elif value is None:
            return None
        elif kind is int:
            return b"%d" % value
        elif kind is bool:
            return b"t" if value else b"f"
        elif kind is datetime and value.tzinfo is not None:
            return value.isoformat().encode()
        return bytes(dumpers.get_dumper(value, PyFormat.TEXT).dump(value))  # type: ignore[arg-type]

    return param


class _Prepared:
    """The statements prepared on one connection: text → name, least recently used first."""

    __slots__ = ("counter", "names")

    def __init__(self) -> None:
        self.names: OrderedDict[bytes, bytes] = OrderedDict()
        self.counter = 0

    def new_name(self) -> bytes:
        self.counter += 1  # never reused on the connection, even after the names were forgotten
        return b"telcrm_%d" % self.counter


_REGISTRY: weakref.WeakKeyDictionary[Any, _Prepared] = weakref.WeakKeyDictionary()

_BEGIN, _COMMIT = b"BEGIN", b"COMMIT"


def _prepared(conn: psycopg.AsyncConnection[Any]) -> _Prepared:
    """This connection's prepared statements; the first time, psycopg's clearing of its own is
    followed, since it drops ours too."""
    known = _REGISTRY.get(conn)
    if known is None:
        known = _REGISTRY[conn] = _Prepared()
        manager = conn._prepared  # psycopg's PrepareManager (3.1-3.3): the one place that decides DEALLOCATE ALL
        clear = manager.clear

        def clear_ours_too() -> bool:
            dropping = clear()  # True when psycopg will now send DEALLOCATE ALL
            if dropping:
                known.names.clear()
            return dropping

        manager.clear = clear_ours_too  # type: ignore[method-assign]
    return known


# one statement: its key among the connection's prepared ones, its text with $n placeholders, the
# parameters' types (None: PostgreSQL's inference), the parameters (None: run as it is, unprepared)
# and their formats (None: text)
_Run = tuple[bytes, bytes, tuple[int, ...] | None, list[Any] | None, Any]


async def commit(conn: psycopg.AsyncConnection[Any], statements: list[Statement]) -> None:
    """Run ``statements`` and COMMIT on ``conn`` in one pipeline: one flush, one wait. Statements
    with parameters run prepared (Parse sent only the first time on this connection; PostgreSQL
    plans their first five runs for their values, then keeps one plan for any values, as these
    INSERTs and UPDATEs by key plan alike), and so do BEGIN and COMMIT; plain ones (``None``
    parameters) run as they are. The first error is raised as psycopg raises it, and nothing after
    it has run: the transaction is left failed, to be rolled back, as a failing statement leaves it."""
    runs: list[_Run] = [(sql, sql, None, params, None) for sql, params in statements]
    runs.append((_COMMIT, _COMMIT, None, [], None))
    await _send(conn, runs)


async def read(
    conn: psycopg.AsyncConnection[Any], looks: list[tuple[str, dict[str, Any]]]
) -> list[list[tuple[Any, ...]]]:
    """Run the statements ``looks`` (SQL with psycopg's ``%(name)s`` placeholders, and their values)
    in order on ``conn``, in one pipeline: one flush, one wait; the rows of each, as tuples loaded
    as psycopg loads them. Each runs prepared, its text, parameters and types converted as psycopg
    converts them. The transaction is begun first if it was not. The first error is raised as
    psycopg raises it, and nothing after it has run."""
    tx = Transformer(conn)
    runs: list[_Run] = []
    for sql, params in looks:
        query = PostgresQuery(tx)
        query.convert(sql, params)
        key = query.query + b"\x00" + b",".join(b"%d" % oid for oid in query.types)
        runs.append((key, query.query, query.types, list(query.params or ()), query.formats))
    results = await _send(conn, runs)
    rows: list[list[tuple[Any, ...]]] = []
    for result in results:
        if result.status == _TUPLES_OK:
            tx.set_pgresult(result)
            rows.append(tx.load_rows(0, result.ntuples, tuple))
        else:
            rows.append([])
    return rows


async def _send(conn: psycopg.AsyncConnection[Any], runs: list[_Run]) -> list[Any]:
    """``runs`` in one pipeline, after BEGIN if the connection is idle: the result of each run."""
    known = _prepared(conn)
    pgconn = conn.pgconn
    began = pgconn.transaction_status == _IDLE  # nothing read yet: the statements need their BEGIN
    if began:
        runs = [(_BEGIN, _BEGIN, None, [], None), *runs]
    fresh: list[bytes] = []
    commands: list[Callable[[], None]] = []
    while len(known.names) + len(runs) > MAX_PREPARED and known.names:
        _, old = known.names.popitem(last=False)
        commands.append(functools.partial(pgconn.send_query_params, b"DEALLOCATE " + old, None))
    wanted: list[int] = []  # the command of each run whose result is the run's
    for key, sql, types, params, formats in runs:
        if params is None:
            commands.append(functools.partial(pgconn.send_query_params, sql, None))
        else:
            name = known.names.get(key)
            if name is None:
                name = known.names[key] = known.new_name()
                fresh.append(key)
                commands.append(functools.partial(pgconn.send_prepare, name, sql, types))
            else:
                known.names.move_to_end(key)
            commands.append(functools.partial(pgconn.send_query_prepared, name, params, formats, 0))
        wanted.append(len(commands) - 1)
    try:
        async with conn.lock:
            failed, results = await conn.wait(_pipeline(pgconn, commands))
    except BaseException:
        _forget(known, fresh)
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            await conn.close()  # cut off mid-pipeline (cancelled): the session's state is unknown
        raise
    if failed is not None:
        _forget(known, fresh)
        raise errors.error_from_result(failed, encoding=conn.info.encoding)
    assert len(results) == len(commands)  # one result per command, the Sync's not counted
    return [results[n] for n in wanted[1 if began else 0 :]]


def _forget(known: _Prepared, fresh: list[bytes]) -> None:
    """Statements not known to have been prepared: prepared again next time, by another name."""
    for sql in fresh:
        known.names.pop(sql, None)


def _pipeline(pgconn: Any, commands: list[Callable[[], None]]) -> Any:
    """The generator psycopg's ``wait`` drives: enter pipeline mode, queue every command and a Sync,
    flush, then read every result up to the Sync's; return the first error's result (or None) and
    every command's result, in order."""
    pgconn.enter_pipeline_mode()
    for command in commands:
        command()
    pgconn.pipeline_sync()
    while pgconn.flush():  # (nonblocking: the socket has not taken all of it yet)
        yield _WAIT_W
    failed = None
    results: list[Any] = []
    while True:
        while not (yield _WAIT_R):  # (a falsy answer: woken by the interval, nothing to read)
            pass
        pgconn.consume_input()
        read_one = False
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:  # the end of one statement's results, or nothing more yet
                if not read_one:
                    break
                read_one = False
                continue
            read_one = True
            status = result.status
            if status == _PIPELINE_SYNC:
                pgconn.exit_pipeline_mode()
                return failed, results
            results.append(result)
            if status == _FATAL_ERROR and failed is None:
                failed = result
