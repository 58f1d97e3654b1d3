"""Order fulfilment (ADR 9): work orders per network domain, results, products, billing start,
failure and retry, bundles, changes to products, cancellation, reservation expiry.

Here the test plays the provisioning system: it reads the work orders an order produced and
reports results through the API, exactly as provisioning does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from telcrm.kit.auth import SYSTEM_CALLER, Context
from telcrm.kit.bulk import plain_url
from telcrm.kit.db import Database
from telcrm.ordering import fulfilment
from telcrm.ordering.service import orders as order_service
from telcrm.worker.provisioning import WorkOrderSender
from tests.conftest import Sql
from tests.factories import (
    CATALOG,
    INVENTORY,
    ORDERING,
    created,
    make_billing_account,
    make_customer,
    make_overdue_account,
    mobile,
)

Doc = dict[str, Any]
Headers = dict[str, str]
ORDER = f"{ORDERING}/productOrder"
CANCEL = f"{ORDERING}/cancelProductOrder"
RESULTS = "/api/provisioning/workOrderResults"
MERGE = {"Content-Type": "application/merge-patch+json"}


def product_line(client: TestClient, admin: Headers, domain: str, name: str, fee: float = 50.0) -> Doc:
    """An active offering on a specification provisioned in ``domain``, with a monthly price."""
    spec = created(
        client,
        f"{CATALOG}/productSpecification",
        {
            "name": f"{name} spec",
            "lifecycleStatus": "active",
            "productSpecCharacteristic": [
                {
                    "name": "networkDomain",
                    "valueType": "string",
                    "configurable": False,
                    "productSpecCharacteristicValue": [{"value": domain, "valueType": "string", "isDefault": True}],
                },
                {
                    "name": "bandwidth",
                    "valueType": "string",
                    "configurable": True,
                    "productSpecCharacteristicValue": [
                        {"value": v, "valueType": "string", "isDefault": v == "100M"} for v in ("100M", "300M")
                    ],
                },
            ],
        },
        admin,
    )
    price = created(
        client,
        f"{CATALOG}/productOfferingPrice",
        {
            "name": f"{name} monthly",
            "priceType": "recurring",
            "recurringChargePeriodType": "month",
            "price": {"unit": "CNY", "value": fee},
            "lifecycleStatus": "active",
        },
        admin,
    )
    return created(
        client,
        f"{CATALOG}/productOffering",
        {
            "name": name,
            "lifecycleStatus": "active",
            "productSpecification": {"id": spec["id"], "name": spec["name"]},
            "productOfferingPrice": [{"id": price["id"], "name": price["name"]}],
        },
        admin,
    )


def bundle(client: TestClient, admin: Headers, *parts: Doc) -> Doc:
    return created(
        client,
        f"{CATALOG}/productOffering",
        {
            "name": "融合套餐 test bundle",
            "lifecycleStatus": "active",
            "isBundle": True,
            "bundledProductOffering": [
                {
                    "id": p["id"],
                    "name": p["name"],
                    "bundledProductOfferingOption": {"numberRelOfferLowerLimit": 1, "numberRelOfferUpperLimit": 1},
                }
                for p in parts
            ],
        },
        admin,
    )


class Shop:
    """A customer with an account and a user, ready to order."""

    def __init__(self, client: TestClient, admin: Headers) -> None:
        self.client, self.admin = client, admin
        self.customer = make_customer(client, admin)
        self.account = make_billing_account(client, admin, self.customer)
        self.user = created(
            client,
            f"/api/customers/{self.customer['id']}/users",
            {"name": "使用人", "phoneNumber": mobile()},
            admin,
        )

    def order(self, *items: Doc, **extra: Any) -> Doc:
        body = {
            "relatedParty": [
                {"id": self.customer["id"], "role": "customer", "@referredType": "Customer"},
                {"id": self.user["id"], "role": "user", "@referredType": "User"},
            ],
            "billingAccount": {"id": self.account["id"]},
            "productOrderItem": list(items),
            **extra,
        }
        r = self.client.post(ORDER, json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def get(self, order_id: str) -> Doc:
        return self.client.get(f"{ORDER}/{order_id}", headers=self.admin).json()  # type: ignore[no-any-return]


def add(item_id: str, offer: Doc, number: str | None = None, **extra: Any) -> Doc:
    item: Doc = {"id": item_id, "action": "add", "productOffering": {"id": offer["id"], "name": offer["name"]}}
    if number is not None:
        item["product"] = {"productCharacteristic": [{"name": "serviceNumber", "value": number}]}
    return {**item, **extra}


def work(client: TestClient, headers: Headers, order_id: str) -> list[Doc]:
    r = client.get(f"/api/orders/{order_id}/workOrders", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def report(client: TestClient, headers: Headers, *results: Doc) -> Doc:
    r = client.post(RESULTS, json={"results": list(results)}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def done(wo: Doc, **resource: Any) -> Doc:
    return {"id": wo["id"], "attempt": wo["attempt"], "status": "completed", "resource": resource}


def failed(wo: Doc, reason: str, retryable: bool) -> Doc:
    return {"id": wo["id"], "attempt": wo["attempt"], "status": "failed", "reason": reason, "retryable": retryable}


def open_work(client: TestClient, headers: Headers, order_id: str) -> list[Doc]:
    return [w for w in work(client, headers, order_id) if w["state"] == "pending"]


def converged_order(client: TestClient, admin: Headers) -> tuple[Shop, Doc]:
    """A customer's order for a mobile + broadband bundle (items 1.1 and 1.2), now in fulfilment."""
    shop = Shop(client, admin)
    mobile_plan = product_line(client, admin, "mobile", "99 套餐")
    broadband = product_line(client, admin, "broadband", "宽带 300M")
    converged = bundle(client, admin, mobile_plan, broadband)
    return shop, shop.order(add("1", converged, productOrderItem=[add("1.1", mobile_plan), add("1.2", broadband)]))


