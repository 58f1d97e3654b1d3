"""A price quote for a TMF622 ProductOrder_Create body, without storing anything.

Each ``add`` item naming a catalog offering gets ``itemPrice`` (TMF622 OrderPrice): one entry per
``recurring``, ``oneTime`` and ``usage`` price of its offering (allowances are included
quantities, not charges, and are left out). The order gets ``orderTotalPrice``: the sum of the
recurring prices per charge period and of the one-time prices. Usage prices are listed but not
summed (what they cost depends on use). Items naming an unknown offering, and items that change
existing products, are not priced.

Bundle discounts are the ``discount`` prices of a bundle offering (``productOfferingPrice``):

- an **amount** (``price.value``) with a ``recurringChargePeriodType`` is taken off the recurring
  charges of that period of the bundle's chosen parts (e.g. 10 CNY a month); without a period it is
  taken off their one-time charges. It never takes off more than the parts cost.
- a **percentage** is taken off the recurring charges of the bundle's chosen parts (one-time fees
  and usage are not discounted). When the discount names prices in ``popRelationship`` with
  ``relationshipType: "appliesTo"``, only those prices are discounted (a price version that
  ``replaces`` a named one counts as named; ADR 5 price versions), e.g. "the fixed line's rental
  is free" in a broadband + fixed line bundle.

A discount is shown on the bundle's item as an OrderPrice of the discounted priceType and period
with a negative amount (``priceAlteration`` names the discount price), and is included in the
totals, which list the discounts they include in ``priceAlteration``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from telcrm.catalog import service as catalog
from telcrm.kit.auth import Context
from telcrm.ordering.checks import dicts

Doc = dict[str, Any]
CHARGED = ("recurring", "oneTime", "usage")
CURRENCY = "CNY"


def _ref(doc: Doc) -> Doc:
    return {"id": doc.get("id"), "name": doc.get("name"), "@referredType": "ProductOfferingPrice"}


def _period(price: Doc) -> str:
    period = price.get("recurringChargePeriodType")
    return str(period) if isinstance(period, str) else "month"


def _amount(price: Doc) -> tuple[float, str]:
    money = price.get("price") if isinstance(price.get("price"), dict) else {}
    value = money.get("value") if isinstance(money, dict) else None
    unit = money.get("unit") if isinstance(money, dict) else None
    return (float(value) if isinstance(value, int | float) else 0.0), (unit if isinstance(unit, str) else CURRENCY)


def _money(value: float, unit: str) -> Doc:
    return {"taxIncludedAmount": {"unit": unit, "value": round(value, 2)}}


def _order_price(price: Doc) -> Doc:
    value, unit = _amount(price)
    kind = price.get("priceType")
    out: Doc = {"priceType": kind, "name": price.get("name")}
    if kind == "recurring":
        out["recurringChargePeriod"] = _period(price)
    out["price"] = _money(value, unit)
    if kind == "usage" and isinstance(price.get("unitOfMeasure"), dict):
        out["unitOfMeasure"] = price["unitOfMeasure"]
    out["productOfferingPrice"] = _ref(price)
    return out


def _offering_id(item: Doc) -> str | None:
    ref = item.get("productOffering")
    value = ref.get("id") if isinstance(ref, dict) else None
    return value if isinstance(value, str) else None


async def _load(ctx: Context, items: list[Doc]) -> tuple[dict[str, Doc], dict[str, Doc]]:
    """The offerings named by the items (any depth) and all their prices: two cached reads."""
    offering_ids: list[str] = []

    def collect(nodes: list[Doc]) -> None:
        for node in nodes:
            if (oid := _offering_id(node)) is not None:
                offering_ids.append(oid)
            collect(dicts(node.get("productOrderItem")))

    collect(items)
    found = await catalog.documents(ctx, sorted(set(offering_ids))) if offering_ids else {}
    offerings = {k: v for k, v in found.items() if v.get("@type") in (None, "ProductOffering")}
    price_ids = {
        str(p["id"])
        for o in offerings.values()
        for p in dicts(o.get("productOfferingPrice"))
        if isinstance(p.get("id"), str)
    }
    prices = await catalog.documents(ctx, sorted(price_ids)) if price_ids else {}
    return offerings, prices


def _targets(discount: Doc) -> set[str]:
    return {
        str(r["id"])
        for r in dicts(discount.get("popRelationship"))
        if r.get("relationshipType") == "appliesTo" and isinstance(r.get("id"), str)
    }


def _named(price: Doc, targets: set[str]) -> bool:
    if str(price.get("id")) in targets:
        return True
    return any(
        r.get("relationshipType") == "replaces" and str(r.get("id")) in targets
        for r in dicts(price.get("popRelationship"))
    )


class _Quote:
    def __init__(self, offerings: dict[str, Doc], prices: dict[str, Doc]) -> None:
        self.offerings = offerings
        self.prices = prices
        self.items: list[Doc] = []
        self.totals: dict[tuple[str, str | None], float] = defaultdict(float)
        self.units: dict[tuple[str, str | None], str] = {}
        self.alterations: dict[tuple[str, str | None], list[Doc]] = defaultdict(list)

    def add_total(self, key: tuple[str, str | None], value: float, unit: str) -> None:
        self.totals[key] += value
        self.units.setdefault(key, unit)

    def price_node(self, node: Doc) -> list[Doc]:
        """Price ``node`` and its children; returns the catalog prices charged for the subtree."""
        charged: list[Doc] = []
        if node.get("action") != "add":
            for child in dicts(node.get("productOrderItem")):
                charged += self.price_node(child)
            return charged
        offering = self.offerings.get(_offering_id(node) or "")
        own: list[Doc] = []
        discounts: list[Doc] = []
        if offering is not None:
            for ref in dicts(offering.get("productOfferingPrice")):
                price = self.prices.get(str(ref.get("id")))
                if price is None:
                    continue
                if price.get("priceType") in CHARGED:
                    own.append(price)
                elif price.get("priceType") == "discount":
                    discounts.append(price)
        slot: Doc = {"id": str(node.get("id")), "itemPrice": []}
        if offering is not None:
            self.items.append(slot)  # the bundle before its parts
        raw = node.get("quantity")
        quantity = raw if isinstance(raw, int) and raw > 0 else 1
        entries = [_order_price(p) for p in own]
        for price in own:
            value, unit = _amount(price)
            kind = str(price.get("priceType"))
            if kind == "recurring":
                self.add_total(("recurring", _period(price)), value * quantity, unit)
            elif kind == "oneTime":
                self.add_total(("oneTime", None), value * quantity, unit)
        parts: list[Doc] = []
        for child in dicts(node.get("productOrderItem")):
            parts += self.price_node(child)
        for discount in discounts:
            entry = self.discount(discount, parts)
            if entry is not None:
                entries.append(entry)
        slot["itemPrice"] = entries
        return own * quantity + parts

    def discount(self, discount: Doc, parts: list[Doc]) -> Doc | None:
        percentage = discount.get("percentage")
        value, unit = _amount(discount)
        if isinstance(percentage, int | float) and percentage > 0:
            targets = _targets(discount)
            base = [p for p in parts if p.get("priceType") == "recurring" and (not targets or _named(p, targets))]
            periods: dict[str, float] = defaultdict(float)
            for p in base:
                periods[_period(p)] += _amount(p)[0]
            if not periods:
                return None
            period, amount = max(periods.items(), key=lambda kv: kv[1])  # one line per discount
            off = amount * float(percentage) / 100
            key: tuple[str, str | None] = ("recurring", period)
        elif value > 0:
            if isinstance(discount.get("recurringChargePeriodType"), str):
                key = ("recurring", _period(discount))
                cost = sum(_amount(p)[0] for p in parts if p.get("priceType") == "recurring" and _period(p) == key[1])
            else:
                key = ("oneTime", None)
                cost = sum(_amount(p)[0] for p in parts if p.get("priceType") == "oneTime")
            off = min(value, cost)
        else:
            return None
        if off <= 0:
            return None
        self.add_total(key, -off, unit)
        alteration: Doc = {"priceType": "discount", "name": discount.get("name"), "price": _money(-off, unit)}
        if isinstance(percentage, int | float):
            alteration["price"]["percentage"] = percentage
        alteration["productOfferingPrice"] = _ref(discount)
        self.alterations[key].append(alteration)
        entry: Doc = {"priceType": key[0], "name": discount.get("name")}
        if key[1] is not None:
            entry["recurringChargePeriod"] = key[1]
        entry["price"] = alteration["price"]
        entry["priceAlteration"] = [alteration]
        entry["productOfferingPrice"] = _ref(discount)
        return entry

    def order_total(self) -> list[Doc]:
        out: list[Doc] = []
        for key in sorted(self.totals, key=lambda k: (k[0] != "recurring", k[1] or "")):
            kind, period = key
            entry: Doc = {"priceType": kind, "name": "total"}
            if period is not None:
                entry["recurringChargePeriod"] = period
            entry["price"] = _money(max(self.totals[key], 0.0), self.units[key])
            if self.alterations[key]:
                entry["priceAlteration"] = self.alterations[key]
            out.append(entry)
        return out


async def quote(ctx: Context, data: Doc) -> Doc:
    """``{"productOrderItem": [{"id", "itemPrice"}], "orderTotalPrice": [...]}`` for ``data``.

    Reads only catalog documents (through the catalog's process cache): fast enough to run on
    every change of an order form.
    """
    items = dicts(data.get("productOrderItem"))
    offerings, prices = await _load(ctx, items)
    q = _Quote(offerings, prices)
    for item in items:
        q.price_node(item)
    return {"productOrderItem": q.items, "orderTotalPrice": q.order_total()}
