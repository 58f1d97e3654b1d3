"""The demo data generator writes exactly what the services would have written through the API."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from io import StringIO
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from telcrm.api.tmf.spec import INVENTORY, ORDERING
from telcrm.catalog.service import network_domain as catalog_network_domain
from telcrm.demo import catalog, generator
from telcrm.demo.generator import MOBILE_PREFIXES, generate, is_empty
from telcrm.inventory.service import search_keys as product_keys
from telcrm.ordering import fulfilment
from telcrm.party.identification import normalise_resident_id, normalise_uscc
from telcrm.party.service import display_name
from telcrm.search.keys import fold, name_keys, phone_keys
from telcrm.search.service import contact_keys, number_keys, party_keys
from tests.conftest import Sql
from tests.factories import CUSTOMER, make_customer

N = 300
DOCUMENT_TABLES = ("party", "customer", "party_role", "account", "customer_user", "product", "product_order")
DIGESTED = (*DOCUMENT_TABLES, "work_order")


def _generate(url: str, customers: int = N, seed: int = 7, workers: int | None = None) -> str:
    out = StringIO()
    generate(url, customers=customers, seed=seed, console=Console(file=out, width=120), workers=workers)
    return out.getvalue()


def _empty(sql: Sql, tables: list[str]) -> None:
    """What the ``sql`` fixture does before each test."""
    sql.conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    sql.conn.execute("ALTER SEQUENCE customer_number_seq RESTART WITH 1")
    sql.conn.execute("ALTER SEQUENCE account_number_seq RESTART WITH 1")


def _digest(sql: Sql) -> dict[str, str]:
    digests = {t: sql.value(f"SELECT md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM {t} t") for t in DIGESTED}
    digests["search_key"] = sql.value(
        "SELECT md5(string_agg(t::text, E'\\n' ORDER BY key, kind, ref_id)) FROM search_key t"
    )
    return digests


def _stored_keys(sql: Sql) -> dict[str, set[tuple[str, str, int, str | None]]]:
    stored: dict[str, set[tuple[str, str, int, str | None]]] = defaultdict(set)
    for key, kind, ref, customer, weight in sql.rows("SELECT key, kind, ref_id, customer_id, weight FROM search_key"):
        stored[ref].add((kind, key, weight, customer))
    return stored


def _expected(keys: Any, customer: str | None) -> set[tuple[str, str, int, str | None]]:
    """What ``search.repository.replace_keys`` stores for ``keys``."""
    return {(kind, key[:200], weight, customer) for kind, key, weight in dict.fromkeys(keys) if key}


def test_is_empty_until_generated(sql: Sql, database_url: str) -> None:
    assert is_empty(database_url)
    _generate(database_url, customers=20)
    assert not is_empty(database_url)
    assert sql.count("customer") == 20


def test_search_keys_are_what_the_services_write(sql: Sql, database_url: str) -> None:
    _generate(database_url)
    stored = _stored_keys(sql)
    checked = 0
    for pid, body, customer_id in sql.rows("SELECT id, body, customer_id FROM party"):
        assert stored.pop(pid, set()) == _expected(party_keys(body), customer_id), body
        checked += 1
    for cid, name, body in sql.rows("SELECT id, name, body FROM customer"):
        keys = list(number_keys(cid)) + [(k, v, 1) for k, v in name_keys(name)]
        keys += contact_keys(body.get("contactMedium"))
        assert stored.pop(cid) == _expected(keys, cid), body
        checked += 1
    for aid, customer_id in sql.rows("SELECT id, customer_id FROM account"):
        assert stored.pop(aid) == _expected(number_keys(aid), customer_id)
        checked += 1
    for uid, name, body, customer_id in sql.rows("SELECT id, name, body, customer_id FROM customer_user"):
        keys = [(k, v, -1) for k, v in name_keys(name)] + [("phone", n, 0) for n in phone_keys(body["phoneNumber"])]
        assert stored.pop(uid) == _expected(keys, customer_id), body
        checked += 1
    products = 0
    for pid, body, customer_id in sql.rows("SELECT id, body, customer_id FROM product"):
        expected = _expected(product_keys(body), customer_id)
        assert stored.pop(pid, set()) == expected, body
        products += bool(expected)
    for oid, customer_id in sql.rows("SELECT id, customer_id FROM product_order"):
        # What ``telcrm.ordering.service.order_search_keys`` indexes: the order id.
        assert stored.pop(oid) == _expected([("id", fold(oid).upper(), 0)], customer_id)
        checked += 1
    assert not stored, "search keys of rows that do not exist"
    assert checked > 5 * N
    assert products > N / 2  # mobile plans and fixed lines are found by their numbers


def test_names_in_other_scripts_have_their_keys(sql: Sql, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "OTHER_NAMES", 1.0)  # traditional-script and romanised names for everyone
    _generate(database_url, customers=60)
    stored = _stored_keys(sql)
    rows = sql.rows("SELECT id, body, customer_id FROM party WHERE body ? 'otherName'")
    assert any("givenName" in body["otherName"][0] for _, body, _ in rows)
    assert any("givenName" not in body["otherName"][0] for _, body, _ in rows)
    for pid, body, customer_id in rows:
        assert stored[pid] == _expected(party_keys(body), customer_id), body


def test_identification_numbers_and_phone_numbers_are_valid(sql: Sql, database_url: str) -> None:
    _generate(database_url)
    mobiles = []
    numbers = []
    for body in sql.rows("SELECT body FROM party WHERE kind = 'Individual'"):
        doc = body[0]
        for ident in doc.get("individualIdentification") or []:
            number = ident["identificationId"]
            assert ident["identificationType"] == "residentIdCard"
            assert normalise_resident_id(number) == number
            assert number[6:14] == doc["birthDate"][:10].replace("-", "")
            assert int(number[16]) % 2 == (1 if doc["gender"] == "male" else 0)
            numbers.append(number)
        media = {m["mediumType"]: m["characteristic"] for m in doc["contactMedium"]}
        mobile = media["mobile"]["phoneNumber"]
        assert re.fullmatch(r"1\d{10}", mobile) and mobile[:3] in MOBILE_PREFIXES
        mobiles.append(mobile)
        if "phone" in media:
            assert re.fullmatch(r"0\d{2,3}-[2-9]\d{7}", media["phone"]["phoneNumber"])
        if "postalAddress" in media:
            address = media["postalAddress"]
            assert address["country"] == "CN" and re.fullmatch(r"\d{6}", address["postCode"])
    assert len(mobiles) == len(set(mobiles)), "mobile numbers are unique"
    assert len(numbers) == len(set(numbers)), "resident ID numbers are unique"
    assert len(numbers) > N * 0.8
    codes = 0
    for (doc,) in sql.rows("SELECT body FROM party WHERE kind = 'Organization'"):
        for ident in doc["organizationIdentification"]:
            assert normalise_uscc(ident["identificationId"]) == ident["identificationId"]
            codes += 1
    assert codes > generator.N_DEALERS + len(generator.OPERATORS)  # and groups, shops, branches


def test_shared_resident_id_numbers_are_made_unique(sql: Sql, database_url: str) -> None:
    _generate(database_url, customers=50)
    (_, body), (second, _) = sql.rows(
        "SELECT id, body FROM party WHERE body ? 'individualIdentification' ORDER BY id LIMIT 2"
    )
    number = body["individualIdentification"][0]["identificationId"]
    # As two random draws could have: the second party gets the number of the first.
    sql.conn.execute(
        "UPDATE party SET body = jsonb_set(body, '{individualIdentification,0,identificationId}', to_jsonb(%s::text))"
        " WHERE id = %s",
        (number, second),
    )
    sql.conn.execute("UPDATE search_key SET key = %s WHERE ref_id = %s AND kind = 'id'", (number, second))
    records = "".join(
        doc["individualIdentification"][0]["identificationId"] + pid
        for pid, doc in sql.rows("SELECT id, body FROM party WHERE body ? 'individualIdentification' ORDER BY id DESC")
    )
    fixes = generator._unique_ids(records)
    assert [(party_id, old) for party_id, old, _ in fixes] == [(second, number)]
    new = fixes[0][2]
    assert new != number and new[:14] == number[:14] and int(new[16]) % 2 == int(number[16]) % 2
    assert normalise_resident_id(new) == new

    generator._apply_id_fixes(generator._dsn(database_url), fixes)
    (doc,) = sql.rows("SELECT body FROM party WHERE id = %s", second)[0]
    assert doc["individualIdentification"][0]["identificationId"] == new
    assert _stored_keys(sql)[second] == _expected(
        party_keys(doc), sql.value("SELECT customer_id FROM party WHERE id = %s", second)
    )
    assert sql.count("search_key", "kind = 'id' AND key = %s", number) == 1


def test_rows_look_like_api_rows(sql: Sql, database_url: str) -> None:
    _generate(database_url)
    for table in DOCUMENT_TABLES:
        assert sql.count(table, "version <> 1 OR body->>'id' <> id OR body ? 'href' OR NOT body ? '@type'") == 0
    assert sql.count("audit_entry") == 0
    assert sql.count("outbox_event") == 0
    for name, body, kind in sql.rows("SELECT name, body, kind FROM party"):
        assert name == display_name(body)
        assert kind == body["@type"]
    parties = {r[0]: r[1:] for r in sql.rows("SELECT id, customer_id, dealer_id, manager_id, kind FROM party")}
    categories = Counter()
    for row in sql.rows(
        "SELECT id, name, status, category, vip_level, party_id, party_kind, customer_id, dealer_id, manager_id, body"
        " FROM customer"
    ):
        cid, name, status, category, vip, party_id, party_kind, customer_id, dealer_id, manager_id, body = row
        chars = {c["name"]: c["value"] for c in body["characteristic"]}
        related = {r["role"]: r["id"] for r in body.get("relatedParty", [])}
        assert re.fullmatch(r"C\d{10}", cid) and customer_id == cid
        assert (name, status, category, vip) == (
            body["name"],
            body["status"],
            chars["customerCategory"],
            chars["vipLevel"],
        )
        assert (party_id, party_kind) == (body["engagedParty"]["id"], body["engagedParty"]["@referredType"])
        assert (manager_id, dealer_id) == (related.get("accountManager"), related.get("dealer"))
        assert parties[party_id] == (cid, dealer_id, manager_id, party_kind)
        if vip != "none" or category == "group":
            assert manager_id is not None
        if status == "prospect":
            assert "individualIdentification" not in sql.value("SELECT body FROM party WHERE id = %s", party_id)
            assert "account" not in body
        categories[category] += 1
    assert set(categories) >= {"individual", "group", "operator"}
    # Everything a customer owns carries the customer's scope.
    for table in ("account", "customer_user", "party", "party_role", "product", "product_order"):
        assert (
            sql.count(
                f"{table} x JOIN customer c ON c.id = x.customer_id",
                "x.dealer_id IS DISTINCT FROM c.dealer_id OR x.manager_id IS DISTINCT FROM c.manager_id",
            )
            == 0
        ), table
    for owner, customer_id, body in sql.rows(
        "SELECT owner_customer_id, customer_id, body FROM account WHERE kind = 'BillingAccount'"
    ):
        assert owner == customer_id == body["relatedParty"][0]["id"]
        assert body["billStructure"]["cycleSpecification"]["id"].startswith("std-bcs-monthly-")
        assert body["creditLimit"]["unit"] == "CNY"
    refs = {r[0] for r in sql.rows("SELECT id FROM reference_item")}
    for (structure,) in sql.rows("SELECT body->'billStructure' FROM account WHERE body ? 'billStructure'"):
        assert {structure["cycleSpecification"]["id"], structure["format"]["id"]} <= refs
        assert {m["id"] for m in structure["presentationMedia"]} <= refs
    assert (
        sql.count(
            "customer_user u JOIN account a ON a.id = u.billing_account_id",
            "a.customer_id <> u.customer_id OR u.body->'billingAccount'->>'id' <> a.id"
            " OR u.body->'customer'->>'id' <> u.customer_id OR u.body->'party'->>'id' <> u.party_id",
        )
        == 0
    )
    roles = dict(sql.rows("SELECT role_kind, count(*) FROM party_role GROUP BY role_kind"))
    assert roles["accountManager"] == generator.N_MANAGERS and roles["dealer"] == generator.N_DEALERS
    assert roles["interconnectPartner"] == 3
    assert sql.count("party_role", "role_kind = 'dealer' AND dealer_id <> party_id") == 0
    assert sql.count("account", "kind = 'SettlementAccount'") == generator.N_DEALERS + 3
    assert sql.count("party", "parent_id IS NOT NULL") >= 2
    # The sequences continue after the generated numbers.
    assert sql.value("SELECT last_value FROM customer_number_seq") == N
    assert sql.value("SELECT last_value FROM account_number_seq") == sql.value(
        "SELECT max(substr(id, 2)::int) FROM account"
    )


def test_customers_have_products_and_the_order_that_created_them(sql: Sql, database_url: str) -> None:
    _generate(database_url, customers=600)
    items = catalog._items()
    offerings = {id_: doc for kind, id_, doc in items if kind == "ProductOffering"}
    prices = {id_ for kind, id_, _ in items if kind == "ProductOfferingPrice"}
    accounts = {r[0]: r[1:] for r in sql.rows("SELECT id, customer_id, account_type FROM account")}
    users = {r[0]: r[1:] for r in sql.rows("SELECT id, customer_id, billing_account_id, body FROM customer_user")}
    customers = {r[0]: r[1:] for r in sql.rows("SELECT id, status, category FROM customer")}
    billed = {r[0] for r in sql.rows("SELECT DISTINCT customer_id FROM account WHERE kind = 'BillingAccount'")}

    # Every customer with a billing account has products and exactly one order; prospects (no
    # account) and interconnect partners (a settlement account only) have none.
    products_of = Counter(r[0] for r in sql.rows("SELECT customer_id FROM product"))
    orders_of = Counter(r[0] for r in sql.rows("SELECT customer_id FROM product_order"))
    assert set(products_of) == set(orders_of) == billed
    assert all(orders_of[c] == 1 for c in billed)
    assert {customers[c][1] for c in set(customers) - billed} <= {"individual", "operator"}
    assert all(customers[c][0] == "prospect" or customers[c][1] == "operator" for c in set(customers) - billed)

    products = {}
    for row in sql.rows(
        "SELECT id, name, status, offering_id, billing_account_id, user_id, start_date, termination_date,"
        " billing_start_date, created_at, customer_id, body FROM product"
    ):
        pid, name, status, offering_id, account_id, user_id, start, end, billing_start, created, customer_id, body = row
        products[pid] = row
        # The columns are what the service derives from the document.
        assert (name, status, offering_id) == (body["name"], body["status"], body["productOffering"]["id"])
        assert account_id == body["billingAccount"]["id"]
        parties = {p["role"]: p["id"] for p in body["relatedParty"]}
        assert (parties["customer"], parties["user"]) == (customer_id, user_id)
        assert start == billing_start == created and start == datetime.fromisoformat(body["startDate"])
        assert (end is None) == (status != "terminated") == ("terminationDate" not in body)
        if end is not None:
            assert end == datetime.fromisoformat(body["terminationDate"]) and end > start
        # 三户模型: the user and the billing account are the customer's; group members use the
        # group's paid account, which the group customer owns.
        assert accounts[account_id][0] == customer_id
        assert users[user_id][0] == customer_id and users[user_id][1] == account_id
        # The catalog's ids and names.
        offering = offerings[offering_id]
        assert body["name"] == offering["name"] and body["isBundle"] == offering["isBundle"]
        assert body.get("productSpecification", {}).get("id") == offering.get("productSpecification", {}).get("id")
        assert {p["productOfferingPrice"]["id"] for p in body["productPrice"]} <= prices
        chars = {c["name"]: c["value"] for c in body.get("productCharacteristic", [])}
        if offering_id.startswith("po-mobile-"):
            assert chars["serviceNumber"] == users[user_id][2]["phoneNumber"]
            assert chars["network"] in ("5G", "4G")
        if offering_id == "po-local-line":
            contacts = {
                m["mediumType"]: m["characteristic"]
                for m in sql.value(
                    "SELECT p.body->'contactMedium' FROM party p WHERE p.id = %s", users[user_id][2]["party"]["id"]
                )
            }
            assert chars["serviceNumber"] == contacts["phone"]["phoneNumber"]
        if offering_id.startswith("po-broadband-"):
            assert chars["bandwidth"] == offering_id.removeprefix("po-broadband-").upper()
        if offering_id == "po-leased-line-100m":
            assert accounts[account_id][1] == "groupPaid" and customers[customer_id][1] == "group"
    by_offering = Counter(r[3] for r in products.values())
    assert {"po-mobile-59", "po-mobile-99", "po-broadband-300m", "po-local-line", "po-leased-line-100m"} <= set(
        by_offering
    )
    assert {"po-bundle-converged", "po-bundle-line-broadband", "po-iptv"} <= set(by_offering)
    statuses = Counter(r[2] for r in products.values())
    assert statuses["active"] > 0.85 * len(products) and statuses["suspended"] and statuses["terminated"]
    # Every group member has a mobile plan on the group's account.
    assert (
        sql.count(
            "customer_user u JOIN customer c ON c.id = u.customer_id AND c.category = 'group'",
            "NOT EXISTS (SELECT 1 FROM product p WHERE p.user_id = u.id AND p.offering_id LIKE 'po-mobile-%%')",
        )
        == 0
    )

    # Bundles name their components, which are products of the same customer.
    children = set()
    for _pid, *_, customer_id, body in products.values():
        if body["isBundle"]:
            assert "productSpecification" not in body
            parts = [r["product"]["id"] for r in body["productRelationship"]]
            assert parts and all(r["relationshipType"] == "bundled" for r in body["productRelationship"])
            for part in parts:
                assert products[part][10] == customer_id and not products[part][11]["isBundle"]
                assert products[part][2] == body["status"]
            expected = [p["id"] for p in offerings[body["productOffering"]["id"]]["bundledProductOffering"]]
            assert sorted(products[part][3] for part in parts) == sorted(expected)
            children.update(parts)
        else:
            assert "productRelationship" not in body

    # The order lists every product it created, bundle components under their bundle's item.
    ordered: dict[str, tuple[str, str]] = {}

    def walk(order_id: str, entries: list[dict[str, Any]], parent: str | None) -> None:
        for entry in entries:
            pid = entry["product"]["id"]
            assert pid not in ordered
            ordered[pid] = (order_id, entry["id"])
            assert entry["state"] == "completed" and entry["action"] == "add" and entry["quantity"] == 1
            assert entry["productOffering"]["id"] == products[pid][3]
            assert (parent is not None) == (pid in children)
            walk(order_id, entry.get("productOrderItem", []), pid)

    for oid, state, account_id, external, created_by, key, created, customer_id, body in sql.rows(
        "SELECT id, state, billing_account_id, external_id, created_by, idempotency_key, created_at, customer_id, body"
        " FROM product_order"
    ):
        assert state == body["state"] == "completed" and (external, created_by, key) == (None, None, None)
        assert account_id == body["billingAccount"]["id"] and accounts[account_id][0] == customer_id
        assert body["relatedParty"] == [{"id": customer_id, "role": "customer", "@referredType": "Customer"}]
        assert created == datetime.fromisoformat(body["orderDate"])
        assert body["orderDate"] < body["completionDate"]
        assert body["category"] == ("B2B" if customers[customer_id][1] == "group" else body["category"])
        assert body["channel"][0]["id"] in ("hall", "web", "callCenter", "dealer")
        walk(oid, body["productOrderItem"], None)
    assert set(ordered) == set(products)
    for pid, row in products.items():
        (link,) = row[11]["productOrderItem"]
        assert (link["productOrderId"], link["orderItemId"]) == ordered[pid]
        assert row[11]["orderDate"] == sql.value(
            "SELECT body->>'orderDate' FROM product_order WHERE id = %s", link["productOrderId"]
        )

    # The documents are TMF637 Products and TMF622 ProductOrders.
    for (body,) in sql.rows("SELECT body FROM product ORDER BY id LIMIT 50"):
        INVENTORY.validate("Product", body)
    for (body,) in sql.rows("SELECT body FROM product WHERE body->>'isBundle' = 'true' ORDER BY id LIMIT 10"):
        INVENTORY.validate("Product", body)
    for (body,) in sql.rows("SELECT body FROM product_order ORDER BY id LIMIT 50"):
        ORDERING.validate("ProductOrder", body)


def test_orders_have_the_completed_work_orders_fulfilment_made(sql: Sql, database_url: str) -> None:
    """Each demo order has the history a real one has: for every product it created (bundles through
    their components), the work orders of its network domain in order, all completed, one after the
    other between capture and completion; as the order's work-order list (API) shows them."""
    _generate(database_url, customers=400)
    items = catalog._items()
    docs = {(kind, id_): doc for kind, id_, doc in items}
    orders = {r[0]: r[1:] for r in sql.rows("SELECT id, customer_id, created_at, body FROM product_order")}
    work: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in sql.rows(
        "SELECT order_id, item_id, root_item_id, domain, task, action, seq, status, attempt, send_attempts,"
        " next_attempt_at, sent_at, finished_at, reason, payload, result, created_at FROM work_order ORDER BY seq"
    ):
        work[(row[0], row[1])].append(row)
    seen = 0
    domains: Counter[str] = Counter()
    for oid, (customer_id, created, body) in orders.items():
        done = datetime.fromisoformat(body["completionDate"])
        nodes = [(entry, entry["id"]) for entry in body["productOrderItem"]]
        nodes += [(child, root) for entry, root in list(nodes) for child in entry.get("productOrderItem", [])]
        for node, root in nodes:
            offering = docs[("ProductOffering", node["productOffering"]["id"])]
            rows = work.get((oid, node["id"]), [])
            last = created  # the items' work orders run side by side, each item's one after the other
            if offering.get("isBundle"):
                assert rows == []  # a bundle is provisioned through its components
                continue
            spec = docs[("ProductSpecification", offering["productSpecification"]["id"])]
            domain = catalog_network_domain(spec) or fulfilment.GENERIC
            assert [r[4] for r in rows] == list(fulfilment.add_tasks(domain))
            for seq, (
                _,
                _,
                root_id,
                dom,
                _,
                action,
                n,
                status,
                attempt,
                sends,
                due,
                sent,
                ended,
                reason,
                payload,
                result,
                made,
            ) in enumerate(rows):
                assert (root_id, dom, action, n, status, attempt, sends, reason) == (
                    root,
                    domain,
                    "add",
                    seq,
                    "completed",
                    1,
                    1,
                    None,
                )
                assert made == created <= due < sent < ended <= done and due >= last
                last = ended
                assert payload["orderId"] == oid and payload["orderItemId"] == node["id"]
                assert payload["customerId"] == customer_id and payload["task"] == rows[seq][4]
                assert payload["productOffering"]["id"] == node["productOffering"]["id"] and payload["domain"] == domain
                assert result and all(isinstance(v, str) and v for v in result.values())
                seen += 1
            domains[domain] += 1
        # the order ended with its last work order
        assert max(r[12] for node, _ in nodes for r in work.get((oid, node["id"]), [])) == done
    assert seen == sql.count("work_order") and seen > 2 * len(orders)
    assert {"mobile", "broadband", "fixed", "iptv"} <= set(domains)
    assert sql.count("work_order", "status <> 'completed'") == 0


