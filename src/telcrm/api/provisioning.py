"""Where the provisioning systems report work orders done or failed (ADR 9)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from telcrm.api.deps import current_caller, transaction
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import json_response
from telcrm.kit.auth import Caller
from telcrm.ordering import service

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
    """The results of orders no other transaction holds are applied and committed first; those of
    orders another batch holds then wait in a transaction of their own. A result already applied
    is ignored when provisioning sends the batch again, so a batch may take two transactions.

    One report at a time in this process; the others wait for their turn before they begin. Result
    work is background work to the channels: applied side by side, one process's reports made
    bursts of CPU that held up captures, took each other's order locks and split into second
    transactions (ADR 10, twentieth session). Provisioning may send several at once; they are
    answered in turn."""
    accepted = ignored = 0
    pending, first = results, True
    async with request.app.state.result_intake:
        while pending:
            async with transaction(request, caller) as ctx:
                took, left, pending = await service.orders.apply_results(ctx, pending, skip_locked=first)
            accepted, ignored, first = accepted + took, ignored + left, False
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
