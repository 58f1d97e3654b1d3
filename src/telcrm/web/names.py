"""Names for what stored documents refer to by id only (an order placed through the API may name
its offerings by id): looked up in the catalog's process copy, so showing them costs no query."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from telcrm.catalog import service as catalog
from telcrm.kit.auth import Context

Doc = dict[str, Any]


def _items(items: Any) -> Iterator[Doc]:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            yield item
            yield from _items(item.get("productOrderItem"))


async def name_offerings(ctx: Context, orders: list[Doc]) -> None:
    """Give every order item's ``productOffering`` reference its catalog name where it has none."""
    unnamed = [
        ref
        for order in orders
        for item in _items(order.get("productOrderItem"))
        if isinstance(ref := item.get("productOffering"), dict) and ref.get("id") and not ref.get("name")
    ]
    if not unnamed:
        return
    found = await catalog.documents(ctx, sorted({str(ref["id"]) for ref in unnamed}))
    for ref in unnamed:
        name = (found.get(str(ref["id"])) or {}).get("name")
        if name:
            ref["name"] = name
