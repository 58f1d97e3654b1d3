"""All SQL of the ordering domain."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, any_, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from telcrm.kit import live
from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead, Prebuilt, UnitOfWork, inline
from telcrm.kit.documents import DocumentStore
from telcrm.models import CancelProductOrder, NumberPool, ProductOrder, WorkOrder, WorkOrderQueue

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


def serialize_ahead(keys: list[str]) -> Ahead | None:
    return _SERIALIZE.ahead(keys=keys) if keys else None


def by_idempotency_key_ahead(principal_id: str, key: str) -> Ahead:
    return _WITH_KEY.ahead(principal_id=principal_id, key=key)


def by_external_id_ahead(customer_id: str, external_id: str) -> Ahead:
    return _WITH_EXTERNAL_ID.ahead(customer_id=customer_id, external_id=external_id)


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
    # the free numbers' partial index, in the "C" collation: the prefix is a range of it, written
    # as one so that a generic plan (any prefix) still reads only that range
    number = NumberPool.number.collate("C")
    stmt = select(NumberPool.number, NumberPool.kind).where(NumberPool.status == inline("free"))
    if prefix:
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first string past every one starting with prefix
        stmt = stmt.where(number >= prefix, number < after, number.startswith(prefix, autoescape=True))
    if kind is not None:
        stmt = stmt.where(NumberPool.kind == kind)
    stmt = stmt.order_by(number).limit(limit)
    rows = (await ctx.uow.session.execute(stmt)).all()
    return [{"number": r[0], "kind": r[1]} for r in rows]


async def number_status(ctx: Context, number: str) -> str | None:
    stmt = select(NumberPool.status).where(NumberPool.number == number)
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


def reserve_number_ahead(number: str, order_id: str, item_id: str) -> Ahead:
    """The reservation of a free number for an order item with no expiry, to be read ahead with a
    capture's first look-ups (``OrderService.capture``): one wait on the database fewer."""
    return _RESERVE.ahead(number=number, order_id=order_id, item_id=item_id, until=None)


async def reserve_number(ctx: Context, number: str, order_id: str, item_id: str, hold: timedelta | None) -> bool:
    """Take a free number for an order item (for ``hold``, or until the order ends); False when it
    is not free (any more)."""
    until = None if hold is None else datetime.now(UTC) + hold
    found = await _RESERVE.first(ctx.uow, number=number, order_id=order_id, item_id=item_id, until=until)
    return found is not None


# The statements for one order's numbers below go by the order-id index. No index by status could
# outbid it (revision 0016): with a status the statistics hold rare ('reserved'), the planner walked
# every reserved entry of the old (status, number) index, dead ones included, instead of the
# order's few entries; taking numbers at commit, the status is written into the text anyway.


async def release_numbers(ctx: Context, order_id: str, item_ids: Sequence[str] | None = None) -> None:
    """Give back the numbers an order (or some of its items) reserved and did not take."""
    stmt = update(NumberPool).where(NumberPool.order_id == order_id, NumberPool.status == "reserved")
    if item_ids is not None:
        stmt = stmt.where(NumberPool.item_id.in_(list(item_ids)))
    await ctx.uow.session.execute(stmt.values(status="free", order_id=None, item_id=None, reserved_until=None))


# one statement for all the numbers a transaction takes: the orders' own entries of the order-id
# index (``order_id = ANY``), then the items among them
_TAKE = Prebuilt(
    text(
        "UPDATE number_pool SET status = 'taken', reserved_until = NULL, updated_at = now()"
        " WHERE order_id = ANY(:order_ids) AND status = :reserved"
        " AND (order_id, item_id) IN (SELECT o, i FROM unnest(CAST(:pair_orders AS varchar[]),"
        " CAST(:pair_items AS varchar[])) AS t(o, i))"
    ).bindparams(
        bindparam("order_ids", type_=ARRAY(String)),
        bindparam("pair_orders", type_=ARRAY(String)),
        bindparam("pair_items", type_=ARRAY(String)),
    )
)
TAKEN = "ordering.taken_numbers"


async def take_numbers(ctx: Context, order_id: str, item_ids: Sequence[str]) -> None:
    """The items are fulfilled: their numbers are in service now. Written at commit, with the
    numbers of the transaction's other orders in one statement (ADR 10)."""
    uow = ctx.uow
    uow.buffer(TAKEN, lambda pairs: _take(uow, pairs)).extend((order_id, item_id) for item_id in item_ids)


async def _take(uow: UnitOfWork, pairs: list[tuple[str, str]]) -> None:
    await _TAKE.write(
        uow,
        order_ids=sorted({order_id for order_id, _ in pairs}),
        reserved="reserved",
        pair_orders=[order_id for order_id, _ in pairs],
        pair_items=[item_id for _, item_id in pairs],
    )


