"""The order form and the order page on the screens (desktop and web hall), over the ordering service."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Sql
from tests.factories import CATALOG, created, make_billing_account, make_customer, make_individual
from tests.test_ordering import offering
from tests.test_pricing import price, refs

Doc = dict[str, Any]
Headers = dict[str, str]
HTMX = {"HX-Request": "true"}


def catalog(client: TestClient, admin: Headers) -> dict[str, Doc]:
    """A category with a mobile plan (numbered, configurable network), broadband and a bundle of both."""
    category = created(client, f"{CATALOG}/category", {"name": "测试类", "lifecycleStatus": "active"}, admin)
    cat = [{"id": category["id"], "name": category["name"]}]

    def spec(name: str, domain: str, **chars: list[str]) -> Doc:
        values = {**chars, "networkDomain": [domain]}
        body = {
            "name": name,
            "lifecycleStatus": "active",
            "productSpecCharacteristic": [
                {
                    "name": cname,
                    "valueType": "string",
                    "productSpecCharacteristicValue": [{"value": v, "valueType": "string"} for v in vs],
                }
                for cname, vs in values.items()
            ],
        }
        return created(client, f"{CATALOG}/productSpecification", body, admin)

    mobile_spec = spec("移动", "mobile", network=["5G", "4G"])
    bb_spec = spec("宽带", "broadband", bandwidth=["300M", "1000M"])
    plan = offering(
        client,
        admin,
        name="测试 99 元套餐",
        category=cat,
        productSpecification={"id": mobile_spec["id"]},
        productOfferingPrice=refs(price(client, admin, "月费", "recurring", 99)),
    )
    broadband = offering(
        client,
        admin,
        name="测试宽带",
        category=cat,
        productSpecification={"id": bb_spec["id"]},
        productOfferingPrice=refs(
            price(client, admin, "宽带月费", "recurring", 120), price(client, admin, "安装费", "oneTime", 100)
        ),
    )
    one = {"numberRelOfferLowerLimit": 1, "numberRelOfferUpperLimit": 1}
    bundle = offering(
        client,
        admin,
        name="测试融合",
        category=cat,
        isBundle=True,
        bundledProductOffering=[
            {"id": plan["id"], "bundledProductOfferingOption": one},
            {"id": broadband["id"], "bundledProductOfferingOption": one},
        ],
        productOfferingPrice=refs(price(client, admin, "融合优惠", "discount", 20, recurringChargePeriodType="month")),
    )
    return {"category": category, "plan": plan, "broadband": broadband, "bundle": bundle}


def free_number(sql: Sql) -> str:
    number = "1" + str(sql.value("SELECT (floor(random() * 1e10))::bigint::text")).zfill(10)[:10]
    sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES (%s, 'mobile', 'free')", (number,))
    return number


def idem(html: str) -> str:
    found = re.search(r'name="idem" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def test_the_form_browses_the_catalog_and_loads_the_options(client: TestClient, admin, web_login, sql: Sql) -> None:
    cat = catalog(client, admin)
    customer = make_customer(client, admin)
    web_login(client, "agent")
    url = f"/desk/customers/{customer['id']}/order"
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert f'data-category="{cat["category"]["id"]}"' in r.text and 'id="place-order"' in r.text
    r = client.get(f"{url}/offerings", params={"category": cat["category"]["id"]}, headers=HTMX)
    assert r.status_code == 200
    for key in ("plan", "broadband", "bundle"):
        assert f'data-offering="{cat[key]["id"]}"' in r.text
    number = free_number(sql)
    r = client.get(f"{url}/options", params={"offering": cat["plan"]["id"]}, headers=HTMX)
    assert r.status_code == 200
    assert f'name="c.{cat["plan"]["id"]}.network"' in r.text and "<option" in r.text  # enumerated: a <select>
    assert 'name="number_prefix"' in r.text and 'hx-swap-oob="innerHTML"' in r.text
    r = client.get(f"{url}/numbers", params={"number_prefix": number[:11], "kind": "mobile"}, headers=HTMX)
    assert f'data-number="{number}"' in r.text
    # the page itself, with an offering chosen, works without HTMX
    r = client.get(url, params={"offering": cat["bundle"]["id"]})
    assert r.status_code == 200 and f'data-part="{cat["broadband"]["id"]}"' in r.text


def test_the_quote_shows_the_bundle_discount(client: TestClient, admin, web_login) -> None:
    cat = catalog(client, admin)
    customer = make_customer(client, admin)
    csrf = web_login(client, "agent")
    url = f"/desk/customers/{customer['id']}/order/quote"
    r = client.post(url, data={"_csrf": csrf, "offering": cat["bundle"]["id"]}, headers=HTMX)
    assert r.status_code == 200, r.text
    assert re.search(r'data-total="recurring">[^<]*199\.00', r.text), r.text  # 99 + 120 - 20
    assert re.search(r'data-total="oneTime">[^<]*100\.00', r.text)
    assert "融合优惠" in r.text and "-" in r.text
    assert client.post(url, data={"offering": cat["bundle"]["id"]}).status_code == 403  # no CSRF token


def test_placing_an_order_twice_makes_one_order_and_reserves_the_number(
    client: TestClient, admin, web_login, sql: Sql
) -> None:
    cat = catalog(client, admin)
    customer = make_customer(client, admin)
    account = make_billing_account(client, admin, customer)
    number = free_number(sql)
    csrf = web_login(client, "agent")
    url = f"/desk/customers/{customer['id']}/order"
    key = idem(client.get(url).text)
    form = {
        "_csrf": csrf,
        "idem": key,
        "offering": cat["bundle"]["id"],
        f"c.{cat['plan']['id']}.network": "4G",
        "service_number": number,
        "billing_account": account["id"],
    }
    first = client.post(url, data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    again = client.post(url, data=form, follow_redirects=False)  # a double click: the same form again
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    order_id = first.headers["location"].rsplit("/", 1)[1]
    assert sql.count("product_order", "customer_id = %s", customer["id"]) == 1
    assert sql.rows("SELECT status, order_id FROM number_pool WHERE number = %s", number) == [("reserved", order_id)]
    doc = client.get(f"/tmf-api/productOrderingManagement/v4/productOrder/{order_id}", headers=admin).json()
    assert doc["billingAccount"]["id"] == account["id"]
    (root,) = doc["productOrderItem"]
    assert [c["productOffering"]["id"] for c in root["productOrderItem"]] == [cat["plan"]["id"], cat["broadband"]["id"]]
    chars = {c["name"]: c["value"] for c in root["productOrderItem"][0]["product"]["productCharacteristic"]}
    assert chars == {"network": "4G", "serviceNumber": number}
    # the order page: state, items, work orders (派单)
    page = client.get(first.headers["location"])
    assert page.status_code == 200
    assert 'id="order-state"' in page.text and f'data-state="{doc["state"]}"' in page.text
    assert page.text.count("data-work-order=") == sql.count("work_order", "order_id = %s", order_id) > 0
    assert 'sse-connect="/desk/orders/' in page.text


def test_problems_are_shown_and_a_malformed_form_is_refused(client: TestClient, admin, web_login, sql: Sql) -> None:
    cat = catalog(client, admin)
    prospect = make_customer(client, admin, make_individual(client, admin, individualIdentification=[]))
    csrf = web_login(client, "agent")
    url = f"/desk/customers/{prospect['id']}/order"
    form = {"_csrf": csrf, "idem": "k1", "offering": cat["plan"]["id"]}
    r = client.post(f"{url}/check", data=form, headers=HTMX)
    assert r.status_code == 200 and 'data-check="rejected"' in r.text and "only active customers order" in r.text
    # without HTMX the whole form comes back with the problems
    r = client.post(f"{url}/check", data=form)
    assert r.status_code == 200 and 'id="order-form"' in r.text and "only active customers order" in r.text
    # a business problem does not block capture: the order is stored, rejected, with the reason
    r = client.post(url, data=form, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert 'data-state="rejected"' in page and "only active customers order" in page
    # no offering chosen: the form again, with the error (nothing stored)
    before = sql.count("product_order")
    r = client.post(url, data={"_csrf": csrf, "idem": "k2"})
    assert r.status_code == 400 and 'id="order-form"' in r.text and 'role="alert"' in r.text
    assert sql.count("product_order") == before
    assert client.post(url, data={"idem": "k3", "offering": cat["plan"]["id"]}).status_code == 403  # CSRF


def test_cancel_an_order_from_its_page(client: TestClient, admin, web_login, sql: Sql) -> None:
    cat = catalog(client, admin)
    customer = make_customer(client, admin)
    csrf = web_login(client, "agent")
    url = f"/desk/customers/{customer['id']}/order"
    r = client.post(url, data={"_csrf": csrf, "idem": "c1", "offering": cat["broadband"]["id"]}, follow_redirects=False)
    page = r.headers["location"]
    assert 'id="cancel-order"' in client.get(page).text
    assert client.post(f"{page}/cancel", data={}).status_code == 403
    r = client.post(f"{page}/cancel", data={"_csrf": csrf, "reason": "changed mind"}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-state="cancelled"' in client.get(page).text


def test_a_dealer_cannot_order_for_or_see_another_dealers_customer(
    client: TestClient, admin, web_login, sql: Sql
) -> None:
    cat = catalog(client, admin)
    theirs = make_customer(client, admin)
    sql.conn.execute("UPDATE customer SET dealer_id = 'dealer-b' WHERE id = %s", (theirs["id"],))
    csrf = web_login(client, "agent")
    r = client.post(
        f"/desk/customers/{theirs['id']}/order",
        data={"_csrf": csrf, "idem": "d1", "offering": cat["plan"]["id"]},
        follow_redirects=False,
    )
    page = r.headers["location"]
    web_login(client, "dealer", dealer_id="dealer-a")
    assert client.get(f"/desk/customers/{theirs['id']}/order").status_code == 404
    assert client.get(page).status_code == 404
    assert client.get(f"{page}/live").status_code == 404
    csrf = web_login(client, "dealer", dealer_id="dealer-a")
    r = client.post(
        f"/desk/customers/{theirs['id']}/order", data={"_csrf": csrf, "idem": "d2", "offering": cat["plan"]["id"]}
    )
    assert r.status_code == 404


def test_a_hall_customer_orders_only_for_itself(client: TestClient, admin, web_login, sql: Sql) -> None:
    cat = catalog(client, admin)
    me = make_customer(client, admin)
    other = make_customer(client, admin)
    mine = make_billing_account(client, admin, me)
    not_mine = make_billing_account(client, admin, other)
    csrf = web_login(client, "customer", customer_id=me["id"])
    r = client.get("/hall/order")
    assert r.status_code == 200 and mine["id"] in r.text and not_mine["id"] not in r.text
    assert "hall" in r.text and 'action="/hall/order"' in r.text
    r = client.post(
        "/hall/order", data={"_csrf": csrf, "idem": "h1", "offering": cat["plan"]["id"]}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/hall/orders/")
    assert sql.count("product_order", "customer_id = %s", me["id"]) == 1
    assert client.get(r.headers["location"]).status_code == 200
    # the customer cannot use the desktop's form for another customer, nor see its orders
    assert client.get(f"/desk/customers/{other['id']}/order").status_code == 403
    staff = web_login(client, "agent")
    r = client.post(
        f"/desk/customers/{other['id']}/order",
        data={"_csrf": staff, "idem": "h2", "offering": cat["plan"]["id"]},
        follow_redirects=False,
    )
    theirs = r.headers["location"].rsplit("/", 1)[1]
    web_login(client, "customer", customer_id=me["id"])
    assert client.get(f"/hall/orders/{theirs}").status_code == 404
    # staff do not use the hall's form
    web_login(client, "agent")
    assert client.get("/hall/order").status_code == 403


def test_staff_see_held_orders_on_the_desk_and_release_them(client: TestClient, admin, web_login, sql) -> None:
    from tests.factories import make_customer
    from tests.test_ordering import _held_order

    customer = make_customer(client, admin)
    held = _held_order(client, admin, customer)
    csrf = web_login(client, "supervisor")
    home = client.get("/desk").text
    assert f'data-order="{held["id"]}"' in home.split('id="held-orders"')[1]
    page = client.get(f"/desk/orders/{held['id']}").text
    assert 'id="release-order"' in page
    assert client.post(f"/desk/orders/{held['id']}/release", data={}, follow_redirects=False).status_code == 403
    r = client.post(f"/desk/orders/{held['id']}/release", data={"_csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/desk/orders/{held['id']}"
    assert sql.value("SELECT state FROM product_order WHERE id = %s", held["id"]) == "inProgress"
    assert 'id="held-orders"' not in client.get("/desk").text  # the queue is empty again


def test_a_dealer_sees_its_held_orders_but_cannot_release_them(client: TestClient, admin, web_login, sql) -> None:
    from tests.factories import make_customer
    from tests.test_ordering import _held_order

    customer = make_customer(client, admin)
    held = _held_order(client, admin, customer)
    other = _held_order(client, admin, make_customer(client, admin))
    sql.conn.execute("UPDATE customer SET dealer_id = 'd-9' WHERE id = %s", (customer["id"],))
    sql.conn.execute("UPDATE product_order SET dealer_id = 'd-9' WHERE id = %s", (held["id"],))
    csrf = web_login(client, "dealer", dealer_id="d-9")
    home = client.get("/desk").text
    assert held["id"] in home and other["id"] not in home
    assert 'id="release-order"' not in client.get(f"/desk/orders/{held['id']}").text
    r = client.post(f"/desk/orders/{held['id']}/release", data={"_csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403
    assert sql.value("SELECT state FROM product_order WHERE id = %s", held["id"]) == "held"


def test_the_form_offers_only_what_the_customer_may_buy(client: TestClient, admin, web_login) -> None:
    from tests.factories import make_customer
    from tests.test_ordering import offering

    customer = make_customer(client, admin)  # an individual
    open_to_all = offering(client, admin, name="宽带 100M 全员")
    for_groups = offering(client, admin, name="企业专线 集团", marketSegment=[{"id": "group"}])
    elsewhere = offering(client, admin, name="海南 专享", place=[{"id": "海南省", "name": "海南省"}])
    web_login(client, "clerk")
    for path in (f"/desk/customers/{customer['id']}/order", f"/desk/customers/{customer['id']}/order/offerings"):
        page = client.get(path).text
        assert f'data-offering="{open_to_all["id"]}"' in page
        assert f'data-offering="{for_groups["id"]}"' not in page
        assert f'data-offering="{elsewhere["id"]}"' not in page
