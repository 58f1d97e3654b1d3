"""All SQL of the ordering domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentStore
from telcrm.models import NumberPool, ProductOrder

orders = DocumentStore(ProductOrder)


async def by_idempotency_key(ctx: Context, principal_id: str, key: str) -> ProductOrder | None:
    stmt = select(ProductOrder).where(ProductOrder.created_by == principal_id, ProductOrder.idempotency_key == key)
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def by_external_id(ctx: Context, customer_id: str, external_id: str) -> ProductOrder | None:
    stmt = (
        orders.base(ctx)
        .where(ProductOrder.customer_id == customer_id, ProductOrder.external_id == external_id)
        .order_by(ProductOrder.created_at, ProductOrder.id)
        .limit(1)
    )
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def free_numbers(ctx: Context, prefix: str, limit: int) -> list[dict[str, str]]:
    stmt = (
        select(NumberPool.number, NumberPool.kind)
        .where(NumberPool.status == "free", NumberPool.number.startswith(prefix, autoescape=True))
        .order_by(NumberPool.number)
        .limit(limit)
    )
    rows = (await ctx.uow.session.execute(stmt)).all()
    return [{"number": r[0], "kind": r[1]} for r in rows]


async def number_status(ctx: Context, number: str) -> str | None:
    stmt = select(NumberPool.status).where(NumberPool.number == number)
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def reserve_number(ctx: Context, number: str, order_id: str, hold: timedelta) -> bool:
    """Take a free number for an order; False when it is not free (any more)."""
    stmt = (
        update(NumberPool)
        .where(NumberPool.number == number, NumberPool.status == "free")
        .values(status="reserved", order_id=order_id, reserved_until=datetime.now(UTC) + hold)
        .returning(NumberPool.number)
    )
    return (await ctx.uow.session.execute(stmt)).first() is not None


async def release_numbers(ctx: Context, order_id: str) -> None:
    stmt = (
        update(NumberPool)
        .where(NumberPool.order_id == order_id, NumberPool.status == "reserved")
        .values(status="free", order_id=None, reserved_until=None)
    )
    await ctx.uow.session.execute(stmt)
