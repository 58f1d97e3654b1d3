"""Delivers outbox events to hub listeners, records every attempt, retries with backoff.

Woken right after a commit that wrote deliveries, and every ``sweeper_interval_seconds``
anyway, so deliveries left pending by a crash or a failed listener are sent again. Several
dispatchers may run at once: rows are claimed with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from telcrm.kit.db import Database, inline
from telcrm.kit.outbox import delivery_signal
from telcrm.models import Delivery, DeliveryAttempt, HubSubscription, OutboxEvent
from telcrm.worker.http import JsonPoster, PostFailed
from telcrm.worker.rounds import run_rounds

log = logging.getLogger(__name__)

HrefFor = Callable[[str, str, str], str | None]  # (api, resource_type, id) -> href


def envelope(event: OutboxEvent, href_for: HrefFor) -> dict[str, Any]:
    payload = dict(event.payload)
    inner = dict(payload.get("event", {}))
    resource = inner.get(event.resource_type)
    if isinstance(resource, dict):
        href = href_for(event.api, event.resource_type, event.resource_id)
        inner[event.resource_type] = {"href": href, **resource} if href else resource
    at = event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    out: dict[str, Any] = {
        "eventId": event.event_id,
        "eventTime": at,
        "timeOcurred": at,
        "eventType": event.event_type,
        "domain": event.api,
        "title": event.event_type,
        "event": inner,
    }
    if isinstance(payload.get("correlationId"), str):
        out["correlationId"] = payload["correlationId"]  # e.g. the import job behind a CatalogBatchEvent
    return out


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


class Dispatcher:
    def __init__(
        self,
        db: Database,
        href_for: HrefFor,
        *,
        max_attempts: int = 8,
        timeout: float = 5.0,
        interval: float = 5.0,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.href_for = href_for
        self.max_attempts = max_attempts
        self.interval = interval
        self.batch = batch
        self.client = JsonPoster(timeout)

    async def run_forever(self) -> None:
        await run_rounds(delivery_signal.event(), self._round, self.interval)

    async def _round(self) -> None:
        while await self.deliver_due() == self.batch:
            pass

    async def deliver_due(self) -> int:
        """One round: claim due deliveries, send them, record the attempts. Returns how many."""
        now = datetime.now(UTC)
        async with self.db.unit_of_work() as uow:
            stmt = (
                select(Delivery, OutboxEvent, HubSubscription)
                .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
                .join(HubSubscription, HubSubscription.id == Delivery.subscription_id)
                .where(Delivery.status == inline("pending"), Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(self.batch)
                .with_for_update(of=Delivery, skip_locked=True)
            )
            rows = (await uow.session.execute(stmt)).all()
            if not rows:
                return 0
            results = await asyncio.gather(
                *(self._send(sub.callback, envelope(ev, self.href_for)) for _, ev, sub in rows)
            )
            for (delivery, _, _), (code, error, ms) in zip(rows, results, strict=True):
                delivery.attempts += 1
                uow.session.add(DeliveryAttempt(delivery_id=delivery.id, status_code=code, error=error, duration_ms=ms))
                if error is None:
                    delivery.status = "delivered"
                    delivery.delivered_at = datetime.now(UTC)
                    delivery.last_error = None
                elif delivery.attempts >= self.max_attempts:
                    delivery.status = "dead"
                    delivery.last_error = error
                else:
                    delivery.next_attempt_at = datetime.now(UTC) + backoff(delivery.attempts)
                    delivery.last_error = error
            return len(rows)

    async def _send(self, url: str, body: dict[str, Any]) -> tuple[int | None, str | None, int]:
        started = time.perf_counter()
        try:
            status, _ = await self.client.post(url, body)
        except PostFailed as exc:
            return None, str(exc)[:1000], int((time.perf_counter() - started) * 1000)
        ms = int((time.perf_counter() - started) * 1000)
        if 200 <= status < 300:
            return status, None, ms
        return status, f"listener answered {status}", ms

    async def close(self) -> None:
        await self.client.close()