def test_the_number_pool_offers_numbers_nobody_has(sql: Sql, database_url: str) -> None:
    _generate(database_url)
    mobile, fixed = generator.pool_numbers(N)
    assert len(mobile) == 10_000 and len(fixed) == 1_000
    assert sql.count("number_pool", "kind = 'mobile' AND status = 'free'") == 10_000
    assert sql.count("number_pool", "kind = 'fixed' AND status = 'free'") == 1_000
    assert sql.count("number_pool", "kind = 'mobile' AND number !~ '^1[0-9]{10}$'") == 0
    assert sql.count("number_pool", "kind = 'fixed' AND number !~ '^0[0-9]{10,11}$'") == 0
    pool = {r[0] for r in sql.rows("SELECT number FROM number_pool")}
    taken = {n for (body,) in sql.rows("SELECT body FROM customer_user") for n in phone_keys(body["phoneNumber"])}
    for (body,) in sql.rows("SELECT body FROM product"):
        for char in body.get("productCharacteristic", []):
            if char["name"] == "serviceNumber":
                taken.update(phone_keys(char["value"]))
    for (media,) in sql.rows("SELECT body->'contactMedium' FROM party"):
        for medium in media:
            if medium["mediumType"] in ("mobile", "phone"):
                taken.update(phone_keys(medium["characteristic"]["phoneNumber"]))
    assert len(taken) > N and not pool & taken
    # Nor would any other generated number: the pool's blocks are outside what the generator draws.
    assert all(n[:3] not in MOBILE_PREFIXES for n in mobile)
    assert all(phone_keys(n)[-1][0] == generator.POOL_FIXED_DIGIT for n in fixed)
    # A rerun adds customers, not numbers already in the pool.
    output = _generate(database_url, customers=50)
    assert sql.count("number_pool") == 11_000
    assert re.search(r"number_pool\s+│\s+0\b", output), output


