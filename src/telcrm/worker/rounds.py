"""The loop every background sender runs: a round when woken after a commit, or on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_rounds(
    signal: asyncio.Event, one_round: Callable[[], Awaitable[None]], interval: float, linger: float = 0.0
) -> None:
    """Run ``one_round`` whenever ``signal`` is set, and every ``interval`` seconds anyway.

    The signal is cleared before the round, so a commit during the round brings another one. A
    failed round is logged and the loop goes on: the next round tries again. Woken by the signal,
    the loop first waits ``linger`` seconds, so that commits close together make one round.
    """
    while True:
        signal.clear()
        try:
            await one_round()
        except Exception:
            log.exception("background round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout=interval)
            if linger > 0:
                await asyncio.sleep(linger)
