"""The agent desktop: signing up customers (individual or organisation) and changing them.

A new customer is one transaction over the same services as the API: the party (TMF632), the
customer engaging it (TMF629), a billing account it owns (TMF666) and, for a person, the user
(使用客户) of the mobile number. The services validate; their ``DomainError.field`` is mapped
back to the form field it came from, so the message shows next to what was typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from telcrm.account import service as accounts
from telcrm.customer import policy as customer_policy
from telcrm.customer import service as customers
from telcrm.kit.auth import Caller, Context
from telcrm.kit.errors import DomainError, Forbidden, ValidationFailed
from telcrm.party import service as parties
from telcrm.party.identification import InvalidIdentification, is_resident_id_type, normalise_resident_id
from telcrm.resolution import duplicates
from telcrm.web import i18n
from telcrm.web.deps import channel_for, check_csrf, transaction
from telcrm.web.desk import customer_view, desk_caller
from telcrm.web.i18n import gettext_ as _
from telcrm.web.render import render

router = APIRouter(include_in_schema=False)

KINDS = ("individual", "organization")
ID_TYPES = ("residentIdCard", "passport", "hkMacaoPermit", "taiwanPermit", "foreignPermanentResidentId")
GENDERS = ("male", "female")
INDIVIDUAL_ACCOUNT_TYPES = ("prepaid", "postpaid")
GROUP_ACCOUNT_TYPES = ("postpaid", "groupPaid", "prepaid")
EDIT_STATUSES = ("active", "suspended", "terminated")
MAX_TEXT = 200
# Mainland provinces and regions, then Hong Kong, Macao, Taiwan: suggestions for the address.
PROVINCES = (
    "北京市", "天津市", "河北省", "山西省", "内蒙古自治区", "辽宁省", "吉林省", "黑龙江省", "上海市", "江苏省",
    "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省", "广东省", "广西壮族自治区",
    "海南省", "重庆市", "四川省", "贵州省", "云南省", "西藏自治区", "陕西省", "甘肃省", "青海省",
    "宁夏回族自治区", "新疆维吾尔自治区", "香港特别行政区", "澳门特别行政区", "台湾省",
)  # fmt: skip

NEW_FIELDS = (
    "kind", "family_name", "given_name", "gender", "birth_date", "id_type", "id_number",
    "org_name", "credit_code", "mobile", "email", "province", "city", "street", "account_type",
)  # fmt: skip
# The order a reader meets the fields in: the first with an error gets the focus.
INDIVIDUAL_ORDER = ("family_name", "given_name", "gender", "birth_date", "id_type", "id_number")
ORGANIZATION_ORDER = ("org_name", "credit_code")
CONTACT_ORDER = ("mobile", "email", "province", "city", "street", "account_type")


class FormError(Exception):
    """What to show next to which form field (``_form``: above the form), and the answer's status."""

    def __init__(self, errors: dict[str, str], status: int = 400) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


@contextmanager
def fields(mapping: Callable[[str], str | None]) -> Iterator[None]:
    """A service's DomainError as a FormError on the form field its ``field`` came from."""
    try:
        yield
    except DomainError as exc:
        target = mapping(exc.field or "") or "_form"
        raise FormError({target: readable(exc)}, exc.status) from exc


def readable(exc: DomainError) -> str:
    """The service's message without the document path it starts with (the form shows where)."""
    message = i18n.domain_message(exc.message)
    if message != exc.message:  # translated: a whole sentence of its own
        return message
    if exc.field and message.startswith(exc.field):
        rest = message[len(exc.field) :].lstrip(": ")
        message = f"This {rest}" if rest.startswith("is ") else rest or message
    return message[:1].upper() + message[1:]


def _read(form: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip()[:MAX_TEXT] for name in names}


def _first_error(errors: dict[str, str], order: tuple[str, ...], default: str) -> str:
    return next((name for name in order if name in errors), default)


