"""Where the provisioning systems report work orders done or failed (ADR 9)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from telcrm.api.deps import current_caller, transaction
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import json_response
from telcrm.kit.auth import Caller
from telcrm.ordering import service

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


async def _apply(request: Request, caller: Caller, results: list[dict[str, Any]]) -> Response:
    """The results are recorded, and their orders moved on, in one transaction that waits for no
    other (ADR 9, ADR 10): the answer comes after the orders moved on.

    What another transaction holds is left out of it and done after its commit: orders it holds
    (moving them on), or one of whose work orders it holds (recording a result), are moved on in
    a transaction of their own; results for work orders it holds are recorded in another, and
    their orders then moved on. Waiting in the first transaction would hold the others' locks and
    a connection meanwhile."""
    async with transaction(request, caller) as ctx:
        accepted, ignored, order_ids, busy = await service.orders.record_results(ctx, results, skip_locked=True)
        _, left = await service.orders.advance_reported(ctx, order_ids, wait=False)
    await _advance(request, caller, left)
    if busy:
        async with transaction(request, caller) as ctx:
            more, stale, order_ids, _ = await service.orders.record_results(ctx, busy)
        accepted, ignored = accepted + more, ignored + stale
        await _advance(request, caller, order_ids)
    return json_response({"accepted": accepted, "ignored": ignored})


async def _advance(request: Request, caller: Caller, order_ids: list[str]) -> None:
    """Move on orders whose results are stored, in a transaction of their own."""
    if not order_ids:
        return
    try:
        async with transaction(request, caller) as ctx:
            await service.orders.advance_reported(ctx, order_ids)
    except Exception:
        # the results are stored: the worker's sweep moves these orders on (ADR 9)
        log.exception("moving on orders %s after their results failed", order_ids[:10])


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
