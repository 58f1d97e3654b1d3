"""All SQL of legacy record resolution (the steward's side: reviews, lineage, merges, report)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from telcrm.kit.auth import Context
from telcrm.kit.db import inline
from telcrm.models import (
    Account,
    CustomerUser,
    GoldenRecord,
    LegacyRecord,
    MergeEvent,
    Product,
    ReviewPair,
    StewardDecision,
)
from telcrm.resolution import report as report_sql
from telcrm.resolution.survivorship import Record


def _record(row: LegacyRecord) -> dict[str, Any]:
    return {
        "key": row.key,
        "source": row.source,
        "kind": row.kind,
        "fields": row.fields,
        "original": row.raw,
        "standardised": row.std,
        "updatedAt": row.updated_at.isoformat() if row.updated_at else None,
        "customerId": row.customer_id,
        "productId": row.product_id,
    }


async def open_reviews(ctx: Context, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    session = ctx.uow.session
    total = (await session.execute(select(func.count()).where(ReviewPair.status == inline("open")))).scalar_one()
    pairs = (
        (
            await session.execute(
                select(ReviewPair)
                .where(ReviewPair.status == inline("open"))
                .order_by(ReviewPair.probability.desc(), ReviewPair.id)
                .offset(offset)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    keys = {k for p in pairs for k in (p.left_key, p.right_key)}
    records = await records_by_key(ctx, keys)
    items = [
        {
            "id": str(p.id),
            "probability": p.probability,
            "status": p.status,
            "left": _record(records[p.left_key]) if p.left_key in records else {"key": p.left_key},
            "right": _record(records[p.right_key]) if p.right_key in records else {"key": p.right_key},
        }
        for p in pairs
    ]
    return items, int(total)


async def records_by_key(ctx: Context, keys: set[str] | list[str]) -> dict[str, LegacyRecord]:
    if not keys:
        return {}
    rows = (await ctx.uow.session.execute(select(LegacyRecord).where(LegacyRecord.key.in_(list(keys))))).scalars()
    return {r.key: r for r in rows}


async def review_for_update(ctx: Context, review_id: int) -> ReviewPair | None:
    stmt = select(ReviewPair).where(ReviewPair.id == review_id).with_for_update()
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def record_decision(ctx: Context, review: ReviewPair, same: bool) -> None:
    session = ctx.uow.session
    review.status = "same" if same else "different"
    review.decided_by = ctx.caller.id
    review.decided_at = func.now()
    stmt = pg_insert(StewardDecision).values(
        left_key=review.left_key, right_key=review.right_key, same=same, decided_by=ctx.caller.id, review_id=review.id
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["left_key", "right_key"],
        set_={"same": same, "decided_by": ctx.caller.id, "decided_at": func.now(), "review_id": review.id},
    )
    await session.execute(stmt)
    await session.flush()


async def golden(ctx: Context, customer_id: str, *, for_update: bool = False) -> GoldenRecord | None:
    stmt = select(GoldenRecord).where(GoldenRecord.customer_id == customer_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def records_of(ctx: Context, customer_id: str) -> list[LegacyRecord]:
    stmt = select(LegacyRecord).where(LegacyRecord.customer_id == customer_id).order_by(LegacyRecord.key)
    return list((await ctx.uow.session.execute(stmt)).scalars())


def as_record(row: LegacyRecord) -> Record:
    return Record(row.key, row.source, row.fields, row.updated_at, row.kind, row.std)


async def owned(ctx: Context, customer_id: str) -> dict[str, list[str]]:
    """Ids of the accounts, users and products a customer holds."""
    session = ctx.uow.session
    out: dict[str, list[str]] = {}
    for name, model in (("accounts", Account), ("users", CustomerUser), ("products", Product)):
        stmt = select(model.id).where(model.customer_id == customer_id).order_by(model.id)
        out[name] = list((await session.execute(stmt)).scalars())
    return out


async def relink_records(ctx: Context, keys: list[str], customer_id: str) -> None:
    await ctx.uow.session.execute(
        update(LegacyRecord).where(LegacyRecord.key.in_(keys)).values(customer_id=customer_id)
    )


async def save_golden(
    ctx: Context,
    *,
    customer_id: str,
    party_id: str,
    account_id: str | None,
    user_id: str | None,
    kind: str,
    record_keys: list[str],
    lineage: dict[str, Any],
) -> None:
    values = {
        "party_id": party_id,
        "account_id": account_id,
        "user_id": user_id,
        "kind": kind,
        "record_keys": record_keys,
        "lineage": lineage,
    }
    stmt = pg_insert(GoldenRecord).values(customer_id=customer_id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["customer_id"], set_={**values, "merged_at": func.now()})
    await ctx.uow.session.execute(stmt)


async def drop_golden(ctx: Context, customer_id: str) -> None:
    await ctx.uow.session.execute(delete(GoldenRecord).where(GoldenRecord.customer_id == customer_id))


async def add_merge_event(
    ctx: Context,
    *,
    action: str,
    customer_id: str,
    other_customer_id: str | None,
    record_keys: list[str],
    snapshot: dict[str, Any],
) -> int:
    stmt = (
        insert(MergeEvent)
        .values(
            action=action,
            customer_id=customer_id,
            other_customer_id=other_customer_id,
            record_keys=record_keys,
            snapshot=snapshot,
            principal_id=ctx.caller.id,
        )
        .returning(MergeEvent.id)
    )
    return int((await ctx.uow.session.execute(stmt)).scalar_one())


async def last_merge(ctx: Context, customer_id: str) -> MergeEvent | None:
    """The latest steward merge into ``customer_id`` not undone yet."""
    stmt = (
        select(MergeEvent)
        .where(
            MergeEvent.customer_id == customer_id,
            MergeEvent.action == "merge",
            MergeEvent.undone_at.is_(None),
            MergeEvent.other_customer_id.is_not(None),
        )
        .order_by(MergeEvent.id.desc())
        .limit(1)
        .with_for_update()
    )
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


async def mark_undone(ctx: Context, event_id: int) -> None:
    await ctx.uow.session.execute(update(MergeEvent).where(MergeEvent.id == event_id).values(undone_at=func.now()))


async def history(ctx: Context, customer_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(MergeEvent)
        .where((MergeEvent.customer_id == customer_id) | (MergeEvent.other_customer_id == customer_id))
        .order_by(MergeEvent.id)
    )
    return [
        {
            "id": str(e.id),
            "action": e.action,
            "customerId": e.customer_id,
            "otherCustomerId": e.other_customer_id,
            "recordKeys": e.record_keys,
            "by": e.principal_id,
            "at": e.at.isoformat() if e.at else None,
            "undoneAt": e.undone_at.isoformat() if e.undone_at else None,
        }
        for e in (await ctx.uow.session.execute(stmt)).scalars()
    ]


async def report(ctx: Context) -> dict[str, Any]:
    session = ctx.uow.session
    sources = (await session.execute(text(report_sql.SOURCES))).all()
    sizes = (await session.execute(text(report_sql.SIZES))).all()
    totals = (await session.execute(text(report_sql.TOTALS))).one()
    run = (await session.execute(text(report_sql.RUN))).one_or_none()
    return report_sql.assemble(list(sources), list(sizes), totals, run)
