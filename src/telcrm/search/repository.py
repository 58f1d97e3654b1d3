"""All SQL of the search index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telcrm.kit.auth import Scope
from telcrm.models import Customer, SearchKey


async def replace_keys(
    session: AsyncSession, ref_id: str, customer_id: str | None, keys: Sequence[tuple[str, str, int]]
) -> None:
    await session.execute(delete(SearchKey).where(SearchKey.ref_id == ref_id))
    rows = [
        {"key": key[:200], "kind": kind, "ref_id": ref_id, "customer_id": customer_id, "weight": weight}
        for kind, key, weight in dict.fromkeys(keys)
        if key
    ]
    if rows:
        await session.execute(insert(SearchKey), rows)


async def set_customer(session: AsyncSession, ref_id: str, customer_id: str | None) -> None:
    await session.execute(update(SearchKey).where(SearchKey.ref_id == ref_id).values(customer_id=customer_id))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def find_customers(
    session: AsyncSession,
    terms: Sequence[tuple[str, str, bool, int]],  # (kind, key, prefix, rank)
    scope: Scope,
    offset: int,
    limit: int,
    cap: int,
) -> tuple[list[dict[str, Any]], int]:
    parts = []
    for kind, key, prefix, rank in terms:
        cond = (
            and_(SearchKey.kind == kind, SearchKey.key.like(_escape(key) + "%", escape="\\"))
            if prefix
            else and_(SearchKey.kind == kind, SearchKey.key == key)
        )
        parts.append(
            select(
                SearchKey.customer_id.label("customer_id"),
                (literal(rank) + case((SearchKey.key == key, 0), else_=10) - SearchKey.weight).label("rank"),
                SearchKey.kind.label("kind"),
                SearchKey.key.label("key"),
            )
            .where(cond, SearchKey.customer_id.is_not(None))
            .limit(cap)
        )
    hits = parts[0].union_all(*parts[1:]).subquery() if len(parts) > 1 else parts[0].subquery()
    best = (
        select(
            hits.c.customer_id,
            func.min(hits.c.rank).label("rank"),
            func.min(hits.c.kind).label("kind"),
        )
        .group_by(hits.c.customer_id)
        .subquery()
    )
    stmt = select(best.c.rank, best.c.kind, Customer).join(Customer, Customer.id == best.c.customer_id)
    clause = scope.clause(Customer)
    if clause is not None:
        stmt = stmt.where(clause)
    ranked = stmt.subquery()
    total = (await session.execute(select(func.count()).select_from(ranked))).scalar_one()
    rows = (
        await session.execute(stmt.order_by(best.c.rank, Customer.name, Customer.id).offset(offset).limit(limit))
    ).all()
    items = []
    for rank, kind, customer in rows:
        items.append(
            {
                "id": customer.id,
                "name": customer.name,
                "status": customer.status,
                "category": customer.category,
                "vipLevel": customer.vip_level,
                "matchedBy": kind,
                "exact": rank < 10,
            }
        )
    return items, int(total)
