"""Logging in: a username and password become a session token."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, database, settings
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import json_response, read_object
from telcrm.identity import service as identity
from telcrm.kit.auth import Caller
from telcrm.kit.errors import ValidationFailed

router = PrefixRouter(prefix="/api/auth", tags=["Authentication"])

LOGIN_SCHEMA = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
}


@router.post(
    "/login",
    summary="Exchange a username and password for a bearer token",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": LOGIN_SCHEMA}}}},
)
async def login(request: Request) -> Response:
    data = await read_object(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not username:
        raise ValidationFailed("username is required", field="username")
    if not isinstance(password, str) or not password:
        raise ValidationFailed("password is required", field="password")
    async with database(request).unit_of_work() as uow:
        token, caller = await identity.login(uow.session, username, password, settings(request).session_hours)
    return json_response({"token": token, "tokenType": "Bearer", **_me(caller)})


@router.get("/me", summary="Who the bearer token belongs to")
async def me(caller: Caller = Depends(current_caller)) -> Response:
    return json_response(_me(caller))


def _me(caller: Caller) -> dict[str, object]:
    return {
        "id": caller.id,
        "name": caller.name,
        "kind": caller.kind,
        "roles": sorted(caller.roles),
        "partyId": caller.party_id,
        "dealerId": caller.dealer_id,
        "customerId": caller.customer_id,
    }
