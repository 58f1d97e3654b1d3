"""Sends work orders to the provisioning systems (派单, ADR 9), and keeps fulfilment moving.

Work orders are rows written in the order's transaction (the outbox of fulfilment); this loop
claims due ones with ``FOR UPDATE SKIP LOCKED`` (several server processes may run it), posts them
in one batch per network domain to ``{provisioning_url}/{domain}/workOrders`` and marks them sent
in the same transaction. A failed delivery is tried again with backoff. Work orders withdrawn
after they were sent (their item failed, their order was cancelled) are posted the same way to
``{provisioning_url}/{domain}/workOrders/withdraw`` and then cancelled. Every
``sweeper_interval_seconds`` it also sends again work orders sent but never answered, and
cancels waiting orders whose number reservation lapsed. While it sends, it VACUUMs the queue of
open work orders every ``vacuum_every`` seconds (its churn outruns autovacuum: ADR 10).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from telcrm.kit.auth import SYSTEM_CALLER, Context
from telcrm.kit.db import Database
from telcrm.kit.outbox import withdraw_signal, work_order_signal
from telcrm.ordering import fulfilment
from telcrm.ordering.repository import WorkOrderRow
from telcrm.ordering.service import orders
from telcrm.worker.http import JsonPoster, PostFailed
from telcrm.worker.rounds import run_rounds

log = logging.getLogger(__name__)


def message(wo: WorkOrderRow, callback: str) -> dict[str, Any]:
    return {**wo.payload, "id": wo.id, "attempt": wo.attempt, "task": wo.task, "callback": callback}


REFUSED = "provisioning refused it:"


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 300))


class WorkOrderSender:
    def __init__(
        self,
        db: Database,
        provisioning_url: str,
        callback: str,
        *,
        batch: int = 500,
        timeout: float = 10.0,
        interval: float = 5.0,
        resend_after: float = 600.0,
        linger: float = 0.0,
        vacuum_every: float = 2.0,
    ) -> None:
        self.db = db
        self.url = provisioning_url.rstrip("/")
        self.callback = callback
        self.batch = batch
        self.interval = interval
        self.resend_after = timedelta(seconds=resend_after)
        self.client = JsonPoster(timeout)
        self.linger = linger
        self._swept = 0.0
        self.vacuum_every = vacuum_every
        self._vacuumed = 0.0
        self._since_vacuum = 0  # work orders sent or withdrawn since the queue was last vacuumed
        self._withdrawals: asyncio.Event | None = None

    async def run_forever(self) -> None:
        self._withdrawals = withdraw_signal.event()
        await run_rounds(work_order_signal.event(), self._round, self.interval, self.linger)

    async def _round(self) -> None:
        while await self.send_due() == self.batch:
            pass
        now = asyncio.get_running_loop().time()
        if self._since_vacuum and now - self._vacuumed >= self.vacuum_every:
            await self.vacuum_queue()
            self._vacuumed = now
        sweep = now - self._swept >= self.interval
        # withdrawals are rare: looked for when a commit of this process made one, and at each sweep
        # (one made by another process, or left by a failed round)
        if sweep or self._withdrawals is None or self._withdrawals.is_set():
            if self._withdrawals is not None:
                self._withdrawals.clear()
            while await self.withdraw_due() == self.batch:
                pass
        if sweep:
            self._swept = now
            await self.sweep()

    async def send_due(self) -> int:
        """One round: claim due work orders, post them per domain, record the outcome."""
        async with self.db.unit_of_work() as uow:
            ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="worker")
            due = await fulfilment.claim_due(ctx, self.batch)
            if not due:
                return 0
            self._since_vacuum += len(due)
            by_domain: dict[str, list[WorkOrderRow]] = defaultdict(list)
            for wo in due:
                by_domain[wo.domain].append(wo)
            outcomes = await asyncio.gather(*(self._post(domain, group) for domain, group in by_domain.items()))
            now = datetime.now(UTC)
            for (_, group), error in zip(by_domain.items(), outcomes, strict=True):
                for wo in group:
                    wo.send_attempts += 1
                    if error is None:
                        wo.status, wo.sent_at = "sent", now
                    else:
                        wo.next_attempt_at = now + backoff(wo.send_attempts)
                        wo.reason = f"delivery to provisioning failed: {error}"[:1000]
            return len(due)

    async def withdraw_due(self) -> int:
        """One round: tell provisioning to drop work orders withdrawn after they were sent.
        Accepted (2xx) or refused for good (4xx: it does not know the work order or takes no
        withdrawals), the work order is cancelled; otherwise it is told again with backoff."""
        async with self.db.unit_of_work() as uow:
            ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="worker")
            due = await fulfilment.claim_due(ctx, self.batch, "withdrawing")
            if not due:
                return 0
            self._since_vacuum += len(due)
            by_domain: dict[str, list[WorkOrderRow]] = defaultdict(list)
            for wo in due:
                by_domain[wo.domain].append(wo)
            outcomes = await asyncio.gather(
                *(self._post(domain, group, withdraw=True) for domain, group in by_domain.items())
            )
            now = datetime.now(UTC)
            for (_, group), error in zip(by_domain.items(), outcomes, strict=True):
                for wo in group:
                    wo.send_attempts += 1
                    if error is None or error.startswith(REFUSED):
                        wo.status = "cancelled"
                        if error is not None:
                            wo.reason = f"{wo.reason or 'withdrawn'}; {error}"[:1000]
                    else:
                        wo.next_attempt_at = now + backoff(wo.send_attempts)
            return len(due)

    async def _post(self, domain: str, group: list[WorkOrderRow], *, withdraw: bool = False) -> str | None:
        if withdraw:
            url = f"{self.url}/{domain}/workOrders/withdraw"
            body: dict[str, Any] = {"workOrders": [{"id": wo.id, "attempt": wo.attempt} for wo in group]}
        else:
            url = f"{self.url}/{domain}/workOrders"
            body = {"workOrders": [message(wo, self.callback) for wo in group]}
        try:
            status, _ = await self.client.post(url, body)
        except PostFailed as exc:
            return str(exc)
        if 200 <= status < 300:
            return None
        if 400 <= status < 500:
            return f"{REFUSED} {status}"
        return f"provisioning answered {status}"

    async def vacuum_queue(self) -> None:
        """VACUUM the queue of open work orders (skipped while another session vacuums it)."""
        async with self.db.read_only() as uow:
            await fulfilment.tidy_queue(uow)
        self._since_vacuum = 0

    async def sweep(self) -> None:
        async with self.db.unit_of_work() as uow:
            ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="worker")
            resent = await fulfilment.resend_unanswered(ctx, self.resend_after)
            expired = await fulfilment.expire_reservations(orders, ctx)
        if resent:
            log.warning("sending %d unanswered work orders again", resent)
        if expired:
            log.info("%d orders had a number reservation expire", expired)

    async def close(self) -> None:
        await self.client.close()
