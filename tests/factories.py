"""Valid payloads for each resource, and helpers that create them through the API."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from telcrm.party.identification import id_check_char, uscc_check_char

PARTY = "/tmf-api/party/v4"
CUSTOMER = "/tmf-api/customerManagement/v4"
ACCOUNT = "/tmf-api/accountManagement/v4"
ROLE = "/tmf-api/partyRoleManagement/v4"
CATALOG = "/tmf-api/productCatalogManagement/v4"
INVENTORY = "/tmf-api/productInventory/v4"
ORDERING = "/tmf-api/productOrderingManagement/v4"

_seq = itertools.count(1)


def resident_id(birth: str = "19900101", region: str = "110105") -> str:
    first = f"{region}{birth}{next(_seq) % 1000:03d}"
    return first + id_check_char(first)


def credit_code() -> str:
    first = f"91310000{next(_seq) % 10**9:09d}"
    return first + uscc_check_char(first)


def mobile() -> str:
    return f"139{next(_seq) % 10**8:08d}"


def individual(**extra: Any) -> dict[str, Any]:
    return {
        "givenName": "伟",
        "familyName": "张",
        "individualIdentification": [{"identificationType": "residentIdCard", "identificationId": resident_id()}],
        "contactMedium": [{"mediumType": "mobile", "characteristic": {"phoneNumber": mobile()}}],
        **extra,
    }


def organization(**extra: Any) -> dict[str, Any]:
    return {
        "tradingName": "上海浦江科技有限公司",
        "name": "上海浦江科技有限公司",
        "organizationIdentification": [{"identificationType": "USCC", "identificationId": credit_code()}],
        **extra,
    }


def created(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def make_individual(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    return created(client, f"{PARTY}/individual", individual(**extra), headers)


def make_organization(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    return created(client, f"{PARTY}/organization", organization(**extra), headers)


def make_customer(
    client: TestClient, headers: dict[str, str], party: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    party = party or make_individual(client, headers)
    body = {
        "name": party.get("name") or f"{party.get('familyName', '')}{party.get('givenName', '')}",
        "engagedParty": {"id": party["id"], "@referredType": party["@type"]},
        **extra,
    }
    return created(client, f"{CUSTOMER}/customer", body, headers)


def make_billing_account(
    client: TestClient, headers: dict[str, str], customer: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    body = {
        "name": f"{customer['name']} 账户",
        "relatedParty": [
            {"id": customer["id"], "name": customer["name"], "@referredType": "Customer", "role": "owner"}
        ],
        **extra,
    }
    return created(client, f"{ACCOUNT}/billingAccount", body, headers)


def make_overdue_account(
    client: TestClient, headers: dict[str, str], customer: dict[str, Any], *, limit: float = 0, overdue: float = 10
) -> dict[str, Any]:
    """A billing account in debt over its credit limit: orders paid from it are held (ADR 8)."""
    return make_billing_account(
        client,
        headers,
        customer,
        creditLimit={"unit": "CNY", "value": limit},
        accountBalance=[
            {
                "balanceType": "overdue",
                "amount": {"unit": "CNY", "value": overdue},
                "validFor": {"startDateTime": "2026-01-01T00:00:00Z"},
            }
        ],
    )
