"""The outbox: events are rows written in the business transaction, delivered after commit.

``emit`` writes the event and one delivery row per matching hub listener in the caller's
transaction, and registers after-commit hooks that wake the dispatcher and tell open screens of
the event's customer (``kit.live``). If the
transaction rolls back, neither the event nor its deliveries exist and nobody is woken. A
sweeper (``telcrm.worker.dispatcher``) redelivers whatever is still pending.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import bindparam, select

from telcrm.kit import cache, live
from telcrm.kit.auth import Context
from telcrm.kit.db import snapshot
from telcrm.kit.errors import ValidationFailed
from telcrm.kit.ids import new_id
from telcrm.kit.signals import LoopSignal
from telcrm.models import HubSubscription

delivery_signal = LoopSignal()
# Wakes the work-order sender (order fulfilment, ADR 9) after a commit that made work orders due.
work_order_signal = LoopSignal()
# Also set after a commit that withdrew work orders provisioning already has: the sender then
# tells provisioning in its next round (otherwise it looks for them only every sweep interval).
withdraw_signal = LoopSignal()
# Wakes the catalog job runner (ADR 14) after a commit that created an import or export job.
job_signal = LoopSignal()


def parse_hub_query(query: str | None) -> list[tuple[str, set[str]]]:
    """``eventType=A,B&event.customer.status=active`` as ``[(name, {values})]``."""
    if not query or not query.strip():
        return []
    terms: list[tuple[str, set[str]]] = []
    for name, value in parse_qsl(query.replace(" ", ""), keep_blank_values=True, strict_parsing=False):
        if not name or not value:
            raise ValidationFailed(f"hub query term {name!r} needs a value", field="query")
        if name != "eventType" and not name.startswith("event."):
            raise ValidationFailed(
                f"hub query term {name!r}: use eventType=... or event.<resource>.<attribute>=...",
                field="query",
            )
        terms.append((name, set(value.split(","))))
    if not terms:
        raise ValidationFailed("hub query is not of the form name=value[&name=value]", field="query")
    return terms


def _lookup(doc: Any, path: list[str]) -> list[str]:
    if not path:
        if isinstance(doc, list):
            return [v for item in doc for v in _lookup(item, [])]
        return [str(doc).lower() if isinstance(doc, bool) else str(doc)]
    if isinstance(doc, list):
        return [v for item in doc for v in _lookup(item, path)]
    if isinstance(doc, dict) and path[0] in doc:
        return _lookup(doc[path[0]], path[1:])
    return []


def query_matches(query: str | None, event_type: str, event: dict[str, Any]) -> bool:
    try:
        terms = parse_hub_query(query)
    except ValidationFailed:
        return False
    for name, values in terms:
        if name == "eventType":
            if event_type not in values:
                return False
        elif not values.intersection(_lookup(event, name.split(".")[1:])):
            return False
    return True


LISTENERS = "outbox.listeners"
HUBS = "hubs"  # per process (kit.cache): the subscriptions of each api, dropped when one is added or removed
BUFFER = "outbox.events"
LISTENERS_OF = select(HubSubscription.id, HubSubscription.query).where(HubSubscription.api == bindparam("api"))


async def emit(
    ctx: Context,
    *,
    api: str,
    event_type: str,
    resource_type: str,
    resource: dict[str, Any],
    customer_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record ``event_type`` about ``resource`` (its TMF document) for delivery after commit."""
    event_body = {resource_type: resource}
    # a snapshot: the documents may change later in the transaction, the event must not
    payload = snapshot({"event": event_body, **(extra or {})})
    # the listeners of an api, read once per transaction (a busy transaction emits many events)
    listeners: dict[str, list[Any]] = ctx.extra.setdefault(LISTENERS, {})
    if api not in listeners:
        listeners[api] = await _listeners(ctx, api)
    targets = [id_ for id_, query in listeners[api] if query_matches(query, event_type, event_body)]
    row = {
        "event_id": new_id(),
        "api": api,
        "event_type": event_type,
        "resource_type": resource_type,
        "resource_id": str(resource.get("id")),
        "customer_id": customer_id,
        "payload": payload,
        "created_at": datetime.now(UTC),
    }
    # written with the transaction's other events in one statement just before it commits
    ctx.uow.buffer(BUFFER, lambda rows: _write(ctx, rows)).append((row, targets))


async def _listeners(ctx: Context, api: str) -> list[Any]:
    """(id, query) of the hub subscriptions of ``api``: the process's copy (kit.cache), else the database."""
    copies = cache.shared(HUBS)
    fresh = cache.changed_here(ctx, HUBS)
    found = None if fresh else copies.get(api)
    if found is None:
        mark = None if fresh else copies.mark()
        found = [[row.id, row.query] for row in (await ctx.uow.session.execute(LISTENERS_OF, {"api": api})).all()]
        copies.store(mark, api, found)
    return list(found)


EVENT_COLUMNS = (
    "event_id",
    "api",
    "event_type",
    "resource_type",
    "resource_id",
    "customer_id",
    "payload",
    "created_at",
)
# one delivery per event and listener, in the order of the events (their ids rise in insert order)
_INSERT_DELIVERIES = (
    "INSERT INTO delivery (event_id, subscription_id, status, attempts)"
    " SELECT e.id, t.subscription_id, 'pending', 0"
    " FROM unnest(%s::text[], %s::text[]) AS t(event_id, subscription_id)"
    " JOIN outbox_event e ON e.event_id = t.event_id ORDER BY e.id, t.subscription_id"
)


async def _write(ctx: Context, events: list[tuple[dict[str, Any], list[str]]]) -> None:
    """The transaction's events in order, then one delivery row per event and listener."""
    await ctx.uow.insert_rows("outbox_event", EVENT_COLUMNS, [row for row, _ in events], jsonb=("payload",))
    # open screens of these customers are told once the transaction has committed (kit.live)
    live.tell_after_commit(ctx.uow, {live.customer_topic(c) for row, _ in events if (c := row["customer_id"])})
    pairs = [(row["event_id"], target) for row, targets in events for target in targets]
    if pairs:
        await ctx.uow.write(_INSERT_DELIVERIES, ([p[0] for p in pairs], [p[1] for p in pairs]))
        ctx.uow.after_commit(delivery_signal.notify)