def test_same_seed_same_data_whatever_the_workers(sql: Sql, database_url: str, _tables: list[str]) -> None:
    customers = 2100  # three blocks, so that two workers share them
    _generate(database_url, customers=customers, seed=11, workers=1)
    first = _digest(sql)
    _empty(sql, _tables)
    _generate(database_url, customers=customers, seed=11, workers=2)
    assert _digest(sql) == first
    _empty(sql, _tables)
    _generate(database_url, customers=customers, seed=12, workers=1)
    other = _digest(sql)
    assert all(other[t] != first[t] for t in first)


def test_appending_numbers_after_existing_customers(sql: Sql, database_url: str) -> None:
    _generate(database_url, customers=N, seed=7)
    before = _digest(sql)
    _generate(database_url, customers=200, seed=7)
    ids = [r[0] for r in sql.rows("SELECT id FROM customer ORDER BY id")]
    assert ids == [f"C{n:010d}" for n in range(1, N + 201)]
    assert sql.count("party_role", "role_kind = 'accountManager'") == generator.N_MANAGERS  # staff reused
    assert sql.value("SELECT last_value FROM customer_number_seq") == N + 200
    mobiles = sql.rows(
        "SELECT body->'contactMedium'->0->'characteristic'->>'phoneNumber' FROM party WHERE kind = 'Individual'"
    )
    assert len(mobiles) == len(set(mobiles))
    assert before["party"] != _digest(sql)["party"]


