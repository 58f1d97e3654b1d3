"""All SQL of the ordering domain."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from telcrm.kit.auth import Context
from telcrm.kit.db import Prebuilt, UnitOfWork
from telcrm.kit.documents import DocumentStore
from telcrm.models import CancelProductOrder, NumberPool, ProductOrder, WorkOrder

orders = DocumentStore(ProductOrder)
cancellations = DocumentStore(CancelProductOrder)


# Capture's hot statements, prebuilt (kit.db.Prebuilt, ADR 10)
_SERIALIZE = Prebuilt(
    text(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
        " FROM (SELECT unnest(CAST(:keys AS text[])) AS k ORDER BY 1) s"
    ).bindparams(bindparam("keys", type_=ARRAY(String)))
)
_WITH_KEY = Prebuilt(
    select(ProductOrder.id).where(
        ProductOrder.created_by == bindparam("principal_id"), ProductOrder.idempotency_key == bindparam("key")
    )
)
_WITH_EXTERNAL_ID = Prebuilt(
    select(ProductOrder.id)
    .where(ProductOrder.customer_id == bindparam("customer_id"), ProductOrder.external_id == bindparam("external_id"))
    .limit(1)
)
_RESERVE = Prebuilt(
    update(NumberPool)
    .where(NumberPool.number == bindparam("number"), NumberPool.status == "free")
    .values(
        status="reserved",
        order_id=bindparam("order_id"),
        item_id=bindparam("item_id"),
        reserved_until=bindparam("until", type_=DateTime(timezone=True)),
    )
    .returning(NumberPool.number)
)


async def serialize(ctx: Context, keys: list[str]) -> None:
    """Transactions naming one of ``keys`` run one after the other (until commit or rollback)."""
    if keys:
        await _SERIALIZE.all(ctx.uow, keys=keys)


async def by_idempotency_key(ctx: Context, principal_id: str, key: str) -> ProductOrder | None:
    # most captures are first tries: a plain look-up says so before any ORM work
    if await _WITH_KEY.first(ctx.uow, principal_id=principal_id, key=key) is None:
        return None
    stmt = select(ProductOrder).where(ProductOrder.created_by == principal_id, ProductOrder.idempotency_key == key)
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def by_external_id(ctx: Context, customer_id: str, external_id: str) -> ProductOrder | None:
    if await _WITH_EXTERNAL_ID.first(ctx.uow, customer_id=customer_id, external_id=external_id) is None:
        return None  # none at all, so none in the caller's scope either
    stmt = (
        orders.base(ctx)
        .where(ProductOrder.customer_id == customer_id, ProductOrder.external_id == external_id)
        .order_by(ProductOrder.created_at, ProductOrder.id)
        .limit(1)
    )
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def free_numbers(ctx: Context, prefix: str, limit: int, kind: str | None = None) -> list[dict[str, str]]:
    stmt = select(NumberPool.number, NumberPool.kind).where(
        NumberPool.status == "free", NumberPool.number.startswith(prefix, autoescape=True)
    )
    if kind is not None:
        stmt = stmt.where(NumberPool.kind == kind)
    stmt = stmt.order_by(NumberPool.number).limit(limit)
    rows = (await ctx.uow.session.execute(stmt)).all()
    return [{"number": r[0], "kind": r[1]} for r in rows]


async def number_status(ctx: Context, number: str) -> str | None:
    stmt = select(NumberPool.status).where(NumberPool.number == number)
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def reserve_number(ctx: Context, number: str, order_id: str, item_id: str, hold: timedelta | None) -> bool:
    """Take a free number for an order item (for ``hold``, or until the order ends); False when it
    is not free (any more)."""
    until = None if hold is None else datetime.now(UTC) + hold
    found = await _RESERVE.first(ctx.uow, number=number, order_id=order_id, item_id=item_id, until=until)
    return found is not None


async def release_numbers(ctx: Context, order_id: str, item_ids: Sequence[str] | None = None) -> None:
    """Give back the numbers an order (or some of its items) reserved and did not take."""
    stmt = update(NumberPool).where(NumberPool.order_id == order_id, NumberPool.status == "reserved")
    if item_ids is not None:
        stmt = stmt.where(NumberPool.item_id.in_(list(item_ids)))
    await ctx.uow.session.execute(stmt.values(status="free", order_id=None, item_id=None, reserved_until=None))


_TAKE = Prebuilt(
    update(NumberPool)
    .where(
        NumberPool.order_id == bindparam("order_id"),
        NumberPool.status == "reserved",
        NumberPool.item_id == any_(bindparam("item_ids", type_=ARRAY(String))),
    )
    .values(status="taken", reserved_until=None)
)


async def take_numbers(ctx: Context, order_id: str, item_ids: Sequence[str]) -> None:
    """The items are fulfilled: their numbers are in service now."""
    await _TAKE.run(ctx.uow, order_id=order_id, item_ids=list(item_ids))


async def keep_numbers(ctx: Context, order_id: str) -> None:
    """An order in fulfilment keeps its numbers until it ends: no expiry."""
    stmt = (
        update(NumberPool)
        .where(NumberPool.order_id == order_id, NumberPool.status == "reserved")
        .values(reserved_until=None)
    )
    await ctx.uow.session.execute(stmt)


async def expired_reservations(ctx: Context, now: datetime, limit: int) -> list[str]:
    """Orders holding a number past its reservation."""
    stmt = (
        select(NumberPool.order_id)
        .where(NumberPool.status == "reserved", NumberPool.reserved_until < now, NumberPool.order_id.is_not(None))
        .distinct()
        .limit(limit)
    )
    return [r for r in (await ctx.uow.session.execute(stmt)).scalars().all() if r is not None]


# ----- work orders (ADR 9) ---------------------------------------------------------------------


WORK_COLUMNS = (
    "id",
    "order_id",
    "item_id",
    "root_item_id",
    "domain",
    "task",
    "action",
    "seq",
    "status",
    "attempt",
    "send_attempts",
    "next_attempt_at",
    "payload",
)


async def insert_work_orders(ctx: Context, rows: list[dict[str, Any]]) -> None:
    """New work orders (plain SQL: a capture writes a few, a result batch many; ADR 10)."""
    if rows:
        await ctx.uow.insert_rows("work_order", WORK_COLUMNS, rows, jsonb=("payload",))


# Work orders are read and written with plain SQL (ADR 10): a result batch or a sender round
# touches hundreds, which the ORM would load as mapped objects and update one statement each.
MUTABLE = (
    "status",
    "attempt",
    "send_attempts",
    "next_attempt_at",
    "sent_at",
    "finished_at",
    "reason",
    "result",
    "reported",
)
CHANGES = "ordering.work_order_changes"
_mutable = operator.attrgetter(*MUTABLE)


@dataclass(slots=True, eq=False)
class WorkOrderRow:
    """A work order as read in this transaction. Change its attributes; what changed is written
    when the transaction commits, in one statement for all of them (``_rows``). Work orders are
    not changed inside a savepoint (a rolled-back savepoint would not undo the change)."""

    id: str
    order_id: str
    item_id: str
    root_item_id: str
    domain: str
    task: str
    action: str
    seq: int
    status: str
    attempt: int
    send_attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    reason: str | None
    result: dict[str, Any] | None
    payload: dict[str, Any]
    created_at: datetime
    reported: bool
    saved: tuple[Any, ...] = ()

    def values(self) -> tuple[Any, ...]:
        """The ``MUTABLE`` columns' values."""
        return _mutable(self)  # type: ignore[no-any-return]


