"""The documents of a golden customer, shaped as the services make them (TMF632/629/666/637).

Used by the bulk merge (rows written with COPY) and, for the same shapes, by the steward's single
merges and unmerges that go through the services.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telcrm.party.service import display_name
from telcrm.resolution.survivorship import (
    Golden,
    Record,
    clean,
    party_document,
    product_status,
    real_name,
    service_name,
)
from telcrm.search.keys import phone_keys

MIGRATION_CHANNEL = "migration"


def customer_document(
    cid: str, party: dict[str, Any], party_id: str, account: tuple[str, str] | None
) -> dict[str, Any]:
    name = display_name(party)
    kind = party["@type"]
    doc: dict[str, Any] = {
        "id": cid,
        "@type": "Customer",
        "name": name,
        "status": "active" if real_name(party) else "prospect",
        "engagedParty": {"id": party_id, "name": name, "@referredType": kind},
        "characteristic": [
            {"name": "customerCategory", "value": "group" if kind == "Organization" else "individual"},
            {"name": "vipLevel", "value": "none"},
            {"name": "acquisitionChannel", "value": MIGRATION_CHANNEL},
        ],
    }
    if account is not None:
        doc["account"] = [{"id": account[0], "name": account[1]}]
    return doc


def account_document(aid: str, cid: str, name: str) -> dict[str, Any]:
    return {
        "id": aid,
        "@type": "BillingAccount",
        "name": f"{name} 账户",
        "state": "active",
        "accountType": "postpaid",
        "relatedParty": [{"id": cid, "name": name, "@referredType": "Customer", "role": "owner"}],
    }


def user_document(uid: str, cid: str, name: str, party_id: str | None, aid: str, g: Golden) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": uid, "@type": "User", "name": name, "status": "active"}
    mobiles = [p for p in g.phones if p.startswith("1")]
    if mobiles:
        doc["phoneNumber"] = mobiles[0]
    if party_id is not None and g.kind != "organization":
        doc["party"] = {"id": party_id}
    doc["billingAccount"] = {"id": aid}
    doc["customer"] = {"id": cid, "name": name}
    return doc


def service_number(rec: Record) -> str | None:
    number = clean(rec.fields.get("service_number"))
    if not number:
        return None
    keys = phone_keys(number)
    return keys[0] if keys and keys[0].isdigit() and len(keys[0]) >= 5 else number.replace(" ", "")


def _iso_day(value: Any) -> str | None:
    text = clean(value)
    if text and len(text) == 10 and text[4] == "-":
        return f"{text}T00:00:00+08:00"
    return None


def product_document(
    pid: str, rec: Record, number: str, cid: str, uid: str, aid: str, keys: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A product instance of one legacy service, and its column values."""
    status = product_status(rec.fields.get("service_status"))
    doc: dict[str, Any] = {
        "@type": "Product",
        "id": pid,
        "name": service_name(rec.fields, rec.source),
        "isBundle": False,
        "isCustomerVisible": True,
        "status": status,
    }
    start = _iso_day(rec.fields.get("service_start"))
    if start:
        doc["startDate"] = start
    end = None
    if status == "terminated" and rec.updated_at is not None:
        end = rec.updated_at
        doc["terminationDate"] = end.isoformat().replace("+00:00", "Z")
    doc["productCharacteristic"] = [
        {"name": "serviceNumber", "valueType": "string", "value": number},
        {"name": "legacyRecord", "valueType": "string", "value": ",".join(keys)},
    ]
    service_type = clean(rec.fields.get("service_type"))
    if service_type:
        doc["productCharacteristic"].append({"name": "serviceType", "valueType": "string", "value": service_type})
    doc["relatedParty"] = [
        {"id": cid, "role": "customer", "@referredType": "Customer"},
        {"id": uid, "role": "user", "@referredType": "User"},
    ]
    doc["billingAccount"] = {"id": aid, "@referredType": "BillingAccount"}
    start_dt = datetime.fromisoformat(start) if start else None
    columns = {
        "name": doc["name"],
        "status": status,
        "start_date": start_dt,
        "termination_date": end,
        "billing_start_date": start_dt if status in ("active", "suspended", "terminated") else None,
    }
    return doc, columns


__all__ = ["account_document", "customer_document", "party_document", "product_document", "user_document"]
