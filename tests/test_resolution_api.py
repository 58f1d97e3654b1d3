"""The data steward's API: review queue, decisions, merge and unmerge, lineage, report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from telcrm.resolution.importer import import_file, load_mapping
from telcrm.resolution.merge import merge_all
from telcrm.resolution.runs import run_match
from tests.conftest import Headers, Sql
from tests.factories import CUSTOMER, INVENTORY
from tests.legacy_fixtures import write_sources

API = "/api/identity"


@pytest.fixture
def merged(database_url: str, sql: Sql, tmp_path: Path) -> dict[str, str]:
    """The small extracts imported, matched and merged; record key -> customer id."""
    for path, mapping in write_sources(tmp_path).values():
        import_file(database_url, path, load_mapping(mapping))
    run_match(database_url)
    merge_all(database_url)
    return dict(sql.rows("SELECT key, customer_id FROM legacy_record"))


def _review(sql: Sql, left: str, right: str, p: float = 0.6) -> int:
    return int(
        sql.value(
            "INSERT INTO review_pair (left_key, right_key, probability, status) VALUES (%s, %s, %s, 'open')"
            " RETURNING id",
            left,
            right,
            p,
        )
    )


def _state(sql: Sql) -> tuple[object, ...]:
    return (
        sql.rows("SELECT id, status, version FROM customer ORDER BY id"),
        sql.rows("SELECT id, customer_id, version FROM product ORDER BY id"),
        sql.rows("SELECT key, customer_id FROM legacy_record ORDER BY key"),
        sql.rows("SELECT id, status FROM review_pair ORDER BY id"),
        sql.count("steward_decision"),
        sql.count("merge_event"),
        sql.count("audit_entry"),
    )


def test_review_queue_shows_both_records(client: TestClient, admin: Headers, merged: dict[str, str], sql: Sql) -> None:
    rid = _review(sql, "mobile:M5", "mobile:M6", 0.55)
    r = client.get(f"{API}/reviews", headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["X-Total-Count"] == "1"
    item = r.json()[0]
    assert item["id"] == str(rid) and item["probability"] == 0.55
    assert item["left"]["key"] == "mobile:M5" and item["left"]["original"]["姓名"] == "李娜"
    assert item["right"]["fields"]["phone"] == "13922223333"
    assert item["left"]["customerId"] == merged["mobile:M5"]


def test_same_merges_two_customers_and_unmerge_restores_them(
    client: TestClient, admin: Headers, merged: dict[str, str], sql: Sql
) -> None:
    a, b = merged["mobile:M5"], merged["mobile:M6"]
    assert a != b
    keep, gone = sorted((a, b))
    gone_product = sql.value("SELECT id FROM product WHERE customer_id = %s", gone)
    before_gone = sql.value("SELECT body FROM customer WHERE id = %s", gone)
    rid = _review(sql, "mobile:M5", "mobile:M6")
    r = client.post(f"{API}/reviews/{rid}/decision", json={"same": True}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "merged" and r.json()["customerId"] == keep
    assert sql.value("SELECT status FROM customer WHERE id = %s", gone) == "terminated"
    assert sql.value("SELECT customer_id FROM product WHERE id = %s", gone_product) == keep
    assert sql.count("product", "customer_id = %s", keep) == 2
    assert sql.rows("SELECT same FROM steward_decision") == [(True,)]
    assert sql.value("SELECT status FROM review_pair WHERE id = %s", rid) == "same"
    product = client.get(f"{INVENTORY}/product/{gone_product}", headers=admin).json()
    assert {p["id"] for p in product["relatedParty"] if p["role"] == "customer"} == {keep}
    assert sql.count("outbox_event", "event_type = 'CustomerMergeEvent' AND customer_id = %s", keep) == 2
    assert sql.count("audit_entry", "entity_id = %s AND entity_type = 'Product'", gone_product) == 1
    lineage = client.get(f"{API}/customers/{keep}/lineage", headers=admin).json()
    assert {r["key"] for r in lineage["records"]} == {"mobile:M5", "mobile:M6"}
    assert lineage["history"][0]["action"] == "merge"
    # the steward was wrong: undo it
    moved = "mobile:M6" if gone == b else "mobile:M5"
    r = client.post(f"{API}/customers/{keep}/unmerge", json={"recordKeys": [moved]}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"customerId": keep, "restoredCustomerId": gone, "action": "merge undone"}
    assert sql.value("SELECT body FROM customer WHERE id = %s", gone) == before_gone
    assert sql.value("SELECT customer_id FROM product WHERE id = %s", gone_product) == gone
    assert sql.value("SELECT customer_id FROM legacy_record WHERE key = %s", moved) == gone
    assert sql.count("golden_record", "customer_id = %s", gone) == 1
    customer = client.get(f"{CUSTOMER}/customer/{gone}", headers=admin).json()
    assert customer["status"] == before_gone["status"] == "prospect"  # no ID number: not real-name registered


def test_different_splits_a_bulk_merge(client: TestClient, admin: Headers, merged: dict[str, str], sql: Sql) -> None:
    cid = merged["mobile:M1"]
    assert merged["billing:B1"] == cid
    broadband = sql.value("SELECT product_id FROM legacy_record WHERE key = 'billing:B1'")
    rid = _review(sql, "billing:B1", "mobile:M1", 0.95)
    r = client.post(f"{API}/reviews/{rid}/decision", json={"same": False}, headers=admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["action"] == "split" and out["customerId"] == cid
    new = out["newCustomerId"]
    split = (
        "mobile:M1" if sql.value("SELECT customer_id FROM legacy_record WHERE key='mobile:M1'") == new else "billing:B1"
    )
    assert sql.value("SELECT customer_id FROM legacy_record WHERE key = %s", split) == new
    # the new customer has its own party, account and user, created through the services
    doc = client.get(f"{CUSTOMER}/customer/{new}", headers=admin).json()
    assert doc["engagedParty"]["@referredType"] == "Individual"
    assert (
        sql.count("account", "customer_id = %s", new) == 1 and sql.count("customer_user", "customer_id = %s", new) == 1
    )
    if split == "billing:B1":
        assert sql.value("SELECT customer_id FROM product WHERE id = %s", broadband) == new
        assert sql.value("SELECT user_id FROM product WHERE id = %s", broadband) == sql.value(
            "SELECT id FROM customer_user WHERE customer_id = %s", new
        )
    # later runs obey the decision
    assert sql.rows("SELECT left_key, right_key, same FROM steward_decision") == [("billing:B1", "mobile:M1", False)]
    lineage = client.get(f"{API}/customers/{cid}/lineage", headers=admin).json()
    assert [r["key"] for r in lineage["records"]] == [k for k in ("billing:B1", "mobile:M1") if k != split]


def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(
    client: TestClient, admin: Headers, login: Callable[..., Headers], merged: dict[str, str], sql: Sql
) -> None:
    rid = _review(sql, "mobile:M5", "mobile:M6")
    cid = merged["mobile:M1"]
    before = _state(sql)
    cases = [
        ("post", f"{API}/reviews/{rid}/decision", {"same": "yes"}, 400, "same"),
        ("post", f"{API}/reviews/{rid}/decision", {}, 400, "same"),
        ("post", f"{API}/reviews/{rid}/decision", {"same": True, "x": 1}, 400, "x"),
        ("post", f"{API}/reviews/999999/decision", {"same": True}, 404, "id"),
        ("post", f"{API}/reviews/abc/decision", {"same": True}, 404, "id"),
        ("post", f"{API}/customers/{cid}/unmerge", {"recordKeys": []}, 400, "recordKeys"),
        ("post", f"{API}/customers/{cid}/unmerge", {"recordKeys": "mobile:M1"}, 400, "recordKeys"),
        ("post", f"{API}/customers/{cid}/unmerge", {"recordKeys": ["mobile:M5"]}, 400, "recordKeys"),
        ("post", f"{API}/customers/{cid}/unmerge", {"recordKeys": ["mobile:M1", "billing:B1"]}, 400, "recordKeys"),
        ("post", f"{API}/customers/C9999999999/unmerge", {"recordKeys": ["mobile:M1"]}, 404, "id"),
        ("get", f"{API}/customers/C9999999999/lineage", None, 404, "id"),
    ]
    for method, path, body, status, field in cases:
        r = client.request(method.upper(), path, json=body, headers=admin)
        assert r.status_code == status, (path, body, r.text)
        err = r.json()
        assert err["status"] == str(status) and err["field"] == field, (path, body, err)
    r = client.post(
        f"{API}/reviews/{rid}/decision", content=b"not json", headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400
    # roles: an agent may not steward, a customer may not read the queue, nobody anonymous
    agent = login("agent")
    assert client.post(f"{API}/reviews/{rid}/decision", json={"same": True}, headers=agent).status_code == 403
    assert (
        client.post(f"{API}/customers/{cid}/unmerge", json={"recordKeys": ["billing:B1"]}, headers=agent).status_code
        == 403
    )
    assert client.get(f"{API}/reviews", headers=login("customer", customer_id=cid)).status_code == 403
    assert client.get(f"{API}/report").status_code == 401
    assert _state(sql) == before
    # deciding twice is a conflict
    supervisor = login("supervisor")
    assert client.post(f"{API}/reviews/{rid}/decision", json={"same": False}, headers=supervisor).status_code == 200
    r = client.post(f"{API}/reviews/{rid}/decision", json={"same": True}, headers=supervisor)
    assert r.status_code == 409


def test_lineage_and_report(client: TestClient, admin: Headers, merged: dict[str, str], sql: Sql) -> None:
    cid = merged["mobile:M1"]
    r = client.get(f"{API}/customers/{cid}/lineage", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["attributes"]["name"]["value"] == "张伟" and body["attributes"]["name"]["record"] == "mobile:M1"
    assert body["attributes"]["id_number"]["value"] == "110105199001011232"
    assert {x["key"] for x in body["records"]} == {"mobile:M1", "billing:B1"}
    report = client.get(f"{API}/report", headers=login_back_office(client, sql)).json()
    assert report["records"] == 7 and report["rejected"] == 4
    assert report["goldenCustomers"] == sql.count("golden_record")
    # the golden customer is found by staff search like any other
    found = client.get("/api/customers/search", params={"q": "13800138000"}, headers=admin).json()
    assert found[0]["id"] == cid
    view = client.get(f"/api/customers/{cid}/360", headers=admin)
    assert view.status_code == 200, view.text
    assert len(view.json()["products"]) == 2
    assert {u["name"] for u in view.json()["users"]} == {"张伟"}


def login_back_office(client: TestClient, sql: Sql) -> Headers:
    from telcrm.identity import service as identity
    from telcrm.kit.auth import hash_secret, new_secret

    p = identity.new_principal(kind="staff", display_name="bo", roles=["back_office"], password_hash="x")
    key = new_secret("tck")
    sql.conn.execute(
        "INSERT INTO principal (id, kind, password_hash, display_name, roles, active)"
        " VALUES (%s, 'staff', 'x', %s, %s, true)",
        (p.id, "bo", ["back_office"]),
    )
    sql.conn.execute(
        "INSERT INTO access_token (token_hash, principal_id, kind, name) VALUES (%s,%s,'apikey','t')",
        (hash_secret(key), p.id),
    )
    return {"Authorization": f"Bearer {key}"}


def test_likely_duplicates_are_flagged_without_blocking(
    client: TestClient, admin: Headers, login: Callable[..., Headers], sql: Sql
) -> None:
    from tests.factories import make_customer, make_individual, resident_id

    number = resident_id("19800202")
    first = make_individual(
        client,
        admin,
        individualIdentification=[{"identificationType": "residentIdCard", "identificationId": number}],
        contactMedium=[{"mediumType": "mobile", "characteristic": {"phoneNumber": "13612345678"}}],
    )
    existing = make_customer(client, admin, first)
    clerk = login("clerk")
    # the same ID number on another party
    twin = make_individual(
        client,
        admin,
        individualIdentification=[{"identificationType": "residentIdCard", "identificationId": number}],
    )
    r = client.post(f"{API}/duplicates", json={"engagedParty": {"id": twin["id"]}}, headers=clerk)
    assert r.status_code == 200, r.text
    flagged = r.json()["possibleDuplicate"]
    assert flagged == [
        {"id": existing["id"], "name": "张伟", "reason": "same identification number", "probability": 1.0}
    ]
    # the same name and mobile number, no ID: the matcher decides
    namesake = make_individual(
        client,
        admin,
        individualIdentification=[],
        contactMedium=[{"mediumType": "mobile", "characteristic": {"phoneNumber": "+86 136-1234-5678"}}],
    )
    r = client.post(f"{API}/duplicates", json={"engagedParty": {"id": namesake["id"]}}, headers=clerk)
    assert [d["id"] for d in r.json()["possibleDuplicate"]] == [existing["id"]]
    # someone else entirely: nothing
    stranger = make_individual(client, admin, givenName="小红", familyName="欧阳")
    r = client.post(f"{API}/duplicates", json={"engagedParty": {"id": stranger["id"]}}, headers=clerk)
    assert r.json() == {"possibleDuplicate": []}
    # creating it anyway works (flagging never blocks); the create's answer says whom it may duplicate
    r = client.post(
        "/tmf-api/customerManagement/v4/customer",
        json={"name": "张伟", "engagedParty": {"id": twin["id"], "@referredType": "Individual"}},
        headers=clerk,
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert [(d["id"], d["reason"]) for d in second["possibleDuplicate"]] == [
        (existing["id"], "same identification number")
    ]
    assert "possibleDuplicate" not in client.get(second["href"].split("testserver")[-1], headers=clerk).json()
    r = client.get(f"{API}/customers/{second['id']}/duplicates", headers=clerk)
    assert [d["id"] for d in r.json()["possibleDuplicate"]] == [existing["id"]]
    bad = client.post(f"{API}/duplicates", json={"engagedParty": {}}, headers=clerk)
    assert bad.status_code == 400 and bad.json()["field"] == "engagedParty.id"
    assert client.post(f"{API}/duplicates", json={"engagedParty": {"id": twin["id"]}}).status_code == 401
    assert sql.count("customer") == 2


def test_search_results_flag_customers_sharing_an_identification_number(
    client: TestClient, admin: Headers, sql: Sql
) -> None:
    from tests.factories import make_customer, make_individual, resident_id

    number = resident_id("19750505")

    def person(id_number: str) -> dict[str, Any]:
        ident = [{"identificationType": "residentIdCard", "identificationId": id_number}]
        return make_individual(client, admin, givenName="秀英", familyName="欧阳", individualIdentification=ident)

    first = make_customer(client, admin, person(number))
    second = make_customer(client, admin, person(number))  # the same person entered twice
    other = make_customer(client, admin, person(resident_id("19900909")))
    r = client.get("/api/customers/search", params={"q": "欧阳秀英"}, headers=admin)
    assert r.status_code == 200, r.text
    hits = {h["id"]: h for h in r.json()}
    assert set(hits) == {first["id"], second["id"], other["id"]}
    assert hits[first["id"]]["possibleDuplicateOf"] == [second["id"]]
    assert hits[second["id"]]["possibleDuplicateOf"] == [first["id"]]
    assert "possibleDuplicateOf" not in hits[other["id"]]
