"""Hub listeners (TMF ``/hub``): who wants which events of which API."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import delete

from telcrm.kit import auth, cache, outbox
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden, NotFound, ValidationFailed
from telcrm.kit.ids import new_id
from telcrm.kit.outbox import parse_hub_query
from telcrm.models import HubSubscription


def _may_manage(ctx: Context) -> None:
    if not ctx.caller.has(auth.ADMIN, auth.SYSTEM):
        raise Forbidden("only administrators and system clients may manage event listeners")


async def register(ctx: Context, *, api: str, callback: str, query: str | None) -> HubSubscription:
    _may_manage(ctx)
    parts = urlsplit(callback)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(callback) > 2000:
        raise ValidationFailed("callback must be an absolute http(s) URL", field="callback")
    if query is not None and len(query) > 2000:
        raise ValidationFailed("query is too long", field="query")
    parse_hub_query(query)
    sub = HubSubscription(id=new_id(), api=api, callback=callback, query=query, principal_id=ctx.caller.id)
    ctx.uow.session.add(sub)
    await ctx.uow.flush()
    cache.changed(ctx, outbox.HUBS)
    return sub


async def unregister(ctx: Context, *, api: str, id_: str) -> None:
    _may_manage(ctx)
    result = await ctx.uow.session.execute(
        delete(HubSubscription).where(HubSubscription.id == id_, HubSubscription.api == api)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"listener {id_} not found", field="id")
    cache.changed(ctx, outbox.HUBS)