# ----- contact media ----------------------------------------------------------------------------
def _phone_medium(party: dict[str, Any], kind: str) -> int:
    """Index of the party's main phone: a mobile for a person, any phone for an organisation."""
    media = party.get("contactMedium") or []
    for i, m in enumerate(media):
        number = (m.get("characteristic") or {}).get("phoneNumber")
        if number is not None and (kind == "organization" or str(m.get("mediumType")).lower() == "mobile"):
            return i
    return -1


def _medium_index(party: dict[str, Any], test: Callable[[dict[str, Any]], bool]) -> int:
    return next((i for i, m in enumerate(party.get("contactMedium") or []) if test(m)), -1)


def _is_email(m: dict[str, Any]) -> bool:
    return "emailAddress" in (m.get("characteristic") or {})


def _is_address(m: dict[str, Any]) -> bool:
    return m.get("mediumType") == "postalAddress" or "street1" in (m.get("characteristic") or {})


def contact_values(party: dict[str, Any], kind: str) -> dict[str, str]:
    """The form values of a party's main phone, e-mail and postal address."""
    media = party.get("contactMedium") or []
    out = {"mobile": "", "email": "", "province": "", "city": "", "street": ""}
    if (i := _phone_medium(party, kind)) >= 0:
        out["mobile"] = str(media[i]["characteristic"].get("phoneNumber") or "")
    if (i := _medium_index(party, _is_email)) >= 0:
        out["email"] = str(media[i]["characteristic"].get("emailAddress") or "")
    if (i := _medium_index(party, _is_address)) >= 0:
        ch = media[i].get("characteristic") or {}
        out.update(province=ch.get("stateOrProvince") or "", city=ch.get("city") or "", street=ch.get("street1") or "")
    return out


def _updated(old: dict[str, Any] | None, medium_type: str, **characteristic: str) -> dict[str, Any]:
    """``old`` (or a new medium of ``medium_type``) with ``characteristic`` set, the rest kept."""
    old = old or {}
    return {
        **old,
        "mediumType": old.get("mediumType") or medium_type,
        "characteristic": {**(old.get("characteristic") or {}), **characteristic},
    }


def merge_contact(
    party: dict[str, Any], kind: str, values: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The party's contact media with the main phone, e-mail and address as ``values`` says (an
    empty value removes that medium; other media stay as they are), and which form field each
    changed medium's index stands for."""
    media: list[dict[str, Any] | None] = [dict(m) for m in party.get("contactMedium") or []]
    where: dict[str, int] = {}

    def put(index: int, field: str, medium: dict[str, Any] | None) -> None:
        if index >= 0:
            media[index] = medium
            where[field] = index
        elif medium is not None:
            media.append(medium)
            where[field] = len(media) - 1

    def old(index: int) -> dict[str, Any] | None:
        return media[index] if index >= 0 else None

    i = _phone_medium(party, kind)
    if values["mobile"]:
        medium = _updated(old(i), "mobile" if kind == "individual" else "phone", phoneNumber=values["mobile"])
        if i < 0 and not any((m or {}).get("preferred") for m in media):
            medium["preferred"] = True
        put(i, "mobile", medium)
    elif i >= 0:
        put(i, "mobile", None)
    i = _medium_index(party, _is_email)
    if values["email"]:
        put(i, "email", _updated(old(i), "email", emailAddress=values["email"]))
    elif i >= 0:
        put(i, "email", None)
    i = _medium_index(party, _is_address)
    if values["province"] or values["city"] or values["street"]:
        medium = _updated(old(i), "postalAddress")
        ch = medium["characteristic"]
        ch.setdefault("country", "CN")
        for attr, name in (("stateOrProvince", "province"), ("city", "city"), ("street1", "street")):
            if values[name]:
                ch[attr] = values[name]
            else:
                ch.pop(attr, None)
        put(i, "street", medium)
    elif i >= 0:
        put(i, "street", None)
    kept: list[dict[str, Any]] = []
    renumber: dict[int, int] = {}
    for index, item in enumerate(media):
        if item is not None:
            renumber[index] = len(kept)
            kept.append(item)
    return kept, {renumber[i]: name for name, i in where.items() if i in renumber}


