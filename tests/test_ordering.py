"""TMF622 order capture: structural 400s, business rules -> rejected/held, check, idempotency (ADR 8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Sql
from tests.factories import (
    CATALOG,
    INVENTORY,
    ORDERING,
    created,
    make_billing_account,
    make_customer,
    make_individual,
    make_organization,
    make_overdue_account,
    mobile,
)

Doc = dict[str, Any]
Headers = dict[str, str]
ORDER = f"{ORDERING}/productOrder"
OFFER = f"{CATALOG}/productOffering"
MERGE = {"Content-Type": "application/merge-patch+json"}


def customer_ref(customer: Doc) -> Doc:
    return {"id": customer["id"], "name": customer["name"], "@referredType": "Customer", "role": "customer"}


def offering(client: TestClient, admin: Headers, **extra: Any) -> Doc:
    return created(client, OFFER, {"name": "宽带 300M", "lifecycleStatus": "active", **extra}, admin)


def add(item_id: str, offer: Doc | None = None, **extra: Any) -> Doc:
    item: Doc = {"id": item_id, "action": "add", **extra}
    if offer is not None:
        item["productOffering"] = {"id": offer["id"], "name": offer["name"]}
    return item


def order(customer: Doc | None, *items: Doc, **extra: Any) -> Doc:
    body: Doc = {"productOrderItem": list(items), **extra}
    if customer is not None:
        body["relatedParty"] = [customer_ref(customer)]
    return body


def place(client: TestClient, headers: Headers, body: Doc, **more: str) -> Doc:
    r = client.post(ORDER, json=body, headers={**headers, **more})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def check(client: TestClient, headers: Headers, body: Doc) -> Doc:
    r = client.post("/api/orders/check", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def problems(doc: Doc, item_id: str | None = None) -> list[str]:
    return [
        n["text"]
        for n in doc.get("note") or []
        if n.get("@type") == "OrderCheckNote" and n.get("productOrderItemId") == item_id
    ]


def test_a_good_order_is_acknowledged_and_goes_into_fulfilment(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    account = make_billing_account(client, admin, customer)
    offer = offering(client, admin)
    body = order(customer, add("1", offer), billingAccount={"id": account["id"]})
    assert check(client, admin, body) == {
        "valid": True,
        "state": "acknowledged",
        "problems": [],
        "held": [],
        "items": [{"id": "1", "problems": []}],
        "itemPrice": [{"id": "1", "itemPrice": []}],
        "orderTotalPrice": [],
    }
    doc = place(client, admin, body)
    assert doc["state"] == "inProgress"
    assert doc["productOrderItem"][0]["state"] == "inProgress"
    assert "note" not in doc
    row = sql.rows("SELECT state, customer_id, billing_account_id FROM product_order WHERE id = %s", doc["id"])
    assert row == [("inProgress", customer["id"], account["id"])]
    # acknowledged when captured, then in progress (the items too): each change an event, in that order
    events = sql.rows(
        "SELECT event_type, payload->'event'->'productOrder'->>'state' FROM outbox_event"
        " WHERE resource_id = %s ORDER BY id",
        doc["id"],
    )
    assert events == [
        ("ProductOrderCreateEvent", "acknowledged"),
        ("ProductOrderAttributeValueChangeEvent", "inProgress"),
        ("ProductOrderStateChangeEvent", "inProgress"),
    ]


def test_malformed_orders_are_400_and_store_nothing(client, admin, sql: Sql) -> None:
    before = sql.count("product_order")
    bad = [
        ({"productOrderItem": [{"id": "1", "action": "replace"}]}, "productOrderItem[0].action"),
        ({"productOrderItem": [{"id": "1", "action": "add"}, {"id": "1", "action": "add"}]}, "productOrderItem[1].id"),
        (
            {
                "productOrderItem": [
                    {"id": "1", "action": "add", "productOrderItemRelationship": [{"id": "9", "relationshipType": "x"}]}
                ]
            },
            "productOrderItem[0].productOrderItemRelationship[0].id",
        ),
        ({"productOrderItem": [{"action": "add"}]}, "productOrderItem[0].id"),
        ({}, "productOrderItem"),
    ]
    for body, field in bad:
        for url in (ORDER, "/api/orders/check"):
            r = client.post(url, json=body, headers=admin)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["field"] == field, r.json()
    assert sql.count("product_order") == before


def test_each_rule_rejects_with_its_reason_and_check_says_the_same(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    other = make_customer(client, admin)
    theirs = make_billing_account(client, admin, other)
    their_user = created(
        client, f"/api/customers/{other['id']}/users", {"name": "他人", "phoneNumber": mobile()}, admin
    )
    their_product = created(
        client, f"{INVENTORY}/product", {"status": "created", "relatedParty": [customer_ref(other)]}, admin
    )
    group_only = offering(client, admin, marketSegment=[{"id": "group"}])
    guangdong = offering(client, admin, place=[{"id": "广东", "name": "广东省"}])
    draft = created(client, OFFER, {"name": "草稿"}, admin)
    line = offering(client, admin, name="市话")
    bundle = offering(
        client,
        admin,
        name="套餐",
        isBundle=True,
        bundledProductOffering=[
            {
                "id": line["id"],
                "bundledProductOfferingOption": {"numberRelOfferLowerLimit": 1, "numberRelOfferUpperLimit": 1},
            }
        ],
    )
    cases: list[tuple[Doc, str | None, str]] = [
        (order(None, add("1", line)), None, "names no customer"),
        (order({"id": "NO-SUCH-CUST", "name": "x"}, add("1", line)), None, "not known here"),
        (order(customer, add("1")), "1", "nothing to add"),
        (
            order(customer, {"id": "1", "action": "add", "productOffering": {"id": "NOPE-OFFER"}}),
            "1",
            "not in the catalog",
        ),
        (order(customer, add("1", group_only)), "1", "only for group"),
        (order(customer, add("1", guangdong)), "1", "only sold in"),
        (order(customer, add("1", draft)), "1", "not on sale"),
        (order(customer, add("1", bundle)), "1", "at least 1"),
        (
            order(customer, add("1", bundle, productOrderItem=[add("2", line), add("3", line)])),
            "1",
            "at most 1",
        ),
        (
            order(customer, {"id": "1", "action": "modify", "product": {"id": their_product["id"]}}),
            "1",
            "not a product of",
        ),
        (order(customer, {"id": "1", "action": "delete", "product": {"id": "NO-PRODUCT"}}), "1", "not known here"),
        (order(customer, {"id": "1", "action": "delete"}), "1", "names the product"),
        # ids of records of another kind: a user as the product, the customer as its own user
        (order(customer, {"id": "1", "action": "delete", "product": {"id": their_user["id"]}}), "1", "not known here"),
        (
            {
                **order(customer, add("1", line)),
                "relatedParty": [
                    customer_ref(customer),
                    {"id": customer["id"], "role": "user", "@referredType": "User"},
                ],
            },
            None,
            f"user {customer['id']} is not known here",
        ),
        (order(customer, add("1", line), billingAccount={"id": theirs["id"]}), None, "belongs to another customer"),
        (
            {
                **order(customer, add("1", line)),
                "relatedParty": [
                    customer_ref(customer),
                    {"id": their_user["id"], "role": "user", "@referredType": "User"},
                ],
            },
            None,
            "does not belong to customer",
        ),
        (
            order(
                customer,
                add(
                    "1",
                    line,
                    product={"relatedParty": [{"id": their_user["id"], "role": "user", "@referredType": "User"}]},
                ),
            ),
            "1",
            "does not belong to customer",
        ),
    ]
    for body, item_id, reason in cases:
        stored_before = sql.count("product_order")
        verdict = check(client, admin, body)
        assert sql.count("product_order") == stored_before  # the check writes nothing
        assert verdict["valid"] is False and verdict["state"] == "rejected", (reason, verdict)
        said = (
            verdict["problems"]
            if item_id is None
            else next(i for i in verdict["items"] if i["id"] == item_id)["problems"]
        )
        assert any(reason in p for p in said), (reason, verdict)
        doc = place(client, admin, body)
        assert doc["state"] == "rejected", (reason, doc)
        assert any(reason in text for text in problems(doc, item_id)), (reason, doc)
        assert sql.value("SELECT state FROM product_order WHERE id = %s", doc["id"]) == "rejected"


def test_inactive_customer_is_rejected(client, admin) -> None:
    party = make_individual(client, admin, individualIdentification=[])
    prospect = make_customer(client, admin, party)
    assert prospect["status"] == "prospect"
    doc = place(client, admin, order(prospect, add("1", offering(client, admin))))
    assert doc["state"] == "rejected"
    assert any("only active customers order" in t for t in problems(doc))


def test_eligibility_uses_the_customers_province(client, admin) -> None:
    medium = {"mediumType": "postalAddress", "characteristic": {"stateOrProvince": "广东", "city": "广州"}}
    party = make_individual(client, admin, contactMedium=[medium])
    customer = make_customer(client, admin, party)
    guangdong = offering(client, admin, place=[{"id": "广东", "name": "广东省"}])
    assert place(client, admin, order(customer, add("1", guangdong)))["state"] == "inProgress"


def test_group_paid_account_of_the_users_group(client, admin) -> None:
    group = make_customer(client, admin, make_organization(client, admin))
    paid = make_billing_account(client, admin, group, accountType="groupPaid")
    employee = created(client, f"/api/customers/{group['id']}/users", {"name": "员工", "phoneNumber": mobile()}, admin)
    body = order(group, add("1", offering(client, admin)), billingAccount={"id": paid["id"]})
    body["relatedParty"].append({"id": employee["id"], "role": "user", "@referredType": "User"})
    assert place(client, admin, body)["state"] == "inProgress"


def test_credit_rule_holds_the_order_and_staff_release_it(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    account = make_overdue_account(client, admin, customer, limit=100, overdue=250)
    body = order(customer, add("1", offering(client, admin)), billingAccount={"id": account["id"]})
    verdict = check(client, admin, body)
    assert verdict["valid"] is True and verdict["state"] == "held" and "overdue" in verdict["held"][0]
    doc = place(client, admin, body)
    assert doc["state"] == "held"
    assert any("overdue" in n["text"] for n in doc["note"])
    url = f"{ORDER}/{doc['id']}"
    r = client.patch(url, json={"state": "acknowledged"}, headers={**admin, **MERGE})
    assert r.status_code == 200, r.text
    # released, it goes into fulfilment at once
    assert r.json()["state"] == "inProgress"
    assert sql.value("SELECT state FROM product_order WHERE id = %s", doc["id"]) == "inProgress"
    assert sql.count("work_order", "order_id = %s", doc["id"]) >= 1
    states = sql.rows(
        "SELECT payload->'event'->'productOrder'->>'state' FROM outbox_event WHERE resource_id = %s ORDER BY id",
        doc["id"],
    )
    assert states == [("held",), ("acknowledged",), ("inProgress",), ("inProgress",)]


def test_transitions_are_enforced(client, admin, login, sql: Sql) -> None:
    customer = make_customer(client, admin)
    doc = place(client, admin, order(customer, add("1", offering(client, admin))))
    assert doc["state"] == "inProgress"
    url = f"{ORDER}/{doc['id']}"
    # fulfilment owns the states of an order in progress: nobody sets them by hand
    for who in ("clerk", "system", "admin"):
        headers = login(who)
        for state in ("completed", "held", "partial", "acknowledged", "cancelled", "failed"):
            r = client.patch(url, json={"state": state}, headers={**headers, **MERGE})
            assert r.status_code == 409, (who, state, r.text)
    r = client.patch(url, json={"state": "nonsense"}, headers={**admin, **MERGE})
    assert r.status_code == 400
    assert sql.value("SELECT version FROM product_order WHERE id = %s", doc["id"]) == 2
    # a rejected order is final; items are fixed after capture
    rejected = place(client, admin, order(customer, add("1")))
    r = client.patch(f"{ORDER}/{rejected['id']}", json={"state": "acknowledged"}, headers={**admin, **MERGE})
    assert r.status_code == 409
    r = client.patch(
        url,
        json={"productOrderItem": [{"id": "1", "action": "noChange"}]},
        headers={**admin, **MERGE},
    )
    assert r.status_code == 409
    # a held order may be cancelled by a channel
    held = _held_order(client, admin, customer)
    r = client.patch(f"{ORDER}/{held['id']}", json={"state": "cancelled"}, headers={**login("clerk"), **MERGE})
    assert r.status_code == 200 and r.json()["cancellationDate"]
    assert r.json()["productOrderItem"][0]["state"] == "cancelled"


def _held_order(client: TestClient, admin: Headers, customer: Doc) -> Doc:
    account = make_overdue_account(client, admin, customer, limit=0, overdue=10)
    doc = place(client, admin, order(customer, add("1", offering(client, admin)), billingAccount={"id": account["id"]}))
    assert doc["state"] == "held"
    return doc


def test_idempotency_by_header_and_by_external_id(client, admin, login, sql: Sql) -> None:
    customer = make_customer(client, admin)
    body = order(customer, add("1", offering(client, admin)))
    first = client.post(ORDER, json=body, headers={**admin, "Idempotency-Key": "k-1"})
    assert first.status_code == 201
    again = client.post(ORDER, json=body, headers={**admin, "Idempotency-Key": "k-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert sql.count("product_order", "idempotency_key = %s", "k-1") == 1
    # the key is per caller
    clerk = login("clerk")
    assert client.post(ORDER, json=body, headers={**clerk, "Idempotency-Key": "k-1"}).status_code == 201
    # the same externalId for the same customer
    ext = {**body, "externalId": "CRM-42"}
    one = client.post(ORDER, json=ext, headers=admin)
    two = client.post(ORDER, json=ext, headers=clerk)
    assert (one.status_code, two.status_code) == (201, 200)
    assert two.json() == one.json()
    assert sql.count("product_order", "external_id = %s", "CRM-42") == 1
    # another customer may use the same externalId
    other = make_customer(client, admin)
    assert client.post(ORDER, json={**order(other, add("1")), "externalId": "CRM-42"}, headers=admin).status_code == 201
    assert client.post(ORDER, json=body, headers={**admin, "Idempotency-Key": "x" * 201}).status_code == 400


def test_dealer_sees_only_its_customers_orders_and_360_lists_them(client, admin, login) -> None:
    d1 = make_organization(client, admin, tradingName="一号代理商", name="一号代理商")
    mine = make_customer(
        client, admin, relatedParty=[{"id": d1["id"], "role": "dealer", "@referredType": "Organization"}]
    )
    theirs = make_customer(client, admin)
    offer = offering(client, admin)
    a = place(client, admin, order(mine, add("1", offer)))
    b = place(client, admin, order(theirs, add("1", offer)))
    dealer = login("dealer", dealer_id=d1["id"])
    seen = {o["id"] for o in client.get(ORDER, params={"limit": 1000}, headers=dealer).json()}
    assert a["id"] in seen and b["id"] not in seen
    assert client.get(f"{ORDER}/{b['id']}", headers=dealer).status_code == 404
    # a dealer ordering for a customer outside its portfolio: that customer is not known to it
    c = place(client, dealer, order(theirs, add("1", offer)))
    assert c["state"] == "rejected"
    view = client.get(f"/api/customers/{mine['id']}/360", headers=admin).json()
    assert [o["id"] for o in view["orders"]] == [a["id"]]


def numbered(item_id: str, offer: Doc, number: str) -> Doc:
    return add(item_id, offer, product={"productCharacteristic": [{"name": "serviceNumber", "value": number}]})


def test_number_pool_choose_reserve_and_release(client, admin, login, sql: Sql) -> None:
    for number in ("13800000001", "13800000002", "13800000003", "13900000001"):
        sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES (%s, 'mobile', 'free')", (number,))
    r = client.get("/api/numbers", params={"prefix": "1380", "limit": 2}, headers=admin)
    assert r.status_code == 200, r.text
    assert [n["number"] for n in r.json()] == ["13800000001", "13800000002"]
    assert client.get("/api/numbers", params={"prefix": "x%"}, headers=admin).status_code == 400
    customer = make_customer(client, admin)
    offer = offering(client, admin)
    first = place(client, admin, order(customer, numbered("1", offer, "13800000001")))
    assert first["state"] == "inProgress"
    # reserved for the order, with no expiry while it is in fulfilment
    assert sql.rows("SELECT status, order_id, reserved_until FROM number_pool WHERE number = '13800000001'") == [
        ("reserved", first["id"], None)
    ]
    free = client.get("/api/numbers", params={"prefix": "1380"}, headers=admin).json()
    assert "13800000001" not in [n["number"] for n in free]
    # a reserved number, an unknown one, or the same one twice rejects the item; nothing is reserved then
    for body, reason in (
        (order(customer, numbered("1", offer, "13800000001")), "already reserved"),
        (order(customer, numbered("1", offer, "19999999999")), "not in the number pool"),
        (order(customer, numbered("1", offer, "13800000002"), numbered("2", offer, "13800000002")), "chosen twice"),
    ):
        assert any(reason in p for i in check(client, admin, body)["items"] for p in i["problems"]), reason
        doc = place(client, admin, body)
        assert doc["state"] == "rejected"
        assert any(reason in t for t in problems(doc, doc["productOrderItem"][-1]["id"])), (reason, doc)
    assert sql.count("number_pool", "status = 'reserved'") == 1
    # an order rejected for another reason does not keep its number
    other = make_customer(client, admin)
    bad = place(client, admin, order(customer, numbered("1", offer, "13800000002"), add("2")))
    assert bad["state"] == "rejected"
    assert sql.value("SELECT status FROM number_pool WHERE number = '13800000002'") == "free"
    # cancelling releases the number
    r = client.post(f"{ORDERING}/cancelProductOrder", json={"productOrder": {"id": first["id"]}}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "done"
    assert sql.rows("SELECT status, order_id FROM number_pool WHERE number = '13800000001'") == [("free", None)]
    assert place(client, admin, order(other, numbered("1", offer, "13800000001")))["state"] == "inProgress"


def test_numbers_reserved_with_the_first_look_ups_are_settled_by_the_orders_outcome(client, admin, sql: Sql) -> None:
    """A capture reserves its chosen numbers in the round trip of its first look-ups, with no
    expiry: a held order's reservation then lapses after a week, and a retry that finds the first
    order keeps none (ADR 10)."""
    for number in ("13700000001", "13700000002"):
        sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES (%s, 'mobile', 'free')", (number,))
    customer = make_customer(client, admin)
    offer = offering(client, admin)
    account = make_overdue_account(client, admin, customer, limit=0, overdue=10)
    chosen = numbered("1", offer, "13700000001")
    held = place(client, admin, order(customer, chosen, billingAccount={"id": account["id"]}))
    assert held["state"] == "held"
    status, owner, lapse = sql.rows(
        "SELECT status, order_id, reserved_until - now() FROM number_pool WHERE number = '13700000001'"
    )[0]
    assert (status, owner) == ("reserved", held["id"])
    assert timedelta(days=6, hours=23) < lapse <= timedelta(days=7)
    # the first order gave its number back (cancelled); its retry answers it and reserves nothing
    body = order(customer, numbered("1", offer, "13700000002"))
    first = client.post(ORDER, json=body, headers={**admin, "Idempotency-Key": "num-1"})
    assert first.status_code == 201, first.text
    r = client.post(f"{ORDERING}/cancelProductOrder", json={"productOrder": {"id": first.json()["id"]}}, headers=admin)
    assert r.status_code == 201 and r.json()["state"] == "done", r.text
    assert sql.rows("SELECT status, order_id FROM number_pool WHERE number = '13700000002'") == [("free", None)]
    again = client.post(ORDER, json=body, headers={**admin, "Idempotency-Key": "num-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert sql.rows("SELECT status, order_id FROM number_pool WHERE number = '13700000002'") == [("free", None)]
    assert sql.count("product_order", "customer_id = %s", customer["id"]) == 2


def test_concurrent_retries_with_one_external_id_make_one_order(client, admin, sql: Sql) -> None:
    """Retries racing each other wait for the first (a lock per key): every answer is the first order."""
    from concurrent.futures import ThreadPoolExecutor

    customer = make_customer(client, admin)
    body = {**order(customer, add("1", offering(client, admin))), "externalId": "RACE-1"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: client.post(ORDER, json=body, headers=admin), range(6)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert sql.count("product_order", "external_id = %s", "RACE-1") == 1
    assert sql.count("work_order") == 1  # fulfilment started once


def test_an_external_id_taken_by_another_order_of_the_customer_is_a_409(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    offer = offering(client, admin)
    first = place(client, admin, {**order(customer, add("1", offer)), "externalId": "EXT-A"})
    second = place(client, admin, {**order(customer, add("1", offer)), "externalId": "EXT-B"})
    assert first["id"] != second["id"]
    r = client.patch(f"{ORDER}/{second['id']}", json={"externalId": "EXT-A"}, headers={**admin, **MERGE})
    assert r.status_code == 409 and r.json()["field"] == "externalId"
    assert sql.value("SELECT external_id FROM product_order WHERE id = %s", second["id"]) == "EXT-B"
    r = client.patch(f"{ORDER}/{second['id']}", json={"externalId": "EXT-C"}, headers={**admin, **MERGE})
    assert r.status_code == 200 and r.json()["externalId"] == "EXT-C"


def test_only_staff_release_a_held_order(client, admin, login, sql: Sql) -> None:
    customer = make_customer(client, admin)
    held = _held_order(client, admin, customer)
    url = f"{ORDER}/{held['id']}"
    for role, links in (("customer", {"customer_id": customer["id"]}), ("dealer", {"dealer_id": "d-1"})):
        if role == "dealer":
            sql.conn.execute("UPDATE product_order SET dealer_id = 'd-1' WHERE id = %s", (held["id"],))
        r = client.patch(url, json={"state": "acknowledged"}, headers={**login(role, **links), **MERGE})
        assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN", (role, r.text)
        assert sql.value("SELECT state FROM product_order WHERE id = %s", held["id"]) == "held"
    # the held queue's column: since when it is held (revision 0015), cleared once it is not
    held_since = "SELECT held_at FROM product_order WHERE id = %s"
    assert sql.value(held_since, held["id"]) is not None
    r = client.patch(url, json={"state": "acknowledged"}, headers={**login("clerk"), **MERGE})
    assert r.status_code == 200 and r.json()["state"] == "inProgress"
    assert sql.value(held_since, held["id"]) is None
