"""Request plumbing shared by every router: the caller, and one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from telcrm.identity import service as identity
from telcrm.kit.auth import Caller, Context, hash_secret
from telcrm.kit.db import Database
from telcrm.kit.errors import Unauthenticated, ValidationFailed
from telcrm.kit.settings import Settings

bearer = HTTPBearer(auto_error=False, description="An API key or a login session token")


def database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def current_caller(request: Request) -> Caller:
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("send Authorization: Bearer <API key or session token>")
    db = database(request)
    cache = request.app.state.token_cache
    token = credentials.credentials
    if (hit := cache.get(hash_secret(token))) is not None:
        return hit  # type: ignore[no-any-return]
    async with db.sessions() as session:
        return await identity.authenticate(session, token, cache)


# Channels a client may name in the ``X-Channel`` header; recorded with every change (audit).
CHANNELS = frozenset({"api", "hall", "webHall", "callCenter", "dealer", "accountManager", "sms", "mobileApp"})


def channel_of(request: Request, default: str = "api") -> str:
    named = request.headers.get("x-channel")
    if named is None:
        return default
    if named not in CHANNELS:
        raise ValidationFailed(f"X-Channel must be one of {', '.join(sorted(CHANNELS))}", field="X-Channel")
    return named


@asynccontextmanager
async def transaction(request: Request, caller: Caller, channel: str | None = None) -> AsyncIterator[Context]:
    """The request's unit of work: committed when the block ends, rolled back on any error."""
    async with database(request).unit_of_work() as uow:
        yield Context(uow=uow, caller=caller, channel=channel or channel_of(request))


@asynccontextmanager
async def reading(request: Request, caller: Caller, channel: str = "api") -> AsyncIterator[Context]:
    """For requests that only read: no transaction round trips, nothing to commit."""
    async with database(request).read_only() as uow:
        yield Context(uow=uow, caller=caller, channel=channel)
