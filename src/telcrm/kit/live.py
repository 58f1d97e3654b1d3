"""Live updates for open screens: what committed, told to whoever watches it (ADR 13).

Triggers on the outbox and on work orders (revision 0009) send ``NOTIFY telcrm_live`` with the
topics a statement touched: ``c:<customer id>`` for every committed event about a customer,
``o:<order id>`` for every change to an order's work orders, ``*`` when a bulk statement touched
too many to name. PostgreSQL delivers a notification only when its transaction commits, so a
screen never hears of a change that was rolled back, and it hears of changes made by any process
(another server, the worker, the CLI).

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

import psycopg

from telcrm.kit import bulk
from telcrm.kit.outbox import LoopSignal

log = logging.getLogger(__name__)

CHANNEL = "telcrm_live"
EVERYTHING = "*"
QUEUE_SIZE = 64
IDLE_SECONDS = 5.0  # without subscribers this long, the listening connection is closed


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
