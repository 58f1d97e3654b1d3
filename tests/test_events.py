"""Hubs and the outbox: listeners registered over TMF ``/hub``, events written in the business
transaction, delivered by the dispatcher to a real HTTP listener, retried, given up, swept."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from telcrm.api.app import href_builder
from telcrm.kit import outbox
from telcrm.kit.auth import SYSTEM_CALLER, Context
from telcrm.kit.db import Database
from telcrm.models import HubSubscription
from telcrm.worker.dispatcher import Dispatcher
from tests.conftest import Sql
from tests.factories import (
    ACCOUNT,
    CUSTOMER,
    PARTY,
    ROLE,
    make_billing_account,
    make_customer,
    make_individual,
    mobile,
)

Headers = dict[str, str]
Doc = dict[str, Any]
BASE = "http://testserver"
HUBS = {"party": PARTY, "customer": CUSTOMER, "account": ACCOUNT, "partyRole": ROLE}


# ----- a real HTTP listener ---------------------------------------------------------------------
@dataclass
class Call:
    path: str
    body: Any
    status: int


@dataclass
class Listener:
    """Accepts POSTed JSON on 127.0.0.1; answers 500 to the first ``fail_first`` calls."""

    fail_first: int = 0
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        listener = self
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with listener.lock:
                    status = 500 if len(listener.calls) < listener.fail_first else 201
                    listener.calls.append(Call(self.path, json.loads(raw or b"null"), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self, path: str | None = None) -> list[Doc]:
        """Bodies of the calls answered 2xx (to ``path`` if given), in arrival order."""
        with self.lock:
            return [c.body for c in self.calls if c.status < 300 and (path is None or c.path == path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = int(server.server_address[1])
    server.server_close()
    return port


# ----- the dispatcher and helpers ---------------------------------------------------------------
@pytest.fixture
def dispatcher(client: TestClient) -> Iterator[Callable[..., Dispatcher]]:
    made: list[Dispatcher] = []

    def make(**options: Any) -> Dispatcher:
        d = Dispatcher(client.app_state.db, href_builder(BASE), timeout=5.0, **options)  # type: ignore[attr-defined]
        made.append(d)
        return d

    yield make
    for d in made:
        client.portal.call(d.close)  # type: ignore[union-attr]


def sweep(client: TestClient, d: Dispatcher) -> int:
    return client.portal.call(d.deliver_due)  # type: ignore[union-attr, no-any-return]


def register(client: TestClient, headers: Headers, api: str, callback: str, query: str | None = None) -> Doc:
    body = {"callback": callback} if query is None else {"callback": callback, "query": query}
    r = client.post(f"{HUBS[api]}/hub", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def counts(sql: Sql) -> dict[str, int]:
    return {t: sql.count(t) for t in ("outbox_event", "delivery", "delivery_attempt", "audit_entry")}


def event_types(sql: Sql, resource_id: str) -> list[str]:
    return [
        r[0] for r in sql.rows("SELECT event_type FROM outbox_event WHERE resource_id = %s ORDER BY id", resource_id)
    ]


def make_due(sql: Sql) -> None:
    """Pretend the backoff has passed: every pending delivery is due now."""
    sql.conn.execute("UPDATE delivery SET next_attempt_at = now() - interval '1 second' WHERE status = 'pending'")


# ----- POST /hub, DELETE /hub/{id} ----------------------------------------------------------
@pytest.mark.parametrize("api", HUBS)
def test_register_and_unregister_a_listener(api: str, client: TestClient, admin: Headers, sql: Sql) -> None:
    r = client.post(
        f"{HUBS[api]}/hub", json={"callback": "http://127.0.0.1:9/hook", "query": "eventType=X"}, headers=admin
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["callback"] == "http://127.0.0.1:9/hook" and sub["query"] == "eventType=X" and sub["id"]
    assert r.headers["Location"] == f"{HUBS[api]}/hub/{sub['id']}"
    assert sql.rows("SELECT api, callback, query FROM hub_subscription WHERE id = %s", sub["id"]) == [
        (api, "http://127.0.0.1:9/hook", "eventType=X")
    ]
    other_api = next(a for a in HUBS if a != api)
    assert client.delete(f"{HUBS[other_api]}/hub/{sub['id']}", headers=admin).status_code == 404
    assert client.delete(f"{HUBS[api]}/hub/{sub['id']}", headers=admin).status_code == 204
    assert sql.count("hub_subscription") == 0
    r = client.delete(f"{HUBS[api]}/hub/{sub['id']}", headers=admin)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"callback": "not a url"}, "callback"),
        ({"callback": "ftp://127.0.0.1/hook"}, "callback"),
        ({"callback": "http://"}, "callback"),
        ({"callback": "/relative/hook"}, "callback"),
        ({"callback": ""}, "callback"),
        ({"callback": "http://127.0.0.1/" + "x" * 2001}, "callback"),
        ({"callback": 42}, "callback"),
        ({}, "callback"),
        ({"callback": "http://127.0.0.1/hook", "query": "colour=red"}, "query"),
        ({"callback": "http://127.0.0.1/hook", "query": "eventType="}, "query"),
    ],
)
def test_a_bad_listener_is_refused(body: Doc, field: str, client: TestClient, admin: Headers, sql: Sql) -> None:
    r = client.post(f"{CUSTOMER}/hub", json=body, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert sql.count("hub_subscription") == 0


def test_events_reach_only_listeners_whose_query_matches(
    client: TestClient, admin: Headers, sql: Sql, listener: Listener, dispatcher: Callable[..., Dispatcher]
) -> None:
    u = listener.url
    register(client, admin, "customer", f"{u}/created", "eventType=CustomerCreateEvent")
    register(client, admin, "customer", f"{u}/lifecycle", "eventType=CustomerStateChangeEvent,CustomerDeleteEvent")
    register(client, admin, "customer", f"{u}/suspended", "event.customer.status=suspended")
    register(client, admin, "customer", f"{u}/all")
    register(client, admin, "party", f"{u}/parties", "eventType=IndividualCreateEvent")
    customer = make_customer(client, admin)
    url = f"{CUSTOMER}/customer/{customer['id']}"
    assert client.patch(url, json={"status": "suspended", "statusReason": "欠费"}, headers=admin).status_code == 200
    assert client.patch(url, json={"status": "active"}, headers=admin).status_code == 200
    assert client.delete(url, headers=admin).status_code == 204
    assert sweep(client, dispatcher()) == sql.count("delivery") > 0

    def got(path: str) -> list[str]:
        return [e["eventType"] for e in listener.received(f"/{path}")]

    assert got("created") == ["CustomerCreateEvent"]
    assert sorted(got("lifecycle")) == ["CustomerDeleteEvent", "CustomerStateChangeEvent", "CustomerStateChangeEvent"]
    # suspending also set statusReason, so it is both an attribute change and a state change
    assert sorted(got("suspended")) == ["CustomerAttributeValueChangeEvent", "CustomerStateChangeEvent"]
    assert sorted(got("all")) == sorted(event_types(sql, customer["id"]))
    assert got("parties") == ["IndividualCreateEvent"]
    assert event_types(sql, customer["id"]) == [
        "CustomerCreateEvent",
        "CustomerAttributeValueChangeEvent",
        "CustomerStateChangeEvent",
        "CustomerStateChangeEvent",
        "CustomerDeleteEvent",
    ]


# ----- the outbox is written with the change, or not at all ------------------------------------
def test_a_change_writes_its_event_and_deliveries_in_the_same_transaction(
    client: TestClient, admin: Headers, sql: Sql
) -> None:
    for api in HUBS:
        register(client, admin, api, "http://127.0.0.1:9/a")
    register(client, admin, "customer", "http://127.0.0.1:9/b", "eventType=CustomerCreateEvent")
    register(client, admin, "customer", "http://127.0.0.1:9/c", "eventType=CustomerDeleteEvent")
    customer = make_customer(client, admin)
    (event_pk, xid, event_type), *more = sql.rows(
        "SELECT id, xmin::text, event_type FROM outbox_event WHERE resource_id = %s", customer["id"]
    )
    assert not more and event_type == "CustomerCreateEvent"
    # same PostgreSQL transaction id on the customer, its audit entry, its event and its deliveries
    assert sql.value("SELECT xmin::text FROM customer WHERE id = %s", customer["id"]) == xid
    assert sql.rows("SELECT DISTINCT xmin::text FROM audit_entry WHERE entity_id = %s", customer["id"]) == [(xid,)]
    deliveries = sql.rows("SELECT xmin::text, status, attempts FROM delivery WHERE event_id = %s", event_pk)
    assert deliveries == [(xid, "pending", 0)] * 2  # the listener for all events and the one for creations


CHANGE = Callable[[TestClient, Headers, dict[str, Headers], Doc], Any]
REFUSED: list[tuple[str, int, CHANGE]] = [
    ("invalid body", 400, lambda c, a, h, w: c.post(f"{CUSTOMER}/customer", json={"name": 1}, headers=a)),
    (
        "suspend without a reason",
        400,
        lambda c, a, h, w: c.patch(f"{CUSTOMER}/customer/{w['customer']}", json={"status": "suspended"}, headers=a),
    ),
    (
        "unknown reference kind",
        400,
        lambda c, a, h, w: c.post(
            f"{CUSTOMER}/customer",
            json={"name": "x", "engagedParty": {"id": w["account"], "@referredType": "Individual"}},
            headers=a,
        ),
    ),
    (
        "clerk deletes a customer",
        403,
        lambda c, a, h, w: c.delete(f"{CUSTOMER}/customer/{w['customer']}", headers=h["clerk"]),
    ),
    (
        "clerk terminates a customer",
        403,
        lambda c, a, h, w: c.patch(
            f"{CUSTOMER}/customer/{w['other']}", json={"status": "terminated", "statusReason": "x"}, headers=h["clerk"]
        ),
    ),
    (
        "customer renames itself",
        403,
        lambda c, a, h, w: c.patch(f"{CUSTOMER}/customer/{w['customer']}", json={"name": "x"}, headers=h["self"]),
    ),
    (
        "agent registers a listener",
        403,
        lambda c, a, h, w: c.post(f"{PARTY}/hub", json={"callback": "http://127.0.0.1:9/x"}, headers=h["agent"]),
    ),
    (
        "unknown customer",
        404,
        lambda c, a, h, w: c.patch(f"{CUSTOMER}/customer/C0999999999", json={"name": "x"}, headers=a),
    ),
    (
        "terminate with active users",
        409,
        lambda c, a, h, w: c.patch(
            f"{CUSTOMER}/customer/{w['customer']}", json={"status": "terminated", "statusReason": "x"}, headers=a
        ),
    ),
    (
        "back to prospect",
        409,
        lambda c, a, h, w: c.patch(f"{CUSTOMER}/customer/{w['customer']}", json={"status": "prospect"}, headers=a),
    ),
    (
        "delete a party a customer engages",
        409,
        lambda c, a, h, w: c.delete(f"{PARTY}/individual/{w['party']}", headers=a),
    ),
    (
        "close an account twice",
        409,
        lambda c, a, h, w: c.patch(f"{ACCOUNT}/billingAccount/{w['account']}", json={"state": "active"}, headers=a),
    ),
]


@pytest.mark.parametrize(("what", "status", "change"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_failed_request_writes_no_event(
    what: str,
    status: int,
    change: CHANGE,
    client: TestClient,
    admin: Headers,
    login: Callable[..., Headers],
    sql: Sql,
) -> None:
    for api in HUBS:
        register(client, admin, api, "http://127.0.0.1:9/all")
    party = make_individual(client, admin)
    customer = make_customer(client, admin, party)
    other = make_customer(client, admin)
    closed = make_billing_account(client, admin, customer)
    r = client.patch(f"{ACCOUNT}/billingAccount/{closed['id']}", json={"state": "closed"}, headers=admin)
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/customers/{customer['id']}/users", json={"name": "成员", "phoneNumber": mobile()}, headers=admin
    )
    assert r.status_code == 201, r.text
    world = {"customer": customer["id"], "other": other["id"], "party": party["id"], "account": closed["id"]}
    headers = {
        "clerk": login("clerk"),
        "agent": login("agent"),
        "self": login("customer", customer_id=customer["id"]),
    }
    before = counts(sql)
    assert before["outbox_event"] > 0 and before["delivery"] > 0
    r = change(client, admin, headers, world)
    assert r.status_code == status, r.text
    assert counts(sql) == before


# ----- delivery -------------------------------------------------------------------------------
def test_delivered_events_have_the_tmf_shape(
    client: TestClient, admin: Headers, sql: Sql, listener: Listener, dispatcher: Callable[..., Dispatcher]
) -> None:
    register(client, admin, "party", f"{listener.url}/party")
    register(client, admin, "customer", f"{listener.url}/customer")
    register(client, admin, "account", f"{listener.url}/account")
    party = make_individual(client, admin)
    customer = make_customer(client, admin, party)
    url = f"{CUSTOMER}/customer/{customer['id']}"
    assert client.patch(url, json={"name": "张伟伟"}, headers=admin).status_code == 200
    account = make_billing_account(client, admin, customer)  # TMF666 v4 has no BillingAccountCreateEvent
    r = client.patch(f"{ACCOUNT}/billingAccount/{account['id']}", json={"name": "新名"}, headers=admin)
    assert r.status_code == 200, r.text
    assert sql.count("delivery_attempt") == 0  # nothing is sent before the dispatcher runs

    assert sweep(client, dispatcher()) == 4

    events = {e["eventType"]: e for e in listener.received()}
    assert sorted(events) == [
        "BillingAccountAttributeValueChangeEvent",
        "CustomerAttributeValueChangeEvent",
        "CustomerCreateEvent",
        "IndividualCreateEvent",
    ]
    stored = {r[0]: r[1] for r in sql.rows("SELECT event_type, event_id FROM outbox_event")}
    expected = {
        "IndividualCreateEvent": ("individual", party["id"], f"{BASE}{PARTY}/individual/{party['id']}"),
        "CustomerCreateEvent": ("customer", customer["id"], f"{BASE}{url}"),
        "CustomerAttributeValueChangeEvent": ("customer", customer["id"], f"{BASE}{url}"),
        "BillingAccountAttributeValueChangeEvent": (
            "billingAccount",
            account["id"],
            f"{BASE}{ACCOUNT}/billingAccount/{account['id']}",
        ),
    }
    for event_type, (key, id_, href) in expected.items():
        event = events[event_type]
        assert event["eventId"] == stored[event_type]
        assert event["eventTime"].endswith("Z") and event["eventTime"][:4].isdigit()
        assert event["event"][key]["id"] == id_
        assert event["event"][key]["href"] == href
    assert events["CustomerAttributeValueChangeEvent"]["event"]["customer"]["name"] == "张伟伟"
    assert events["CustomerCreateEvent"]["event"]["customer"]["name"] == customer["name"]
    assert [c.path for c in listener.calls if c.body["eventType"].startswith("Customer")] == ["/customer"] * 2
    assert sql.rows("SELECT DISTINCT status, attempts, last_error FROM delivery") == [("delivered", 1, None)]
    assert sql.rows("SELECT DISTINCT status_code, error FROM delivery_attempt") == [(201, None)]
    assert sql.count("delivery_attempt") == 4
    assert sweep(client, dispatcher()) == 0  # delivered once, not again
    assert len(listener.calls) == 4


def test_a_failing_listener_is_retried_with_backoff(
    client: TestClient, admin: Headers, sql: Sql, listener: Listener, dispatcher: Callable[..., Dispatcher]
) -> None:
    listener.fail_first = 2
    register(client, admin, "customer", f"{listener.url}/hook")
    customer = make_customer(client, admin)
    d = dispatcher(max_attempts=5)

    def state() -> tuple[str, int, Any, Any]:
        return sql.rows("SELECT status, attempts, next_attempt_at, last_error FROM delivery")[0]  # type: ignore[return-value]

    _, _, first_due, _ = state()
    gaps = []
    for attempt in (1, 2):
        assert sweep(client, d) == 1
        status, attempts, due, error = state()
        assert (status, attempts, error) == ("pending", attempt, "listener answered 500")
        assert due > first_due
        assert sql.value("SELECT %s > now()", due)  # not due yet
        assert sweep(client, d) == 0  # so the next round leaves it alone
        gaps.append(sql.value("SELECT %s - max(at) FROM delivery_attempt", due))
        make_due(sql)
    assert gaps[1] > gaps[0]  # the backoff grows

    assert sweep(client, d) == 1
    status, attempts, _, error = state()
    assert (status, attempts, error) == ("delivered", 3, None)
    assert sql.rows("SELECT status_code, error FROM delivery_attempt ORDER BY id") == [
        (500, "listener answered 500"),
        (500, "listener answered 500"),
        (201, None),
    ]
    assert [c.status for c in listener.calls] == [500, 500, 201]
    # the same event each time
    assert {c.body["eventId"] for c in listener.calls} == {
        sql.value("SELECT event_id FROM outbox_event WHERE api = %s", "customer")
    }
    assert listener.received()[0]["event"]["customer"]["id"] == customer["id"]


def test_a_delivery_is_dead_after_max_attempts(
    client: TestClient, admin: Headers, sql: Sql, listener: Listener, dispatcher: Callable[..., Dispatcher]
) -> None:
    listener.fail_first = 1000
    register(client, admin, "party", f"{listener.url}/always-failing")
    register(client, admin, "party", f"http://127.0.0.1:{closed_port()}/nobody-listens")
    make_individual(client, admin)
    d = dispatcher(max_attempts=3)
    for _ in range(3):
        assert sweep(client, d) == 2
        make_due(sql)
    assert sql.rows("SELECT status, attempts FROM delivery ORDER BY id") == [("dead", 3), ("dead", 3)]
    errors = sql.rows(
        "SELECT s.callback, a.status_code, a.error FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id"
        " JOIN hub_subscription s ON s.id = d.subscription_id ORDER BY a.id"
    )
    assert len(errors) == 6
    failing = [(code, error) for callback, code, error in errors if callback.endswith("/always-failing")]
    unreachable = [(code, error) for callback, code, error in errors if callback.endswith("/nobody-listens")]
    assert failing == [(500, "listener answered 500")] * 3
    assert len(unreachable) == 3 and all(code is None and "Cannot connect" in error for code, error in unreachable)
    assert all(sql.rows("SELECT last_error IS NOT NULL FROM delivery"))
    # a dead delivery is never tried again
    sql.conn.execute("UPDATE delivery SET next_attempt_at = now() - interval '1 day'")
    assert sweep(client, d) == 0
    assert sql.count("delivery_attempt") == 6
    assert len(listener.calls) == 3


def test_deliveries_left_by_a_crash_are_sent_by_the_next_sweep(
    client: TestClient, admin: Headers, sql: Sql, listener: Listener, dispatcher: Callable[..., Dispatcher]
) -> None:
    register(client, admin, "customer", f"{listener.url}/hook")
    first = make_customer(client, admin)  # committed with its delivery; the process "dies" before sending
    assert sql.rows("SELECT status, attempts FROM delivery") == [("pending", 0)]

    # A dispatcher that dies in the middle of a round: its claim is rolled back, nothing is recorded.
    crashing = dispatcher()

    async def die(url: str, body: Doc) -> tuple[int | None, str | None, int]:
        raise RuntimeError("killed mid-round")

    crashing._send = die  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="killed"):
        sweep(client, crashing)
    assert sql.rows("SELECT status, attempts FROM delivery") == [("pending", 0)]
    assert sql.count("delivery_attempt") == 0 and listener.calls == []

    second = make_customer(client, admin)
    assert sweep(client, dispatcher()) == 2  # a new process's first sweep
    assert sorted(e["event"]["customer"]["id"] for e in listener.received()) == [first["id"], second["id"]]
    assert sql.rows("SELECT DISTINCT status FROM delivery") == [("delivered",)]


def test_the_running_dispatcher_is_woken_by_a_commit(
    client: TestClient,
    admin: Headers,
    sql: Sql,
    listener: Listener,
    dispatcher: Callable[..., Dispatcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox.delivery_signal, "_event", None)  # bind the signal to this test's event loop
    register(client, admin, "customer", f"{listener.url}/hook")
    d = dispatcher(interval=3600.0)  # the sweeper would not come round during this test: only the signal can
    future = client.portal.start_task_soon(d.run_forever)  # type: ignore[union-attr]
    try:
        _wait_for(lambda: outbox.delivery_signal._event is not None)  # the loop is waiting for the signal
        customer = make_customer(client, admin)
        _wait_for(lambda: len(listener.received()) == 1)
        assert listener.received()[0]["event"]["customer"]["id"] == customer["id"]
    finally:
        future.cancel()


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ----- the unit of work -----------------------------------------------------------------------
def _subscription(id_: str) -> HubSubscription:
    return HubSubscription(id=id_, api="customer", callback="http://127.0.0.1:9/x", query=None)


def test_after_commit_hooks_run_only_after_the_commit(client: TestClient, sql: Sql) -> None:
    db: Database = client.app_state.db  # type: ignore[attr-defined]
    seen: list[tuple[str, int]] = []

    def sync_hook() -> None:
        seen.append(("sync", sql.count("hub_subscription", "id = 'uow-1'")))  # read on another connection

    async def async_hook() -> None:
        await asyncio.sleep(0)
        seen.append(("async", sql.count("hub_subscription", "id = 'uow-1'")))

    def broken_hook() -> None:
        raise RuntimeError("a hook failing must not undo or fail the commit")

    async def work() -> None:
        async with db.unit_of_work() as uow:
            uow.session.add(_subscription("uow-1"))
            await uow.flush()
            uow.after_commit(sync_hook)
            uow.after_commit(broken_hook)
            uow.after_commit(async_hook)
            assert seen == [] and not uow.committed
        assert uow.committed

    client.portal.call(work)  # type: ignore[union-attr]
    assert seen == [("sync", 1), ("async", 1)]  # both saw the committed row; the broken one did not stop them


def test_after_commit_hooks_are_dropped_on_rollback(client: TestClient, sql: Sql) -> None:
    db: Database = client.app_state.db  # type: ignore[attr-defined]
    ran: list[str] = []

    async def work() -> None:
        async with db.unit_of_work() as uow:
            uow.session.add(_subscription("uow-2"))
            await uow.flush()
            uow.after_commit(lambda: ran.append("hook"))
            raise LookupError("the request failed")

    with pytest.raises(LookupError):
        client.portal.call(work)  # type: ignore[union-attr]
    assert ran == []
    assert sql.count("hub_subscription") == 0


@pytest.mark.parametrize("fail", [False, True], ids=["committed", "rolled-back"])
def test_emit_writes_with_the_transaction_and_wakes_the_dispatcher_after_commit(
    fail: bool, client: TestClient, sql: Sql, monkeypatch: pytest.MonkeyPatch
) -> None:
    db: Database = client.app_state.db  # type: ignore[attr-defined]
    woken: list[bool] = []
    monkeypatch.setattr(outbox.delivery_signal, "notify", lambda: woken.append(True))

    async def work() -> None:
        async with db.unit_of_work() as uow:
            uow.session.add(_subscription("uow-3"))
            await uow.flush()
            ctx = Context(uow=uow, caller=SYSTEM_CALLER)
            doc = {"id": "C0000000042", "name": "x"}
            await outbox.emit(
                ctx, api="customer", event_type="CustomerCreateEvent", resource_type="customer", resource=doc
            )
            # buffered: written with the transaction's other events just before it commits
            assert [row["event_type"] for row, _ in uow.buffers[outbox.BUFFER]] == ["CustomerCreateEvent"]
            assert (await uow.session.execute(select(text("count(*) FROM outbox_event")))).scalar_one() == 0
            assert woken == []  # not before the commit
            if fail:
                raise LookupError("rolled back")

    if fail:
        with pytest.raises(LookupError):
            client.portal.call(work)  # type: ignore[union-attr]
    else:
        client.portal.call(work)  # type: ignore[union-attr]
    assert woken == ([] if fail else [True])
    assert (sql.count("outbox_event"), sql.count("delivery")) == ((0, 0) if fail else (1, 1))


def test_a_savepoint_rolled_back_takes_its_events_with_it(client: TestClient, sql: Sql) -> None:
    db: Database = client.app_state.db  # type: ignore[attr-defined]

    async def work() -> None:
        async with db.unit_of_work() as uow:
            ctx = Context(uow=uow, caller=SYSTEM_CALLER)

            async def event(name: str) -> None:
                doc = {"id": name, "name": name}
                await outbox.emit(
                    ctx, api="customer", event_type="CustomerCreateEvent", resource_type="customer", resource=doc
                )

            await event("kept-1")
            with pytest.raises(LookupError):
                async with uow.savepoint():
                    await event("dropped")
                    raise LookupError("the nested step failed")
            async with uow.savepoint():
                await event("kept-2")
            await event("kept-3")

    client.portal.call(work)  # type: ignore[union-attr]
    assert sql.rows("SELECT resource_id FROM outbox_event ORDER BY id") == [("kept-1",), ("kept-2",), ("kept-3",)]