def complete_all(client: TestClient, headers: Headers, order_id: str) -> None:
    """Play provisioning until the order has no work waiting."""
    for _ in range(10):
        due = open_work(client, headers, order_id)
        if not due:
            return
        report(client, headers, *(done(w) for w in due))


def events(sql: Sql, resource_id: str) -> list[tuple[str, str | None]]:
    return sql.rows(  # type: ignore[no-any-return]
        "SELECT event_type, coalesce(payload->'event'->'productOrder'->>'state',"
        " payload->'event'->'product'->>'status') FROM outbox_event WHERE resource_id = %s ORDER BY id",
        resource_id,
    )


def test_mobile_order_is_provisioned_step_by_step_and_ends_as_a_billed_product(client, admin, login, sql: Sql) -> None:
    system = login("system")
    shop = Shop(client, admin)
    plan = product_line(client, admin, "mobile", "5G 畅享 99", fee=99)
    sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES ('17700000001', 'mobile', 'free')")
    order = shop.order(add("1", plan, "17700000001"))
    assert order["state"] == "inProgress"
    steps = work(client, admin, order["id"])
    assert [(w["domain"], w["task"], w["state"]) for w in steps] == [
        ("mobile", "number", "pending"),
        ("mobile", "sim", "waiting"),
    ]
    # the first task done: the next one is released, the order is still in progress
    assert report(client, system, done(steps[0], hlr="HLR-BJ-03")) == {"accepted": 1, "ignored": 0}
    # provisioning repeating itself changes nothing
    assert report(client, system, done(steps[0], hlr="HLR-BJ-03")) == {"accepted": 0, "ignored": 1}
    steps = work(client, admin, order["id"])
    assert [w["state"] for w in steps] == ["completed", "pending"]
    assert shop.get(order["id"])["state"] == "inProgress"
    assert sql.count("product") == 0
    # the last task done: the product exists, billed from today, the number is in service
    report(client, system, done(steps[1], iccid="89860012345678901234", imsi="460001234567890"))
    finished = shop.get(order["id"])
    assert finished["state"] == "completed" and finished["completionDate"]
    item = finished["productOrderItem"][0]
    assert item["state"] == "completed"
    product = client.get(f"{INVENTORY}/product/{item['product']['id']}", headers=admin).json()
    assert product["status"] == "active"
    assert product["productOffering"]["id"] == plan["id"]
    assert product["billingAccount"]["id"] == shop.account["id"]
    assert {(p["role"], p["id"]) for p in product["relatedParty"]} == {
        ("customer", shop.customer["id"]),
        ("user", shop.user["id"]),
    }
    chars = {c["name"]: c["value"] for c in product["productCharacteristic"]}
    assert chars["serviceNumber"] == "17700000001" and chars["iccid"] == "89860012345678901234"
    assert product["productSerialNumber"] == "89860012345678901234"
    price = product["productPrice"][0]
    assert price["productOfferingPrice"]["id"] == plan["productOfferingPrice"][0]["id"]
    assert price["price"]["taxIncludedAmount"] == {"unit": "CNY", "value": 99}
    assert product["productOrderItem"][0]["productOrderId"] == order["id"]
    row = sql.rows("SELECT customer_id, user_id, billing_start_date IS NOT NULL FROM product")
    assert row == [(shop.customer["id"], shop.user["id"], True)]
    assert sql.rows("SELECT status, order_id FROM number_pool") == [("taken", order["id"])]
    assert events(sql, product["id"]) == [("ProductCreateEvent", "active"), ("ProductBillingStartEvent", "active")]
    assert [e for e, _ in events(sql, order["id"])].count("ProductOrderStateChangeEvent") == 2
    # the number now finds the customer, and so does the order id
    for q in ("177 0000 0001", order["id"]):
        found = client.get("/api/customers/search", params={"q": q}, headers=admin).json()
        assert shop.customer["id"] in [c["id"] for c in found], q
    # every channel sees the same: the 360 view lists the order and the product
    view = client.get(f"/api/customers/{shop.customer['id']}/360", headers=admin).json()
    assert [o["id"] for o in view["orders"]] == [order["id"]]
    assert product["id"] in [p["id"] for p in view["products"]]


def test_a_product_the_inventory_refuses_fails_its_item_and_leaves_nothing_behind(
    client, admin, login, sql: Sql
) -> None:
    """Between capture and completion the billing account went to another customer: the product
    cannot be recorded, so the item fails whole (no product, event or search key; the number back
    in the pool; what provisioning did is undone)."""
    system = login("system")
    shop = Shop(client, admin)
    other = make_customer(client, admin)
    plan = product_line(client, admin, "mobile", "5G 畅享 99", fee=99)
    sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES ('17700000009', 'mobile', 'free')")
    order = shop.order(add("1", plan, "17700000009"))
    steps = work(client, admin, order["id"])
    report(client, system, done(steps[0], hlr="HLR-BJ-03"))
    sql.conn.execute("UPDATE account SET customer_id = %s WHERE id = %s", (other["id"], shop.account["id"]))
    report(client, system, done(work(client, admin, order["id"])[1], iccid="89860012345678901299"))

    ended = shop.get(order["id"])
    assert ended["state"] == "failed" and ended["productOrderItem"][0]["state"] == "failed"
    note = next(n for n in ended["note"] if n.get("productOrderItemId") == "1")
    assert "could not be recorded" in note["text"] and shop.account["id"] in note["text"]
    assert sql.count("product") == 0
    assert sql.count("outbox_event", "event_type IN ('ProductCreateEvent', 'ProductBillingStartEvent')") == 0
    assert sql.count("search_key", "key LIKE '%17700000009%'") == 0
    assert sql.rows("SELECT status, order_id FROM number_pool") == [("free", None)]
    undo = [(w["task"], w["state"]) for w in work(client, admin, order["id"]) if w["action"] == "undo"]
    assert undo == [("undo-sim", "pending"), ("undo-number", "waiting")]


