"""Where the provisioning systems report work orders done or failed (ADR 9)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from telcrm.api.deps import channel_of, current_caller, database
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import json_response
from telcrm.kit.auth import Caller, Context
from telcrm.kit.db import Database
from telcrm.ordering import fulfilment, service

log = logging.getLogger(__name__)
router = PrefixRouter(prefix="/api/provisioning", tags=["Provisioning"])


class WorkOrderResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=40)]
    attempt: Annotated[int, Field(ge=1, le=1000)]
    status: Literal["completed", "failed"]
    reason: Annotated[str | None, Field(max_length=2000)] = None
    retryable: bool = False
    resource: dict[str, Any] | None = None
    completedAt: Annotated[str | None, Field(max_length=40)] = None


class WorkOrderResults(BaseModel):
    results: Annotated[list[WorkOrderResult], Field(min_length=1, max_length=5000)]


class SingleResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    attempt: Annotated[int, Field(ge=1, le=1000)]
    status: Literal["completed", "failed"]
    reason: Annotated[str | None, Field(max_length=2000)] = None
    retryable: bool = False
    resource: dict[str, Any] | None = None


@dataclass(slots=True)
class _Batch:
    caller: Caller
    channel: str
    results: list[dict[str, Any]]
    answer: asyncio.Future[tuple[int, int]]


class ResultRounds:
    """Result batches recorded, and their orders moved on, in rounds (ADR 9, ADR 10).

    A round takes every batch that arrived in this process while the previous round ran (from
    one caller), records all their results in one transaction, then moves on their orders in a
    second one; each batch is answered after that. An idle process starts a round at once, so a
    lone batch is answered as soon as its orders moved on; under load, batches share
    transactions instead of queueing for connections one by one.

    Work orders whose order another transaction is moving on right now are not waited for in the
    first transaction (that would hold the others' locks and a connection meanwhile): their
    results are recorded after the others', in a transaction of their own.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.loop = asyncio.get_running_loop()
        self.waiting: list[_Batch] = []
        self.running: asyncio.Task[None] | None = None
        self.finishing: set[asyncio.Task[None]] = set()

    async def submit(self, caller: Caller, channel: str, results: list[dict[str, Any]]) -> tuple[int, int]:
        """(accepted, ignored) for this batch, once its orders moved on."""
        batch = _Batch(caller, channel, results, self.loop.create_future())
        self.waiting.append(batch)
        if self.running is None or self.running.done():
            self.running = asyncio.create_task(self._rounds())
        return await batch.answer

    async def _rounds(self) -> None:
        while self.waiting:
            batches, self.waiting = self.waiting, []
            groups: dict[tuple[str, str], list[_Batch]] = defaultdict(list)
            for batch in batches:
                groups[(batch.caller.id, batch.channel)].append(batch)
            for group in groups.values():
                await self._round(group)

    async def _round(self, group: list[_Batch]) -> None:
        caller, channel = group[0].caller, group[0].channel
        results = [r for batch in group for r in batch.results]
        try:
            async with self.db.unit_of_work() as uow:
                ctx = Context(uow=uow, caller=caller, channel=channel)
                outcomes, order_ids = await service.orders.record_results(ctx, results, skip_locked=True)
            await self._advance(caller, channel, order_ids)
        except Exception as exc:  # every batch of the round fails with it (its request answers 500)
            _answer(group, exc)
            return
        busy = [n for n, outcome in enumerate(outcomes) if outcome == fulfilment.BUSY]
        if not busy:
            _answer(group, outcomes)
            return
        # the rest waits for the transactions holding these work orders, beside the next rounds
        # (the sender holds the ones it is sending until provisioning has answered)
        task = asyncio.create_task(self._wait_for_busy(group, results, outcomes, busy))
        self.finishing.add(task)
        task.add_done_callback(self.finishing.discard)

    async def _wait_for_busy(
        self, group: list[_Batch], results: list[dict[str, Any]], outcomes: list[str], busy: list[int]
    ) -> None:
        caller, channel = group[0].caller, group[0].channel
        try:
            async with self.db.unit_of_work() as uow:
                ctx = Context(uow=uow, caller=caller, channel=channel)
                later, order_ids = await service.orders.record_results(ctx, [results[n] for n in busy])
            await self._advance(caller, channel, order_ids)
        except Exception as exc:
            _answer(group, exc)
            return
        for n, outcome in zip(busy, later, strict=True):
            outcomes[n] = outcome
        _answer(group, outcomes)

    async def _advance(self, caller: Caller, channel: str, order_ids: list[str]) -> None:
        if not order_ids:
            return
        try:
            async with self.db.unit_of_work() as uow:
                await service.orders.advance_reported(Context(uow=uow, caller=caller, channel=channel), order_ids)
        except Exception:
            # the results are stored: the worker's sweep moves these orders on (ADR 9)
            log.exception("moving on orders %s after their results failed", order_ids[:10])


def _answer(group: list[_Batch], outcomes: list[str] | Exception) -> None:
    """Each batch's (accepted, ignored), from the outcomes of the group's results in order."""
    start = 0
    for batch in group:
        if batch.answer.done():  # its request went away
            start += len(batch.results)
            continue
        if isinstance(outcomes, Exception):
            batch.answer.set_exception(outcomes)
            continue
        mine = outcomes[start : start + len(batch.results)]
        start += len(batch.results)
        accepted = mine.count(fulfilment.ACCEPTED)
        batch.answer.set_result((accepted, len(mine) - accepted))


def _rounds(request: Request) -> ResultRounds:
    """This process's rounds (one per event loop: a test may run the app in several)."""
    rounds: ResultRounds | None = getattr(request.app.state, "result_rounds", None)
    if rounds is None or rounds.loop is not asyncio.get_running_loop() or rounds.db is not database(request):
        rounds = ResultRounds(database(request))
        request.app.state.result_rounds = rounds
    return rounds


async def _apply(request: Request, caller: Caller, results: list[dict[str, Any]]) -> Response:
    accepted, ignored = await _rounds(request).submit(caller, channel_of(request), results)
    return json_response({"accepted": accepted, "ignored": ignored})


@router.post(
    "/workOrderResults",
    summary="Results of work orders, in a batch; repeated or stale results are ignored",
)
async def work_order_results(
    body: WorkOrderResults, request: Request, caller: Caller = Depends(current_caller)
) -> Response:
    return await _apply(request, caller, [r.model_dump() for r in body.results])


@router.post("/workOrders/{work_order_id}/result", summary="The result of one work order")
async def work_order_result(
    work_order_id: str, body: SingleResult, request: Request, caller: Caller = Depends(current_caller)
) -> Response:
    return await _apply(request, caller, [{"id": work_order_id, **body.model_dump()}])
