"""Customer 360, search, users (使用客户) and the audit trail: non-TMF endpoints."""

from __future__ import annotations

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, reading, transaction
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import JSON_TYPES, json_response, read_object
from telcrm.customer import service, view
from telcrm.kit.auth import Caller
from telcrm.kit.errors import NotFound, ValidationFailed
from telcrm.search import service as search

router = PrefixRouter(prefix="/api/customers", tags=["Customer 360 and search"])

USER_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 400},
        "phoneNumber": {"type": "string", "maxLength": 40},
        "party": {"type": "object", "properties": {"id": {"type": "string"}}},
        "billingAccount": {"type": "object", "properties": {"id": {"type": "string"}}},
        "status": {"type": "string", "enum": list(service.USER_STATUSES)},
    },
}


@router.get("/search", summary="Find customers by phone, ID number, account or customer number, or name")
async def search_customers(
    request: Request,
    q: str = Query(..., min_length=1, max_length=100),
    offset: int = Query(0, ge=0, le=10_000),
    limit: int = Query(20, ge=1, le=100),
    caller: Caller = Depends(current_caller),
) -> Response:
    async with reading(request, caller) as ctx:
        items, total = await search.search_customers(ctx, q, offset, limit)
    return json_response(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})


@router.get("/{id}/360", summary="Everything about one customer in one call")
async def customer_360(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    async with reading(request, caller) as ctx:
        body = await view.customer_360_json(ctx, id)
    return Response(content=body, media_type="application/json")


@router.get("/{id}/audit", summary="Who changed what about this customer, newest first")
async def customer_audit(
    id: str,
    request: Request,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=500),
    caller: Caller = Depends(current_caller),
) -> Response:
    async with reading(request, caller) as ctx:
        items = await view.audit_trail(ctx, id, offset, limit)
    return json_response(items)


@router.get("/{id}/users", summary="The users (使用客户) of a customer")
async def list_users(
    id: str,
    request: Request,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=500),
    caller: Caller = Depends(current_caller),
) -> Response:
    async with reading(request, caller) as ctx:
        items, total = await service.users.list_for(ctx, id, offset, limit)
    return json_response(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})


@router.post(
    "/{id}/users",
    status_code=201,
    summary="Register a user of this customer (a group registers its members)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": USER_SCHEMA}}}},
)
async def create_user(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    data = await read_object(request)
    _validate_user(data, partial=False)
    async with transaction(request, caller) as ctx:
        doc = await service.users.create_for(ctx, id, data)
    return json_response(doc, status=201, headers={"Location": f"/api/customers/{id}/users/{doc['id']}"})


@router.patch(
    "/{id}/users/{user_id}",
    summary="Change a user (merge patch)",
    openapi_extra={"requestBody": {"required": True, "content": {ct: {"schema": USER_SCHEMA} for ct in JSON_TYPES}}},
)
async def patch_user(id: str, user_id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    data = await read_object(request, allowed=JSON_TYPES)
    _validate_user(data, partial=True)
    async with transaction(request, caller) as ctx:
        current = await service.users.get(ctx, user_id)
        if (current.get("customer") or {}).get("id") != id:
            raise NotFound(f"user {user_id} not found", field="id")
        doc = await service.users.patch(ctx, user_id, data)
    return json_response(doc)


def _validate_user(data: dict[str, object], *, partial: bool) -> None:
    from jsonschema import Draft4Validator

    for key in ("id", "customer", "href"):
        if key in data:
            raise ValidationFailed(f"{key} cannot be set", field=key)
    schema = dict(USER_SCHEMA)
    if partial:
        schema = {**schema, "required": []}
        data = {k: v for k, v in data.items() if v is not None}
    for error in Draft4Validator(schema).iter_errors(data):
        field = ".".join(str(p) for p in error.absolute_path) or (
            error.message.split("'")[1] if error.validator == "required" else "body"
        )
        raise ValidationFailed(f"{field}: {error.message}", field=field)