def test_temporary_failures_are_retried_and_a_final_failure_leaves_nothing_half_made(
    client, admin, login, sql: Sql
) -> None:
    system = login("system")
    shop = Shop(client, admin)
    broadband = product_line(client, admin, "broadband", "宽带 300M")
    iptv = product_line(client, admin, "iptv", "IPTV")
    sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES ('075588880001', 'fixed', 'free')")
    order = shop.order(add("1", broadband, "075588880001"), add("2", iptv))
    steps = {(w["productOrderItemId"], w["task"]): w for w in work(client, admin, order["id"])}
    assert set(steps) == {("1", "port"), ("1", "appointment"), ("1", "activation"), ("2", "activation")}
    # a temporary failure: the same work order goes out again as attempt 2
    port = steps[("1", "port")]
    report(client, system, failed(port, "OLT busy", retryable=True))
    again = {w["id"]: w for w in work(client, admin, order["id"])}[port["id"]]
    assert (again["state"], again["attempt"]) == ("pending", 2)
    assert "OLT busy" in again["reason"]
    # a late answer to attempt 1 is ignored
    assert report(client, system, done(port)) == {"accepted": 0, "ignored": 1}
    report(client, system, done(again, port="0/3/12"), done(steps[("2", "activation")]))
    # a permanent failure of the appointment ends item 1: activation is withdrawn, nothing is made
    appointment = {w["task"]: w for w in work(client, admin, order["id"]) if w["productOrderItemId"] == "1"}
    report(client, system, failed(appointment["appointment"], "no installer in this district", retryable=False))
    finished = shop.get(order["id"])
    assert finished["state"] == "partial"
    states = {i["id"]: i["state"] for i in finished["productOrderItem"]}
    assert states == {"1": "failed", "2": "completed"}
    assert any("no installer" in n["text"] for n in finished["note"] if n["@type"] == "FulfilmentNote")
    tasks = {(w["productOrderItemId"], w["task"]): w["state"] for w in work(client, admin, order["id"])}
    assert tasks[("1", "activation")] == "cancelled"
    # only the IPTV product exists; the broadband number went back to the pool
    assert sql.rows("SELECT offering_id, status FROM product") == [(iptv["id"], "active")]
    assert sql.rows("SELECT status, order_id FROM number_pool") == [("free", None)]


def test_an_order_whose_every_item_fails_is_failed(client, admin, login, sql: Sql) -> None:
    system = login("system")
    shop = Shop(client, admin)
    order = shop.order(add("1", product_line(client, admin, "fixed", "市话")))
    (switch,) = work(client, admin, order["id"])
    for attempt in (1, 2):
        assert switch["attempt"] == attempt
        report(client, system, failed(switch, "switch busy", retryable=True))
        (switch,) = work(client, admin, order["id"])
    # the third attempt is the last (work_order_max_attempts = 3)
    report(client, system, failed(switch, "switch busy", retryable=True))
    assert shop.get(order["id"])["state"] == "failed"
    assert sql.count("product") == 0


def test_a_bundle_is_made_whole_or_not_at_all(client, admin, login, sql: Sql) -> None:
    system = login("system")
    shop, order = converged_order(client, admin)
    assert order["state"] == "inProgress"
    steps = work(client, admin, order["id"])
    assert {w["productOrderItemId"] for w in steps} == {"1.1", "1.2"}  # the bundle is provisioned via its parts
    # everything but the last broadband task: no product yet, though the mobile part is done
    for _ in range(4):
        due = [w for w in open_work(client, admin, order["id"]) if w["task"] != "activation"]
        if due:
            report(client, system, *(done(w) for w in due))
    mid = shop.get(order["id"])
    assert mid["state"] == "inProgress"
    assert {i["id"]: i["state"] for i in mid["productOrderItem"][0]["productOrderItem"]}["1.1"] == "completed"
    assert sql.count("product") == 0
    complete_all(client, admin, order["id"])
    finished = shop.get(order["id"])
    assert finished["state"] == "completed"
    parent_id = finished["productOrderItem"][0]["product"]["id"]
    parent = client.get(f"{INVENTORY}/product/{parent_id}", headers=admin).json()
    assert parent["isBundle"] is True
    children = {r["product"]["id"] for r in parent["productRelationship"] if r["relationshipType"] == "bundled"}
    assert children == {i["product"]["id"] for i in finished["productOrderItem"][0]["productOrderItem"]}
    assert sql.count("product") == 3
    assert sql.count("product", "customer_id = %s AND billing_start_date IS NOT NULL", shop.customer["id"]) == 3


def _active_product(client: TestClient, admin: Headers, shop: Shop, offer: Doc) -> str:
    order = shop.order(add("1", offer))
    complete_all(client, admin, order["id"])
    finished = shop.get(order["id"])
    assert finished["state"] == "completed"
    return str(finished["productOrderItem"][0]["product"]["id"])


def test_modify_suspend_resume_and_terminate_an_existing_product(client, admin, sql: Sql) -> None:
    shop = Shop(client, admin)
    broadband = product_line(client, admin, "broadband", "宽带")
    product_id = _active_product(client, admin, shop, broadband)
    url = f"{INVENTORY}/product/{product_id}"
    started = sql.value("SELECT billing_start_date FROM product WHERE id = %s", product_id)

    def change(product: Doc) -> Doc:
        order = shop.order({"id": "1", "action": "modify", "product": {"id": product_id, **product}})
        assert order["state"] == "inProgress", order
        assert work(client, admin, order["id"])[0]["task"] in ("change", "suspend", "resume")
        complete_all(client, admin, order["id"])
        assert shop.get(order["id"])["state"] == "completed"
        return client.get(url, headers=admin).json()  # type: ignore[no-any-return]

    # a bandwidth change keeps the other characteristics
    before = {c["name"] for c in client.get(url, headers=admin).json()["productCharacteristic"]}
    after = change({"productCharacteristic": [{"name": "bandwidth", "value": "300M"}]})
    chars = {c["name"]: c["value"] for c in after["productCharacteristic"]}
    assert chars["bandwidth"] == "300M" and before <= set(chars)
    assert change({"status": "suspended"})["status"] == "suspended"
    assert change({"status": "active"})["status"] == "active"
    # billing started once, at the first activation; resuming does not move it
    assert sql.value("SELECT billing_start_date FROM product WHERE id = %s", product_id) == started
    order = shop.order({"id": "1", "action": "delete", "product": {"id": product_id}})
    assert [w["task"] for w in work(client, admin, order["id"])] == ["cease"]
    complete_all(client, admin, order["id"])
    ended = client.get(url, headers=admin).json()
    assert ended["status"] == "terminated" and ended["terminationDate"]


