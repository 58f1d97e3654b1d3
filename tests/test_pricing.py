"""Order price quotes (ordering.pricing): plans, one-time fees, bundle discounts, via /api/orders/check."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import CATALOG, created, make_customer
from tests.test_ordering import add, check, offering, order

Doc = dict[str, Any]
Headers = dict[str, str]
POP = f"{CATALOG}/productOfferingPrice"


def price(client: TestClient, admin: Headers, name: str, kind: str, value: float, **extra: Any) -> Doc:
    body: Doc = {"name": name, "priceType": kind, "price": {"unit": "CNY", "value": value}, "lifecycleStatus": "active"}
    if kind == "recurring":
        body["recurringChargePeriodType"] = "month"
    return created(client, POP, {**body, **extra}, admin)


def refs(*prices: Doc) -> list[Doc]:
    return [{"id": p["id"], "name": p["name"]} for p in prices]


def totals(result: Doc) -> dict[str, float]:
    return {t["priceType"]: t["price"]["taxIncludedAmount"]["value"] for t in result["orderTotalPrice"]}


def item_prices(result: Doc, item_id: str) -> list[Doc]:
    return next(i["itemPrice"] for i in result["itemPrice"] if i["id"] == item_id)


def bundle_of(client: TestClient, admin: Headers, parts: list[Doc], discount: Doc) -> Doc:
    one = {"numberRelOfferLowerLimit": 1, "numberRelOfferUpperLimit": 1}
    return offering(
        client,
        admin,
        name="套餐",
        isBundle=True,
        bundledProductOffering=[{"id": p["id"], "bundledProductOfferingOption": one} for p in parts],
        productOfferingPrice=refs(discount),
    )


def test_a_plan_with_a_monthly_fee_usage_and_an_installation_fee(client, admin) -> None:
    monthly = price(client, admin, "月费", "recurring", 99)
    install = price(client, admin, "安装费", "oneTime", 100)
    usage = price(client, admin, "超出", "usage", 0.15, unitOfMeasure={"amount": 1, "units": "minute"})
    allowance = price(client, admin, "含通话", "allowance", 0, unitOfMeasure={"amount": 300, "units": "minute"})
    plan = offering(client, admin, productOfferingPrice=refs(monthly, install, usage, allowance))
    result = check(client, admin, order(make_customer(client, admin), add("1", plan)))
    listed = item_prices(result, "1")
    assert [(p["priceType"], p["price"]["taxIncludedAmount"]["value"]) for p in listed] == [
        ("recurring", 99),
        ("oneTime", 100),
        ("usage", 0.15),
    ]  # the allowance is not a charge
    assert listed[0]["recurringChargePeriod"] == "month"
    assert listed[0]["productOfferingPrice"]["id"] == monthly["id"]
    assert totals(result) == {"recurring": 99, "oneTime": 100}  # usage is listed, not summed


def test_a_bundle_with_a_fixed_monthly_discount(client, admin) -> None:
    line = offering(
        client, admin, name="市话", productOfferingPrice=refs(price(client, admin, "月租", "recurring", 25))
    )
    ld = offering(
        client, admin, name="长途", productOfferingPrice=refs(price(client, admin, "长途包", "recurring", 20))
    )
    discount = price(client, admin, "优惠 10元/月", "discount", 10, recurringChargePeriodType="month")
    bundle = bundle_of(client, admin, [line, ld], discount)
    body = order(make_customer(client, admin), add("1", bundle, productOrderItem=[add("2", line), add("3", ld)]))
    result = check(client, admin, body)
    assert result["valid"] is True
    assert [i["id"] for i in result["itemPrice"]] == ["1", "2", "3"]
    (off,) = item_prices(result, "1")
    assert off["priceType"] == "recurring" and off["price"]["taxIncludedAmount"]["value"] == -10
    assert off["priceAlteration"][0]["productOfferingPrice"]["id"] == discount["id"]
    assert totals(result) == {"recurring": 35}
    total = result["orderTotalPrice"][0]
    assert total["recurringChargePeriod"] == "month" and total["priceAlteration"][0]["name"] == "优惠 10元/月"


def test_a_percentage_discount_on_the_parts_recurring_charges(client, admin) -> None:
    bb_monthly = price(client, admin, "宽带月费", "recurring", 120)
    install = price(client, admin, "安装费", "oneTime", 100)
    broadband = offering(client, admin, name="宽带", productOfferingPrice=refs(bb_monthly, install))
    line_monthly = price(client, admin, "月租", "recurring", 25)
    line = offering(client, admin, name="市话", productOfferingPrice=refs(line_monthly))
    customer = make_customer(client, admin)
    # 30 % off every recurring charge of the parts; the one-time fee is not discounted
    bundle = bundle_of(client, admin, [broadband, line], price(client, admin, "30%", "discount", 0, percentage=30))
    body = order(customer, add("1", bundle, productOrderItem=[add("2", broadband), add("3", line)]))
    assert totals(check(client, admin, body)) == {"recurring": 101.5, "oneTime": 100}
    # a discount naming the prices it applies to: the line rental is free
    free_line = price(
        client,
        admin,
        "固话月租减免",
        "discount",
        0,
        percentage=100,
        popRelationship=[{"id": line_monthly["id"], "relationshipType": "appliesTo"}],
    )
    bundle = bundle_of(client, admin, [broadband, line], free_line)
    body = order(customer, add("1", bundle, productOrderItem=[add("2", broadband), add("3", line)]))
    result = check(client, admin, body)
    assert totals(result) == {"recurring": 120, "oneTime": 100}
    assert item_prices(result, "1")[0]["price"]["taxIncludedAmount"]["value"] == -25


def test_unknown_offerings_are_not_priced(client, admin) -> None:
    plan = offering(client, admin, productOfferingPrice=refs(price(client, admin, "月费", "recurring", 59)))
    body = order(
        make_customer(client, admin),
        add("1", plan),
        {"id": "2", "action": "add", "productOffering": {"id": "NO-SUCH-OFFER"}},
    )
    result = check(client, admin, body)
    assert result["valid"] is False  # the check says why; the quote just leaves the item out
    assert [i["id"] for i in result["itemPrice"]] == ["1"]
    assert totals(result) == {"recurring": 59}
