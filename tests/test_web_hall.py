"""The web self-service hall: a customer's own products, orders and accounts, nobody else's."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.testclient import TestClient

from telcrm.web.hall import for_customer
from tests.conftest import Sql
from tests.factories import INVENTORY, created, make_billing_account, make_customer
from tests.test_ordering import add, offering, order, place

Doc = dict[str, Any]


def owner(customer: Doc) -> Doc:
    return {"id": customer["id"], "name": customer["name"], "@referredType": "Customer", "role": "customer"}


def line(client: TestClient, admin: dict[str, str], customer: Doc, account: Doc, number: str) -> Doc:
    """An active mobile line of ``customer``, made through the inventory API."""
    return created(
        client,
        f"{INVENTORY}/product",
        {
            "status": "created",
            "name": "59元 5G 畅享套餐",
            "relatedParty": [owner(customer)],
            "billingAccount": {"id": account["id"], "@referredType": "BillingAccount"},
            "productCharacteristic": [{"name": "serviceNumber", "value": number, "valueType": "string"}],
            "productPrice": [
                {
                    "priceType": "recurring",
                    "recurringChargePeriod": "month",
                    "price": {"taxIncludedAmount": {"unit": "CNY", "value": 59}},
                }
            ],
        },
        admin,
    )


def test_the_hall_shows_the_customers_own_products_orders_and_accounts(client: TestClient, admin, web_login) -> None:
    mine, theirs = make_customer(client, admin), make_customer(client, admin)
    my_account = make_billing_account(client, admin, mine, creditLimit={"unit": "CNY", "value": 300})
    their_account = make_billing_account(client, admin, theirs)
    my_line = line(client, admin, mine, my_account, "13911112222")
    their_line = line(client, admin, theirs, their_account, "13933334444")
    offer = offering(client, admin)
    my_order = place(client, admin, order(mine, add("1", offer), billingAccount={"id": my_account["id"]}))
    refused = place(client, admin, order(mine, add("1")))  # names nothing to add: rejected, with the reason
    their_order = place(client, admin, order(theirs, add("1", offer)))
    assert my_order["state"] == "inProgress" and refused["state"] == "rejected"

    web_login(client, "customer", customer_id=mine["id"])
    r = client.get("/hall")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    page = r.text
    assert mine["name"] in page
    assert 'id="my-products"' in page and f'data-product="{my_line["id"]}"' in page and "13911112222" in page
    assert 'id="my-orders"' in page
    assert f'data-order="{my_order["id"]}" data-state="inProgress"' in page
    assert f'data-order="{refused["id"]}" data-state="rejected"' in page
    assert "nothing to add" in page  # why it was rejected
    assert f'href="/hall/orders/{my_order["id"]}"' in page
    assert 'id="order-new"' in page and 'href="/hall/order"' in page
    assert 'sse-connect="/hall/live"' in page
    assert my_account["id"] in page
    # nobody else's
    for other in (theirs["id"], their_line["id"], their_order["id"], their_account["id"], "13933334444"):
        assert other not in page
    # no staff-only parts: no audit trail, no desk links, no identification numbers
    assert 'id="audit"' not in page and "/desk" not in page
    assert "individualIdentification" not in page and "residentIdCard" not in page
    # the live part's refresh: the body only
    part = client.get("/hall", headers={"HX-Request": "true"})
    assert part.status_code == 200 and "<html" not in part.text and f'data-product="{my_line["id"]}"' in part.text
    # products and orders are parts of the one page
    for path, anchor in (("/hall/products", "#products"), ("/hall/orders", "#orders")):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/hall{anchor}"


def test_a_customer_with_nothing_yet_sees_empty_lists(client: TestClient, admin, web_login) -> None:
    customer = make_customer(client, admin)
    web_login(client, "customer", customer_id=customer["id"])
    page = client.get("/hall").text
    assert 'id="my-products"' not in page and 'id="my-orders"' not in page
    assert 'id="order-new"' in page and 'id="products"' in page and 'id="orders"' in page


def test_staff_and_dealers_are_sent_to_the_desk(client: TestClient, web_login) -> None:
    for role, links in (("agent", {}), ("clerk", {}), ("dealer", {"dealer_id": "dealer-a"})):
        web_login(client, role, **links)
        r = client.get("/hall", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/desk", role
        r = client.get("/hall", headers={"HX-Request": "true"}, follow_redirects=False)
        assert r.status_code == 403 and r.headers["HX-Redirect"] == "/desk"
        assert client.get("/hall/live", follow_redirects=False).status_code == 403


def test_a_customer_sign_in_without_its_customer_gets_a_clear_page(client: TestClient, web_login) -> None:
    web_login(client, "customer", customer_id="C9999999999")
    r = client.get("/hall")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert 'id="hall-missing"' in r.text and "10000" in r.text
    r = client.get("/hall", headers={"HX-Request": "true"})
    assert r.status_code == 404 and 'role="alert"' in r.text
    assert client.get("/hall/live").status_code == 404
    # a customer login linked to no customer at all
    web_login(client, "customer")
    r = client.get("/hall")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]


def test_the_hall_needs_a_session(client: TestClient) -> None:
    r = client.get("/hall", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/hall"
    assert client.get("/hall/live", follow_redirects=False).status_code == 401


def test_sign_in_takes_a_customer_to_the_hall_and_sign_out_needs_csrf(client: TestClient, admin, web_login) -> None:
    customer = make_customer(client, admin)
    csrf = web_login(client, "customer", customer_id=customer["id"])
    assert client.get("/", follow_redirects=False).headers["location"] == "/hall"
    assert client.get(f"/desk/customers/{customer['id']}").status_code == 403
    page = client.get("/hall").text
    assert f'name="_csrf" value="{csrf}"' in page  # the sign-out form carries it
    assert client.post("/hall", data={"_csrf": csrf}).status_code == 405  # the hall itself changes nothing
    assert client.post("/logout", data={"_csrf": "forged"}, follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"_csrf": csrf}, follow_redirects=False).status_code == 303


def test_live_updates_watch_only_the_callers_customer(client: TestClient, admin, web_login, monkeypatch) -> None:
    """The SSE endpoint subscribes to the caller's own topic, whatever the request says."""
    from fastapi.responses import Response

    from telcrm.web import hall

    mine, theirs = make_customer(client, admin), make_customer(client, admin)
    web_login(client, "customer", customer_id=mine["id"])
    seen: list[list[str]] = []

    def fake_sse(request: Any, topics: list[str]) -> Response:
        seen.append(topics)
        return Response(b"retry: 3000\n\n", media_type="text/event-stream")

    monkeypatch.setattr(hall, "sse", fake_sse)
    r = client.get(f"/hall/live?customer={theirs['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert seen == [[f"c:{mine['id']}"]]


def test_what_a_customer_sees_of_the_360_view() -> None:
    data = {
        "customer": {"id": "C1", "name": "李峰", "status": "active", "relatedParty": [{"id": "D1", "role": "dealer"}]},
        "party": {"individualIdentification": [{"identificationId": "110105199001010011"}]},
        "relatedParties": [{"ref": {"id": "D1", "role": "dealer"}, "name": "代理商"}],
        "audit": [{"who": "agent 7"}],
        "accounts": [{"id": "A1", "name": "个人账户", "accountType": "postpaid", "creditLimit": {"value": 100}}],
        "products": [
            {"id": "old", "name": "旧套餐", "status": "terminated"},
            {
                "id": "b",
                "name": "融合套餐",
                "status": "active",
                "isBundle": True,
                "productRelationship": [{"relationshipType": "bundled", "product": {"id": "m"}}],
                "productPrice": [{"priceType": "discount", "price": {"percentage": 30}}],
            },
            {"id": "hidden", "name": "内部", "status": "active", "isCustomerVisible": False},
            {
                "id": "m",
                "name": "手机",
                "status": "active",
                "productCharacteristic": [
                    {"name": "serviceNumber", "value": "13900000000"},
                    {"name": "network", "value": "5G"},
                ],
            },
        ],
        "orders": [
            {
                "id": "o1",
                "state": "held",
                "productOrderItem": [
                    {"id": "1", "action": "add", "productOffering": {"id": "po-b", "name": "融合套餐"},
                     "productOrderItem": [{"id": "2", "action": "add", "productOffering": {"id": "po-m"}}]},
                ],
                "note": [{"text": "held: overdue", "author": "telcrm"}],
            }
        ],
    }  # fmt: skip
    v = for_customer(data)
    assert set(v) == {"customer", "products", "orders", "open", "accounts"}
    assert v["customer"] == {"id": "C1", "name": "李峰", "status": "active"}
    # bundles with their parts under them, ended ones last, hidden ones not at all
    assert [(p["id"], p["depth"]) for p in v["products"]] == [("b", 0), ("m", 1), ("old", 0)]
    m = v["products"][1]
    assert m["number"] == "13900000000" and m["options"] == ["5G"]
    assert v["products"][0]["prices"][0]["percentage"] == 30
    o = v["orders"][0]
    assert o["notes"] == ["held: overdue"] and o["open"] and v["open"] == 1
    assert [(i["name"], i["depth"]) for i in o["lines"]] == [("融合套餐", 0), ("po-m", 1)]
    assert v["accounts"][0]["type"] == "postpaid"
    assert "110105199001010011" not in repr(v) and "代理商" not in repr(v) and "agent 7" not in repr(v)


def test_the_demo_customer_login_has_products_and_orders_to_show(
    client: TestClient, admin, database_url: str, sql: Sql
) -> None:
    from telcrm.demo.staff import ensure_staff

    bare = make_customer(client, admin)  # the first customer, with nothing yet
    served = make_customer(client, admin)
    account = make_billing_account(client, admin, served)
    line(client, admin, served, account, "13955556666")
    place(client, admin, order(served, add("1", offering(client, admin))))
    assert bare["id"] < served["id"]
    asyncio.run(ensure_staff(database_url))
    assert sql.value("SELECT customer_id FROM principal WHERE username = 'customer'") == served["id"]