def test_a_result_batch_does_not_wait_for_an_order_another_transaction_holds_to_apply_the_rest(
    client, admin, login, sql: Sql, database_url: str
) -> None:
    """Batches whose orders overlapped waited for each other holding all their own orders' locks
    (ADR 10): the results of orders no one holds are applied and committed first."""
    system = login("system")
    shop = Shop(client, admin)
    plan = product_line(client, admin, "mobile", "39 套餐")
    held, free = shop.order(add("1", plan)), shop.order(add("1", plan))
    first = {o["id"]: open_work(client, admin, o["id"])[0] for o in (held, free)}
    answer: list[Doc] = []
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as other:
        other.execute("SELECT id FROM product_order WHERE id = %s FOR UPDATE", (held["id"],))
        reporting = threading.Thread(
            target=lambda: answer.append(report(client, system, *(done(w) for w in first.values())))
        )
        reporting.start()
        status = sql.value("SELECT status FROM work_order WHERE id = %s", first[free["id"]]["id"])
        for _ in range(200):  # up to 10 s for the first transaction of the batch to commit
            if status == "completed":
                break
            time.sleep(0.05)
            status = sql.value("SELECT status FROM work_order WHERE id = %s", first[free["id"]]["id"])
        assert status == "completed"
        assert sql.value("SELECT status FROM work_order WHERE id = %s", first[held["id"]]["id"]) == "pending"
        assert reporting.is_alive()  # the held order's result waits for its lock
        other.rollback()
    reporting.join(timeout=30)
    assert answer == [{"accepted": 2, "ignored": 0}]
    assert [w["state"] for w in work(client, admin, held["id"])] == ["completed", "pending"]
    # provisioning sending the batch again changes nothing
    assert report(client, system, *(done(w) for w in first.values())) == {"accepted": 0, "ignored": 2}


def test_a_process_applies_one_result_report_at_a_time(client, admin, login, sql: Sql, database_url: str) -> None:
    """Reports of one process are applied in turn, not side by side (ADR 10, twentieth session):
    while one waits for an order's lock, a report for another order waits for it."""
    system = login("system")
    shop = Shop(client, admin)
    plan = product_line(client, admin, "mobile", "39 套餐")
    held, free = shop.order(add("1", plan)), shop.order(add("1", plan))
    first = {o["id"]: open_work(client, admin, o["id"])[0] for o in (held, free)}
    answers: dict[str, Doc] = {}

    def reporting(order_id: str) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: answers.update({order_id: report(client, system, done(first[order_id]))})
        )
        thread.start()
        return thread

    def status(order_id: str) -> Any:
        return sql.value("SELECT status FROM work_order WHERE id = %s", first[order_id]["id"])

    with psycopg.connect(plain_url(database_url)) as other:
        other.execute("SELECT id FROM product_order WHERE id = %s FOR UPDATE", (held["id"],))
        waiting = reporting(held["id"])

        def blocked() -> Any:  # sessions waiting for the lock held here
            return sql.value(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", other.info.backend_pid
            )

        for _ in range(200):  # up to 10 s for its second transaction to wait for the order's lock
            if blocked():
                break
            time.sleep(0.05)
        assert blocked() == 1
        behind = reporting(free["id"])
        time.sleep(1.0)  # a report applied beside the waiting one would be done well within this
        assert status(free["id"]) == "pending" and behind.is_alive()
        other.rollback()
    waiting.join(timeout=30)
    behind.join(timeout=30)
    assert answers == {held["id"]: {"accepted": 1, "ignored": 0}, free["id"]: {"accepted": 1, "ignored": 0}}
    assert status(held["id"]) == status(free["id"]) == "completed"


def test_a_result_batch_lets_the_process_run_other_requests_between_its_orders(
    client, admin, sql: Sql, database_url: str, monkeypatch
) -> None:
    """Applying a batch's results is CPU with no wait inside an order (the writes go at commit):
    the event loop runs the process's other requests (captures) between the batch's orders, so a
    capture waits for one order's work, not for the whole batch (ADR 10)."""
    shop = Shop(client, admin)
    plan = product_line(client, admin, "mobile", "39 套餐")
    placed = [shop.order(add("1", plan)) for _ in range(4)]
    results = [done(open_work(client, admin, o["id"])[0]) for o in placed]
    ticks = 0
    seen: list[int] = []
    advance = fulfilment.advance

    async def counted(*args: Any, **kwargs: Any) -> None:
        seen.append(ticks)  # how often the other task had run when this order's turn came
        await advance(*args, **kwargs)

    monkeypatch.setattr(fulfilment, "advance", counted)

    async def scenario() -> int:
        async def other_request() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        running = asyncio.create_task(other_request())
        db = Database(database_url, pool_size=2)
        try:
            async with db.unit_of_work() as uow:
                ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="test")
                accepted, _, _ = await order_service.apply_results(ctx, results)
        finally:
            running.cancel()
            await db.dispose()
        return accepted

    assert asyncio.run(scenario()) == 4
    assert len(seen) == 4
    assert all(later > earlier for earlier, later in itertools.pairwise(seen))
    assert {w["state"] for o in placed for w in work(client, admin, o["id"])} == {"completed", "pending"}


