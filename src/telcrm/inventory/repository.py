"""All SQL of the inventory domain."""

from __future__ import annotations

from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentStore
from telcrm.models import Product

products = DocumentStore(Product)


async def find_many(ctx: Context, ids: list[str]) -> list[Product]:
    if not ids:
        return []
    stmt = products.base(ctx).where(Product.id.in_(sorted(set(ids))))
    return list((await ctx.uow.session.execute(stmt)).scalars().all())
