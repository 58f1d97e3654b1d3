"""TMF620 product catalog: lifecycle, references, bundles, prices and their versions,
characteristics, eligibility, who may write, and the demo catalog (ADR 5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from telcrm.catalog.service import eligible
from telcrm.demo.catalog import load_catalog
from tests.conftest import Sql
from tests.factories import CATALOG, created, make_customer
from tests.tmf_contract import assert_tmf_error

Headers = dict[str, str]
Doc = dict[str, Any]
SPEC = f"{CATALOG}/productSpecification"
OFFER = f"{CATALOG}/productOffering"
PRICE = f"{CATALOG}/productOfferingPrice"
CATEGORY = f"{CATALOG}/category"


def digest(sql: Sql) -> tuple[Any, ...]:
    return (
        sql.value("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM catalog_item t"),
        sql.count("audit_entry"),
        sql.count("outbox_event"),
    )


def broadband_spec(client: TestClient, admin: Headers) -> Doc:
    body = {
        "name": "宽带",
        "productSpecCharacteristic": [
            {
                "name": "bandwidth",
                "valueType": "string",
                "productSpecCharacteristicValue": [{"value": "100M"}, {"value": "300M"}],
            },
            {"name": "ports", "valueType": "integer"},
        ],
    }
    return created(client, SPEC, body, admin)


def monthly(client: TestClient, admin: Headers, value: float = 99, **extra: Any) -> Doc:
    body = {
        "name": "月费",
        "priceType": "recurring",
        "recurringChargePeriodType": "month",
        "price": {"unit": "CNY", "value": value},
        **extra,
    }
    return created(client, PRICE, body, admin)


# ----- lifecycle ---------------------------------------------------------------------------------
def test_lifecycle_in_design_active_retired(client: TestClient, admin: Headers, sql: Sql) -> None:
    offer = created(client, OFFER, {"name": "宽带 300M"}, admin)
    assert offer["lifecycleStatus"] == "inDesign"
    url = f"{OFFER}/{offer['id']}"
    assert client.patch(url, json={"lifecycleStatus": "active"}, headers=admin).status_code == 200
    assert_tmf_error(client.patch(url, json={"lifecycleStatus": "inDesign"}, headers=admin), 409, "lifecycleStatus")
    assert_tmf_error(client.delete(url, headers=admin), 409, "lifecycleStatus")
    assert client.patch(url, json={"lifecycleStatus": "retired"}, headers=admin).status_code == 200
    before = digest(sql)
    for status in ("active", "inDesign"):
        assert_tmf_error(client.patch(url, json={"lifecycleStatus": status}, headers=admin), 409, "lifecycleStatus")
    assert digest(sql) == before
    events = [
        r[0] for r in sql.rows("SELECT event_type FROM outbox_event WHERE resource_id = %s ORDER BY id", offer["id"])
    ]
    assert events == [
        "ProductOfferingCreateEvent",
        "ProductOfferingStateChangeEvent",
        "ProductOfferingStateChangeEvent",
    ]


@pytest.mark.parametrize("status", ["Active", "In design", "in design", "launched", "retired"])
def test_unknown_or_retired_lifecycle_status_is_refused_on_create(
    status: str, client: TestClient, admin: Headers, sql: Sql
) -> None:
    before = digest(sql)
    assert_tmf_error(
        client.post(OFFER, json={"name": "x", "lifecycleStatus": status}, headers=admin), 400, "lifecycleStatus"
    )
    assert digest(sql) == before


def test_valid_for_must_start_before_it_ends(client: TestClient, admin: Headers, sql: Sql) -> None:
    period = {"startDateTime": "2025-02-01T00:00:00Z", "endDateTime": "2025-01-01T00:00:00Z"}
    for path in (OFFER, PRICE, SPEC, CATEGORY, f"{CATALOG}/catalog"):
        assert_tmf_error(client.post(path, json={"name": "x", "validFor": period}, headers=admin), 400, "validFor")
    assert sql.count("catalog_item") == 0


# ----- references ----------------------------------------------------------------------------------
def test_external_references_are_kept_and_wrong_kinds_refused(client: TestClient, admin: Headers, sql: Sql) -> None:
    body = {
        "name": "外部规格的商品",
        "productSpecification": {"id": "EXT-SPEC-1", "name": "外部"},
        "category": [{"id": "EXT-CAT-1"}],
        "productOfferingPrice": [{"id": "EXT-POP-1"}],
    }
    offer = created(client, OFFER, body, admin)
    assert offer["productSpecification"] == body["productSpecification"]
    price = monthly(client, admin)
    category = created(client, CATEGORY, {"name": "宽带"}, admin)
    customer = make_customer(client, admin)
    before = digest(sql)
    for bad, field in (
        ({"productSpecification": {"id": price["id"]}}, "productSpecification.id"),
        ({"productOfferingPrice": [{"id": category["id"]}]}, "productOfferingPrice[0].id"),
        ({"category": [{"id": customer["id"]}]}, "category[0].id"),
        ({"bundledProductOffering": [{"id": price["id"]}]}, "bundledProductOffering[0].id"),
    ):
        r = client.post(OFFER, json={"name": "错", **bad}, headers=admin)
        assert_tmf_error(r, 400, field)
        assert r.json()["code"] == "WRONG_REFERENCE"
    r = client.post(PRICE, json={"name": "x", "popRelationship": [{"id": offer["id"]}]}, headers=admin)
    assert_tmf_error(r, 400, "popRelationship[0].id")
    r = client.post(CATEGORY, json={"name": "x", "parentId": offer["id"]}, headers=admin)
    assert_tmf_error(r, 400, "parentId")
    assert digest(sql) == before


# ----- bundles --------------------------------------------------------------------------------------
def test_bundles_list_their_offerings_with_sane_limits(client: TestClient, admin: Headers, sql: Sql) -> None:
    line = created(client, OFFER, {"name": "市话"}, admin)
    ld = created(client, OFFER, {"name": "长途"}, admin)
    before = digest(sql)
    assert_tmf_error(
        client.post(OFFER, json={"name": "空", "isBundle": True}, headers=admin), 400, "bundledProductOffering"
    )
    option = {"numberRelOfferLowerLimit": 2, "numberRelOfferUpperLimit": 1}
    bad = {
        "name": "坏",
        "isBundle": True,
        "bundledProductOffering": [{"id": line["id"], "bundledProductOfferingOption": option}],
    }
    assert_tmf_error(client.post(OFFER, json=bad, headers=admin), 400, "numberRelOfferLowerLimit")
    assert digest(sql) == before
    ok = {
        "name": "市话+长途",
        "isBundle": True,
        "bundledProductOffering": [
            {
                "id": line["id"],
                "bundledProductOfferingOption": {"numberRelOfferLowerLimit": 1, "numberRelOfferUpperLimit": 1},
            },
            {"id": ld["id"]},
        ],
    }
    bundle = created(client, OFFER, ok, admin)
    url = f"{OFFER}/{bundle['id']}"
    assert_tmf_error(
        client.patch(url, json={"bundledProductOffering": []}, headers=admin), 400, "bundledProductOffering"
    )
    r = client.patch(url, json={"bundledProductOffering": [{"id": bundle["id"]}]}, headers=admin)
    assert_tmf_error(r, 400, "bundledProductOffering[0].id")


# ----- prices ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"priceType": "monthly"}, "priceType"),
        ({"priceType": "recurring"}, "recurringChargePeriodType"),
        ({"priceType": "recurring", "recurringChargePeriodType": "fortnight"}, "recurringChargePeriodType"),
        ({"price": {"unit": "CNY", "value": -1}}, "price.value"),
        ({"price": {"unit": "yuan", "value": 1}}, "price.unit"),
        ({"priceType": "discount", "percentage": 120}, "percentage"),
        ({"priceType": "discount", "percentage": -5}, "percentage"),
        ({"recurringChargePeriodLength": 0}, "recurringChargePeriodLength"),
    ],
)
def test_price_rules(body: Doc, field: str, client: TestClient, admin: Headers, sql: Sql) -> None:
    assert_tmf_error(client.post(PRICE, json={"name": "价", **body}, headers=admin), 400, field)
    assert sql.count("catalog_item") == 0


USAGE = {"priceType": "usage", "price": {"unit": "CNY", "value": 3}, "unitOfMeasure": {"amount": 1, "units": "GB"}}


def tier(low: float, high: float | None, value: float, unit: str = "CNY") -> Doc:
    out: Doc = {"fromQuantity": low, "price": {"unit": unit, "value": value}}
    if high is not None:
        out["toQuantity"] = high
    return out


def window(start: str, end: str, value: float) -> Doc:
    return {"startTime": start, "endTime": end, "price": {"unit": "CNY", "value": value}}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"priceTier": []}, "priceTier"),
        ({"priceTier": [tier(1, 10, 3)]}, "priceTier[0].fromQuantity"),
        ({"priceTier": [tier(0, 10, 3), tier(12, None, 2)]}, "priceTier[1].fromQuantity"),
        ({"priceTier": [tier(0, None, 3), tier(10, None, 2)]}, "priceTier[0].toQuantity"),
        ({"priceTier": [tier(0, 0, 3)]}, "priceTier[0].toQuantity"),
        ({"priceTier": [tier(0, 10, -1)]}, "priceTier[0].price.value"),
        ({"priceTier": [tier(0, 10, 1, unit="USD")]}, "priceTier[0].price.unit"),
        ({"timeOfDay": [window("7:00", "23:00", 1)]}, "timeOfDay[0].startTime"),
        ({"timeOfDay": [window("07:00", "24:00", 1)]}, "timeOfDay[0].endTime"),
        ({"timeOfDay": [window("07:00", "07:00", 1)]}, "timeOfDay[0].endTime"),
        ({"timeOfDay": [window("07:00", "23:00", 1), window("22:00", "08:00", 1)]}, "timeOfDay[1].startTime"),
        ({"timeOfDay": [window("22:00", "08:00", 1), window("07:30", "09:00", 1)]}, "timeOfDay[1].startTime"),
    ],
)
def test_tier_and_time_of_day_rules(extra: Doc, field: str, client: TestClient, admin: Headers, sql: Sql) -> None:
    assert_tmf_error(client.post(PRICE, json={"name": "价", **USAGE, **extra}, headers=admin), 400, field)
    assert sql.count("catalog_item") == 0


def test_tiers_and_time_of_day_only_on_usage_prices(client: TestClient, admin: Headers) -> None:
    body = {
        "name": "月费",
        "priceType": "recurring",
        "recurringChargePeriodType": "month",
        "priceTier": [tier(0, None, 1)],
    }
    assert_tmf_error(client.post(PRICE, json=body, headers=admin), 400, "priceTier")


def test_tiered_and_time_of_day_usage_prices_are_kept(client: TestClient, admin: Headers) -> None:
    tiered = created(
        client,
        PRICE,
        {"name": "流量阶梯", **USAGE, "priceTier": [tier(0, 10, 3), tier(10, 40, 2), tier(40, None, 1)]},
        admin,
    )
    assert [t.get("toQuantity") for t in tiered["priceTier"]] == [10, 40, None]
    peak = created(
        client,
        PRICE,
        {
            "name": "长途分时",
            **USAGE,
            "unitOfMeasure": {"amount": 1, "units": "minute"},
            "timeOfDay": [window("07:00", "23:00", 0.07), window("23:00", "07:00", 0.035)],
        },
        admin,
    )
    assert client.get(f"{PRICE}/{peak['id']}", headers=admin).json()["timeOfDay"][1]["startTime"] == "23:00"


def test_each_price_type_is_accepted(client: TestClient, admin: Headers) -> None:
    monthly(client, admin)
    for body in (
        {"priceType": "oneTime", "price": {"unit": "CNY", "value": 100}},
        {
            "priceType": "usage",
            "price": {"unit": "CNY", "value": 0.15},
            "unitOfMeasure": {"amount": 1, "units": "minute"},
        },
        {"priceType": "discount", "percentage": 30},
        {
            "priceType": "allowance",
            "price": {"unit": "CNY", "value": 0},
            "unitOfMeasure": {"amount": 30, "units": "GB"},
        },
    ):
        created(client, PRICE, {"name": "价", **body}, admin)


def test_changing_an_active_price_creates_a_new_version(client: TestClient, admin: Headers, sql: Sql) -> None:
    old = monthly(client, admin, 99, lifecycleStatus="active", validFor={"startDateTime": "2025-01-01T00:00:00Z"})
    offer = created(
        client, OFFER, {"name": "99元套餐", "productOfferingPrice": [{"id": old["id"], "name": "月费"}]}, admin
    )
    other = created(client, OFFER, {"name": "别的", "productOfferingPrice": [{"id": "EXT-1"}]}, admin)
    start = "2026-03-01T00:00:00Z"
    r = client.patch(
        f"{PRICE}/{old['id']}", json={"price": {"value": 109}, "validFor": {"startDateTime": start}}, headers=admin
    )
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["id"] != old["id"]
    assert new["price"] == {"unit": "CNY", "value": 109}
    assert new["lifecycleStatus"] == "active"
    assert new["validFor"] == {"startDateTime": start}
    assert new["version"] == "2"
    assert {"id": old["id"], "relationshipType": "replaces"}.items() <= new["popRelationship"][0].items()

    closed = client.get(f"{PRICE}/{old['id']}", headers=admin).json()
    assert closed["price"] == {"unit": "CNY", "value": 99}  # what was sold under it keeps its price
    assert closed["lifecycleStatus"] == "retired"
    assert closed["validFor"] == {"startDateTime": "2025-01-01T00:00:00Z", "endDateTime": start}
    assert closed["popRelationship"][-1]["id"] == new["id"]
    assert closed["popRelationship"][-1]["relationshipType"] == "replacedBy"
    assert sql.value("SELECT replaced_by FROM catalog_item WHERE id = %s", old["id"]) == new["id"]

    repointed = client.get(f"{OFFER}/{offer['id']}", headers=admin).json()
    assert [p["id"] for p in repointed["productOfferingPrice"]] == [new["id"]]
    assert client.get(f"{OFFER}/{other['id']}", headers=admin).json() == other

    # history is frozen; a price that was never sold changes in place
    assert_tmf_error(client.patch(f"{PRICE}/{old['id']}", json={"price": {"value": 1}}, headers=admin), 409, "price")
    draft = monthly(client, admin, 50)
    r = client.patch(f"{PRICE}/{draft['id']}", json={"price": {"value": 55}}, headers=admin)
    assert r.json()["id"] == draft["id"] and r.json()["price"]["value"] == 55
    # a change that is not the price does not make a version
    r = client.patch(f"{PRICE}/{new['id']}", json={"description": "含税"}, headers=admin)
    assert r.json()["id"] == new["id"]
    events = sql.rows("SELECT event_type, resource_id FROM outbox_event ORDER BY id")
    assert ("ProductOfferingPriceCreateEvent", new["id"]) in events
    assert ("ProductOfferingPriceStateChangeEvent", old["id"]) in events
    assert ("ProductOfferingAttributeValueChangeEvent", offer["id"]) in events


def test_a_new_price_version_cannot_start_before_the_current_one(client: TestClient, admin: Headers, sql: Sql) -> None:
    old = monthly(client, admin, lifecycleStatus="active", validFor={"startDateTime": "2025-06-01T00:00:00Z"})
    before = digest(sql)
    r = client.patch(
        f"{PRICE}/{old['id']}",
        json={"price": {"value": 1}, "validFor": {"startDateTime": "2025-01-01T00:00:00Z"}},
        headers=admin,
    )
    assert_tmf_error(r, 400, "validFor.startDateTime")
    assert digest(sql) == before


# ----- characteristics -------------------------------------------------------------------------------
def test_offering_uses_only_characteristics_and_values_its_spec_defines(
    client: TestClient, admin: Headers, sql: Sql
) -> None:
    spec = broadband_spec(client, admin)
    ref = {"id": spec["id"], "name": spec["name"]}

    def use(name: str, value: Any) -> Doc:
        return {
            "name": "宽带",
            "productSpecification": ref,
            "prodSpecCharValueUse": [{"name": name, "productSpecCharacteristicValue": [{"value": value}]}],
        }

    created(client, OFFER, use("bandwidth", "300M"), admin)
    created(client, OFFER, use("ports", 4), admin)
    before = digest(sql)
    assert_tmf_error(client.post(OFFER, json=use("colour", "red"), headers=admin), 400, "prodSpecCharValueUse[0].name")
    field = "prodSpecCharValueUse[0].productSpecCharacteristicValue[0].value"
    assert_tmf_error(client.post(OFFER, json=use("bandwidth", "1000M"), headers=admin), 400, field)
    assert_tmf_error(client.post(OFFER, json=use("ports", "four"), headers=admin), 400, field)
    assert digest(sql) == before
    # with an external specification nothing can be checked: kept as sent
    created(client, OFFER, {**use("colour", "red"), "productSpecification": {"id": "EXT-SPEC"}}, admin)


@pytest.mark.parametrize(
    ("char", "field"),
    [
        ({"name": "x", "valueType": "colour"}, "productSpecCharacteristic[0].valueType"),
        (
            {"name": "x", "valueType": "integer", "productSpecCharacteristicValue": [{"value": "ten"}]},
            "productSpecCharacteristic[0].productSpecCharacteristicValue[0].value",
        ),
        ({"name": "x", "minCardinality": 2, "maxCardinality": 1}, "productSpecCharacteristic[0].minCardinality"),
    ],
)
def test_specification_characteristics(char: Doc, field: str, client: TestClient, admin: Headers, sql: Sql) -> None:
    r = client.post(SPEC, json={"name": "规格", "productSpecCharacteristic": [char]}, headers=admin)
    assert_tmf_error(r, 400, field)
    r = client.post(
        SPEC, json={"name": "规格", "productSpecCharacteristic": [{"name": "a"}, {"name": "a"}]}, headers=admin
    )
    assert_tmf_error(r, 400, "productSpecCharacteristic[1].name")
    assert sql.count("catalog_item") == 0


# ----- eligibility ----------------------------------------------------------------------------------
def test_eligibility() -> None:
    offer: Doc = {
        "name": "广东 5G",
        "lifecycleStatus": "active",
        "marketSegment": [{"id": "individual", "name": "个人客户"}, {"id": "MKT-YOUTH", "name": "青年"}],
        "place": [{"id": "GD", "name": "广东省"}, {"name": "Zhejiang"}],
        "channel": [{"id": "hall"}],
        "validFor": {"startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"},
    }
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert eligible(offer, "individual", "广东省", at=at) == (True, "eligible")
    assert eligible(offer, "individual", "广东", at=at)[0]
    assert eligible(offer, "individual", "ZheJiang", at=at)[0]
    ok, reason = eligible(offer, "group", "广东省", at=at)
    assert not ok and "individual" in reason
    ok, reason = eligible(offer, "individual", "江苏省", at=at)
    assert not ok and "广东省" in reason
    assert not eligible(offer, "individual", None, at=at)[0]
    assert eligible(offer, "individual", "广东省", channel="hall", at=at)[0]
    assert not eligible(offer, "individual", "广东省", channel="webHall", at=at)[0]
    assert not eligible(offer, "individual", "广东省", at=datetime(2024, 1, 1, tzinfo=UTC))[0]
    assert not eligible(offer, "individual", "广东省", at=datetime(2027, 1, 1, tzinfo=UTC))[0]
    assert not eligible({**offer, "lifecycleStatus": "retired"}, "individual", "广东省", at=at)[0]
    assert not eligible({**offer, "isSellable": False}, "individual", "广东省", at=at)[0]
    assert eligible({"name": "全国", "lifecycleStatus": "active"}, "group", None) == (True, "eligible")


# ----- who may do what ---------------------------------------------------------------------------------
READERS = ("admin", "agent", "clerk", "account_manager", "back_office", "supervisor", "dealer", "customer", "system")
WRITERS = {"admin", "back_office", "system"}


@pytest.mark.parametrize("role", READERS)
def test_everyone_reads_the_catalog_only_admin_back_office_system_write(
    role: str, client: TestClient, admin: Headers, login: Callable[..., Headers], sql: Sql
) -> None:
    offer = created(client, OFFER, {"name": "宽带"}, admin)
    headers = login(role, customer_id="C0000000001") if role == "customer" else login(role)
    listed = client.get(OFFER, headers=headers)
    assert listed.status_code == 200 and [o["id"] for o in listed.json()] == [offer["id"]]
    assert client.get(f"{OFFER}/{offer['id']}", headers=headers).status_code == 200
    before = digest(sql)
    writes = [
        client.post(PRICE, json={"name": "价"}, headers=headers),
        client.patch(f"{OFFER}/{offer['id']}", json={"name": "改"}, headers=headers),
        client.delete(f"{OFFER}/{offer['id']}", headers=headers),
    ]
    if role in WRITERS:
        assert [r.status_code for r in writes] == [201, 200, 204]
    else:
        for r in writes:
            assert_tmf_error(r, 403)
        assert digest(sql) == before
    assert client.get(OFFER).status_code == 401


# ----- the demo catalog ------------------------------------------------------------------------------------
def test_demo_catalog_is_idempotent_and_browsable(
    client: TestClient, database_url: str, login: Callable[..., Headers], sql: Sql
) -> None:
    first = load_catalog(database_url)
    assert first == sql.count("catalog_item") > 50
    events = sql.count("outbox_event")
    assert load_catalog(database_url) == 0
    assert sql.count("catalog_item") == first and sql.count("outbox_event") == events

    customer = login("customer", customer_id="C0000000001")
    r = client.get(OFFER, params={"category.id": "cat-broadband", "lifecycleStatus": "active"}, headers=customer)
    assert r.status_code == 200
    assert {o["id"] for o in r.json()} == {"po-broadband-100m", "po-broadband-300m", "po-broadband-1000m"}
    bundles = client.get(OFFER, params={"isBundle": "true", "limit": 100}, headers=customer).json()
    assert {b["id"] for b in bundles} == {"po-bundle-local-ld", "po-bundle-line-broadband", "po-bundle-converged"}
    catalog = client.get(f"{CATALOG}/catalog/catalog-main", headers=customer).json()
    assert len(catalog["category"]) == 6
    offer = client.get(f"{OFFER}/po-mobile-99", headers=customer).json()
    assert eligible(offer, "individual", "广东省")[0]
    assert not eligible(offer, "group", "广东省")[0]
    discount = client.get(f"{PRICE}/pop-disc-converged", headers=customer).json()
    assert discount["priceType"] == "discount" and discount["percentage"] == 30
