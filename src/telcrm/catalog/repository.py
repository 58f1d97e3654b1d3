"""All SQL of the catalog domain. The catalog is shared by every customer: nothing is scoped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentStore
from telcrm.models import CatalogItem

catalogs = DocumentStore(CatalogItem, kind="Catalog", scoped=False)
categories = DocumentStore(CatalogItem, kind="Category", scoped=False)
specifications = DocumentStore(CatalogItem, kind="ProductSpecification", scoped=False)
offerings = DocumentStore(CatalogItem, kind="ProductOffering", scoped=False)
prices = DocumentStore(CatalogItem, kind="ProductOfferingPrice", scoped=False)


async def offerings_using_price(ctx: Context, price_id: str) -> list[CatalogItem]:
    """Offerings whose ``productOfferingPrice`` names ``price_id``, locked for update."""
    stmt = (
        select(CatalogItem)
        .where(
            CatalogItem.kind == "ProductOffering",
            CatalogItem.body.contains({"productOfferingPrice": [{"id": price_id}]}),
        )
        .order_by(CatalogItem.id)
        .with_for_update()
    )
    return list((await ctx.uow.session.execute(stmt)).scalars().all())


async def existing_ids(ctx: Context, ids: list[str]) -> set[str]:
    stmt = select(CatalogItem.id).where(CatalogItem.id.in_(ids))
    return set((await ctx.uow.session.execute(stmt)).scalars().all())


async def documents(ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The documents of catalog items by id (any kind), in one query."""
    if not ids:
        return {}
    stmt = select(CatalogItem.id, CatalogItem.body).where(CatalogItem.id.in_(sorted(set(ids))))
    return {row[0]: row[1] for row in (await ctx.uow.session.execute(stmt)).all()}
