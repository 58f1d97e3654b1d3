"""Customer search by phone, ID number, account or customer number, or name in any script."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from telcrm.kit.auth import Context
from telcrm.kit.errors import ValidationFailed
from telcrm.party.identification import InvalidIdentification, normalise_resident_id
from telcrm.search import repository
from telcrm.search.keys import fold, has_cjk, name_keys, phone_keys, phone_query, to_simplified

# Ranking: lower is better; an exact key adds nothing, a prefix match adds 10.
KIND_RANK = {"num": 0, "id": 0, "phone": 1, "name": 2, "py": 3, "ini": 4}
CANDIDATE_CAP = 2000
BUFFER = "search.new_keys"


def party_keys(doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    """Search keys of a party document: names, phone numbers, identification numbers."""
    keys: list[tuple[str, str, int]] = []
    names: list[tuple[str, str | None, str | None]] = []
    if doc.get("@type", "Individual") == "Organization" or "tradingName" in doc:
        for attr in ("name", "tradingName"):
            if isinstance(doc.get(attr), str):
                names.append((doc[attr], None, None))
    else:
        fam, giv = doc.get("familyName"), doc.get("givenName")
        if isinstance(fam, str) and isinstance(giv, str):
            names.append((fam + giv if has_cjk(fam + giv) else f"{giv} {fam}", fam, giv))
        for attr in ("fullName", "formattedName", "legalName"):
            if isinstance(doc.get(attr), str):
                names.append((doc[attr], None, None))
    for other in doc.get("otherName") or []:
        if isinstance(other, dict):
            fam, giv = other.get("familyName"), other.get("givenName")
            if isinstance(fam, str) and isinstance(giv, str):
                names.append((fam + giv, fam, giv))
            for attr in ("fullName", "tradingName", "name"):
                if isinstance(other.get(attr), str):
                    names.append((other[attr], None, None))
    for name, fam, giv in names:
        for kind, key in name_keys(name, family=fam, given=giv):
            keys.append((kind, key, 0))
    keys.extend(contact_keys(doc.get("contactMedium")))
    for ident_attr in ("individualIdentification", "organizationIdentification"):
        for ident in doc.get(ident_attr) or []:
            if isinstance(ident, dict) and isinstance(ident.get("identificationId"), str):
                keys.append(("id", fold(ident["identificationId"]).upper(), 0))
    return keys


def contact_keys(media: Any) -> list[tuple[str, str, int]]:
    keys: list[tuple[str, str, int]] = []
    for medium in media or []:
        if not isinstance(medium, dict):
            continue
        characteristic = medium.get("characteristic") or {}
        if not isinstance(characteristic, dict):
            continue
        for attr in ("phoneNumber", "faxNumber"):
            if isinstance(characteristic.get(attr), str):
                numbers = phone_keys(characteristic[attr])
                for i, number in enumerate(numbers):
                    keys.append(("phone", number, -i))  # the local part of a landline ranks lower
    return keys


async def index(
    ctx: Context, ref_id: str, customer_id: str | None, keys: Iterable[tuple[str, str, int]], *, fresh: bool = False
) -> None:
    """Make ``keys`` the search keys of ``ref_id``; ``fresh``: it is new and has none yet, so its
    keys are written with the transaction's other new keys in one statement before commit."""
    if not fresh:
        await _write_new(ctx)
        await repository.replace_keys(ctx.uow.session, ref_id, customer_id, list(keys))
        return
    rows = repository.key_rows(ref_id, customer_id, list(keys))
    if rows:
        ctx.uow.buffer(BUFFER, lambda pending: repository.insert_keys(ctx.uow, pending)).extend(rows)


def plan(q: str) -> list[tuple[str, str, bool, int]]:
    """How a query string is looked up: ``(kind, key, prefix, rank)`` terms."""
    text = q.strip()
    if not text or len(text) > 100 or "\x00" in text:
        raise ValidationFailed("q must be 1 to 100 characters", field="q")
    compact = re.sub(r"[\s\-\(\)（）]", "", text)
    terms: list[tuple[str, str, bool, int]] = []
    if re.fullmatch(r"[CcAa]\d{1,10}", compact):
        terms.append(("num", f"{compact[0].upper()}{int(compact[1:]):010d}", False, KIND_RANK["num"]))
        return terms
    if re.fullmatch(r"\+?\d+[xX]?", compact):
        digits = compact.lstrip("+")
        if len(digits) in (15, 18):
            try:
                terms.append(("id", normalise_resident_id(digits), False, KIND_RANK["id"]))
            except InvalidIdentification:
                terms.append(("id", digits.upper(), False, KIND_RANK["id"]))
        if digits.isdigit():
            number = phone_query(text)
            if number:
                terms.append(("phone", number, len(number) >= 4, KIND_RANK["phone"]))
        return terms or [("id", digits.upper(), False, KIND_RANK["id"])]
    if re.fullmatch(r"[0-9A-Fa-f]{32}", compact):
        return [("id", compact.upper(), False, KIND_RANK["id"])]  # an order id (a UUID)
    if re.fullmatch(r"[A-Za-z0-9]{6,20}", compact) and re.search(r"\d", compact):
        terms.append(("id", compact.upper(), False, KIND_RANK["id"]))  # passport, credit code
        return terms
    simple = fold(to_simplified(text))
    if not simple:
        raise ValidationFailed("q has nothing to search for", field="q")
    terms.append(("name", simple, True, KIND_RANK["name"]))
    if not has_cjk(simple):
        terms.append(("py", simple, True, KIND_RANK["py"]))
        terms.append(("ini", simple, False, KIND_RANK["ini"]))
    return terms


async def search_customers(ctx: Context, q: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    terms = plan(q)
    return await repository.find_customers(ctx.uow.session, terms, ctx.caller.scope, offset, limit, CANDIDATE_CAP)


async def customers_sharing(ctx: Context, ids: list[str], phones: list[str], limit: int = 50) -> list[str]:
    """Customers whose parties carry one of these identification numbers or phone numbers (keys as
    ``party_keys``/``contact_keys`` make them): candidates for duplicate checks."""
    return await repository.customers_sharing(ctx.uow.session, ids, phones, limit)


def number_keys(number: str) -> Sequence[tuple[str, str, int]]:
    return [("num", number.upper(), 0)]


async def _write_new(ctx: Context) -> None:
    """Keys still buffered go in now, before a statement that changes keys already written."""
    pending = ctx.uow.buffers.get(BUFFER)
    if pending:
        await repository.insert_keys(ctx.uow, list(pending))
        pending.clear()


async def attach(ctx: Context, ref_id: str, customer_id: str | None) -> None:
    """Make the keys of ``ref_id`` (e.g. a customer's party) find ``customer_id``."""
    await _write_new(ctx)
    await repository.set_customer(ctx.uow.session, ref_id, customer_id)