def test_cancellation_before_any_work_is_done_and_refused_after(client, admin, login, sql: Sql) -> None:
    system = login("system")
    shop = Shop(client, admin)
    plan = product_line(client, admin, "mobile", "59 套餐")
    sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES ('17700000002', 'mobile', 'free')")
    order = shop.order(add("1", plan, "17700000002"))
    first = work(client, admin, order["id"])[0]
    r = client.post(
        CANCEL, json={"productOrder": {"id": order["id"]}, "cancellationReason": "客户改变主意"}, headers=admin
    )
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["state"] == "done" and request["effectiveCancellationDate"]
    assert request["href"].endswith(f"/cancelProductOrder/{request['id']}")
    cancelled = shop.get(order["id"])
    assert cancelled["state"] == "cancelled" and cancelled["cancellationReason"] == "客户改变主意"
    assert {i["state"] for i in cancelled["productOrderItem"]} == {"cancelled"}
    assert [s for e, s in events(sql, order["id"]) if e == "ProductOrderStateChangeEvent"] == [
        "inProgress",
        "assessingCancellation",
        "pendingCancellation",
        "cancelled",
    ]
    assert {w["state"] for w in work(client, admin, order["id"])} == {"cancelled"}
    assert sql.rows("SELECT status FROM number_pool") == [("free",)]
    # provisioning answering late changes nothing
    assert report(client, system, done(first)) == {"accepted": 0, "ignored": 1}
    assert sql.count("product") == 0
    assert client.get(f"{CANCEL}/{request['id']}", headers=admin).json()["state"] == "done"
    assert request["id"] in [c["id"] for c in client.get(CANCEL, headers=admin).json()]
    # once some work is done, the request ends with an error and the order goes on
    other = shop.order(add("1", plan))
    assert report(client, system, done(work(client, admin, other["id"])[0])) == {"accepted": 1, "ignored": 0}
    refused = client.post(CANCEL, json={"productOrder": {"id": other["id"]}}, headers=admin).json()
    assert refused["state"] == "terminatedWithError" and "already done" in refused["stateReason"]
    assert shop.get(other["id"])["state"] == "inProgress"
    # unknown orders are a bad reference; requests are not changed or deleted
    r = client.post(CANCEL, json={"productOrder": {"id": "nope"}}, headers=admin)
    assert r.status_code == 400 and r.json()["field"] == "productOrder.id"
    assert client.post(CANCEL, json={}, headers=admin).status_code == 400
    assert client.patch(f"{CANCEL}/{request['id']}", json={}, headers={**admin, **MERGE}).status_code == 405
    assert client.delete(f"{CANCEL}/{request['id']}", headers=admin).status_code == 405


def test_a_dealer_cancels_only_its_customers_orders(client, admin, login) -> None:
    shop = Shop(client, admin)
    order = shop.order(add("1", product_line(client, admin, "iptv", "IPTV")))
    dealer = login("dealer", dealer_id="some-other-dealer")
    r = client.post(CANCEL, json={"productOrder": {"id": order["id"]}}, headers=dealer)
    assert r.status_code == 400
    assert shop.get(order["id"])["state"] == "inProgress"
    assert client.get(f"/api/orders/{order['id']}/workOrders", headers=dealer).status_code == 404


def test_only_provisioning_reports_results_and_bad_reports_are_400(client, admin, login, sql: Sql) -> None:
    shop = Shop(client, admin)
    order = shop.order(add("1", product_line(client, admin, "iptv", "IPTV")))
    (wo,) = work(client, admin, order["id"])
    for who in ("clerk", "agent", "dealer", "customer"):
        r = client.post(RESULTS, json={"results": [done(wo)]}, headers=login(who))
        assert r.status_code == 403, who
    system = login("system")
    for body, field in (
        ({"results": []}, "results"),
        ({"results": [{"id": wo["id"], "attempt": 0, "status": "completed"}]}, "attempt"),
        ({"results": [{"id": wo["id"], "attempt": 1, "status": "maybe"}]}, "status"),
        ({}, "results"),
    ):
        r = client.post(RESULTS, json=body, headers=system)
        assert r.status_code == 400, body
        assert field in r.json()["field"], (body, r.json())
    assert report(client, system, {"id": "unknown", "attempt": 1, "status": "completed"}) == {
        "accepted": 0,
        "ignored": 1,
    }
    assert sql.value("SELECT status FROM work_order WHERE id = %s", wo["id"]) == "pending"
    # the single-result form
    r = client.post(
        f"/api/provisioning/workOrders/{wo['id']}/result", json={"attempt": 1, "status": "completed"}, headers=system
    )
    assert r.json() == {"accepted": 1, "ignored": 0}
    assert shop.get(order["id"])["state"] == "completed"


