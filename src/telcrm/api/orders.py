"""Order pre-check and number choice (选号) for the channels (ADR 8)."""

from __future__ import annotations

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, reading
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import json_response, read_object
from telcrm.api.tmf.spec import ORDERING
from telcrm.kit.auth import Caller
from telcrm.ordering import service

router = PrefixRouter(prefix="/api/orders", tags=["Order check and numbers"])


@router.post(
    "/check",
    summary="Run the order capture checks on a TMF622 ProductOrder_Create body without storing it",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ORDERING.ref("ProductOrder_Create")}},
        }
    },
)
async def check_order(request: Request, caller: Caller = Depends(current_caller)) -> Response:
    data = await read_object(request)
    ORDERING.validate("ProductOrder_Create", data)
    async with reading(request, caller) as ctx:
        result = await service.orders.check(ctx, data)
    return json_response(result)


@router.get(
    "/{order_id}/workOrders",
    summary="The work orders (派单) of an order and their progress",
)
async def work_orders(order_id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    async with reading(request, caller) as ctx:
        items = await service.orders.work_orders(ctx, order_id)
    return json_response(items, headers={"X-Result-Count": str(len(items))})


numbers_router = PrefixRouter(prefix="/api/numbers", tags=["Order check and numbers"])


@numbers_router.get("", summary="Free service numbers to choose from (选号), by prefix")
async def free_numbers(
    request: Request,
    prefix: str = Query("", max_length=20, pattern=r"^[0-9+]*$"),
    limit: int = Query(20, ge=1, le=100),
    caller: Caller = Depends(current_caller),
) -> Response:
    async with reading(request, caller) as ctx:
        items = await service.orders.free_numbers(ctx, prefix, limit)
    return json_response(items, headers={"X-Result-Count": str(len(items))})
