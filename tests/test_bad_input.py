"""Bad input is refused with a 4xx TMF Error naming the field, and nothing at all is written.

"Nothing is written" is checked on the database itself: the rows *and contents* of every
business table, the audit trail and the event outbox are the same after the refused request.
Also here: what is *not* bad input (an external reference, the old 15-digit ID number).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from telcrm.party.identification import id_check_char, uscc_check_char
from tests.factories import (
    ACCOUNT,
    CUSTOMER,
    PARTY,
    credit_code,
    individual,
    make_billing_account,
    make_customer,
    make_individual,
    make_organization,
    organization,
    resident_id,
)
from tests.tmf_contract import assert_tmf_error

INDIVIDUALS = f"{PARTY}/individual"
ORGANIZATIONS = f"{PARTY}/organization"
CUSTOMERS = f"{CUSTOMER}/customer"
BILLING_ACCOUNTS = f"{ACCOUNT}/billingAccount"
CYCLES = f"{ACCOUNT}/billingCycleSpecification"

# Tables a refused request must leave exactly as they were: (table, what to fingerprint).
WATCHED = {
    "party": "id || body::text || version",
    "party_role": "id || body::text || version",
    "customer": "id || body::text || version || status",
    "customer_user": "id || body::text || version || status",
    "account": "id || body::text || version",
    "reference_item": "id || body::text || version",
    "audit_entry": "id::text",
    "outbox_event": "id::text",
    "search_key": "ref_id || kind || key || coalesce(customer_id, '')",
}


def snapshot(sql: Any) -> dict[str, tuple[int, str | None]]:
    return {
        table: (sql.count(table), sql.value(f"SELECT md5(string_agg({expr}, ',' ORDER BY {expr})) FROM {table}"))
        for table, expr in WATCHED.items()
    }


@contextmanager
def nothing_written(sql: Any) -> Iterator[None]:
    before = snapshot(sql)
    yield
    after = snapshot(sql)
    changed = {t for t in WATCHED if before[t] != after[t]}
    assert not changed, f"a refused request changed {sorted(changed)}"


@pytest.fixture
def make(client: TestClient, admin: dict[str, str]) -> Any:
    """``make.post(path, body)`` / ``make.patch(url, body)`` as an administrator."""

    class Make:
        def post(self, path: str, body: Any, **headers: str) -> Any:
            return client.post(path, json=body, headers={**admin, **headers})

        def raw(self, path: str, content: bytes, content_type: str = "application/json", method: str = "POST") -> Any:
            return client.request(method, path, content=content, headers={**admin, "Content-Type": content_type})

        def patch(self, url: str, body: Any) -> Any:
            return client.patch(url, json=body, headers={**admin, "Content-Type": "application/merge-patch+json"})

    return Make()


def refused(sql: Any, r_factory: Any, status: int, field: str | None) -> dict[str, Any]:
    with nothing_written(sql):
        r = r_factory()
    return assert_tmf_error(r, status, field)


# ----- the body is not a JSON object --------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"givenName": "\xe4\xbc\x9f", "familyName": ',  # cut off
        b"{'givenName': 'x', 'familyName': 'y'}",  # Python, not JSON
        b'{"givenName": "x", "familyName": "y",}',  # trailing comma
        b"",
        b"\xff\xfe{}",  # not UTF-8
        b'{"givenName": "x"} {"familyName": "y"}',  # two documents
    ],
    ids=["truncated", "single-quotes", "trailing-comma", "empty", "not-utf8", "two-documents"],
)
def test_malformed_json_is_400(make: Any, sql: Any, content: bytes) -> None:
    body = refused(sql, lambda: make.raw(INDIVIDUALS, content), 400, "body")
    assert body["code"] == "INVALID_VALUE"


@pytest.mark.parametrize(
    "content", [b"[]", b'[{"givenName": "x", "familyName": "y"}]', b'"a string"', b"42", b"null", b"true"]
)
def test_a_body_that_is_not_an_object_is_400(make: Any, sql: Any, content: bytes) -> None:
    refused(sql, lambda: make.raw(INDIVIDUALS, content), 400, "body")


def test_a_patch_body_that_is_not_an_object_is_400(make: Any, client: TestClient, admin: dict[str, str], sql: Any):
    person = make_individual(client, admin)
    url = f"{INDIVIDUALS}/{person['id']}"
    for content in (b"[]", b'"x"', b"null", b"{"):
        refused(sql, lambda c=content: make.raw(url, c, "application/merge-patch+json", "PATCH"), 400, "body")


# ----- wrong types and values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        (INDIVIDUALS, {"givenName": 42, "familyName": "张"}, "givenName"),
        (INDIVIDUALS, {"givenName": "伟", "familyName": ["张"]}, "familyName"),
        (
            INDIVIDUALS,
            {"givenName": "伟", "familyName": "张", "contactMedium": {"mediumType": "email"}},
            "contactMedium",
        ),
        (INDIVIDUALS, {"givenName": "伟", "familyName": "张", "birthDate": "yesterday"}, "birthDate"),
        (INDIVIDUALS, {"givenName": "伟", "familyName": "张", "birthDate": "1990-02-30T00:00:00Z"}, "birthDate"),
        (
            INDIVIDUALS,
            {"givenName": "伟", "familyName": "张", "contactMedium": [{"mediumType": "email", "preferred": "yes"}]},
            "contactMedium[0].preferred",
        ),
        (ORGANIZATIONS, {"tradingName": "浦江", "isLegalEntity": "true"}, "isLegalEntity"),
        (CUSTOMERS, {"name": 7, "engagedParty": {"id": "EXT-1", "@referredType": "Individual"}}, "name"),
        (CUSTOMERS, {"name": "x", "engagedParty": "EXT-1"}, "engagedParty"),
        (CUSTOMERS, {"name": "x", "engagedParty": {"id": 5, "@referredType": "Individual"}}, "engagedParty.id"),
        (CUSTOMERS, {"name": "x", "engagedParty": {"id": "EXT-1"}}, "engagedParty.@referredType"),
        (CYCLES, {"name": "monthly", "billingDateShift": "5"}, "billingDateShift"),
        (CYCLES, {"name": "monthly", "billingDateShift": 1.5}, "billingDateShift"),
        (CYCLES, {"name": "monthly", "billingDateShift": True}, "billingDateShift"),
        (CYCLES, {"name": ""} | {"validFor": {"startDateTime": "2024-13-01T00:00:00Z"}}, "validFor.startDateTime"),
    ],
)
def test_wrong_types_are_400_naming_the_field(make: Any, sql: Any, path: str, payload: Any, field: str) -> None:
    refused(sql, lambda: make.post(path, payload), 400, field)


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        (INDIVIDUALS, {"givenName": "伟", "familyName": "张", "status": "active"}, "status"),
        (INDIVIDUALS, {"givenName": "伟", "familyName": "张", "status": "VALIDATED"}, "status"),
        (INDIVIDUALS, {"givenName": "伟", "familyName": "张", "status": "deceased"}, "status"),
        (ORGANIZATIONS, {"tradingName": "浦江", "status": "open"}, "status"),
        (
            CUSTOMERS,
            {"name": "x", "engagedParty": {"id": "EXT-1", "@referredType": "Individual"}, "status": "vip"},
            "status",
        ),
        (
            CUSTOMERS,
            {
                "name": "x",
                "engagedParty": {"id": "EXT-1", "@referredType": "Individual"},
                "characteristic": [{"name": "vipLevel", "value": "bronze"}],
            },
            "characteristic[0].value",
        ),
    ],
)
def test_unknown_enum_values_are_400(make: Any, sql: Any, path: str, payload: Any, field: str) -> None:
    refused(sql, lambda: make.post(path, payload), 400, field)


def test_unknown_account_enums_are_400(make: Any, client: TestClient, admin: dict[str, str], sql: Any) -> None:
    customer = make_customer(client, admin)
    owner = [{"id": customer["id"], "@referredType": "Customer", "name": customer["name"]}]
    for extra, field in (
        ({"state": "open"}, "state"),
        ({"state": "closed"}, "state"),  # a new account is active
        ({"accountType": "credit"}, "accountType"),
        ({"creditLimit": {"unit": "yuan", "value": 10}}, "creditLimit.unit"),
        ({"creditLimit": {"unit": "CNY", "value": -1}}, "creditLimit.value"),
    ):
        refused(sql, lambda e=extra: make.post(BILLING_ACCOUNTS, {"name": "a", "relatedParty": owner, **e}), 400, field)


def test_an_individual_status_patched_to_an_unknown_value_is_400(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    person = make_individual(client, admin, status="initialized")
    url = f"{INDIVIDUALS}/{person['id']}"
    refused(sql, lambda: make.patch(url, {"status": "active"}), 400, "status")
    refused(sql, lambda: make.patch(url, {"givenName": 1}), 400, "givenName")


# ----- identification numbers ---------------------------------------------------------------


def _with_check(first17: str) -> str:
    return first17 + id_check_char(first17)


def _wrong_check(number: str) -> str:
    good = number[-1]
    return number[:-1] + next(c for c in "0123456789X" if c != good)


@pytest.mark.parametrize(
    "number",
    [
        _wrong_check(_with_check("11010519900307123")),  # check digit
        _with_check("11010519900230123"),  # 30 February
        _with_check("11010519901301123"),  # month 13
        _with_check("11010518790101123"),  # before 1880
        _with_check("11010529900101123"),  # the future
        _with_check("00010519900101123"),  # no such province
        _with_check("99010519900101123"),  # no such province
        _with_check("11010519900101123")[:17],  # 17 characters
        _with_check("11010519900101123") + "1",  # 19 characters
        "1101051990010112",  # 16 digits
        "11010590023012",  # 14 digits
        "110105900230123",  # 15 digits with a bad date
        "11010519900101123Y",  # not a check character
        "1101051990010112３",  # a full-width digit
        "ABCDEFGHIJKLMNOPQR",
        "",
    ],
)
def test_invalid_resident_id_numbers_are_400(make: Any, sql: Any, number: str) -> None:
    payload = individual(
        individualIdentification=[{"identificationType": "residentIdCard", "identificationId": number}]
    )
    refused(sql, lambda: make.post(INDIVIDUALS, payload), 400, "individualIdentification[0].identificationId")


@pytest.mark.parametrize("kind", ["residentIdCard", "idCard", "resident_id_card", "身份证", "nationalId"])
def test_every_spelling_of_the_id_card_type_is_checked(make: Any, sql: Any, kind: str) -> None:
    bad = _wrong_check(resident_id())
    payload = individual(individualIdentification=[{"identificationType": kind, "identificationId": bad}])
    refused(sql, lambda: make.post(INDIVIDUALS, payload), 400, "individualIdentification[0].identificationId")


def test_the_second_identification_is_named(make: Any, sql: Any) -> None:
    idents = [
        {"identificationType": "passport", "identificationId": "E12345678"},
        {"identificationType": "residentIdCard", "identificationId": _wrong_check(resident_id())},
    ]
    refused(
        sql,
        lambda: make.post(INDIVIDUALS, individual(individualIdentification=idents)),
        400,
        "individualIdentification[1].identificationId",
    )


def test_a_patch_with_an_invalid_id_number_is_400(make: Any, client: TestClient, admin: dict[str, str], sql: Any):
    person = make_individual(client, admin)
    url = f"{INDIVIDUALS}/{person['id']}"
    idents = [{"identificationType": "residentIdCard", "identificationId": _wrong_check(resident_id())}]
    refused(sql, lambda: make.patch(url, {"individualIdentification": idents}), 400, "individualIdentification[0]")


def _wrong_uscc_check(code: str) -> str:
    return code[:-1] + next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != code[-1])


@pytest.mark.parametrize(
    "code",
    [
        _wrong_uscc_check(credit_code()),
        "91310000MA1FL0000I",  # I is not used
        "91310000MA1FL0000O",  # nor O
        credit_code()[:17],
        credit_code() + "1",
        "91310000-MA1FL000",
        "",
    ],
)
def test_invalid_unified_social_credit_codes_are_400(make: Any, sql: Any, code: str) -> None:
    payload = organization(organizationIdentification=[{"identificationType": "USCC", "identificationId": code}])
    refused(sql, lambda: make.post(ORGANIZATIONS, payload), 400, "organizationIdentification[0].identificationId")


# ----- contact media ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "1234567890",  # 10 digits
        "123456789012",  # 12 digits
        "12012345678",  # 12x is not a mobile prefix
        "10012345678",
        "+86 120 1234 5678",
        "139-1234-567",
        "1391234567a",
        "139 1234 5678 ext 9",
        "phone",
        "1",
        "",
    ],
)
def test_invalid_mobile_numbers_are_400(make: Any, sql: Any, number: str) -> None:
    payload = individual(contactMedium=[{"mediumType": "mobile", "characteristic": {"phoneNumber": number}}])
    refused(sql, lambda: make.post(INDIVIDUALS, payload), 400, "contactMedium[0].characteristic.phoneNumber")


@pytest.mark.parametrize(
    "address",
    ["zhang", "zhang@", "@example.cn", "zhang@example", "zhang@@example.cn", "zhang wei@example.cn", "a@b.c", ""],
)
def test_invalid_email_addresses_are_400(make: Any, sql: Any, address: str) -> None:
    media = [
        {"mediumType": "mobile", "characteristic": {"phoneNumber": "13912345678"}},
        {"mediumType": "email", "characteristic": {"emailAddress": address}},
    ]
    refused(
        sql,
        lambda: make.post(INDIVIDUALS, individual(contactMedium=media)),
        400,
        "contactMedium[1].characteristic.emailAddress",
    )


def test_contact_media_of_customers_and_accounts_are_checked(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    customer = make_customer(client, admin)
    bad_mobile = [{"mediumType": "mobile", "characteristic": {"phoneNumber": "12012345678"}}]
    refused(
        sql,
        lambda: make.patch(f"{CUSTOMERS}/{customer['id']}", {"contactMedium": bad_mobile}),
        400,
        "contactMedium[0].characteristic.phoneNumber",
    )
    owner = [{"id": customer["id"], "@referredType": "Customer", "name": customer["name"]}]
    contact = [
        {
            "contactType": "billing",
            "validFor": {"startDateTime": "2024-01-01T00:00:00Z"},
            "contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "nobody"}}],
        }
    ]
    refused(
        sql,
        lambda: make.post(BILLING_ACCOUNTS, {"name": "a", "relatedParty": owner, "contact": contact}),
        400,
        "contact[0].contactMedium[0].characteristic.emailAddress",
    )


@pytest.mark.parametrize(
    "number", ["13912345678", "+86 139 1234 5678", "+86-139-1234-5678", "0086 13912345678", "(139) 1234-5678"]
)
def test_valid_mobile_spellings_are_accepted(make: Any, number: str) -> None:
    payload = individual(contactMedium=[{"mediumType": "mobile", "characteristic": {"phoneNumber": number}}])
    r = make.post(INDIVIDUALS, payload)
    assert r.status_code == 201, r.text


# ----- lifecycle ----------------------------------------------------------------------------


@pytest.fixture
def prospect(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """A customer whose party has no identification yet (not real-name registered)."""
    person = make_individual(client, admin, individualIdentification=[])
    customer = make_customer(client, admin, person)
    assert customer["status"] == "prospect"
    return customer


def test_a_prospect_cannot_be_suspended(make: Any, prospect: dict[str, Any], sql: Any) -> None:
    url = f"{CUSTOMERS}/{prospect['id']}"
    body = refused(sql, lambda: make.patch(url, {"status": "suspended", "statusReason": "arrears"}), 409, "status")
    assert body["code"] == "INVALID_STATE_TRANSITION"


def test_a_prospect_without_real_name_cannot_be_activated(make: Any, prospect: dict[str, Any], sql: Any) -> None:
    refused(sql, lambda: make.patch(f"{CUSTOMERS}/{prospect['id']}", {"status": "active"}), 400, "status")


def test_a_new_customer_is_prospect_or_active(make: Any, client: TestClient, admin: dict[str, str], sql: Any):
    person = make_individual(client, admin)
    for status in ("suspended", "terminated", "gone"):
        payload = {"name": "x", "engagedParty": {"id": person["id"], "@referredType": "Individual"}, "status": status}
        refused(sql, lambda p=payload: make.post(CUSTOMERS, p), 400, "status")


def test_suspending_needs_a_reason(make: Any, client: TestClient, admin: dict[str, str], sql: Any) -> None:
    customer = make_customer(client, admin)
    assert customer["status"] == "active"
    url = f"{CUSTOMERS}/{customer['id']}"
    refused(sql, lambda: make.patch(url, {"status": "suspended"}), 400, "statusReason")
    refused(sql, lambda: make.patch(url, {"status": "suspended", "statusReason": ""}), 400, "statusReason")
    r = make.patch(url, {"status": "suspended", "statusReason": "arrears"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended"


def test_a_suspended_customer_keeps_its_reason(make: Any, client: TestClient, admin: dict[str, str], sql: Any) -> None:
    customer = make_customer(client, admin)
    url = f"{CUSTOMERS}/{customer['id']}"
    assert make.patch(url, {"status": "suspended", "statusReason": "arrears"}).status_code == 200
    refused(sql, lambda: make.patch(url, {"statusReason": None}), 400, "statusReason")
    refused(sql, lambda: make.patch(url, {"statusReason": ""}), 400, "statusReason")
    r = make.patch(url, {"status": "active", "statusReason": None})
    assert r.status_code == 200, r.text
    assert "statusReason" not in r.json()


def test_a_terminated_customer_stays_terminated(make: Any, client: TestClient, admin: dict[str, str], sql: Any):
    customer = make_customer(client, admin)
    url = f"{CUSTOMERS}/{customer['id']}"
    r = make.patch(url, {"status": "terminated", "statusReason": "moved abroad"})
    assert r.status_code == 200, r.text
    for status in ("active", "suspended", "prospect"):
        body = refused(sql, lambda s=status: make.patch(url, {"status": s, "statusReason": "back"}), 409, "status")
        assert body["code"] == "INVALID_STATE_TRANSITION"
    refused(sql, lambda: make.patch(url, {"status": None}), 400, "status")


def test_a_customer_with_active_users_cannot_be_terminated(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    customer = make_customer(client, admin)
    r = client.post(
        f"/api/customers/{customer['id']}/users", json={"name": "张伟", "phoneNumber": "13912345678"}, headers=admin
    )
    assert r.status_code == 201, r.text
    url = f"{CUSTOMERS}/{customer['id']}"
    body = refused(sql, lambda: make.patch(url, {"status": "terminated", "statusReason": "moved"}), 409, "status")
    assert "user" in body["message"]
    user = r.json()
    r = client.patch(
        f"/api/customers/{customer['id']}/users/{user['id']}",
        json={"status": "terminated"},
        headers={**admin, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert make.patch(url, {"status": "terminated", "statusReason": "moved"}).status_code == 200


def test_an_individual_lifecycle_does_not_go_back(make: Any, client: TestClient, admin: dict[str, str], sql: Any):
    person = make_individual(client, admin, status="validated")
    url = f"{INDIVIDUALS}/{person['id']}"
    body = refused(sql, lambda: make.patch(url, {"status": "initialized"}), 409, "status")
    assert body["code"] == "INVALID_STATE_TRANSITION"


def test_a_closed_account_stays_closed(make: Any, client: TestClient, admin: dict[str, str], sql: Any) -> None:
    account = make_billing_account(client, admin, make_customer(client, admin))
    url = f"{BILLING_ACCOUNTS}/{account['id']}"
    assert make.patch(url, {"state": "closed"}).status_code == 200
    refused(sql, lambda: make.patch(url, {"state": "active"}), 409, "state")
    refused(sql, lambda: make.patch(url, {"state": "bogus"}), 400, "state")


# ----- references ---------------------------------------------------------------------------


def test_engaged_party_naming_a_billing_account_is_400(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    account = make_billing_account(client, admin, make_customer(client, admin))
    payload = {"name": "x", "engagedParty": {"id": account["id"], "@referredType": "Individual"}}
    body = refused(sql, lambda: make.post(CUSTOMERS, payload), 400, "engagedParty.id")
    assert body["code"] == "WRONG_REFERENCE"
    assert "BillingAccount" in body["message"]


def test_a_patch_pointing_engaged_party_at_a_customer_is_400(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    first, second = make_customer(client, admin), make_customer(client, admin)
    url = f"{CUSTOMERS}/{first['id']}"
    patch = {"engagedParty": {"id": second["id"], "@referredType": "Individual"}}
    refused(sql, lambda: make.patch(url, patch), 400, "engagedParty.id")


def test_an_organization_cannot_be_posted_as_an_individual(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    refused(sql, lambda: make.post(INDIVIDUALS, individual(**{"@type": "Organization"})), 400, "@type")
    refused(
        sql,
        lambda: make.post(
            CUSTOMERS,
            {"name": "x", "engagedParty": {"id": "E-1", "@referredType": "Individual"}, "@type": "Individual"},
        ),
        400,
        "@type",
    )
    person = make_individual(client, admin)
    refused(sql, lambda: make.patch(f"{INDIVIDUALS}/{person['id']}", {"@type": "Organization"}), 400, "@type")


def test_referred_type_must_match_what_the_id_names(make: Any, client: TestClient, admin: dict[str, str], sql: Any):
    org = make_organization(client, admin)
    payload = {"name": "x", "engagedParty": {"id": org["id"], "@referredType": "Individual"}}
    refused(sql, lambda: make.post(CUSTOMERS, payload), 400, "engagedParty.@referredType")


def test_bill_format_naming_a_billing_cycle_is_400(make: Any, client: TestClient, admin: dict[str, str], sql: Any):
    customer = make_customer(client, admin)
    r = make.post(CYCLES, {"name": "monthly-1st"})
    assert r.status_code == 201, r.text
    cycle = r.json()
    payload = {
        "name": "a",
        "relatedParty": [{"id": customer["id"], "@referredType": "Customer", "name": customer["name"]}],
        "billStructure": {"format": {"id": cycle["id"], "name": "monthly-1st", "isRef": True}},
    }
    body = refused(sql, lambda: make.post(BILLING_ACCOUNTS, payload), 400, "billStructure.format.id")
    assert body["code"] == "WRONG_REFERENCE"
    payload["billStructure"] = {"cycleSpecification": {"id": cycle["id"], "name": "monthly-1st", "isRef": True}}
    assert make.post(BILLING_ACCOUNTS, payload).status_code == 201


def test_account_related_party_naming_a_billing_cycle_is_400(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    cycle = make.post(CYCLES, {"name": "monthly-2nd"}).json()
    payload = {"name": "a", "relatedParty": [{"id": cycle["id"], "@referredType": "Customer", "name": "c"}]}
    refused(sql, lambda: make.post(BILLING_ACCOUNTS, payload), 400, "relatedParty[0].id")


def test_an_external_reference_is_accepted_and_shown_unresolved(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any
) -> None:
    person = make_individual(client, admin)
    payload = {
        "name": "外部客户",
        "engagedParty": {"id": "CRM-LEGACY-000123", "@referredType": "Individual", "name": "旧系统客户"},
        "relatedParty": [
            {"id": "HR-EMP-42", "@referredType": "Individual", "role": "referrer"},
            {"id": person["id"], "@referredType": "Individual", "role": "contact"},
        ],
    }
    r = make.post(CUSTOMERS, payload)
    assert r.status_code == 201, r.text
    customer = r.json()
    assert customer["engagedParty"] == payload["engagedParty"]
    assert sql.value("SELECT party_id FROM customer WHERE id = %s", customer["id"]) is None
    view = client.get(f"/api/customers/{customer['id']}/360", headers=admin)
    assert view.status_code == 200, view.text
    data = view.json()
    assert data["engagedPartyResolved"] is False
    assert data["party"] is None
    resolved = {item["ref"]["id"]: item["resolved"] for item in data["relatedParties"]}
    assert resolved == {"HR-EMP-42": False, person["id"]: True}


def test_a_15_digit_id_number_is_stored_as_18(make: Any, client: TestClient, admin: dict[str, str], sql: Any) -> None:
    old = "110105900307123"  # born 1990-03-07, issued before 1999
    expected = _with_check("11010519900307123")
    payload = individual(individualIdentification=[{"identificationType": "身份证", "identificationId": old}])
    r = make.post(INDIVIDUALS, payload)
    assert r.status_code == 201, r.text
    person = r.json()
    assert person["individualIdentification"][0]["identificationId"] == expected
    stored = sql.value("SELECT body FROM party WHERE id = %s", person["id"])
    assert stored["individualIdentification"][0]["identificationId"] == expected
    customer = make_customer(client, admin, person)
    for q in (old, expected, expected.lower()):
        found = client.get("/api/customers/search", params={"q": q}, headers=admin)
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()] == [customer["id"]], q


def test_a_full_width_id_number_is_stored_in_ascii(make: Any, sql: Any) -> None:
    number = resident_id()
    typed = "".join(chr(ord(c) + 0xFEE0) for c in number)  # as a Chinese input method types it
    payload = individual(individualIdentification=[{"identificationType": "身份证", "identificationId": typed}])
    r = make.post(INDIVIDUALS, payload)
    assert r.status_code == 201, r.text
    stored = sql.value("SELECT body FROM party WHERE id = %s", r.json()["id"])
    assert stored["individualIdentification"][0]["identificationId"] == number


def test_a_lowercase_x_check_digit_is_stored_upper_case(make: Any) -> None:
    first = next(f"3301061985061{n:04d}" for n in range(10000) if id_check_char(f"3301061985061{n:04d}") == "X")
    payload = individual(individualIdentification=[{"identificationType": "idCard", "identificationId": first + "x"}])
    r = make.post(INDIVIDUALS, payload)
    assert r.status_code == 201, r.text
    assert r.json()["individualIdentification"][0]["identificationId"] == first + "X"


def test_a_lowercase_credit_code_is_stored_upper_case(make: Any) -> None:
    first = "91310115MA1H7GXQ0"
    code = first + uscc_check_char(first)
    payload = organization(
        organizationIdentification=[{"identificationType": "USCC", "identificationId": f" {code.lower()} "}]
    )
    r = make.post(ORGANIZATIONS, payload)
    assert r.status_code == 201, r.text
    assert r.json()["organizationIdentification"][0]["identificationId"] == code


# ----- hostile bytes and numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"givenName": "\\u0000", "familyName": "x"}',
        b'{"givenName": "a\\u0000b", "familyName": "x"}',
        b'{"givenName": "a", "familyName": "x", "otherName": [{"fullName": "\\u0000"}]}',
        b'{"givenName": "a", "familyName": "x", "partyCharacteristic": [{"name": "k\\u0000", "value": "v"}]}',
        b'{"givenName": "a", "familyName": "x", "k\\u0000": 1}',
    ],
)
def test_nul_characters_are_400(make: Any, sql: Any, content: bytes) -> None:
    refused(sql, lambda: make.raw(INDIVIDUALS, content), 400, None)


def test_nul_characters_in_urls_are_400_not_500(client: TestClient, admin: dict[str, str], sql: Any) -> None:
    with nothing_written(sql):
        responses = [
            client.get(INDIVIDUALS, params={"familyName": "a\x00b"}, headers=admin),
            client.get(INDIVIDUALS, params={"fields": "a\x00"}, headers=admin),
            client.get(f"{INDIVIDUALS}/a%00b", headers=admin),
            client.patch(f"{INDIVIDUALS}/a%00b", json={"givenName": "x"}, headers=admin),
            client.delete(f"{INDIVIDUALS}/a%00b", headers=admin),
            client.get("/api/customers/search", params={"q": "a\x00b"}, headers=admin),
            client.get("/api/customers/a%00b/360", headers=admin),
        ]
    for r in responses:
        assert r.status_code in (400, 404), r.text
        assert_tmf_error(r, r.status_code)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"name": "m", "billingDateShift": NaN}', "body"),
        (b'{"name": "m", "billingDateShift": Infinity}', "body"),
        (b'{"name": "m", "billingDateShift": -Infinity}', "body"),
        (b'{"name": "m", "billingDateShift": 1e400}', "body"),
        (b'{"name": "m", "billingDateShift": ' + b"9" * 5000 + b"}", "body"),
        (b'{"name": "m", "billingDateShift": 100000000000000000000}', "body"),
        (b'{"name": "m", "paymentDueDateOffset": -9223372036854775809}', "body"),
        (b'{"name": "m", "paymentDueDateOffset": 9223372036854775807}', "paymentDueDateOffset"),
        (b'{"name": "m", "billingDateShift": 1e300}', "billingDateShift"),
    ],
    ids=["nan", "inf", "-inf", "overflow", "5000-digits", "1e20", "below-int64", "int64-max", "1e300"],
)
def test_huge_numbers_and_nan_are_400(make: Any, sql: Any, content: bytes, field: str) -> None:
    refused(sql, lambda: make.raw(CYCLES, content), 400, field)


@pytest.mark.parametrize("number", [b"18446744073709551616", b"-9223372036854775809", b"1" + b"0" * 40])
def test_a_huge_integer_anywhere_is_400_not_500(make: Any, sql: Any, number: bytes) -> None:
    # free-form values are stored as they come: an integer no JSON encoder takes must not get in
    content = b'{"tradingName": "x", "partyCharacteristic": [{"name": "employees", "value": ' + number + b"}]}"
    refused(sql, lambda: make.raw(ORGANIZATIONS, content), 400, "body")
    patch = b'{"isHeadOffice": true, "partyCharacteristic": [{"name": "n", "value": ' + number + b"}]}"
    org = make.post(ORGANIZATIONS, {"tradingName": "y"}).json()
    refused(
        sql,
        lambda: make.raw(f"{ORGANIZATIONS}/{org['id']}", patch, "application/merge-patch+json", "PATCH"),
        400,
        "body",
    )


def test_the_largest_64_bit_integers_are_accepted(make: Any) -> None:
    content = (
        b'{"tradingName": "x", "partyCharacteristic": '
        b'[{"name": "a", "value": 9223372036854775807}, {"name": "b", "value": -9223372036854775808}]}'
    )
    r = make.raw(ORGANIZATIONS, content)
    assert r.status_code == 201, r.text
    assert [c["value"] for c in r.json()["partyCharacteristic"]] == [2**63 - 1, -(2**63)]


def test_a_huge_money_amount_is_not_a_500(make: Any, client: TestClient, admin: dict[str, str], sql: Any) -> None:
    customer = make_customer(client, admin)
    owner = [{"id": customer["id"], "@referredType": "Customer", "name": customer["name"]}]
    content = (
        b'{"name": "a", "relatedParty": '
        + json.dumps(owner).encode()
        + b', "creditLimit": {"unit": "CNY", "value": 1e400}}'
    )
    refused(sql, lambda: make.raw(BILLING_ACCOUNTS, content), 400, "body")


def test_deep_nesting_is_400(make: Any, sql: Any) -> None:
    deep: Any = "x"
    for _ in range(200):
        deep = {"a": deep}
    payload = {"givenName": "a", "familyName": "b", "partyCharacteristic": [{"name": "n", "value": deep}]}
    refused(sql, lambda: make.post(INDIVIDUALS, payload), 400, "body")


def test_a_body_over_one_megabyte_is_400(make: Any, sql: Any) -> None:
    payload = {"givenName": "a", "familyName": "b", "title": "x" * 1_100_000}
    refused(sql, lambda: make.post(INDIVIDUALS, payload), 400, "body")


# ----- content types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_unsupported_content_type_on_create_is_415(make: Any, sql: Any, content_type: str) -> None:
    content = b'{"givenName": "a", "familyName": "b"}'
    body = refused(sql, lambda: make.raw(INDIVIDUALS, content, content_type), 415, "Content-Type")
    assert body["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_merge_patch_content_type_is_not_accepted_for_create(make: Any, sql: Any) -> None:
    content = b'{"givenName": "a", "familyName": "b"}'
    refused(sql, lambda: make.raw(INDIVIDUALS, content, "application/merge-patch+json"), 415, "Content-Type")


@pytest.mark.parametrize("content_type", ["application/json-patch+json", "text/plain", "application/xml"])
def test_unsupported_content_type_on_patch_is_415(
    make: Any, client: TestClient, admin: dict[str, str], sql: Any, content_type: str
) -> None:
    person = make_individual(client, admin)
    url = f"{INDIVIDUALS}/{person['id']}"
    content = b'[{"op": "replace", "path": "/givenName", "value": "x"}]'
    refused(sql, lambda: make.raw(url, content, content_type, "PATCH"), 415, "Content-Type")


def test_content_type_parameters_and_case_are_accepted(make: Any) -> None:
    content = b'{"givenName": "a", "familyName": "b"}'
    assert make.raw(INDIVIDUALS, content, "application/json; charset=utf-8").status_code == 201
    assert make.raw(INDIVIDUALS, content, "Application/JSON").status_code == 201