def _run(database_url: str, job: Callable[[Database], Any]) -> Any:
    async def go() -> Any:
        db = Database(database_url, pool_size=2)
        try:
            return await job(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def queue_disagreements(sql: Sql) -> list[tuple[Any, ...]]:
    """Work orders whose entry in the queue of open work orders is missing, extra or stale: every
    pending, sent or withdrawing work order has one, with its status and due time (sent: when it
    was sent), and no other work order has one (revision 0017)."""
    return sql.rows(
        "SELECT w.id, w.status, q.status FROM work_order w FULL JOIN work_order_queue q ON q.id = w.id"
        " WHERE (w.status IN ('pending', 'sent', 'withdrawing')) IS DISTINCT FROM (q.id IS NOT NULL)"
        " OR q.status <> w.status"
        " OR q.due_at <> CASE w.status WHEN 'sent' THEN w.sent_at ELSE w.next_attempt_at END"
    )


def test_a_held_order_is_cancelled_when_its_number_reservation_lapses(
    client, admin, sql: Sql, database_url: str
) -> None:
    shop = Shop(client, admin)
    account = make_overdue_account(client, admin, shop.customer, limit=0, overdue=10)
    plan = product_line(client, admin, "mobile", "59 套餐")
    sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES ('17700000003', 'mobile', 'free')")
    held = shop.order(add("1", plan, "17700000003"), billingAccount={"id": account["id"]})
    assert held["state"] == "held"
    running = shop.order(add("1", plan))
    sender = WorkOrderSender.__new__(WorkOrderSender)

    async def sweep(db: Database) -> None:
        WorkOrderSender.__init__(sender, db, "http://127.0.0.1:9", "http://127.0.0.1:9/cb")
        try:
            await sender.sweep()  # nothing lapsed yet
            sql.conn.execute("UPDATE number_pool SET reserved_until = now() - interval '1 minute'")
            await sender.sweep()
        finally:
            await sender.close()

    assert sql.value("SELECT status FROM number_pool") == "reserved"
    _run(database_url, sweep)
    after = shop.get(held["id"])
    assert after["state"] == "cancelled" and "expired" in after["cancellationReason"]
    assert sql.rows("SELECT status, order_id FROM number_pool") == [("free", None)]
    assert shop.get(running["id"])["state"] == "inProgress"


def test_orders_are_carried_to_completion_through_the_real_simulator(login, sql: Sql, settings) -> None:
    """The whole loop over HTTP: our server sends work orders to the provisioning simulator, which
    completes or fails them (some for good) and reports back; every order ends, nothing doubles."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from telcrm.api.app import create_app
    from telcrm.sim.provisioning import SimOptions
    from telcrm.sim.provisioning import create_app as create_sim

    system = login("system")
    admin = login("admin")
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(make: Callable[[str], Any]) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(make(url), log_level="warning", access_log=False, lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        until(lambda: server.started)
        return url

    def until(ready: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout  # only keeps a broken run from hanging
        while not ready():
            assert time.monotonic() < deadline, "gave up waiting"
            time.sleep(0.05)

    token = system["Authorization"].split()[1]
    options = SimOptions(delay=0.01, jitter=0.01, fail_share=0.3, permanent_share=0.4, seed=11, api_key=token)
    sim_url = start(lambda _: create_sim(options))
    ours = settings.model_copy(update={"run_dispatcher": True, "sweeper_interval_seconds": 0.2})
    api = start(lambda url: create_app(ours.model_copy(update={"base_url": url, "provisioning_url": sim_url})))
    try:
        with httpx.Client(base_url=api, headers=admin, timeout=30) as http:
            shop = Shop.__new__(Shop)
            shop.client, shop.admin = http, admin
            shop.customer = make_customer(http, admin)
            shop.account = make_billing_account(http, admin, shop.customer)
            shop.user = created(http, f"/api/customers/{shop.customer['id']}/users", {"name": "用户"}, admin)
            lines = {d: product_line(http, admin, d, f"{d} plan") for d in ("mobile", "broadband", "iptv")}
            converged = bundle(http, admin, lines["mobile"], lines["broadband"])
            numbers = [f"1770001{n:04d}" for n in range(30)]
            for number in numbers:
                sql.conn.execute(
                    "INSERT INTO number_pool (number, kind, status) VALUES (%s, 'mobile', 'free')", (number,)
                )
            placed = []
            for n in range(30):
                items = [add("1", lines["mobile"], numbers[n])]
                if n % 3 == 0:
                    items.append(add("2", lines["iptv"]))
                if n % 5 == 0:
                    items.append(
                        add(
                            "3",
                            converged,
                            productOrderItem=[add("3.1", lines["mobile"]), add("3.2", lines["broadband"])],
                        )
                    )
                placed.append(shop.order(*items)["id"])

            def ended() -> bool:  # every order ended, and the undoing of failed items' work too
                open_work = sql.count("work_order", "status IN ('waiting', 'pending', 'sent', 'withdrawing')")
                return open_work == 0 and sql.count(
                    "product_order", "state IN ('completed', 'partial', 'failed')"
                ) == len(placed)

            until(ended)
            stats = http.get(f"{sim_url}/stats").json()
    finally:
        for server, thread in reversed(servers):
            server.should_exit = True
            thread.join(timeout=10)
    states = dict(sql.rows("SELECT state, count(*) FROM product_order GROUP BY state"))
    assert sum(states.values()) == 30 and states.get("completed", 0) > 0
    assert stats["failed_temporary"] > 0 and stats["failed_permanent"] > 0  # the failure paths were taken
    # nothing open, nothing doubled: one product per completed add item, none for failed ones
    assert sql.count("work_order", "status IN ('waiting', 'pending', 'sent')") == 0
    made = sql.rows(
        "SELECT body->'productOrderItem'->0->>'productOrderId', body->'productOrderItem'->0->>'orderItemId', count(*)"
        " FROM product GROUP BY 1, 2"
    )
    assert all(count == 1 for _, _, count in made)
    expected = set()
    for (doc,) in sql.rows("SELECT body FROM product_order"):
        for root in doc["productOrderItem"]:
            for node in [root, *root.get("productOrderItem", [])]:
                assert node["state"] in ("completed", "failed")
                assert node["state"] == root["state"]
                if node["state"] == "completed":
                    expected.add((doc["id"], node["id"]))
    assert {(o, i) for o, i, _ in made} == expected
    # numbers: in service for completed mobile items, back in the pool for failed ones
    taken = sql.count("number_pool", "status = 'taken'")
    assert taken == sum(1 for o, i in expected if i == "1")
    assert sql.count("number_pool", "status = 'reserved'") == 0
    # one Create event per order and per product
    assert sql.value("SELECT count(*) FROM outbox_event WHERE event_type = 'ProductOrderCreateEvent'") == 30
    assert sql.value("SELECT count(*) FROM outbox_event WHERE event_type = 'ProductCreateEvent'") == len(made)
    assert sql.value("SELECT count(*) FROM outbox_event WHERE event_type = 'ProductBillingStartEvent'") == len(made)
    assert sql.count("work_order_queue") == 0 and queue_disagreements(sql) == []


@contextlib.contextmanager
def slow_simulator() -> Iterator[str]:
    """A provisioning simulator that takes a minute per work order (nothing is answered during a
    test), served in a thread; yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    from telcrm.sim.provisioning import SimOptions
    from telcrm.sim.provisioning import create_app as create_sim

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_sim(SimOptions(delay=60, jitter=0)), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_work_sent_to_provisioning_is_withdrawn_when_its_item_fails_or_its_order_is_cancelled(
    client, admin, login, sql: Sql, database_url: str
) -> None:
    import httpx

    system = login("system")
    shop = Shop(client, admin)
    mobile_plan = product_line(client, admin, "mobile", "99 套餐")
    broadband = product_line(client, admin, "broadband", "宽带 300M")
    converged = bundle(client, admin, mobile_plan, broadband)
    failing = shop.order(add("1", converged, productOrderItem=[add("1.1", mobile_plan), add("1.2", broadband)]))
    cancelled = shop.order(add("1", broadband))

    with slow_simulator() as sim_url:

        def sender_round(method: str) -> Callable[[Database], Any]:
            """One round of the sender's ``send_due`` or ``withdraw_due``, as the server runs it."""

            async def one(db: Database) -> int:
                sender = WorkOrderSender(db, sim_url, "http://127.0.0.1:9/cb")
                try:
                    return await getattr(sender, method)()  # type: ignore[no-any-return]
                finally:
                    await sender.close()

            return one

        send, withdraw = sender_round("send_due"), sender_round("withdraw_due")

        assert _run(database_url, send) == 3  # the first task of each part, and of the broadband order
        steps = {(w["productOrderItemId"], w["task"]): w for w in work(client, admin, failing["id"])}
        assert steps[("1.2", "port")]["state"] == "sent"
        assert sql.count("work_order_queue", "status = 'sent'") == 3 and queue_disagreements(sql) == []
        report(client, system, failed(steps[("1.1", "number")], "no such number range", retryable=False))
        after = {(w["productOrderItemId"], w["task"]): w["state"] for w in work(client, admin, failing["id"])}
        assert after[("1.2", "port")] == "withdrawing"  # provisioning has it: it must be told
        assert after[("1.2", "appointment")] == "cancelled"  # never sent: nothing to tell
        r = client.post(CANCEL, json={"productOrder": {"id": cancelled["id"]}}, headers=admin)
        assert r.status_code == 201, r.text
        assert next(w["state"] for w in work(client, admin, cancelled["id"]) if w["task"] == "port") == "withdrawing"
        assert sql.count("work_order_queue", "status = 'withdrawing'") == 2 and queue_disagreements(sql) == []
        assert _run(database_url, withdraw) == 2
        assert _run(database_url, withdraw) == 0  # told once
        stats = httpx.get(f"{sim_url}/stats").json()
        assert (stats["withdrawn"], stats["in_progress"]) == (2, 1)  # the failed number task was done
    assert sql.count("work_order", "status = 'withdrawing'") == 0 and queue_disagreements(sql) == []
    assert shop.get(failing["id"])["state"] == "failed"
    assert shop.get(cancelled["id"])["state"] == "cancelled"


def test_work_orders_sent_and_never_answered_are_sent_again_and_answered_ones_leave_the_queue(
    client, admin, login, sql: Sql, database_url: str
) -> None:
    system = login("system")
    shop = Shop(client, admin)
    line = product_line(client, admin, "fixed", "市话")  # one task: switch
    first, second = shop.order(add("1", line)), shop.order(add("1", line))
    assert sql.count("work_order_queue", "status = 'pending'") == 2 and queue_disagreements(sql) == []

    with slow_simulator() as sim_url:

        async def send_then_sweep(db: Database) -> tuple[int, int, int]:
            sender = WorkOrderSender(db, sim_url, "http://127.0.0.1:9/cb", resend_after=60)
            try:
                sent = await sender.send_due()
                # the first order's work order was sent two minutes ago, the second's just now
                sql.conn.execute(
                    "UPDATE work_order SET sent_at = sent_at - interval '2 minutes' WHERE order_id = %s", (first["id"],)
                )
                sql.conn.execute(
                    "UPDATE work_order_queue q SET due_at = w.sent_at FROM work_order w"
                    " WHERE w.id = q.id AND w.order_id = %s",
                    (first["id"],),
                )
                await sender.sweep()
                again = await sender.send_due()
                return sent, again, await sender.send_due()
            finally:
                await sender.close()

        assert _run(database_url, send_then_sweep) == (2, 1, 0)  # only the unanswered one, once
    resent = work(client, admin, first["id"])[0]
    assert resent["state"] == "sent"
    assert sql.value("SELECT send_attempts FROM work_order WHERE id = %s", resent["id"]) == 2
    assert queue_disagreements(sql) == []
    # answered (late, for the first sending: same attempt), the work order leaves the queue
    report(client, system, done(resent))
    assert shop.get(first["id"])["state"] == "completed"
    assert sql.rows(
        "SELECT q.status FROM work_order_queue q JOIN work_order w USING (id) WHERE w.order_id = %s", second["id"]
    ) == [("sent",)]
    assert sql.count("work_order_queue") == 1  # the second order's, still unanswered
    assert queue_disagreements(sql) == []


def test_the_sender_vacuums_the_queue_of_open_work_orders_after_rounds_that_changed_it(
    client, admin, sql: Sql, database_url: str
) -> None:
    shop = Shop(client, admin)
    line = product_line(client, admin, "fixed", "市话")
    for _ in range(3):
        shop.order(add("1", line))

    def vacuums() -> int:
        return int(sql.value("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'work_order_queue'"))

    with slow_simulator() as sim_url:

        async def rounds(db: Database) -> list[int]:
            sender = WorkOrderSender(db, sim_url, "http://127.0.0.1:9/cb", vacuum_every=3600)
            try:
                seen = [vacuums()]
                await sender._round()  # sends the three: the queue is vacuumed
                seen.append(vacuums())
                shop.order(add("1", line))
                await sender._round()  # sends one more, but the last VACUUM was just now
                seen.append(vacuums())
                sender.vacuum_every = 0
                await sender._round()  # nothing to send, but one sent since the last VACUUM
                seen.append(vacuums())
                await sender._round()  # nothing changed since: no VACUUM
                seen.append(vacuums())
                return seen
            finally:
                await sender.close()

        seen = _run(database_url, rounds)
    assert [after - before for before, after in itertools.pairwise(seen)] == [1, 0, 1, 0]
    assert sql.count("work_order_queue", "status = 'sent'") == 4 and queue_disagreements(sql) == []


def test_the_running_sender_tells_provisioning_of_a_withdrawal_at_once_not_at_its_next_sweep(
    client, admin, sql: Sql, database_url: str
) -> None:
    """The sender looks for withdrawals only when its process made one (a signal after commit) or at
    its sweep: with an hour between sweeps, only the signal can have sent this one."""
    import httpx

    from telcrm.kit.auth import SYSTEM_CALLER, Context
    from telcrm.ordering.service import cancellations

    shop = Shop(client, admin)
    order = shop.order(add("1", product_line(client, admin, "broadband", "宽带 300M")))

    async def scenario(db: Database, sim_url: str) -> dict[str, Any]:
        sender = WorkOrderSender(db, sim_url, "http://127.0.0.1:9/cb", interval=3600, linger=0.05)
        running = asyncio.create_task(sender.run_forever())
        try:
            async with httpx.AsyncClient(base_url=sim_url) as sim:

                async def stats_until(ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
                    for _ in range(400):  # only keeps a broken run from hanging
                        stats: dict[str, Any] = (await sim.get("/stats")).json()
                        if ready(stats):
                            return stats
                        await asyncio.sleep(0.05)
                    raise AssertionError(f"gave up waiting: {stats}")

                await stats_until(lambda s: s["received"] == 1)  # the first sweep sent the port task
                async with db.unit_of_work() as uow:
                    ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="test")
                    await cancellations.create(ctx, {"productOrder": {"id": order["id"]}})
                stats = await stats_until(lambda s: s["withdrawn"] == 1)
                # provisioning has it; the sender's round commits just after: stop the sender only then
                for _ in range(400):  # only keeps a broken run from hanging
                    if sql.count("work_order", "order_id = %s AND status = 'withdrawing'", order["id"]) == 0:
                        break
                    await asyncio.sleep(0.05)
                return stats
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await sender.close()

    with slow_simulator() as sim_url:
        stats = _run(database_url, lambda db: scenario(db, sim_url))
    assert (stats["received"], stats["withdrawn"], stats["in_progress"]) == (1, 1, 0)
    assert sql.rows("SELECT task, status FROM work_order WHERE order_id = %s ORDER BY seq", order["id"]) == [
        ("port", "cancelled"),
        ("appointment", "cancelled"),
        ("activation", "cancelled"),
    ]
    assert shop.get(order["id"])["state"] == "cancelled"


def test_what_provisioning_did_for_a_failed_bundle_is_undone_in_reverse_order(client, admin, login, sql: Sql) -> None:
    system = login("system")
    shop, order = converged_order(client, admin)
    for _ in range(2):  # the mobile part is done: number, then SIM
        report(client, system, *(done(w) for w in open_work(client, admin, order["id"]) if w["domain"] == "mobile"))
    steps = {(w["productOrderItemId"], w["task"]): w for w in work(client, admin, order["id"])}
    assert (steps[("1.1", "number")]["state"], steps[("1.1", "sim")]["state"]) == ("completed", "completed")
    report(client, system, failed(steps[("1.2", "port")], "no free port on the OLT", retryable=False))
    failed_order = shop.get(order["id"])
    assert failed_order["state"] == "failed"
    assert any("2 completed work order(s) are being undone" in n["text"] for n in failed_order["note"])
    undo = [w for w in work(client, admin, order["id"]) if w["action"] == "undo"]
    assert [(w["productOrderItemId"], w["task"], w["state"]) for w in undo] == [
        ("1.1", "undo-sim", "pending"),  # the SIM first, then the number: the reverse of provisioning
        ("1.1", "undo-number", "waiting"),
    ]
    payload = sql.value("SELECT payload FROM work_order WHERE id = %s", undo[0]["id"])
    assert payload["undoes"]["workOrderId"] == steps[("1.1", "sim")]["id"]
    events_before = sql.count("outbox_event", "resource_id = %s", order["id"])
    report(client, system, done(undo[0]))
    second = {w["task"]: w for w in work(client, admin, order["id"])}["undo-number"]
    assert second["state"] == "pending"
    report(client, system, done(second))
    assert {w["state"] for w in work(client, admin, order["id"]) if w["action"] == "undo"} == {"completed"}
    # the order's outcome stands: no new state, no new completion date, no product
    after = shop.get(order["id"])
    assert (after["state"], after["completionDate"]) == ("failed", failed_order["completionDate"])
    assert sql.count("outbox_event", "resource_id = %s", order["id"]) == events_before
    assert sql.count("product") == 0


def test_an_undo_that_fails_for_good_does_not_hold_up_the_next(client, admin, login) -> None:
    system = login("system")
    _, order = converged_order(client, admin)
    for _ in range(2):
        report(client, system, *(done(w) for w in open_work(client, admin, order["id"]) if w["domain"] == "mobile"))
    port = next(w for w in work(client, admin, order["id"]) if w["task"] == "port")
    report(client, system, failed(port, "no free port", retryable=False))
    first = next(w for w in work(client, admin, order["id"]) if w["task"] == "undo-sim")
    report(client, system, failed(first, "SIM platform refuses", retryable=False))
    states = {w["task"]: w["state"] for w in work(client, admin, order["id"]) if w["action"] == "undo"}
    assert states == {"undo-sim": "failed", "undo-number": "pending"}
