"""All SQL of the search index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from telcrm.kit.auth import Scope
from telcrm.kit.db import UnitOfWork
from telcrm.models import SearchKey


async def replace_keys(
    session: AsyncSession, ref_id: str, customer_id: str | None, keys: Sequence[tuple[str, str, int]]
) -> None:
    await session.execute(delete(SearchKey).where(SearchKey.ref_id == ref_id))
    rows = key_rows(ref_id, customer_id, keys)
    if rows:
        await session.execute(insert(SearchKey), rows)


def key_rows(ref_id: str, customer_id: str | None, keys: Sequence[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """The rows of ``keys``: no blanks, no repeats, keys cut to the column's 200 characters."""
    return [
        {"key": key[:200], "kind": kind, "ref_id": ref_id, "customer_id": customer_id, "weight": weight}
        for kind, key, weight in dict.fromkeys(keys)
        if key
    ]


KEY_COLUMNS = ("kind", "key", "ref_id", "customer_id", "weight")


async def insert_keys(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    await uow.insert_rows("search_key", KEY_COLUMNS, rows)


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
    """Customers matching any term, best first, in one statement.

    Each term reads at most ``cap`` keys from the covering primary-key index. Matches are
    grouped per customer (best rank wins), limited to the caller's scope, counted with a window
    function and paged; only the page's customers are read from the customer table.
    """
    params: dict[str, Any] = {"offset": offset, "limit": limit, "cap": cap}
    parts = []
    for i, (kind, key, prefix, rank) in enumerate(terms):
        params.update({f"k{i}": kind, f"q{i}": key, f"r{i}": rank, f"h{i}": key + "\U0010ffff"})
        match = f"key >= :q{i} AND key < :h{i}" if prefix else f"key = :q{i}"
        parts.append(
            f"(SELECT customer_id, :r{i} + CASE WHEN key = :q{i} THEN 0 ELSE 10 END - weight AS rank, kind"
            f" FROM search_key WHERE kind = :k{i} AND {match} AND customer_id IS NOT NULL LIMIT :cap)"
        )
    visible = "SELECT * FROM best"
    if not scope.everything:
        params.update(m=scope.manager_id, d=scope.dealer_id, c=scope.customer_id)
        visible = (
            "SELECT best.* FROM best JOIN customer s ON s.id = best.customer_id"
            " WHERE s.manager_id = :m OR s.dealer_id = :d OR s.customer_id = :c"
        )
    sql = f"""
        WITH hits AS ({" UNION ALL ".join(parts)}),
        best AS (
            SELECT customer_id, min(rank) AS rank, (array_agg(kind ORDER BY rank))[1] AS kind
            FROM hits GROUP BY customer_id
        ),
        visible AS ({visible}),
        page AS (
            SELECT customer_id, rank, kind, count(*) OVER () AS total
            FROM visible ORDER BY rank, customer_id LIMIT :limit OFFSET :offset
        )
        SELECT p.customer_id, p.rank, p.kind, p.total, c.name, c.status, c.category, c.vip_level, c.party_id
        FROM page p JOIN customer c ON c.id = p.customer_id
        ORDER BY p.rank, p.customer_id
    """
    rows = (await session.execute(text(sql), params)).all()
    if rows:
        total = int(rows[0].total)
    elif offset:  # past the end: count what there is
        count_sql = sql.split("page AS")[0].rstrip().rstrip(",") + " SELECT count(*) FROM visible"
        total = int((await session.execute(text(count_sql), params)).scalar_one())
    else:
        total = 0
    items = [
        {
            "id": r.customer_id,
            "name": r.name,
            "status": r.status,
            "category": r.category,
            "vipLevel": r.vip_level,
            "matchedBy": r.kind,
            "exact": r.rank < 10,
        }
        for r in rows
    ]
    twins = await _same_identification(session, rows)
    for item in items:
        if item["id"] in twins:
            item["possibleDuplicateOf"] = sorted(twins[item["id"]])
    return items, total


_TWINS = text(
    """SELECT a.customer_id, b.customer_id FROM search_key a
       JOIN search_key b ON b.kind = 'id' AND b.key = a.key AND b.customer_id <> a.customer_id
       WHERE a.kind = 'id' AND a.ref_id = ANY(:parties) AND b.customer_id = ANY(:customers)"""
)


async def _same_identification(session: AsyncSession, rows: Sequence[Any]) -> dict[str, set[str]]:
    """Customers of one result page whose parties share an identification number (ID card,
    passport, credit code): likely duplicates, flagged for staff (ADR 11)."""
    parties = [r.party_id for r in rows if r.party_id]
    if len(rows) < 2 or not parties:
        return {}
    customers = [r.customer_id for r in rows]
    twins: dict[str, set[str]] = {}
    for a, b in (await session.execute(_TWINS, {"parties": parties, "customers": customers})).all():
        twins.setdefault(a, set()).add(b)
        twins.setdefault(b, set()).add(a)
    return twins


_SHARING = text(
    "SELECT DISTINCT customer_id FROM search_key WHERE customer_id IS NOT NULL AND"
    " ((kind = 'id' AND key = ANY(:ids)) OR (kind = 'phone' AND key = ANY(:phones))) LIMIT :limit"
)


async def customers_sharing(session: AsyncSession, ids: list[str], phones: list[str], limit: int) -> list[str]:
    """Customers with an identification (``ids``) or phone (``phones``) search key among those given."""
    if not ids and not phones:
        return []
    rows = await session.execute(_SHARING, {"ids": ids, "phones": phones, "limit": limit})
    return [r[0] for r in rows]
