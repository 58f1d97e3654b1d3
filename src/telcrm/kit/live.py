"""Live updates for open screens: what committed, told to whoever watches it (ADR 13).

Triggers on the outbox and on work orders (revision 0009) send ``NOTIFY telcrm_live`` with the
topics a statement touched: ``c:<customer id>`` for every committed event about a customer,
``o:<order id>`` for every change to an order's work orders, ``*`` when a bulk statement touched
too many to name. PostgreSQL delivers a notification only when its transaction commits, so a
screen never hears of a change that was rolled back, and it hears of changes made by any process
(another server, the worker, the CLI).

Each server process keeps one listening connection (``listen``) and fans the topics out to the
in-process subscribers (``subscribe``), each an asyncio queue of topic sets. A subscriber that
falls behind loses nothing that matters: it is told "something changed" and reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

import psycopg

from telcrm.kit import bulk

log = logging.getLogger(__name__)

CHANNEL = "telcrm_live"
EVERYTHING = "*"
QUEUE_SIZE = 64


class _Hub:
    def __init__(self) -> None:
        self.by_topic: dict[str, set[asyncio.Queue[frozenset[str]]]] = {}
        self.listening = False

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
    try:
        yield queue
    finally:
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


async def listen(url: str, *, retry_seconds: float = 1.0) -> None:
    """Listen until cancelled; after a lost connection, reconnect and tell everyone to reload."""
    plain = bulk.plain_url(url)
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(plain, autocommit=True)
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                if _hub.listening is False:
                    _hub.publish(EVERYTHING)  # whatever happened while nobody listened
                _hub.listening = True
                async for note in conn.notifies():
                    _hub.publish(note.payload)
            finally:
                _hub.listening = False
                await conn.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost connection: subscribers reload once it is back
            log.warning("live listener lost its connection (%s); retrying", exc)
        await asyncio.sleep(retry_seconds)
