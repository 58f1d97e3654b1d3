"""Survivorship: the golden record of a cluster of legacy records, with lineage per attribute.

Every attribute is chosen among the records that have a usable value by, in order: a value
that is valid (a resident ID with its check digit, a name in simplified script), the most
trusted source (a configurable ranking), the most recent ``updated_at``, the most complete
value (the longest), then the smallest record key (so the result never depends on input
order). Phone numbers and e-mail addresses are all kept (a person has several); each still
names the record it came from. The lineage says which rule decided against the runner-up.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telcrm.party.identification import InvalidIdentification, normalise_resident_id, normalise_uscc
from telcrm.search.keys import has_cjk, phone_keys, to_simplified

SINGLE = ("name", "id_number", "credit_code", "birth_date", "gender", "address")
COMPOUND_SURNAMES = ("欧阳", "司徒", "上官", "司马", "诸葛", "东方", "皇甫", "夏侯", "慕容", "令狐", "公孙", "尉迟")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_GENDER = {
    "男": "male",
    "m": "male",
    "male": "male",
    "1": "male",
    "女": "female",
    "f": "female",
    "female": "female",
    "2": "female",
    "F": "female",
    "M": "male",
}


@dataclass
class Record:
    key: str
    source: str
    fields: dict[str, Any]
    updated_at: datetime | None = None
    kind: str | None = None
    std: dict[str, Any] = field(default_factory=dict)


@dataclass
class Golden:
    kind: str  # individual | organization
    values: dict[str, Any]
    phones: list[str] = field(default_factory=list)  # national form, mobiles first
    emails: list[str] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)
    record_keys: list[str] = field(default_factory=list)


def clean(text: Any) -> str | None:
    if text is None:
        return None
    value = unicodedata.normalize("NFKC", str(text)).strip()
    value = re.sub(r"\s+", " ", value)
    return value or None


def _candidate(attr: str, raw: Any) -> tuple[str, bool] | None:
    """The value a record offers for ``attr`` and whether it is valid, or None if unusable."""
    value = clean(raw)
    if value is None:
        return None
    if attr == "id_number":
        try:
            return normalise_resident_id(value), True
        except InvalidIdentification:
            return value.upper().replace(" ", ""), False
    if attr == "credit_code":
        try:
            return normalise_uscc(value), True
        except InvalidIdentification:
            return value.upper().replace(" ", ""), False
    if attr == "gender":
        gender = _GENDER.get(value.lower())
        return (gender, True) if gender else None
    if attr == "name":
        if has_cjk(value):
            value = value.replace(" ", "")
            simple = to_simplified(value)
            return value, simple == value
        return value, True
    return value, True


def _sort_key(rank: dict[str, int], rec: Record, value: str, valid: bool) -> tuple[Any, ...]:
    ts = rec.updated_at.timestamp() if rec.updated_at else float("-inf")
    return (not valid, rank.get(rec.source, len(rank)), -ts, -len(value), rec.key)


RULES = ("valid value", "trusted source", "most recent", "most complete", "record key")


def _decided_by(a: tuple[Any, ...], b: tuple[Any, ...]) -> str:
    for rule, x, y in zip(RULES, a, b, strict=False):
        if x != y:
            return rule
    return RULES[-1]


def golden(records: Sequence[Record], ranking: Sequence[str]) -> Golden:
    """The golden record of ``records`` (one cluster) under the source ``ranking``."""
    rank = {source: i for i, source in enumerate(ranking)}
    ordered = sorted(records, key=lambda r: r.key)
    kinds = Counter(r.kind for r in ordered if r.kind)
    if kinds:
        kind = kinds.most_common(1)[0][0]
    else:
        kind = "organization" if any(clean(r.fields.get("credit_code")) for r in ordered) else "individual"
    result = Golden(kind=kind, values={}, record_keys=[r.key for r in ordered])
    for attr in SINGLE:
        candidates = []
        for rec in ordered:
            found = _candidate(attr, rec.fields.get(attr))
            if found is None and attr in ("birth_date", "gender") and rec.std.get(attr):
                found = _candidate(attr, rec.std[attr])  # the birth date and gender an ID number carries
            if found is not None:
                value, valid = found
                candidates.append((_sort_key(rank, rec, value, valid), value, rec))
        if not candidates:
            continue
        candidates.sort(key=lambda c: c[0])
        best_key, value, rec = candidates[0]
        rule = "only value" if len(candidates) == 1 else _decided_by(best_key, candidates[1][0])
        if len({c[1] for c in candidates}) == 1:
            rule = "all agree"
        if attr == "name" and has_cjk(value):
            value = to_simplified(value)
        result.values[attr] = value
        result.lineage[attr] = {"value": value, "record": rec.key, "source": rec.source, "rule": rule}
    # every phone number and e-mail address, each from the best record that has it
    phones: dict[str, tuple[tuple[Any, ...], Record]] = {}
    emails: dict[str, tuple[tuple[Any, ...], Record]] = {}
    for rec in ordered:
        std_phones = rec.std.get("phones")
        numbers = std_phones if isinstance(std_phones, list) else _phones(rec.fields.get("phone"))
        for number in numbers:
            sk = _sort_key(rank, rec, number, True)
            if number not in phones or sk < phones[number][0]:
                phones[number] = (sk, rec)
        email = clean(rec.fields.get("email"))
        if email and "@" in email:
            email = email.lower()
            sk = _sort_key(rank, rec, email, True)
            if email not in emails or sk < emails[email][0]:
                emails[email] = (sk, rec)
    result.phones = sorted(phones, key=lambda n: (not _MOBILE.match(n), phones[n][0]))
    result.emails = sorted(emails, key=lambda e: emails[e][0])
    for i, number in enumerate(result.phones):
        rec = phones[number][1]
        result.lineage[f"phone[{i}]"] = {"value": number, "record": rec.key, "source": rec.source, "rule": "all kept"}
    for i, email in enumerate(result.emails):
        rec = emails[email][1]
        result.lineage[f"email[{i}]"] = {"value": email, "record": rec.key, "source": rec.source, "rule": "all kept"}
    return result


def _phones(raw: Any) -> list[str]:
    text = clean(raw)
    if not text:
        return []
    out = []
    for part in re.split(r"[,;/，；、|]+", text):
        keys = phone_keys(part)
        if keys and len(keys[0]) >= 7:
            out.append(keys[0])
    return out


def split_name(name: str) -> tuple[str | None, str | None]:
    """Family and given name of a Chinese name (compound surnames known), else (None, None)."""
    if not has_cjk(name) or len(name) < 2:
        return None, None
    for surname in COMPOUND_SURNAMES:
        if name.startswith(surname) and len(name) > len(surname):
            return surname, name[len(surname) :]
    return name[0], name[1:]


def landline_display(number: str) -> str:
    """02155556666 -> 021-55556666 (as the services store landlines)."""
    if number.startswith("0") and len(number) >= 10:
        area = 3 if number[1] in "12" else 4
        return f"{number[:area]}-{number[area:]}"
    return number


def contact_media(g: Golden) -> list[dict[str, Any]]:
    media: list[dict[str, Any]] = []
    first_mobile = True
    for number in g.phones:
        if _MOBILE.match(number):
            media.append({"mediumType": "mobile", "preferred": first_mobile, "characteristic": {"phoneNumber": number}})
            first_mobile = False
        else:
            media.append({"mediumType": "phone", "characteristic": {"phoneNumber": landline_display(number)}})
    for email in g.emails:
        media.append({"mediumType": "email", "characteristic": {"emailAddress": email}})
    address = g.values.get("address")
    if address:
        media.append({"mediumType": "postalAddress", "characteristic": {"country": "CN", "street1": address}})
    return media


def party_document(g: Golden) -> dict[str, Any]:
    """The TMF632 Individual or Organization of a golden record (without id)."""
    name = g.values.get("name") or "(no name)"
    media = contact_media(g)
    if g.kind == "organization":
        doc: dict[str, Any] = {
            "@type": "Organization",
            "name": name,
            "tradingName": name,
            "isLegalEntity": True,
            "status": "initialized",
        }
        code = g.values.get("credit_code")
        if code and g.lineage.get("credit_code") and _valid_uscc(code):
            doc["organizationIdentification"] = [{"identificationType": "USCC", "identificationId": code}]
            doc["status"] = "validated"
    else:
        family, given = split_name(name)
        doc = {"@type": "Individual"}
        if family and given:
            doc["givenName"], doc["familyName"] = given, family
        doc["fullName"] = name
        if g.values.get("gender"):
            doc["gender"] = g.values["gender"]
        birth = g.values.get("birth_date")
        if birth and re.fullmatch(r"\d{4}-\d{2}-\d{2}", birth):
            doc["birthDate"] = f"{birth}T00:00:00+08:00"
        doc["status"] = "initialized"
        number = g.values.get("id_number")
        if number and _valid_id(number):
            doc["individualIdentification"] = [{"identificationType": "residentIdCard", "identificationId": number}]
            doc["status"] = "validated"
    if media:
        doc["contactMedium"] = media
    return doc


def _valid_id(value: str) -> bool:
    try:
        normalise_resident_id(value)
    except InvalidIdentification:
        return False
    return True


def _valid_uscc(value: str) -> bool:
    try:
        normalise_uscc(value)
    except InvalidIdentification:
        return False
    return True


def real_name(party: dict[str, Any]) -> bool:
    return bool(party.get("individualIdentification") or party.get("organizationIdentification"))


SERVICE_STATUS = {
    "active": "active",
    "正常": "active",
    "在用": "active",
    "normal": "active",
    "suspended": "suspended",
    "停机": "suspended",
    "暂停": "suspended",
    "terminated": "terminated",
    "拆机": "terminated",
    "销户": "terminated",
    "closed": "terminated",
    "cancelled": "terminated",
}


def product_status(raw: Any) -> str:
    value = (clean(raw) or "").lower()
    return SERVICE_STATUS.get(value, "active")


def service_name(fields: dict[str, Any], source: str) -> str:
    kind = clean(fields.get("service_type")) or source
    number = clean(fields.get("service_number")) or ""
    return f"{kind} {number}".strip()[:400]


def keys_of(records: Iterable[Record]) -> list[str]:
    return sorted(r.key for r in records)
