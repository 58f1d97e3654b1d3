"""The web self-service hall (网上营业厅): a customer's own products, orders and accounts.

Built from the same 360 view as the agent desktop, read with the customer's own context (the
scope admits only the caller's customer), then cut down to what a customer is shown: no audit
trail, no dealer or account-manager links, no identification numbers. Ordering lives under
``/hall/order`` and ``/hall/orders/{id}`` (rendered inside ``hall/base.html``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from telcrm.customer import service as customers
from telcrm.customer import view
from telcrm.kit import live
from telcrm.kit.auth import CUSTOMER, Caller
from telcrm.kit.errors import Forbidden, NotFound
from telcrm.web import names
from telcrm.web.deps import reading, web_caller
from telcrm.web.desk import sse
from telcrm.web.i18n import gettext_ as _
from telcrm.web.render import is_htmx, render

router = APIRouter(include_in_schema=False)

Doc = dict[str, Any]

ENDED = frozenset({"terminated", "cancelled", "aborted"})
# How far an order has come, for the progress line: placed, being done, done.
PROGRESS = {"acknowledged": 1, "held": 1, "pending": 1, "inProgress": 2, "completed": 3, "partial": 3}
OPEN_ORDERS = frozenset(
    {"acknowledged", "held", "pending", "inProgress", "assessingCancellation", "pendingCancellation"}
)


class NotACustomer(Exception):
    """Staff or a dealer on a hall screen: they are sent to the desktop."""


async def hall_caller(request: Request) -> Caller:
    """The signed-in self-service customer; staff and dealers are sent to ``/desk``."""
    caller = await web_caller(request)
    if caller.kind != "customer" or CUSTOMER not in caller.roles:
        raise NotACustomer
    if not caller.customer_id:
        raise Forbidden(_("This sign-in is not linked to a customer. Please contact customer service."))
    return caller


def _dict(value: Any) -> Doc:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[Doc]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _product(p: Doc, depth: int) -> Doc:
    prices = []
    for pp in _dicts(p.get("productPrice")):
        price = _dict(pp.get("price"))
        amount = _dict(price.get("taxIncludedAmount"))
        prices.append(
            {
                "type": pp.get("priceType"),
                "value": amount.get("value"),
                "unit": amount.get("unit") or "CNY",
                "percentage": price.get("percentage"),
                "period": pp.get("recurringChargePeriod") or "month",
            }
        )
    number = ""
    options = []
    for ch in _dicts(p.get("productCharacteristic")):
        value = ch.get("value")
        if value in (None, "") or isinstance(value, (dict, list)):
            continue
        if ch.get("name") == "serviceNumber" and not number:
            number = str(value)
        else:
            options.append(str(value))
    return {
        "id": p.get("id"),
        "name": p.get("name") or _dict(p.get("productOffering")).get("name") or "",
        "isBundle": bool(p.get("isBundle")),
        "status": p.get("status") or "",
        "since": p.get("startDate") or p.get("orderDate") or "",
        "number": number,
        "options": options,
        "prices": prices,
        "depth": depth,
        "ended": p.get("status") in ENDED,
    }


def _products(products: list[Doc]) -> list[Doc]:
    """The customer-visible products, each bundle followed by its parts; ended ones last."""
    visible = [p for p in products if p.get("id") and p.get("isCustomerVisible") is not False]
    by_id = {p["id"]: p for p in visible}
    parts: dict[str, list[str]] = {}
    for p in visible:
        for rel in _dicts(p.get("productRelationship")):
            child = _dict(rel.get("product")).get("id")
            bundled = rel.get("relationshipType") == "bundled"
            if bundled and isinstance(child, str) and child in by_id and child != p["id"]:
                parts.setdefault(p["id"], []).append(child)
    inside = {c for cs in parts.values() for c in cs}
    rows: list[Doc] = []
    seen: set[str] = set()

    def walk(p: Doc, depth: int) -> None:
        if p["id"] in seen:
            return
        seen.add(p["id"])
        rows.append(_product(p, depth))
        for child in parts.get(p["id"], []):
            walk(by_id[child], depth + 1)

    for p in sorted((p for p in visible if p["id"] not in inside), key=lambda p: p.get("status") in ENDED):
        walk(p, 0)
    for p in visible:  # parts whose bundle is not shown
        walk(p, 0)
    return rows


def _items(items: list[Doc], depth: int = 0) -> list[Doc]:
    out: list[Doc] = []
    for it in items:
        offering = _dict(it.get("productOffering"))
        product = _dict(it.get("product"))
        out.append(
            {
                "action": it.get("action") or "",
                "name": offering.get("name") or product.get("name") or offering.get("id") or product.get("id") or "",
                "state": it.get("state") or "",
                "depth": depth,
            }
        )
        out.extend(_items(_dicts(it.get("productOrderItem")), depth + 1))
    return out


def _order(o: Doc) -> Doc:
    channel = _dicts(o.get("channel"))
    return {
        "id": o.get("id") or "",
        "state": o.get("state") or "",
        "placed": o.get("orderDate") or "",
        "done": o.get("completionDate") or o.get("cancellationDate") or "",
        "channel": (channel[0].get("name") or "") if channel else "",
        "lines": _items(_dicts(o.get("productOrderItem"))),
        "notes": [str(n["text"]) for n in _dicts(o.get("note")) if n.get("text")],
        "step": PROGRESS.get(str(o.get("state")), 0),
        "open": o.get("state") in OPEN_ORDERS,
    }


def _account(a: Doc) -> Doc:
    limit = _dict(a.get("creditLimit")) or None
    return {
        "id": a.get("id") or "",
        "name": a.get("name") or "",
        "type": a.get("accountType") or "",
        "state": a.get("state") or "active",
        "creditLimit": limit,
    }


def for_customer(data: Doc) -> Doc:
    """The 360 view cut down to what the customer sees of itself."""
    c = _dict(data.get("customer"))
    orders = [_order(o) for o in _dicts(data.get("orders"))]
    return {
        "customer": {"id": c.get("id") or "", "name": c.get("name") or "", "status": c.get("status") or ""},
        "products": _products(_dicts(data.get("products"))),
        "orders": orders,
        "open": sum(1 for o in orders if o["open"]),
        "accounts": [_account(a) for a in _dicts(data.get("accounts"))],
    }


async def my_view(request: Request, caller: Caller) -> Doc:
    async with reading(request, caller, "web") as ctx:
        data = orjson.loads(await view.customer_360_json(ctx, str(caller.customer_id)))
        await names.name_offerings(ctx, data["orders"])
    return for_customer(data)


def missing(request: Request) -> Response:
    """The sign-in's customer is gone (or no longer reachable): say so, not a 500."""
    error = NotFound(_("We cannot find your customer record. Please contact customer service."))
    if is_htmx(request):
        return render(request, "_error.html", status=404, error=error)
    return render(request, "hall/missing.html", status=404, error=error)


@router.get("/hall")
async def hall_home(request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    try:
        v = await my_view(request, caller)
    except NotFound:
        return missing(request)
    template = "hall/_body.html" if is_htmx(request) else "hall/home.html"
    return render(request, template, v=v)


@router.get("/hall/products")
async def hall_products(caller: Caller = Depends(hall_caller)) -> Response:
    return RedirectResponse("/hall#products", status_code=303)


@router.get("/hall/orders")
async def hall_orders(caller: Caller = Depends(hall_caller)) -> Response:
    return RedirectResponse("/hall#orders", status_code=303)


@router.get("/hall/live")
async def hall_live(request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    customer_id = str(caller.customer_id)
    async with reading(request, caller, "web") as ctx:
        await customers.customers.get(ctx, customer_id)  # 404 when the customer is gone
    return sse(request, [live.customer_topic(customer_id)])
