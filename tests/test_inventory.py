"""TMF637 product inventory: the three-party link, references, lifecycle, billing start, scope (ADR 7)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Sql
from tests.factories import (
    CATALOG,
    INVENTORY,
    created,
    make_billing_account,
    make_customer,
    make_individual,
    make_organization,
    mobile,
)

Doc = dict[str, Any]
PRODUCT = f"{INVENTORY}/product"


def owner(customer: Doc, role: str = "customer") -> Doc:
    return {"id": customer["id"], "name": customer["name"], "@referredType": "Customer", "role": role}


def user_ref(user: Doc) -> Doc:
    return {"id": user["id"], "name": user["name"], "@referredType": "User", "role": "user"}


def new_user(client: TestClient, admin: dict[str, str], customer: Doc, **extra: Any) -> Doc:
    body = {"name": "使用人", "phoneNumber": mobile(), **extra}
    return created(client, f"/api/customers/{customer['id']}/users", body, admin)


def product(client: TestClient, headers: dict[str, str], **body: Any) -> Doc:
    return created(client, PRODUCT, {"status": "created", **body}, headers)


def patch(client: TestClient, headers: dict[str, str], id_: str, body: Doc) -> Any:
    return client.patch(
        f"{PRODUCT}/{id_}", json=body, headers={**headers, "Content-Type": "application/merge-patch+json"}
    )


def test_three_party_link_sets_the_scope_columns(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    account = make_billing_account(client, admin, customer)
    user = new_user(client, admin, customer)
    body = product(
        client,
        admin,
        name="手机",
        relatedParty=[owner(customer), user_ref(user)],
        billingAccount={"id": account["id"], "@referredType": "BillingAccount"},
    )
    row = sql.rows("SELECT customer_id, user_id, billing_account_id FROM product WHERE id = %s", body["id"])
    assert row == [(customer["id"], user["id"], account["id"])]
    # the user alone is enough to find the customer ("owner" is accepted too)
    other = product(client, admin, relatedParty=[user_ref(user)])
    assert sql.value("SELECT customer_id FROM product WHERE id = %s", other["id"]) == customer["id"]
    third = product(client, admin, relatedParty=[owner(customer, "owner")])
    assert sql.value("SELECT customer_id FROM product WHERE id = %s", third["id"]) == customer["id"]


def test_user_and_account_of_another_customer_are_refused(client, admin, sql: Sql) -> None:
    mine, theirs = make_customer(client, admin), make_customer(client, admin)
    their_user = new_user(client, admin, theirs)
    their_account = make_billing_account(client, admin, theirs)
    r = client.post(
        PRODUCT, json={"status": "created", "relatedParty": [owner(mine), user_ref(their_user)]}, headers=admin
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "relatedParty[1].id"
    r = client.post(
        PRODUCT,
        json={"status": "created", "relatedParty": [owner(mine)], "billingAccount": {"id": their_account["id"]}},
        headers=admin,
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "billingAccount.id"
    assert sql.count("product") == 0


def test_group_paid_account_pays_for_a_member(client, admin, sql: Sql) -> None:
    group = make_customer(client, admin, make_organization(client, admin))
    paid = make_billing_account(client, admin, group, accountType="groupPaid")
    member = new_user(client, admin, group)
    body = product(client, admin, relatedParty=[user_ref(member)], billingAccount={"id": paid["id"]})
    assert sql.value("SELECT billing_account_id FROM product WHERE id = %s", body["id"]) == paid["id"]


def test_references_of_the_wrong_kind_are_400_and_external_ones_kept(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    party = make_individual(client, admin)
    for body, field in (
        (
            {"relatedParty": [{"id": party["id"], "role": "customer", "@referredType": "Individual"}]},
            "relatedParty[0].id",
        ),
        ({"billingAccount": {"id": customer["id"]}}, "billingAccount.id"),
        ({"productOffering": {"id": customer["id"]}}, "productOffering.id"),
        ({"productSpecification": {"id": customer["id"]}}, "productSpecification.id"),
        (
            {"productPrice": [{"priceType": "recurring", "price": {}, "productOfferingPrice": {"id": customer["id"]}}]},
            "productPrice[0].productOfferingPrice.id",
        ),
    ):
        r = client.post(PRODUCT, json={"status": "created", **body}, headers=admin)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] == field
    assert sql.count("product") == 0
    kept = product(client, admin, productOffering={"id": "EXT-OFFER-1", "name": "外部"})
    assert kept["productOffering"] == {"id": "EXT-OFFER-1", "name": "外部"}


def test_an_offering_in_design_cannot_be_sold(client, admin, sql: Sql) -> None:
    draft = created(client, f"{CATALOG}/productOffering", {"name": "草稿套餐"}, admin)
    live = created(client, f"{CATALOG}/productOffering", {"name": "在售套餐", "lifecycleStatus": "active"}, admin)
    r = client.post(PRODUCT, json={"status": "created", "productOffering": {"id": draft["id"]}}, headers=admin)
    assert r.status_code == 400
    assert r.json()["field"] == "productOffering.id"
    body = product(client, admin, productOffering={"id": live["id"]})
    assert sql.value("SELECT offering_id FROM product WHERE id = %s", body["id"]) == live["id"]


def test_bundle_and_components_of_the_same_customer(client, admin, sql: Sql) -> None:
    customer, other = make_customer(client, admin), make_customer(client, admin)
    child = product(client, admin, relatedParty=[owner(customer)])
    foreign = product(client, admin, relatedParty=[owner(other)])
    rel = [{"relationshipType": "bundled", "product": {"id": child["id"]}}]
    r = client.post(
        PRODUCT,
        json={"status": "created", "relatedParty": [owner(customer)], "productRelationship": rel},
        headers=admin,
    )
    assert r.status_code == 400 and r.json()["field"] == "isBundle"
    bundle = product(client, admin, isBundle=True, relatedParty=[owner(customer)], productRelationship=rel)
    assert bundle["productRelationship"] == rel
    bad = [{"relationshipType": "bundled", "product": {"id": foreign["id"]}}]
    r = client.post(
        PRODUCT,
        json={"status": "created", "isBundle": True, "relatedParty": [owner(customer)], "productRelationship": bad},
        headers=admin,
    )
    assert r.status_code == 400 and r.json()["field"] == "productRelationship[0].product.id"


def test_lifecycle_transitions_dates_and_billing_start(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    body = product(client, admin, relatedParty=[owner(customer)])
    id_ = body["id"]
    assert "startDate" not in body
    for refused in ("terminated", "suspended", "pendingTerminate"):
        before = sql.count("audit_entry")
        r = patch(client, admin, id_, {"status": refused})
        assert r.status_code == 409, r.text
        assert sql.count("audit_entry") == before
    assert sql.value("SELECT status FROM product WHERE id = %s", id_) == "created"
    assert patch(client, admin, id_, {"status": "pendingActive"}).status_code == 200
    active = patch(client, admin, id_, {"status": "active"}).json()
    assert active["startDate"]
    first = sql.value("SELECT billing_start_date FROM product WHERE id = %s", id_)
    assert first is not None
    assert patch(client, admin, id_, {"status": "suspended"}).status_code == 200
    assert patch(client, admin, id_, {"status": "active"}).status_code == 200
    assert sql.value("SELECT billing_start_date FROM product WHERE id = %s", id_) == first
    events = sql.rows(
        "SELECT api, payload FROM outbox_event WHERE event_type = 'ProductBillingStartEvent' AND resource_id = %s", id_
    )
    assert len(events) == 1
    assert events[0][0] == "productInventory"
    assert events[0][1]["event"]["product"]["id"] == id_
    assert patch(client, admin, id_, {"status": "pendingTerminate"}).status_code == 200
    done = patch(client, admin, id_, {"status": "terminated"}).json()
    assert done["terminationDate"]
    assert sql.value("SELECT termination_date FROM product WHERE id = %s", id_) is not None
    assert patch(client, admin, id_, {"status": "active"}).status_code == 409
    # a terminated product is kept: only created/cancelled/aborted ones can be deleted
    assert client.delete(f"{PRODUCT}/{id_}", headers=admin).status_code == 409
    assert sql.count("product", "id = %s", id_) == 1


def test_aborted_accepts_both_spellings(client, admin, sql: Sql) -> None:
    a = product(client, admin)
    r = patch(client, admin, a["id"], {"status": "aborted"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "aborted "
    assert sql.value("SELECT status FROM product WHERE id = %s", a["id"]) == "aborted"
    b = product(client, admin, status="pendingActive")
    assert patch(client, admin, b["id"], {"status": "aborted "}).status_code == 200
    assert client.delete(f"{PRODUCT}/{b['id']}", headers=admin).status_code == 204
    r = client.post(PRODUCT, json={"status": "terminated"}, headers=admin)
    assert r.status_code == 400 and r.json()["field"] == "status"


def test_created_active_starts_billing_at_once(client, admin, sql: Sql) -> None:
    body = product(client, admin, status="active")
    assert body["startDate"]
    assert sql.count("outbox_event", "event_type = 'ProductBillingStartEvent' AND resource_id = %s", body["id"]) == 1


def test_scope_account_manager_dealer_and_customer(client, admin, login) -> None:
    m1, m2 = make_individual(client, admin), make_individual(client, admin)
    d1 = make_organization(client, admin, tradingName="一号代理商", name="一号代理商")

    def portfolio(manager: Doc) -> list[Doc]:
        return [
            {"id": manager["id"], "role": "accountManager", "@referredType": "Individual"},
            {"id": d1["id"], "role": "dealer", "@referredType": "Organization"},
        ]

    ca = make_customer(client, admin, relatedParty=portfolio(m1))
    cb = make_customer(client, admin, relatedParty=[portfolio(m2)[0]])
    pa = product(client, admin, relatedParty=[owner(ca)])
    pb = product(client, admin, relatedParty=[owner(cb)])

    def seen(headers: dict[str, str]) -> set[str]:
        r = client.get(PRODUCT, params={"limit": 100}, headers=headers)
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()}

    manager = login("account_manager", party_id=m1["id"])
    dealer = login("dealer", dealer_id=d1["id"])
    customer = login("customer", customer_id=ca["id"])
    assert seen(manager) == {pa["id"]}
    assert seen(dealer) == {pa["id"]}
    assert seen(customer) == {pa["id"]}
    assert seen(login("account_manager", party_id=m2["id"])) == {pb["id"]}
    assert client.get(f"{PRODUCT}/{pb['id']}", headers=manager).status_code == 404
    # writes within the portfolio, not outside it; customers only read
    assert patch(client, manager, pa["id"], {"name": "改名"}).status_code == 200
    assert patch(client, manager, pb["id"], {"name": "改名"}).status_code == 404
    r = client.post(PRODUCT, json={"status": "created", "relatedParty": [owner(cb)]}, headers=dealer)
    assert r.status_code == 403
    assert (
        client.post(PRODUCT, json={"status": "created", "relatedParty": [owner(ca)]}, headers=dealer).status_code == 201
    )
    assert patch(client, customer, pa["id"], {"name": "自己改"}).status_code == 403
    assert client.delete(f"{PRODUCT}/{pa['id']}", headers=manager).status_code == 403
    assert client.delete(f"{PRODUCT}/{pa['id']}", headers=login("supervisor")).status_code == 204


def test_360_lists_products_and_search_by_service_number(client, admin) -> None:
    customer = make_customer(client, admin)
    number = mobile()
    body = product(
        client,
        admin,
        name="主卡",
        productSerialNumber="sim-8986001",
        relatedParty=[owner(customer)],
        productCharacteristic=[{"name": "serviceNumber", "value": number}],
    )
    view = client.get(f"/api/customers/{customer['id']}/360", headers=admin).json()
    assert [p["id"] for p in view["products"]] == [body["id"]]
    for q in (number, "SIM-8986001"):
        r = client.get("/api/customers/search", params={"q": q}, headers=admin)
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()] == [customer["id"]], q


def test_a_customer_with_products_in_service_cannot_be_terminated(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)
    line = product(client, admin, status="active", relatedParty=[owner(customer)])
    terminate = {"status": "terminated", "statusReason": "moved abroad"}
    refused = client.patch(f"/tmf-api/customerManagement/v4/customer/{customer['id']}", json=terminate, headers=admin)
    assert refused.status_code == 409, refused.text
    assert "products in service" in refused.json()["message"]
    assert sql.value("SELECT status FROM customer WHERE id = %s", customer["id"]) == "active"

    assert patch(client, admin, line["id"], {"status": "terminated"}).status_code == 200
    done = client.patch(f"/tmf-api/customerManagement/v4/customer/{customer['id']}", json=terminate, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "terminated"