async def keep_numbers(ctx: Context, order_id: str, until: datetime | None = None) -> None:
    """The numbers an order reserved lapse at ``until``, or never (None: an order in fulfilment
    keeps them until it ends)."""
    stmt = (
        update(NumberPool)
        .where(NumberPool.order_id == order_id, NumberPool.status == "reserved")
        .values(reserved_until=until)
    )
    await ctx.uow.session.execute(stmt)


async def expired_reservations(ctx: Context, now: datetime, limit: int) -> list[str]:
    """Orders holding a number past its reservation (at most ``limit`` of their numbers' rows).

    Read by deadline from the partial index of numbers that have one, not made distinct in SQL:
    ``DISTINCT order_id`` made the order-id index attractive (already in order), and a generic plan
    then walked every number ever taken, every few seconds."""
    stmt = (
        select(NumberPool.order_id)
        .where(NumberPool.status == inline("reserved"), NumberPool.reserved_until < now)
        .order_by(NumberPool.reserved_until)
        .limit(limit)
    )
    found = (await ctx.uow.session.execute(stmt)).scalars().all()
    return list(dict.fromkeys(r for r in found if r is not None))


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


NEW_WORK = "ordering.new_work_orders"


async def insert_work_orders(ctx: Context, rows: list[dict[str, Any]]) -> None:
    """New work orders, written at commit with the transaction's others in one statement (after the
    orders deferred to commit, which they refer to; ADR 10). Nothing reads them back before."""
    if not rows:
        return
    uow = ctx.uow

    async def write(new: list[dict[str, Any]]) -> None:
        await uow.insert_rows("work_order", WORK_COLUMNS, new, jsonb=("payload",))
        queued = [
            _queue_row(r["id"], entry)
            for r in new
            if (entry := _queued(r["status"], r["next_attempt_at"], None)) is not None
        ]
        await uow.insert_rows("work_order_queue", QUEUE_COLUMNS, queued)

    uow.buffer(NEW_WORK, write).extend(rows)
    _tell(uow, {row["order_id"] for row in rows})


def _tell(uow: UnitOfWork, order_ids: set[str]) -> None:
    """Open screens of these orders are told of their work orders' change after commit (kit.live)."""
    live.tell_after_commit(uow, {live.order_topic(order_id) for order_id in order_ids})


# The queue of open work orders (revision 0017): a row in ``work_order_queue`` while a work order
# is pending, sent or withdrawing, with the time it is due (sent: when it was sent), written in the
# same transaction as the work order's own change. Its status and due time are kept there so that no
# index of ``work_order`` names a column that changes (its status changes are HOT updates).
QUEUE_COLUMNS = ("id", "status", "due_at")


def _queued(status: str, next_attempt_at: datetime, sent_at: datetime | None) -> tuple[str, datetime] | None:
    """The queue entry (status, due time) of a work order in this state; None: not queued."""
    if status in ("pending", "withdrawing"):
        return status, next_attempt_at
    if status == "sent":
        return status, sent_at or next_attempt_at
    return None


def _queue_row(id_: str, entry: tuple[str, datetime]) -> dict[str, Any]:
    """The queue's row for a work order's entry (``_queued``)."""
    return {"id": id_, "status": entry[0], "due_at": entry[1]}


# Work orders are read and written with plain SQL (ADR 10): a result batch or a sender round
# touches hundreds, which the ORM would load as mapped objects and update one statement each.
MUTABLE = ("status", "attempt", "send_attempts", "next_attempt_at", "sent_at", "finished_at", "reason", "result")
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


_STATUS, _NEXT, _SENT = (MUTABLE.index(name) for name in ("status", "next_attempt_at", "sent_at"))


async def _write_changes(uow: UnitOfWork, rows: list[WorkOrderRow]) -> None:
    changed = [(row, values) for row in rows if (values := row.values()) != row.saved]
    if not changed:
        return
    await uow.update_rows(WorkOrder.__table__, "id", MUTABLE, [(row.id, *values) for row, values in changed])
    queued: list[dict[str, Any]] = []
    gone: list[str] = []
    for row, values in changed:
        was = _queued(row.saved[_STATUS], row.saved[_NEXT], row.saved[_SENT])
        now = _queued(values[_STATUS], values[_NEXT], values[_SENT])
        if now is None:
            if was is not None:
                gone.append(row.id)
        elif now != was:
            queued.append(_queue_row(row.id, now))
    await uow.insert_rows("work_order_queue", QUEUE_COLUMNS, queued, upsert="id")
    if gone:
        await uow.write("DELETE FROM work_order_queue WHERE id = ANY(%s)", [gone])
    _tell(uow, {row.order_id for row, _ in changed})


