"""``POST /hub`` and ``DELETE /hub/{id}`` for every TMF API."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, transaction
from telcrm.api.tmf.mechanics import json_response, read_object
from telcrm.api.tmf.resource import TmfApi, _error_responses
from telcrm.kit.auth import Caller
from telcrm.notification import service as hubs


def add_hub(api: TmfApi) -> None:
    spec, router = api.spec, api.router

    @router.post(
        "/hub",
        name=f"registerListener_{api.name}",
        summary="Register a listener for this API's events",
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": spec.ref("EventSubscriptionInput")}},
            }
        },
        responses={
            201: {"content": {"application/json": {"schema": spec.ref("EventSubscription")}}},
            **_error_responses(spec, 400, 401, 403),
        },
    )
    async def register_listener(request: Request, caller: Caller = Depends(current_caller)) -> Response:
        data = await read_object(request)
        spec.validate("EventSubscriptionInput", data)
        async with transaction(request, caller) as ctx:
            sub = await hubs.register(ctx, api=api.name, callback=data["callback"], query=data.get("query"))
        body = {"id": sub.id, "callback": sub.callback, "query": sub.query}
        return json_response(body, status=201, headers={"Location": f"{api.base}/hub/{sub.id}"})

    @router.delete(
        "/hub/{id}",
        name=f"unregisterListener_{api.name}",
        summary="Unregister a listener",
        status_code=204,
        responses=_error_responses(spec, 400, 401, 403, 404),
    )
    async def unregister_listener(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
        async with transaction(request, caller) as ctx:
            await hubs.unregister(ctx, api=api.name, id_=id)
        return Response(status_code=204)
