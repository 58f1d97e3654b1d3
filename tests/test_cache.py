"""Process-wide copies of the catalog and hub subscriptions, dropped on change (kit.cache, ADR 12)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from telcrm.kit import cache
from tests.conftest import Sql
from tests.factories import make_billing_account, make_customer
from tests.test_ordering import add, check, offering, order

Doc = dict[str, Any]


def _wait(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _notices_handled(sql: Sql) -> None:
    """Wait until the notices of the commits made so far have been handled: they come in after their
    commits, and a late one would drop what the test then expects to be kept. Notices arrive in
    commit order, so once a marker sent now is handled, they have been too."""
    assert _wait(cache.listening)  # the app listens while it runs
    marker = cache.shared("test.marker")
    seen = marker.generation
    sql.conn.execute("SELECT pg_notify('telcrm_cache', 'test.marker')")
    assert _wait(lambda: marker.generation > seen)


def _order(client: TestClient, admin: dict[str, str]) -> tuple[Doc, Doc]:
    customer = make_customer(client, admin)
    account = make_billing_account(client, admin, customer)
    offer = offering(client, admin)
    return offer, order(customer, add("1", offer), billingAccount={"id": account["id"]})


def test_a_change_made_by_another_process_is_seen_once_it_commits(client, admin, sql: Sql) -> None:
    offer, body = _order(client, admin)
    _notices_handled(sql)  # those of the catalog set up above
    assert check(client, admin, body)["valid"] is True
    copies = cache.shared("catalog")
    assert offer["id"] in [k for k in copies._data if isinstance(k, str)]  # read once, kept
    # another process retires the offering: a plain connection, as any writer elsewhere would
    sql.conn.execute(
        "UPDATE catalog_item SET lifecycle_status = 'retired',"
        " body = jsonb_set(body, '{lifecycleStatus}', '\"retired\"') WHERE id = %s",
        (offer["id"],),
    )
    before = copies.generation
    sql.conn.execute("SELECT pg_notify('telcrm_cache', 'catalog')")
    assert _wait(lambda: copies.generation > before)  # the notification dropped the copy
    verdict = check(client, admin, body)
    assert verdict["valid"] is False
    assert any("retired" in p or "not active" in p for p in verdict["items"][0]["problems"]), verdict


def test_a_change_made_here_is_seen_by_the_next_request(client, admin) -> None:
    offer, body = _order(client, admin)
    assert check(client, admin, body)["valid"] is True
    r = client.patch(
        f"/tmf-api/productCatalogManagement/v4/productOffering/{offer['id']}",
        json={"lifecycleStatus": "retired"},
        headers={**admin, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert check(client, admin, body)["valid"] is False  # no wait: dropped when the change committed


def test_a_listener_added_here_gets_the_next_event(client, admin, sql: Sql) -> None:
    customer = make_customer(client, admin)  # the customer hub's listeners are now copied (none)
    r = client.post(
        "/tmf-api/customerManagement/v4/hub", json={"callback": "http://127.0.0.1:9/listener"}, headers=admin
    )
    assert r.status_code == 201, r.text
    r = client.patch(
        f"/tmf-api/customerManagement/v4/customer/{customer['id']}",
        json={"name": "another name"},
        headers={**admin, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert sql.count("delivery") >= 1  # the new listener was not missed


def test_copies_are_used_only_while_listening_and_never_stored_across_a_change() -> None:
    copies = cache.Shared("test")
    listeners = cache._state.listeners
    try:
        cache._state.listeners = 0
        mark = copies.mark()
        copies.store(mark, "a", {"x": 1})
        assert copies.get("a") is None  # not listening: nothing kept
        cache._state.listeners = 1
        mark = copies.mark()
        copies.drop()  # a change became known while the read was under way
        copies.store(mark, "a", {"x": 1})
        assert copies.get("a") is None
        mark = copies.mark()
        copies.store(mark, "a", {"x": 1})
        got = copies.get("a")
        assert got == {"x": 1}
        got["x"] = 2  # a caller changing its copy changes nothing kept
        assert copies.get("a") == {"x": 1}
    finally:
        cache._state.listeners = listeners


def test_catalog_pages_are_copied_and_dropped_with_the_catalog(client, admin, sql: Sql) -> None:
    url = "/tmf-api/productCatalogManagement/v4/productOffering?lifecycleStatus=active&limit=20"
    offer, _ = _order(client, admin)
    _notices_handled(sql)  # those of the catalog set up above
    first = client.get(url, headers=admin).json()
    assert [o["id"] for o in first] == [offer["id"]]
    assert len(cache.shared("catalog.pages")) == 1  # the page is kept
    r = client.patch(
        f"/tmf-api/productCatalogManagement/v4/productOffering/{offer['id']}",
        json={"lifecycleStatus": "retired"},
        headers={**admin, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert client.get(url, headers=admin).json() == []  # a change here: the next page is fresh
    # a change elsewhere: seen once its notice arrives
    sql.conn.execute(
        "UPDATE catalog_item SET lifecycle_status = 'active',"
        " body = jsonb_set(body, '{lifecycleStatus}', '\"active\"') WHERE id = %s",
        (offer["id"],),
    )
    pages = cache.shared("catalog.pages")
    before = pages.generation
    sql.conn.execute("SELECT pg_notify('telcrm_cache', 'catalog')")
    assert _wait(lambda: pages.generation > before)
    assert [o["id"] for o in client.get(url, headers=admin).json()] == [offer["id"]]
    assert client.get(url).status_code == 401  # a copy is no way around authentication


def test_an_offering_is_copied_and_dropped_with_the_catalog(client, admin, sql: Sql) -> None:
    """An offering's page (GET by id) is kept as list pages are: a change here is seen at once, a
    change elsewhere once its notice arrives; an unknown id is not remembered as missing."""
    offer, _ = _order(client, admin)
    url = f"/tmf-api/productCatalogManagement/v4/productOffering/{offer['id']}"
    _notices_handled(sql)  # those of the catalog set up above
    pages = cache.shared("catalog.pages")
    assert client.get(url, headers=admin).json()["lifecycleStatus"] == "active"
    assert f"ProductOffering|id|{offer['id']}" in pages._data  # kept
    # read from the copy: a change the database got without a notice is not seen yet
    sql.conn.execute(
        "UPDATE catalog_item SET body = jsonb_set(body, '{name}', '\"renamed\"') WHERE id = %s", (offer["id"],)
    )
    assert client.get(url, headers=admin).json()["name"] == offer["name"]
    before = pages.generation
    sql.conn.execute("SELECT pg_notify('telcrm_cache', 'catalog')")
    assert _wait(lambda: pages.generation > before)
    assert client.get(url, headers=admin).json()["name"] == "renamed"
    # a change here: the next read is fresh
    patch = {**admin, "Content-Type": "application/merge-patch+json"}
    r = client.patch(url, json={"lifecycleStatus": "retired"}, headers=patch)
    assert r.status_code == 200, r.text
    assert client.get(url, headers=admin).json()["lifecycleStatus"] == "retired"
    # the same id under another type is another item
    spec_url = url.replace("productOffering", "productSpecification")
    assert client.get(spec_url, headers=admin).status_code == 404
    missing = "/tmf-api/productCatalogManagement/v4/productOffering/not-yet-there"
    assert client.get(missing, headers=admin).status_code == 404
    assert not any(key.endswith("|id|not-yet-there") for key in pages._data)
    assert client.get(url).status_code == 401  # a copy is no way around authentication