def _rows(ctx: Context, found: list[tuple[Any, ...]]) -> list[WorkOrderRow]:
    """Rows read, tracked for the commit; one already read in this transaction is that same object
    (its changes not yet written are kept, as the ORM's identity map would)."""
    uow = ctx.uow
    tracked: list[WorkOrderRow] = uow.buffer(CHANGES, lambda rows: _write_changes(uow, rows))
    known = {row.id: row for row in tracked}
    out: list[WorkOrderRow] = []
    for values in found:
        row = known.get(values[0])
        if row is None:
            row = WorkOrderRow(*values)
            row.saved = row.values()
            known[row.id] = row
            tracked.append(row)
        out.append(row)
    return out


async def _write_changes(uow: UnitOfWork, rows: list[WorkOrderRow]) -> None:
    changed = [row for row in rows if row.values() != row.saved]
    await uow.update_rows(WorkOrder.__table__, "id", MUTABLE, [(row.id, *row.values()) for row in changed])


# the columns read, in the order of WorkOrderRow's fields
_WORK_COLUMNS = [WorkOrder.__table__.c[f.name] for f in fields(WorkOrderRow) if f.name != "saved"]
_IDS = bindparam("ids", type_=ARRAY(String))
_WORK_OF = select(*_WORK_COLUMNS).where(WorkOrder.order_id == any_(_IDS))
_WORK = Prebuilt(_WORK_OF.order_by(WorkOrder.order_id, WorkOrder.item_id, WorkOrder.seq))
# Work orders are locked in id order by every writer that waits for their locks (the results'
# intake, the orders' advance, cancellation), so two of them never wait for each other in a cycle.
_WORK_LOCKED = Prebuilt(_WORK_OF.order_by(WorkOrder.id).with_for_update())
_SIBLING = aliased(WorkOrder)
# the work orders of the orders that none of is held by another transaction, each with how many
# its order has (a row held elsewhere is skipped: its order then has fewer than that)
_WORK_FREE = Prebuilt(
    select(
        *_WORK_COLUMNS,
        select(func.count()).where(_SIBLING.order_id == WorkOrder.order_id).correlate(WorkOrder).scalar_subquery(),
    )
    .where(WorkOrder.order_id == any_(_IDS))
    .order_by(WorkOrder.id)
    .with_for_update(of=WorkOrder, skip_locked=True)
)
_NAMED = select(*_WORK_COLUMNS).where(WorkOrder.id == any_(_IDS)).order_by(WorkOrder.id)
_NAMED_LOCKED = Prebuilt(_NAMED.with_for_update())
_NAMED_FREE = Prebuilt(_NAMED.with_for_update(skip_locked=True))
_REPORTED = Prebuilt(
    select(WorkOrder.order_id).where(WorkOrder.reported).group_by(WorkOrder.order_id).limit(bindparam("limit"))
)
_DUE = Prebuilt(
    select(*_WORK_COLUMNS)
    .where(WorkOrder.status == bindparam("status"), WorkOrder.next_attempt_at <= bindparam("now"))
    .order_by(WorkOrder.next_attempt_at, WorkOrder.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)


def _in_item_order(rows: list[WorkOrderRow]) -> list[WorkOrderRow]:
    return sorted(rows, key=lambda w: (w.order_id, w.item_id, w.seq))


async def lock_orders(ctx: Context, ids: Sequence[str], *, skip_locked: bool = False) -> list[ProductOrder]:
    """The orders, locked in id order (every writer locks orders before their work orders);
    ``skip_locked``: without the ones another transaction holds."""
    stmt = (
        orders.base(ctx)
        .where(ProductOrder.id == any_(bindparam("ids", list(ids), type_=ARRAY(String))))
        .order_by(ProductOrder.id)
        .with_for_update(skip_locked=skip_locked)
    )
    return list((await ctx.uow.session.execute(stmt)).scalars().all())


async def work_orders(ctx: Context, order_ids: Sequence[str], *, lock: bool = False) -> list[WorkOrderRow]:
    """The orders' work orders, by order, item and step."""
    if lock:
        return _in_item_order(_rows(ctx, await _WORK_LOCKED.all(ctx.uow, ids=list(order_ids))))
    return _rows(ctx, await _WORK.all(ctx.uow, ids=list(order_ids)))


async def free_work_orders(ctx: Context, order_ids: Sequence[str]) -> list[WorkOrderRow]:
    """The orders' work orders, locked, by order, item and step; of the orders only that this
    transaction could lock all of without waiting (another one holds none of them)."""
    found = await _WORK_FREE.all(ctx.uow, ids=list(order_ids))
    seen: dict[str, int] = {}
    for values in found:
        seen[values[1]] = seen.get(values[1], 0) + 1
    whole = [values[:-1] for values in found if seen[values[1]] == values[-1]]
    return _in_item_order(_rows(ctx, whole))


async def lock_work_orders(ctx: Context, ids: Sequence[str], *, skip_locked: bool = False) -> list[WorkOrderRow]:
    """The work orders with these ids, locked (the order they belong to is not); ``skip_locked``:
    without the ones another transaction holds."""
    return _rows(ctx, await (_NAMED_FREE if skip_locked else _NAMED_LOCKED).all(ctx.uow, ids=list(ids)))


async def reported_orders(ctx: Context, limit: int) -> list[str]:
    """Orders with results recorded that they have not yet acted on."""
    return [r[0] for r in await _REPORTED.all(ctx.uow, limit=limit)]


async def claim_due_work_orders(ctx: Context, now: datetime, limit: int, status: str) -> list[WorkOrderRow]:
    """Work orders in ``status`` due now, locked; ones another sender holds are skipped."""
    return _rows(ctx, await _DUE.all(ctx.uow, status=status, now=now, limit=limit))


async def resend_unanswered(ctx: Context, sent_before: datetime) -> int:
    """Work orders sent but never answered go out again (provisioning drops duplicates)."""
    stmt = (
        update(WorkOrder)
        .where(WorkOrder.status == "sent", WorkOrder.sent_at < sent_before)
        .values(status="pending", next_attempt_at=datetime.now(UTC))
        .returning(WorkOrder.id)
    )
    return len((await ctx.uow.session.execute(stmt)).all())