def test_bulk_load_rebuilds_indexes(sql: Sql, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    indexes = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1"
    before = sql.rows(indexes)
    monkeypatch.setattr(generator, "BULK_THRESHOLD", 100)
    output = _generate(database_url, customers=150)
    assert "indexes dropped" in output
    assert sql.rows(indexes) == before
    off = "'autovacuum_enabled=false' = ANY(reloptions)"
    assert sql.count("pg_class", f"relname = ANY(%s) AND {off}", list(generator.TABLES)) == 0
    # the tables' own options are back (revisions 0015, 0017), for the rows written from now on...
    assert sql.count("pg_class", "relname = 'product_order' AND 'fillfactor=75' = ANY(reloptions)") == 1
    assert sql.count("pg_class", "relname = 'work_order' AND 'fillfactor=70' = ANY(reloptions)") == 1
    # ...but the history was loaded into full pages, not pages left 30% empty (their share used
    # would be under 0.7)
    used = sql.value("SELECT sum(pg_column_size(w.*))::float / pg_relation_size('work_order') FROM work_order w")
    assert sql.count("work_order") > 300 and used > 0.8, used
    for pk in ("pk_search_key", "pk_product", "pk_product_order"):
        assert sql.count("pg_constraint", "conname = %s AND contype = 'p'", pk) == 1
    assert sql.count("customer") == 150
    assert sql.count("product") > 150 and sql.count("product_order") > 100
    # analysed as whole tables, after every row the load wrote was counted: nothing is left for
    # autovacuum to analyse again once the system serves (an ANALYZE of some columns reset nothing)
    stats = "SELECT relname, n_mod_since_analyze, last_analyze IS NOT NULL FROM pg_stat_user_tables"
    analysed = {name: (changed, done) for name, changed, done in sql.rows(stats)}
    assert {t: analysed[t] for t in generator.ANALYZED} == {t: (0, True) for t in generator.ANALYZED}


def test_a_rerun_after_a_killed_bulk_load_restores_what_it_dropped(sql: Sql, database_url: str) -> None:
    """kill -9 during a bulk load leaves indexes dropped and autovacuum off; the next run mends that."""
    indexes = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1"
    before = sql.rows(indexes)
    sql.conn.execute("ALTER TABLE search_key DROP CONSTRAINT pk_search_key")
    sql.conn.execute("DROP INDEX ix_party_customer_id")
    sql.conn.execute("DROP INDEX ix_customer_created")
    sql.conn.execute("ALTER TABLE product DROP CONSTRAINT pk_product")
    sql.conn.execute("DROP INDEX ix_product_order_customer_id")
    sql.conn.execute("ALTER TABLE product_order SET (autovacuum_enabled = false)")
    sql.conn.execute("ALTER TABLE customer SET (autovacuum_enabled = false)")
    sql.conn.execute("ALTER TABLE work_order SET (fillfactor = 100)")
    assert sql.rows(indexes) != before

    output = _generate(database_url, customers=20)
    assert "restored after an interrupted load" in output
    assert sql.rows(indexes) == before
    off = "'autovacuum_enabled=false' = ANY(reloptions)"
    assert sql.count("pg_class", f"relname IN ('customer', 'product_order') AND {off}") == 0
    assert sql.count("pg_class", "relname = 'work_order' AND 'fillfactor=70' = ANY(reloptions)") == 1
    assert generator.repair(generator._dsn(database_url)) == []  # nothing left to mend
    assert sql.count("customer") == 20


def test_api_reads_generated_customers(
    client: TestClient, sql: Sql, database_url: str, admin: dict[str, str], login: Callable[..., dict[str, str]]
) -> None:
    _generate(database_url)
    cid, party_id, body = sql.rows(
        "SELECT id, party_id, body FROM customer WHERE category = 'individual' AND status = 'active'"
        " AND manager_id IS NOT NULL ORDER BY id LIMIT 1"
    )[0]
    r = client.get(f"{CUSTOMER}/customer/{cid}", headers=admin)
    assert r.status_code == 200, r.text
    assert {k: v for k, v in r.json().items() if k != "href"} == body

    r = client.get(f"/api/customers/{cid}/360", headers=admin)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["party"]["id"] == party_id
    assert [a["id"] for a in view["accounts"]] == [a["id"] for a in body["account"]]
    assert len(view["users"]) == 1 and view["users"][0]["party"]["id"] == party_id
    assert all(p["resolved"] for p in view["relatedParties"])

    mobile = view["users"][0]["phoneNumber"]
    r = client.get("/api/customers/search", params={"q": mobile}, headers=admin)
    assert r.status_code == 200, r.text
    assert cid in [item["id"] for item in r.json()], r.json()
    number = view["party"]["individualIdentification"][0]["identificationId"]
    r = client.get("/api/customers/search", params={"q": number}, headers=admin)
    assert [item["id"] for item in r.json()] == [cid]
    r = client.get("/api/customers/search", params={"q": body["name"]}, headers=admin)
    assert cid in [item["id"] for item in r.json()]

    # The customer's order shows its fulfilment history: every work order, completed.
    oid, done = sql.rows("SELECT id, body->>'completionDate' FROM product_order WHERE customer_id = %s", cid)[0]
    r = client.get(f"/api/orders/{oid}/workOrders", headers=admin)
    assert r.status_code == 200, r.text
    work = r.json()
    assert len(work) == sql.count("work_order", "order_id = %s", oid) >= 2
    assert {w["state"] for w in work} == {"completed"}
    assert max(datetime.fromisoformat(w["finishedAt"]) for w in work) == datetime.fromisoformat(done)

    # A group's members are its users, found by their own numbers.
    group, members = sql.rows(
        "SELECT c.id, count(u.id) FROM customer c JOIN customer_user u ON u.customer_id = c.id"
        " WHERE c.category = 'group' GROUP BY c.id ORDER BY c.id LIMIT 1"
    )[0]
    view = client.get(f"/api/customers/{group}/360", headers=admin).json()
    assert len(view["users"]) == members >= 5
    assert view["accounts"][0]["accountType"] == "groupPaid"
    r = client.get("/api/customers/search", params={"q": view["users"][-1]["phoneNumber"]}, headers=admin)
    assert group in [item["id"] for item in r.json()]

    # Scope: an account manager reaches only the portfolio assigned to them.
    manager_id = sql.value("SELECT manager_id FROM customer WHERE id = %s", cid)
    manager = login("account_manager", party_id=manager_id)
    assert client.get(f"/api/customers/{cid}/360", headers=manager).status_code == 200
    other = sql.value("SELECT id FROM customer WHERE manager_id IS DISTINCT FROM %s ORDER BY id LIMIT 1", manager_id)
    assert client.get(f"/api/customers/{other}/360", headers=manager).status_code == 404

    # The API continues the numbering.
    created = make_customer(client, admin)
    assert created["id"] == f"C{N + 1:010d}"
