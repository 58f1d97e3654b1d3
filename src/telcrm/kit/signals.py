"""Signals that wake a background loop of this process."""

from __future__ import annotations

import asyncio


class LoopSignal:
    """An asyncio event that wakes a background loop of this process (the dispatcher, the senders,
    kit.live's listener); set from after-commit hooks and the like.

    An asyncio event belongs to the loop that first waits on it: a new loop in the same process
    (an app started again, as the tests do) gets an event of its own."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._event is None or self._loop is not loop:
            self._event = asyncio.Event()
            self._loop = loop
        return self._event

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