def _media_field(media_fields: dict[int, str]) -> Callable[[str], str | None]:
    def mapping(field: str) -> str | None:
        if field.startswith("contactMedium["):
            try:
                index = int(field[len("contactMedium[") : field.index("]")])
            except ValueError:
                return None
            name = media_fields.get(index)
            if name == "street" and ("stateOrProvince" in field or "city" in field):
                return "province" if "stateOrProvince" in field else "city"
            return name
        return None

    return mapping


# ----- a new customer -------------------------------------------------------------------------------
def _kind(value: str | None) -> str:
    return value if value in KINDS else "individual"


def _form_checks(v: dict[str, str]) -> dict[str, str]:
    """What the form needs before the services are asked (they check the formats)."""
    errors: dict[str, str] = {}
    if v["kind"] == "individual":
        if not v["family_name"]:
            errors["family_name"] = _("Enter the family name.")
        if not v["given_name"]:
            errors["given_name"] = _("Enter the given name.")
        if not v["mobile"]:
            errors["mobile"] = _("Enter the mobile number: the new user gets it.")
        if v["id_type"] not in ID_TYPES:
            errors["id_type"] = _("Choose an ID document type.")
        if v["gender"] and v["gender"] not in GENDERS:
            errors["gender"] = _("Choose a gender.")
        if v["birth_date"]:
            try:
                born = date.fromisoformat(v["birth_date"])
            except ValueError:
                errors["birth_date"] = _("Enter the date as YYYY-MM-DD.")
            else:
                if not date(1880, 1, 1) <= born <= date.today():
                    errors["birth_date"] = _("This birth date is not possible.")
        if v["account_type"] not in INDIVIDUAL_ACCOUNT_TYPES:
            errors["account_type"] = _("Choose prepaid or postpaid.")
    else:
        if not v["org_name"]:
            errors["org_name"] = _("Enter the organisation's name.")
        if v["account_type"] not in GROUP_ACCOUNT_TYPES:
            errors["account_type"] = _("Choose an account type.")
    return errors


def _individual_doc(v: dict[str, str]) -> tuple[dict[str, Any], dict[int, str]]:
    doc: dict[str, Any] = {"familyName": v["family_name"], "givenName": v["given_name"]}
    doc["fullName"] = parties.display_name(doc)
    if v["id_number"]:
        doc["individualIdentification"] = [{"identificationType": v["id_type"], "identificationId": v["id_number"]}]
    gender, birth = v["gender"], v["birth_date"]
    if v["id_number"] and is_resident_id_type(v["id_type"]) and not (gender and birth):
        try:  # the resident ID number carries the birth date and (odd, even) the gender
            number = normalise_resident_id(v["id_number"])
        except InvalidIdentification:
            pass  # the party service says what is wrong with it
        else:
            birth = birth or f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
            gender = gender or ("male" if int(number[16]) % 2 else "female")
    if gender:
        doc["gender"] = gender
    if birth:
        doc["birthDate"] = f"{birth}T00:00:00+08:00"
    media, where = merge_contact({}, "individual", v)
    doc["contactMedium"] = media
    return doc, where


def _organization_doc(v: dict[str, str]) -> tuple[dict[str, Any], dict[int, str]]:
    doc: dict[str, Any] = {"name": v["org_name"], "tradingName": v["org_name"], "isLegalEntity": True}
    if v["credit_code"]:
        doc["organizationIdentification"] = [{"identificationType": "USCC", "identificationId": v["credit_code"]}]
    media, where = merge_contact({}, "organization", v)
    doc["contactMedium"] = media
    return doc, where


