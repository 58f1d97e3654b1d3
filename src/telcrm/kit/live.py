"""Live updates for open screens: what committed, told to whoever watches it (ADR 13, ADR 16).

A transaction that changes what a screen shows names its topics: ``c:<customer id>`` for every
event about a customer it records (``kit.outbox``), ``o:<order id>`` for every change to an order's
work orders (``ordering.repository``); ``*`` when too many to name. Once it has committed they
go to this process's teller (``changed``), which gathers them for ``TELL_LINGER`` and sends them
as ``NOTIFY telcrm_live`` on a connection of its own (``tell``). A rolled-back transaction tells
nobody, and changes made by any process that runs a teller (every server process) are heard by
all. The NOTIFY is not sent in the transaction itself: PostgreSQL serializes the commits of all
transactions that notify, through the WAL flush, and a busy server commits hundreds a second (ADR 16).

Each server process keeps one listening connection (``listen``) while it has subscribers
(``subscribe``, each an asyncio queue of topic sets) and fans the topics out to them. With no open
screen it does not listen at all: a busy server commits hundreds of changes a second, and every
notification would wake the process and a database backend for nobody (ADR 10). When listening
starts, or starts again after a lost connection, every subscriber is told "everything changed"
(``*``) and reloads, so nothing committed before it was listening is missed. A subscriber that
falls behind loses nothing that matters either: it is told "something changed" and reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import psycopg

from telcrm.kit import bulk
from telcrm.kit.signals import LoopSignal

log = logging.getLogger(__name__)

CHANNEL = "telcrm_live"
EVERYTHING = "*"
QUEUE_SIZE = 64
IDLE_SECONDS = 5.0  # without subscribers this long, the listening connection is closed
TELL_LINGER = 0.05  # seconds a teller gathers the topics of commits before it sends them
MAX_TOPICS = 500  # more topics than this waiting at once are told as "everything changed"
PAYLOAD_BYTES = 7_900  # one notification's payload at most (PostgreSQL takes under 8,000 bytes)


class _Hub:
    def __init__(self) -> None:
        self.by_topic: dict[str, set[asyncio.Queue[frozenset[str]]]] = {}
        self.listening = False
        self.subscribers = 0
        self._wanted = LoopSignal()

    def wanted(self) -> asyncio.Event:
        """The running loop's event, set while someone subscribes."""
        event = self._wanted.event()
        if self.subscribers:
            event.set()
        else:
            event.clear()
        return event

    def publish(self, payload: str) -> None:
        topics = frozenset(payload.split())
        if EVERYTHING in topics:
            targets = {q for queues in self.by_topic.values() for q in queues}
        else:
            targets = {q for t in topics for q in self.by_topic.get(t, ())}
        for queue in targets:
            try:
                queue.put_nowait(topics)
            except asyncio.QueueFull:  # a slow reader: it reloads anyway on the next one it reads
                pass


_hub = _Hub()


def publish(payload: str) -> None:
    """Deliver ``payload`` (space-separated topics) to this process's subscribers."""
    _hub.publish(payload)


def is_listening() -> bool:
    return _hub.listening


@contextlib.asynccontextmanager
async def subscribe(topics: Iterable[str]) -> AsyncIterator[asyncio.Queue[frozenset[str]]]:
    """A queue receiving the topic sets of committed changes touching any of ``topics``."""
    queue: asyncio.Queue[frozenset[str]] = asyncio.Queue(QUEUE_SIZE)
    names = set(topics)
    for name in names:
        _hub.by_topic.setdefault(name, set()).add(queue)
    _hub.subscribers += 1
    _hub.wanted()
    try:
        yield queue
    finally:
        _hub.subscribers -= 1
        _hub.wanted()
        for name in names:
            queues = _hub.by_topic.get(name)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del _hub.by_topic[name]


class _Teller:
    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.signal = LoopSignal()


_teller = _Teller()


