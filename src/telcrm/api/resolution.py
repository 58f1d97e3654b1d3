"""The data steward's API over legacy record resolution (ADR 11): reviews, decisions, unmerge,
lineage, report. Not a TMF resource; errors use the TMF Error body like every endpoint."""

from __future__ import annotations

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, reading, transaction
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import json_response, read_object
from telcrm.kit.auth import Caller
from telcrm.kit.errors import ValidationFailed
from telcrm.resolution import duplicates, service

router = PrefixRouter(prefix="/api/identity", tags=["Legacy record resolution (客户归并)"])

DECISION_SCHEMA = {
    "type": "object",
    "required": ["same"],
    "properties": {"same": {"type": "boolean", "description": "true: the two records are one customer"}},
    "additionalProperties": False,
}
UNMERGE_SCHEMA = {
    "type": "object",
    "required": ["recordKeys"],
    "properties": {
        "recordKeys": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": "legacy record keys (source:source_key) to split off the customer",
        }
    },
    "additionalProperties": False,
}


def _body(schema: dict[str, object]) -> dict[str, object]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.get("/reviews", summary="Open review pairs, most likely first, with both records side by side")
async def list_reviews(
    request: Request,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(20, ge=1, le=100),
    caller: Caller = Depends(current_caller),
) -> Response:
    async with reading(request, caller) as ctx:
        items, total = await service.reviews(ctx, offset, limit)
    return json_response(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})


@router.post(
    "/reviews/{id}/decision", summary="Decide a review pair: same customer or not", openapi_extra=_body(DECISION_SCHEMA)
)
async def decide(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    data = await read_object(request)
    extra = sorted(set(data) - {"same"})
    if extra:
        raise ValidationFailed(f"{extra[0]} is not an attribute of a decision", field=extra[0])
    same = data.get("same")
    if not isinstance(same, bool):
        raise ValidationFailed("same must be true or false", field="same")
    async with transaction(request, caller) as ctx:
        outcome = await service.decide(ctx, id, same)
    return json_response(outcome)


@router.post(
    "/customers/{id}/unmerge",
    summary="Split legacy records off a customer; undo a steward merge",
    openapi_extra=_body(UNMERGE_SCHEMA),
)
async def unmerge(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    data = await read_object(request)
    extra = sorted(set(data) - {"recordKeys"})
    if extra:
        raise ValidationFailed(f"{extra[0]} is not an attribute of an unmerge", field=extra[0])
    keys = data.get("recordKeys")
    if (
        not isinstance(keys, list)
        or not keys
        or len(keys) > 1000
        or not all(isinstance(k, str) and 0 < len(k) <= 200 for k in keys)
    ):
        raise ValidationFailed("recordKeys is a list of 1 to 1000 record keys (strings)", field="recordKeys")
    async with transaction(request, caller) as ctx:
        outcome = await service.unmerge(ctx, id, list(dict.fromkeys(keys)))
    return json_response(outcome)


@router.get("/customers/{id}/lineage", summary="Where each attribute of a golden customer came from")
async def lineage(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    async with reading(request, caller) as ctx:
        body = await service.lineage(ctx, id)
    return json_response(body)


@router.get("/report", summary="Records per source, rejects, clusters by size, merges, estimated precision/recall")
async def report(request: Request, caller: Caller = Depends(current_caller)) -> Response:
    async with reading(request, caller) as ctx:
        body = await service.report(ctx)
    return json_response(body)


DRAFT_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["engagedParty"],
    "properties": {
        "engagedParty": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
    },
    "description": "the TMF629 Customer about to be created (only engagedParty is read)",
}


@router.post(
    "/duplicates",
    summary="Likely duplicates of a customer about to be created (does not block the create)",
    openapi_extra=_body(DRAFT_SCHEMA),
)
async def duplicates_of_draft(request: Request, caller: Caller = Depends(current_caller)) -> Response:
    data = await read_object(request)
    async with reading(request, caller) as ctx:
        items = await duplicates.possible_duplicates(ctx, data)
    return json_response({"possibleDuplicate": items})


@router.get("/customers/{id}/duplicates", summary="Likely duplicates of an existing customer")
async def duplicates_of_customer(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    async with reading(request, caller) as ctx:
        items = await duplicates.duplicates_of(ctx, id)
    return json_response({"possibleDuplicate": items})