def _party_field(kind: str, media_fields: dict[int, str]) -> Callable[[str], str | None]:
    by_media = _media_field(media_fields)

    def mapping(field: str) -> str | None:
        if field.endswith("identificationType"):
            return "id_type" if kind == "individual" else "credit_code"
        if field.startswith(("individualIdentification", "organizationIdentification")):
            return "id_number" if kind == "individual" else "credit_code"
        if field in ("name", "tradingName", "fullName", "familyName"):
            return "family_name" if kind == "individual" else "org_name"
        if field == "givenName":
            return "given_name"
        if field in ("birthDate", "gender"):
            return "birth_date" if field == "birthDate" else "gender"
        return by_media(field)

    return mapping


async def create_customer(ctx: Context, v: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Party, customer, billing account and (a person) the user, in the caller's transaction."""
    kind = v["kind"]
    name_field = "family_name" if kind == "individual" else "org_name"
    if kind == "individual":
        doc, media_fields = _individual_doc(v)
        with fields(_party_field(kind, media_fields)):
            party = await parties.individuals.create(ctx, doc)
    else:
        doc, media_fields = _organization_doc(v)
        with fields(_party_field(kind, media_fields)):
            party = await parties.organizations.create(ctx, doc)
    name = parties.display_name(party)
    category = "individual" if kind == "individual" else "group"
    data = {
        "name": name,
        "engagedParty": {"id": party["id"], "name": name, "@referredType": party["@type"]},
        "characteristic": [
            {"name": "customerCategory", "value": category},
            {"name": "acquisitionChannel", "value": ctx.channel},
        ],
    }
    with fields(lambda f: name_field if f == "name" else ("id_number" if f == "status" else None)):
        customer = await customers.customers.create(ctx, data)
    owner = {"id": customer["id"], "name": customer["name"], "@referredType": "Customer", "role": "owner"}
    with fields(lambda f: "account_type" if f == "accountType" else None):
        account = await accounts.billing_accounts.create(
            ctx, {"name": customer["name"], "accountType": v["account_type"], "relatedParty": [owner]}
        )
    if kind == "individual":
        user = {
            "name": name,
            "phoneNumber": v["mobile"],
            "party": {"id": party["id"], "name": name, "@referredType": "Individual"},
            "billingAccount": {"id": account["id"], "name": account["name"], "@referredType": "BillingAccount"},
        }
        with fields(lambda f: {"phoneNumber": "mobile", "name": "family_name"}.get(f)):
            await customers.users.create_for(ctx, customer["id"], user)
    try:  # like the API's answer: likely duplicates, never a reason to refuse
        found = await duplicates.possible_duplicates(ctx, customer, exclude=str(customer["id"]))
    except (Forbidden, ValidationFailed):
        found = []
    return customer, found


DUPLICATE_REASONS = {
    "engages the same party": "party",
    "same identification number": "id",
    "same credit code": "credit",
    "same phone number and similar party": "phone",
}


def _new_page(request: Request, v: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    order = (INDIVIDUAL_ORDER if v["kind"] == "individual" else ORGANIZATION_ORDER) + CONTACT_ORDER
    focus = _first_error(errors, order, "family_name" if v["kind"] == "individual" else "org_name")
    return render(
        request,
        "desk/customer_new.html",
        status=status,
        v=v,
        errors=errors,
        focus=focus,
        id_types=ID_TYPES,
        provinces=PROVINCES,
    )


@router.get("/desk/customers/new")
async def new_customer(request: Request, kind: str | None = None, caller: Caller = Depends(desk_caller)) -> Response:
    v = {name: "" for name in NEW_FIELDS}
    v.update(
        kind=_kind(kind),
        id_type="residentIdCard",
        account_type="prepaid" if _kind(kind) == "individual" else "postpaid",
    )
    return _new_page(request, v, {})


@router.post("/desk/customers/new")
async def create_customer_page(request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    v = _read(form, NEW_FIELDS)
    v["kind"] = _kind(v["kind"])
    errors = _form_checks(v)
    if errors:
        return _new_page(request, v, errors, 400)
    try:
        async with transaction(request, caller, channel_for(caller)) as ctx:
            customer, found = await create_customer(ctx, v)
    except FormError as exc:
        return _new_page(request, v, exc.errors, exc.status)
    query: list[tuple[str, str]] = [("created", "1")]
    query += [("dup", f"{d['id']}:{DUPLICATE_REASONS.get(str(d.get('reason')), 'other')}") for d in found[:10]]
    return RedirectResponse(f"/desk/customers/{quote(customer['id'])}?{urlencode(query)}", status_code=303)


# ----- changing a customer ----------------------------------------------------------------------------
EDIT_FIELDS = ("mobile", "email", "province", "city", "street", "status", "status_reason")


def _party_kind(data: dict[str, Any]) -> str:
    return "organization" if (data.get("party") or {}).get("@type") == "Organization" else "individual"


def _edit_page(
    request: Request, data: dict[str, Any], v: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    caller: Caller = request.state.caller
    current = str(data["customer"].get("status") or "")
    may_terminate = bool(caller.roles & customer_policy.TERMINATORS) or data["customer"].get("status") == "terminated"
    return render(
        request,
        "desk/customer_edit.html",
        status=status,
        c=data["customer"],
        p=data.get("party") or {},
        kind=_party_kind(data),
        v=v,
        errors=errors,
        focus=_first_error(errors, EDIT_FIELDS, "mobile"),
        statuses=list(
            dict.fromkeys(s for s in (current, *EDIT_STATUSES) if s and (s != "terminated" or may_terminate))
        ),
        provinces=PROVINCES,
    )


@router.get("/desk/customers/{customer_id}/edit")
async def edit_customer(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    data = await customer_view(request, caller, customer_id)
    c = data["customer"]
    v = contact_values(data.get("party") or {}, _party_kind(data))
    v.update(status=str(c.get("status") or ""), status_reason=str(c.get("statusReason") or ""))
    return _edit_page(request, data, v, {})


@router.post("/desk/customers/{customer_id}/edit")
async def save_customer(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    v = _read(form, EDIT_FIELDS)
    v["status_reason"] = str(form.get("status_reason") or "").strip()[:500]
    data = await customer_view(request, caller, customer_id)
    kind = _party_kind(data)
    try:
        async with transaction(request, caller, channel_for(caller)) as ctx:
            await _save(ctx, customer_id, data, kind, v)
    except FormError as exc:
        return _edit_page(request, data, v, exc.errors, exc.status)
    return RedirectResponse(f"/desk/customers/{quote(customer_id)}", status_code=303)


async def _save(ctx: Context, customer_id: str, data: dict[str, Any], kind: str, v: dict[str, str]) -> None:
    party = data.get("party")
    if party and contact_values(party, kind) != {k: v[k] for k in ("mobile", "email", "province", "city", "street")}:
        media, media_fields = merge_contact(party, kind, v)
        service = parties.organizations if kind == "organization" else parties.individuals
        with fields(_media_field(media_fields)):
            await service.patch(ctx, party["id"], {"contactMedium": media})
    current = await customers.customers.get(ctx, customer_id)
    status, reason = v["status"] or current.get("status"), v["status_reason"]
    changed = status != current.get("status") or (status != "active" and reason != (current.get("statusReason") or ""))
    if changed:
        patch: dict[str, Any] = {"status": status, "statusReason": reason or None}
        with fields(lambda f: {"status": "status", "statusReason": "status_reason"}.get(f)):
            await customers.customers.patch(ctx, customer_id, patch)


# ----- members (users) and accounts of a customer ------------------------------------------------------
USER_FIELDS = ("user_name", "phone_number", "billing_account")
ACCOUNT_FIELDS = ("account_name", "account_type")


def _is_group(data: dict[str, Any]) -> bool:
    _i, category = customers.characteristic(data["customer"], "customerCategory")
    if category:
        return category == "group"
    return (data.get("party") or {}).get("@type") == "Organization"


@router.get("/desk/customers/{customer_id}/users/new")
async def new_user(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    data = await customer_view(request, caller, customer_id)
    first = next((a["id"] for a in data["accounts"] if a.get("state", "active") == "active"), "")
    return _user_page(request, data, {"user_name": "", "phone_number": "", "billing_account": first}, {})


def _user_page(
    request: Request, data: dict[str, Any], v: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "desk/user_new.html",
        status=status,
        c=data["customer"],
        accounts=data["accounts"],
        users=data["users"],
        group=_is_group(data),
        v=v,
        errors=errors,
        focus=_first_error(errors, USER_FIELDS, "user_name"),
    )


@router.post("/desk/customers/{customer_id}/users/new")
async def create_user(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    v = _read(form, USER_FIELDS)
    data = await customer_view(request, caller, customer_id)
    errors: dict[str, str] = {}
    if not v["user_name"]:
        errors["user_name"] = _("Enter the user's name.")
    if not v["phone_number"]:
        errors["phone_number"] = _("Enter the phone number.")
    if errors:
        return _user_page(request, data, v, errors, 400)
    user: dict[str, Any] = {"name": v["user_name"], "phoneNumber": v["phone_number"]}
    if v["billing_account"]:
        user["billingAccount"] = {"id": v["billing_account"], "@referredType": "BillingAccount"}
    mapping = {"name": "user_name", "phoneNumber": "phone_number", "billingAccount.id": "billing_account",
               "billingAccount": "billing_account", "customer": "_form"}  # fmt: skip
    try:
        async with transaction(request, caller, channel_for(caller)) as ctx:
            with fields(mapping.get):
                await customers.users.create_for(ctx, customer_id, user)
    except FormError as exc:
        return _user_page(request, data, v, exc.errors, exc.status)
    return RedirectResponse(f"/desk/customers/{quote(customer_id)}", status_code=303)


def _account_page(
    request: Request, data: dict[str, Any], v: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    group = _is_group(data)
    return render(
        request,
        "desk/account_new.html",
        status=status,
        c=data["customer"],
        accounts=data["accounts"],
        types=GROUP_ACCOUNT_TYPES if group else INDIVIDUAL_ACCOUNT_TYPES,
        v=v,
        errors=errors,
        focus=_first_error(errors, ACCOUNT_FIELDS, "account_name"),
    )


@router.get("/desk/customers/{customer_id}/accounts/new")
async def new_account(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    data = await customer_view(request, caller, customer_id)
    group = _is_group(data)
    v = {"account_name": str(data["customer"].get("name") or ""), "account_type": "postpaid" if group else "prepaid"}
    return _account_page(request, data, v, {})


@router.post("/desk/customers/{customer_id}/accounts/new")
async def create_account(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    v = _read(form, ACCOUNT_FIELDS)
    data = await customer_view(request, caller, customer_id)
    c = data["customer"]
    if not v["account_name"]:
        return _account_page(request, data, v, {"account_name": _("Enter a name for the account.")}, 400)
    owner = {"id": c["id"], "name": c.get("name"), "@referredType": "Customer", "role": "owner"}
    doc = {"name": v["account_name"], "accountType": v["account_type"], "relatedParty": [owner]}
    try:
        async with transaction(request, caller, channel_for(caller)) as ctx:
            with fields({"accountType": "account_type", "name": "account_name"}.get):
                await accounts.billing_accounts.create(ctx, doc)
    except FormError as exc:
        return _account_page(request, data, v, exc.errors, exc.status)
    return RedirectResponse(f"/desk/customers/{quote(customer_id)}", status_code=303)