def changed(topics: Iterable[str]) -> None:
    """Committed changes touching ``topics``: told to every process's subscribers by this process's
    teller (``tell``) within ``TELL_LINGER``. Call it after commit (``UnitOfWork.after_commit``)."""
    pending = _teller.pending
    if EVERYTHING in pending:
        return
    pending.update(topics)
    if len(pending) > MAX_TOPICS:
        pending.clear()
        pending.add(EVERYTHING)
    if pending:
        _teller.signal.notify()


def tell_after_commit(uow: Any, topics: Iterable[str]) -> None:
    """``topics`` told once ``uow`` (a ``kit.db.UnitOfWork``) has committed; never if it rolls back."""
    named = frozenset(topics)
    if named:
        uow.after_commit(lambda: changed(named))


def payloads(topics: Iterable[str]) -> list[str]:
    """``topics`` as notification payloads: space-separated, each under ``PAYLOAD_BYTES``; just
    ``*`` when they include it or are more than ``MAX_TOPICS``."""
    named = sorted(set(topics))
    if EVERYTHING in named or len(named) > MAX_TOPICS:
        return [EVERYTHING]
    out: list[str] = []
    current: list[str] = []
    size = 0
    for topic in named:
        length = len(topic.encode()) + 1
        if current and size + length > PAYLOAD_BYTES:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(topic)
        size += length
    if current:
        out.append(" ".join(current))
    return out


NOTIFY = f"SELECT pg_notify('{CHANNEL}', p) FROM unnest(%s::text[]) AS p"  # one transaction, all payloads


async def tell(url: str, *, linger: float = TELL_LINGER, retry_seconds: float = 1.0) -> None:
    """Until cancelled: send the topics of this process's commits (``changed``) as notifications,
    those of ``linger`` seconds together, on an autocommit connection of its own. After a failure
    it keeps them and tries again; cancelled, it sends what is left once more (best effort)."""
    plain = bulk.plain_url(url)
    signal = _teller.signal.event()
    conn: psycopg.AsyncConnection[Any] | None = None

    async def send() -> None:
        nonlocal conn
        topics, _teller.pending = _teller.pending, set()
        try:
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(plain, autocommit=True)
            await conn.execute(NOTIFY, (payloads(topics),))
        except BaseException:
            changed(topics)  # told with the next ones
            raise

    try:
        while True:
            if not _teller.pending:
                signal.clear()
                await signal.wait()
            await asyncio.sleep(linger)
            try:
                await send()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live teller could not notify (%s); retrying", exc)
                if conn is not None:
                    await conn.close()
                await asyncio.sleep(retry_seconds)
    finally:
        if _teller.pending:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(send()), 2.0)
        if conn is not None:
            await conn.close()


def customer_topic(customer_id: str) -> str:
    return f"c:{customer_id}"


def order_topic(order_id: str) -> str:
    return f"o:{order_id}"


async def listen(url: str, *, retry_seconds: float = 1.0, idle_seconds: float = IDLE_SECONDS) -> None:
    """Until cancelled: listen while there are subscribers (and ``idle_seconds`` after the last one
    left); after a lost connection, reconnect and tell everyone to reload."""
    plain = bulk.plain_url(url)
    while True:
        await _hub.wanted().wait()
        try:
            conn = await psycopg.AsyncConnection.connect(plain, autocommit=True)
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                _hub.listening = True
                _hub.publish(EVERYTHING)  # whatever happened while nobody listened
                idle_since: float | None = None
                while True:
                    async for note in conn.notifies(timeout=1.0):
                        _hub.publish(note.payload)
                    if _hub.subscribers:
                        idle_since = None
                        continue
                    now = asyncio.get_running_loop().time()
                    if idle_since is None:
                        idle_since = now
                    if now - idle_since >= idle_seconds:
                        break
            finally:
                _hub.listening = False
                await conn.close()
            continue  # stopped for want of subscribers
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost connection: subscribers reload once it is back
            log.warning("live listener lost its connection (%s); retrying", exc)
        await asyncio.sleep(retry_seconds)
