"""Ongoing duplicate flagging: does a customer being created look like one we already have?

Never blocks anything: it answers a list of likely duplicates for staff to look at. A customer is
a likely duplicate when it engages the same party, when its party shares an identification
number with the new one's, or when it shares a phone number and the matcher's default model
scores the two parties as the same (``match.score`` at or above the review threshold).
"""

from __future__ import annotations

from typing import Any

from telcrm.customer import service as customers
from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden, ValidationFailed
from telcrm.party import service as parties
from telcrm.resolution import match
from telcrm.resolution.standardise import standardise
from telcrm.search import service as search
from telcrm.search.keys import fold
from telcrm.search.service import contact_keys

MAX_CANDIDATES = 20
FLAGGERS = auth.STAFF_ROLES | {auth.SYSTEM, auth.DEALER}


def _canonical(party: dict[str, Any]) -> dict[str, str | None]:
    """A party document as the canonical fields the matcher standardises."""
    name = parties.display_name(party)
    ids = party.get("individualIdentification") or []
    orgs = party.get("organizationIdentification") or []
    phones = [
        (m.get("characteristic") or {}).get("phoneNumber")
        for m in party.get("contactMedium") or []
        if isinstance(m, dict)
    ]
    emails = [(m.get("characteristic") or {}).get("emailAddress") for m in party.get("contactMedium") or []]
    address = next(
        (
            " ".join(
                str(v)
                for k, v in (m.get("characteristic") or {}).items()
                if k in ("stateOrProvince", "city", "street1", "street2") and v
            )
            for m in party.get("contactMedium") or []
            if isinstance(m, dict) and m.get("mediumType") == "postalAddress"
        ),
        None,
    )
    birth = party.get("birthDate")
    return {
        "kind": "organization" if party.get("@type") == "Organization" else "individual",
        "name": name,
        "id_number": ids[0].get("identificationId") if ids else None,
        "credit_code": orgs[0].get("identificationId") if orgs else None,
        "phone": ",".join(p for p in phones if isinstance(p, str)) or None,
        "email": next((e for e in emails if isinstance(e, str)), None),
        "address": address,
        "birth_date": birth[:10] if isinstance(birth, str) else None,
        "gender": party.get("gender"),
    }


async def _party(ctx: Context, party_id: str) -> dict[str, Any] | None:
    for svc in (parties.individuals, parties.organizations):
        row = await svc.store.find(ctx, party_id)
        if row is not None:
            return dict(row.body)
    return None


async def possible_duplicates(
    ctx: Context, draft: dict[str, Any], *, exclude: str | None = None
) -> list[dict[str, Any]]:
    """Customers that may be the same as the customer ``draft`` (a TMF629 Customer body)."""
    if not ctx.caller.roles & FLAGGERS:
        raise Forbidden("your role may not look for duplicate customers")
    ref = draft.get("engagedParty")
    party_id = ref.get("id") if isinstance(ref, dict) else None
    if not isinstance(party_id, str) or not party_id:
        raise ValidationFailed("engagedParty.id names the party of the customer to check", field="engagedParty.id")
    party = await _party(ctx, party_id)
    if party is None:
        return []
    ids = [
        fold(str(i.get("identificationId"))).upper()
        for attr in ("individualIdentification", "organizationIdentification")
        for i in party.get(attr) or []
        if isinstance(i, dict) and i.get("identificationId")
    ]
    phones = [key for kind, key, _ in contact_keys(party.get("contactMedium")) if kind == "phone"]
    found = await search.customers_sharing(ctx, ids, phones)
    if not [cid for cid in found if cid != exclude]:
        return []
    mine = _canonical(party)
    std = standardise(mine)
    model = match.default_model()
    out: list[dict[str, Any]] = []
    for cid in found[:MAX_CANDIDATES]:
        if cid == exclude:
            continue
        row = await customers.customers.store.find(ctx, cid)
        if row is None or row.status == "terminated":
            continue
        if row.party_id == party_id:
            out.append({"id": cid, "name": row.name, "reason": "engages the same party", "probability": 1.0})
            continue
        other = await _party(ctx, row.party_id) if row.party_id else None
        if other is None:
            continue
        theirs = _canonical(other)
        if mine["id_number"] and fold(mine["id_number"]).upper() == fold(theirs["id_number"] or "").upper():
            out.append({"id": cid, "name": row.name, "reason": "same identification number", "probability": 1.0})
            continue
        if mine["credit_code"] and mine["credit_code"] == theirs["credit_code"]:
            out.append({"id": cid, "name": row.name, "reason": "same credit code", "probability": 1.0})
            continue
        p = match.score(model, std, standardise(theirs))
        if p >= model.review_threshold:
            out.append(
                {
                    "id": cid,
                    "name": row.name,
                    "reason": "same phone number and similar party",
                    "probability": round(p, 4),
                }
            )
    out.sort(key=lambda d: -float(d["probability"]))
    return out


async def duplicates_of(ctx: Context, customer_id: str) -> list[dict[str, Any]]:
    """Likely duplicates of an existing customer (itself left out)."""
    row = await customers.customers.store.get(ctx, customer_id, label="Customer")
    if row.party_id is None:
        return []
    found = await possible_duplicates(ctx, {"engagedParty": {"id": row.party_id}}, exclude=customer_id)
    return [d for d in found if d["id"] != customer_id]