# the columns read, in the order of WorkOrderRow's fields
_WORK_COLUMNS = [WorkOrder.__table__.c[f.name] for f in fields(WorkOrderRow) if f.name != "saved"]
_IDS = bindparam("ids", type_=ARRAY(String))
_OWNERS = Prebuilt(select(WorkOrder.id, WorkOrder.order_id).where(WorkOrder.id == any_(_IDS)))
_WORK_OF = (
    select(*_WORK_COLUMNS)
    .where(WorkOrder.order_id == any_(_IDS))
    .order_by(WorkOrder.order_id, WorkOrder.item_id, WorkOrder.seq)
)
_WORK = Prebuilt(_WORK_OF)
_WORK_LOCKED = Prebuilt(_WORK_OF.with_for_update())
# the queue's due entries of one status, in order, with their work orders locked (those another
# sender holds skipped); the work order's own status is checked too, as it is rechecked once its
# lock is granted (a queue row read before another transaction's change committed is not)
_DUE = {
    status: Prebuilt(
        select(*_WORK_COLUMNS)
        .join(WorkOrderQueue, WorkOrderQueue.id == WorkOrder.id)
        .where(
            WorkOrderQueue.status == inline(status),
            WorkOrderQueue.due_at <= bindparam("now"),
            WorkOrder.status == inline(status),
        )
        .order_by(WorkOrderQueue.due_at, WorkOrderQueue.id)
        .limit(bindparam("limit"))
        .with_for_update(of=WorkOrder, skip_locked=True)
    )
    for status in ("pending", "withdrawing")
}


async def orders_of_work_orders(ctx: Context, ids: Sequence[str]) -> dict[str, str]:
    return {r[0]: r[1] for r in await _OWNERS.all(ctx.uow, ids=list(ids))}


async def lock_orders(ctx: Context, ids: Sequence[str], *, skip_locked: bool = False) -> list[ProductOrder]:
    """The orders, locked in id order (every writer locks orders before their work orders); with
    ``skip_locked``, only those no other transaction holds now."""
    stmt = (
        orders.base(ctx)
        .where(ProductOrder.id == any_(bindparam("ids", list(ids), type_=ARRAY(String))))
        .order_by(ProductOrder.id)
        .with_for_update(skip_locked=skip_locked)
    )
    return list((await ctx.uow.session.execute(stmt)).scalars().all())


async def work_orders(ctx: Context, order_ids: Sequence[str], *, lock: bool = False) -> list[WorkOrderRow]:
    found = await (_WORK_LOCKED if lock else _WORK).all(ctx.uow, ids=list(order_ids))
    return _rows(ctx, found)


async def claim_due_work_orders(ctx: Context, now: datetime, limit: int, status: str) -> list[WorkOrderRow]:
    """Work orders in ``status`` due now, locked; ones another sender holds are skipped."""
    return _rows(ctx, await _DUE[status].all(ctx.uow, now=now, limit=limit))


async def vacuum_queue(uow: UnitOfWork) -> None:
    """VACUUM the queue of open work orders, unless another session is doing it now; on an
    autocommit connection (``Database.read_only``). Every work order leaves a few dead versions
    there within a second or two, and the look-up of due ones walks the dead entries at the head of
    its index range until they are gone: autovacuum comes by once a minute at most, by when a
    minute at 200 orders/s has left ~30,000 of them, read again by every look-up (ADR 10). No
    truncation of empty pages at the end: that takes the table's exclusive lock, which would hold
    up every transaction that writes the queue (captures among them) while it lasts."""
    await (await uow.driver()).execute("VACUUM (SKIP_LOCKED, TRUNCATE false) work_order_queue")


_UNANSWERED = Prebuilt(
    select(*_WORK_COLUMNS)
    .join(WorkOrderQueue, WorkOrderQueue.id == WorkOrder.id)
    .where(
        WorkOrderQueue.status == inline("sent"),
        WorkOrderQueue.due_at < bindparam("before"),
        WorkOrder.status == inline("sent"),
    )
    .with_for_update(of=WorkOrder, skip_locked=True)
)


async def resend_unanswered(ctx: Context, sent_before: datetime) -> int:
    """Work orders sent before ``sent_before`` and never answered go out again (provisioning drops
    duplicates); ones another transaction holds now are left to the next round."""
    now = datetime.now(UTC)
    rows = _rows(ctx, await _UNANSWERED.all(ctx.uow, before=sent_before))
    for row in rows:
        row.status, row.next_attempt_at = "pending", now
    return len(rows)
