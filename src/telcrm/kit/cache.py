"""Process-wide copies of small tables that change rarely (the catalog, hub subscriptions),
dropped in every process when they change (ADR 12).

- A writer calls ``changed(ctx, name)`` in its transaction. PostgreSQL delivers the
  ``NOTIFY telcrm_cache, '<name>'`` at commit to every process that listens, and the writer's
  own process drops its copy at once and again after its commit.
- Each server process runs ``listen(url)`` (started with the app). Copies are used only while
  the process is listening: a process that is not (a CLI command, a lost connection) reads
  the database every time, so a missed notification never means a stale copy.
- A read that began before a change must not store what it read once the change is known:
  a copy is stored only if the generation seen when the read began is still current.
- Values are kept as orjson bytes and parsed on every hit, so no caller can alter the copy.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import psycopg

from telcrm.kit import bulk
from telcrm.kit.auth import Context

log = logging.getLogger(__name__)

CHANNEL = "telcrm_cache"
MAX_ENTRIES = 50_000  # per cache; past it the copy is dropped and filled again


class Shared:
    """One named cache: key -> JSON value."""

    def __init__(self, name: str, max_entries: int = MAX_ENTRIES) -> None:
        self.name = name
        self.max_entries = max_entries
        self.generation = 0
        self._data: dict[Any, bytes] = {}

    def get(self, key: Any) -> Any | None:
        """The cached value, or None (not cached, or this process is not listening)."""
        if not _state.listening:
            return None
        raw = self._data.get(key)
        return None if raw is None else orjson.loads(raw)

    def mark(self) -> int | None:
        """Call before reading the database; pass the result to ``store``."""
        return self.generation if _state.listening else None

    def store(self, mark: int | None, key: Any, value: Any) -> None:
        if mark is None or mark != self.generation or not _state.listening:
            return
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[key] = orjson.dumps(value)

    def drop(self) -> None:
        self._data.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._data)


class _State:
    listeners = 0  # open listening connections in this process (several apps may run in tests)

    @property
    def listening(self) -> bool:
        return self.listeners > 0


_state = _State()
_caches: dict[str, Shared] = {}


def shared(name: str, max_entries: int = MAX_ENTRIES) -> Shared:
    """The process's cache ``name`` (created on first use). A change to ``name`` also drops the
    caches named ``name.<anything>`` (e.g. ``catalog.pages`` with ``catalog``)."""
    if name not in _caches:
        _caches[name] = Shared(name, max_entries)
    return _caches[name]


def _family(name: str) -> list[Shared]:
    return [c for n, c in _caches.items() if n == name or n.startswith(name + ".")]


def _drop_family(name: str) -> None:
    for cache in _family(name):
        cache.drop()


def drop_all() -> None:
    for cache in _caches.values():
        cache.drop()


def listening() -> bool:
    return _state.listening


def changed(ctx: Context, name: str) -> None:
    """``name``'s table changes in this transaction: every process drops its copy when it commits
    (one NOTIFY, sent just before the commit). Until then this transaction reads past the copies."""
    shared(name)
    marks = ctx.uow.buffer(_buffer(name), lambda _: _notify(ctx, name))
    if not marks:
        marks.append(True)
        _drop_family(name)
        ctx.uow.after_commit(lambda: _drop_family(name))


def changed_here(ctx: Context, name: str) -> bool:
    """Whether this transaction changed ``name``'s table (so its copies must not be read)."""
    return bool(ctx.uow.buffers.get(_buffer(name)))


def _buffer(name: str) -> str:
    return f"cache.changed.{name}"


async def _notify(ctx: Context, name: str) -> None:
    await ctx.uow.write("SELECT pg_notify(%s, %s)", (CHANNEL, name))


def _on_notify(payload: str) -> None:
    if payload in _caches:
        _drop_family(payload)
    else:
        drop_all()


async def listen(url: str, *, retry_seconds: float = 1.0) -> None:
    """Listen for changes until cancelled; reconnect after a lost connection (copies unused meanwhile)."""
    plain = bulk.plain_url(url)
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(plain, autocommit=True)
            listening_here = False
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                drop_all()  # whatever changed before LISTEN took effect
                _state.listeners += 1
                listening_here = True
                async for note in conn.notifies():
                    _on_notify(note.payload)
            finally:
                if listening_here:
                    _state.listeners -= 1
                drop_all()
                await conn.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost connection: read the database until listening again
            log.warning("cache listener lost its connection (%s); retrying", exc)
        await asyncio.sleep(retry_seconds)
