"""Placing an order on the screens, and watching it: the order form and the order page.

One set of handlers serves the agent desktop (``/desk/customers/{id}/order``, ``/desk/orders/{id}``)
and the web hall (``/hall/order`` for the signed-in customer, ``/hall/orders/{id}``); only the page
layout differs. The form builds a TMF622 ProductOrder_Create body and hands it to the ordering
service, as the API does: ``orders.check`` (problems, prices), ``orders.capture`` (with an
Idempotency-Key made when the form was rendered, so a double click places one order).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as urlquote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from telcrm.catalog import service as catalog
from telcrm.customer import service as customers
from telcrm.kit import live
from telcrm.kit.auth import Caller
from telcrm.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from telcrm.kit.query import ListQuery
from telcrm.ordering import pricing
from telcrm.ordering import service as ordering
from telcrm.ordering.checks import NUMBER, dicts
from telcrm.ordering.policy import RELEASERS
from telcrm.web import names
from telcrm.web.deps import channel_for, check_csrf, reading, transaction, web_caller
from telcrm.web.desk import customer_view, desk_caller, sse
from telcrm.web.i18n import gettext_ as _
from telcrm.web.render import is_htmx, render

router = APIRouter(include_in_schema=False)

Doc = dict[str, Any]
DESK_LAYOUT = "desk/base.html"
HALL_LAYOUT = "hall/base.html"
NUMBERED = ("mobile", "fixed")  # network domains whose products get a service number from the pool
NUMBERS_SHOWN = 12
MAX_PARTS = 5  # most of one part a bundle form offers
CANCELLABLE = frozenset({s for s, to in ordering.CHANNEL_TRANSITIONS.items() if "cancelled" in to} | {"inProgress"})
HIDDEN_CHARS = ("networkDomain",)
CHANNEL_NAMES = {
    "hall": "营业厅 retail hall",
    "webHall": "网上营业厅 web hall",
    "callCenter": "10000号 call center",
    "dealer": "代理商 dealer",
    "accountManager": "大客户经理 account manager",
}


@dataclass(frozen=True)
class Where:
    """Which screen set a request is on: the desktop or the web hall."""

    layout: str
    form_url: str  # the order form of this customer
    orders_url: str  # prefix of the order pages
    customer_url: str  # back to the customer

    def order_url(self, order_id: str) -> str:
        return f"{self.orders_url}/{urlquote(order_id)}"


def desk_where(customer_id: str) -> Where:
    cid = urlquote(customer_id)
    return Where(DESK_LAYOUT, f"/desk/customers/{cid}/order", "/desk/orders", f"/desk/customers/{cid}")


HALL = Where(HALL_LAYOUT, "/hall/order", "/hall/orders", "/hall")


async def hall_caller(request: Request) -> Caller:
    caller = await web_caller(request)
    if caller.kind != "customer" or not caller.customer_id:
        raise Forbidden(_("The web hall is for customers; staff use the desktop."))
    return caller


def hall_customer(caller: Caller) -> str:
    return str(caller.customer_id)


# ----- the catalog as the form shows it ---------------------------------------------------------


def _sellable(doc: Doc) -> bool:
    return doc.get("lifecycleStatus") == "active" and doc.get("isSellable") is not False


async def _catalog(ctx: Any, customer_id: str) -> tuple[list[Doc], list[Doc]]:
    """Active categories and the offerings this customer may buy today: active, sellable, and
    eligible for its category and province by the rule capture applies (catalog list pages are
    cached; the customer's facts are one statement)."""
    cats, _total = await catalog.categories.list(ctx, ListQuery(offset=0, limit=200))
    offers, _total = await catalog.offerings.list(ctx, ListQuery(offset=0, limit=1000))
    categories = [c for c in cats if c.get("lifecycleStatus") == "active"]
    facts = await customers.order_facts(ctx, customer_id)
    if facts is not None:
        offers = [o for o in offers if catalog.eligible(o, facts["category"], facts["province"])[0]]
    return categories, [o for o in offers if _sellable(o)]


async def _monthly(ctx: Any, offers: list[Doc]) -> dict[str, float]:
    """Each offering's monthly charge, for the list (cached price documents)."""
    ids = sorted({str(p["id"]) for o in offers for p in dicts(o.get("productOfferingPrice")) if p.get("id")})
    prices = await catalog.documents(ctx, ids) if ids else {}
    out: dict[str, float] = {}
    for o in offers:
        for ref in dicts(o.get("productOfferingPrice")):
            price = prices.get(str(ref.get("id"))) or {}
            value = (price.get("price") or {}).get("value")
            if price.get("priceType") == "recurring" and isinstance(value, int | float):
                out[str(o["id"])] = out.get(str(o["id"]), 0.0) + value
    return out


def _in_category(offering: Doc, category: str | None) -> bool:
    return category is None or any(c.get("id") == category for c in dicts(offering.get("category")))


def _ref_id(value: Any) -> str | None:
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


@dataclass
class Part:
    """One offering on the form: the one chosen, or a part of the bundle chosen."""

    offering: Doc
    chars: list[tuple[str, list[Any], Any]]  # configurable characteristic: name, values, default
    fixed: list[tuple[str, Any]]  # characteristics the offering fixes
    domain: str | None
    low: int = 1
    high: int = 1
    default: int = 1

    @property
    def id(self) -> str:
        return str(self.offering["id"])

    @property
    def numbered(self) -> bool:
        return self.domain in NUMBERED


@dataclass
class Choice:
    offering: Doc
    parts: list[Part]  # the offering itself, or the bundle's parts

    @property
    def is_bundle(self) -> bool:
        return bool(dicts(self.offering.get("bundledProductOffering")))

    @property
    def numbered(self) -> Part | None:
        """The part that gets the service number chosen from the pool (one per order)."""
        return next((p for p in self.parts if p.numbered), None)


def _part(offering: Doc, spec: Doc | None) -> Part:
    fixed_values: dict[str, Any] = {}
    for use in dicts(offering.get("prodSpecCharValueUse")):
        values = dicts(use.get("productSpecCharacteristicValue"))
        if isinstance(use.get("name"), str) and len(values) == 1:
            fixed_values[use["name"]] = values[0].get("value")
    chars: list[tuple[str, list[Any], Any]] = []
    for char in dicts((spec or {}).get("productSpecCharacteristic")):
        name = char.get("name")
        if not isinstance(name, str) or name in HIDDEN_CHARS or name in fixed_values:
            continue
        options: list[Any] = [v.get("value") for v in dicts(char.get("productSpecCharacteristicValue"))]
        if len(options) > 1:
            default = next(
                (v.get("value") for v in dicts(char.get("productSpecCharacteristicValue")) if v.get("isDefault")),
                options[0],
            )
            chars.append((name, options, default))
    return Part(offering, chars, list(fixed_values.items()), catalog.network_domain(spec))


async def choice(ctx: Any, offering_id: str | None) -> Choice | None:
    """The offering chosen with its parts and their specifications (cached catalog documents)."""
    if not offering_id:
        return None
    offering = await catalog.offering_document(ctx, offering_id)
    if offering is None or not _sellable(offering):
        return None
    bundled = dicts(offering.get("bundledProductOffering"))
    part_ids = [str(b.get("id")) for b in bundled]
    docs = await catalog.documents(ctx, part_ids) if part_ids else {}
    offers = [docs[i] for i in part_ids if i in docs] if bundled else [offering]
    spec_ids = sorted({s for o in offers if (s := _ref_id(o.get("productSpecification"))) is not None})
    specs = await catalog.documents(ctx, spec_ids) if spec_ids else {}
    parts = []
    for o in offers:
        part = _part(o, specs.get(_ref_id(o.get("productSpecification")) or ""))
        if bundled:
            option = next((b for b in bundled if b.get("id") == o["id"]), {}).get("bundledProductOfferingOption") or {}
            low, high = option.get("numberRelOfferLowerLimit"), option.get("numberRelOfferUpperLimit")
            part.low = low if isinstance(low, int) else 0
            part.high = min(high if isinstance(high, int) else MAX_PARTS, MAX_PARTS)
            default = option.get("numberRelOfferDefault")
            part.default = default if isinstance(default, int) else part.low
        parts.append(part)
    return Choice(offering, parts)


# ----- the form as an order -------------------------------------------------------------------------


def _count(form: FormData, part: Part) -> int:
    raw = form.get(f"n.{part.id}")
    try:
        count = int(raw) if isinstance(raw, str) and raw else part.default
    except ValueError:
        count = part.default
    return max(part.low, min(part.high, count))


def _node(item_id: str, part: Part, form: FormData, number: str | None) -> Doc:
    chars: list[Doc] = []
    for name, values, default in part.chars:
        sent = form.get(f"c.{part.id}.{name}")
        value = next((v for v in values if str(v) == sent), default)
        chars.append({"name": name, "value": value})
    if number:
        chars.append({"name": NUMBER, "value": number})
    node: Doc = {
        "id": item_id,
        "action": "add",
        "quantity": 1,
        "productOffering": {"id": part.id, "name": part.offering.get("name"), "@referredType": "ProductOffering"},
    }
    if chars:
        node["product"] = {"productCharacteristic": chars}
    return node


def order_body(
    form: FormData, customer_id: str, chosen: Choice | None, *, customer_name: str | None = None, channel: str = ""
) -> Doc:
    """The TMF622 ProductOrder_Create body the form describes."""
    customer: Doc = {"id": customer_id, "role": "customer", "@referredType": "Customer"}
    if customer_name:
        customer["name"] = customer_name
    body: Doc = {"relatedParty": [customer], "productOrderItem": []}
    if channel:
        body["channel"] = [
            {
                "id": channel,
                "name": CHANNEL_NAMES.get(channel, channel),
                "role": "salesChannel",
                "@referredType": "Channel",
            }
        ]
    user = form.get("user")
    if isinstance(user, str) and user:
        body["relatedParty"].append({"id": user, "role": "user", "@referredType": "User"})
    account = form.get("billing_account")
    if isinstance(account, str) and account:
        body["billingAccount"] = {"id": account, "@referredType": "BillingAccount"}
    if chosen is None:
        return body
    number_raw = form.get("service_number")
    number = number_raw.strip() if isinstance(number_raw, str) and number_raw.strip() else None
    numbered = chosen.numbered
    if not chosen.is_bundle:
        body["productOrderItem"].append(_node("1", chosen.parts[0], form, number if numbered else None))
        return body
    root: Doc = {
        "id": "1",
        "action": "add",
        "quantity": 1,
        "productOffering": {
            "id": chosen.offering["id"],
            "name": chosen.offering.get("name"),
            "@referredType": "ProductOffering",
        },
        "productOrderItem": [],
    }
    seq = 1
    for part in chosen.parts:
        for k in range(_count(form, part)):
            seq += 1
            give = number if numbered is part and k == 0 else None
            root["productOrderItem"].append(_node(str(seq), part, form, give))
    body["productOrderItem"].append(root)
    return body


def price_view(quote: Doc) -> Doc:
    """The quote as the price area shows it: lines per item, totals."""
    lines: list[Doc] = []
    for item in quote["productOrderItem"]:
        for p in item["itemPrice"]:
            amount = p["price"]["taxIncludedAmount"]
            lines.append(
                {
                    "item": item["id"],
                    "name": p.get("name") or "",
                    "type": "discount" if p.get("priceAlteration") else p["priceType"],
                    "period": p.get("recurringChargePeriod"),
                    "value": amount["value"],
                    "unit": amount["unit"],
                    "per": (p.get("unitOfMeasure") or {}).get("units"),
                }
            )
    totals = {("recurring" if t["priceType"] == "recurring" else t["priceType"]): t for t in quote["orderTotalPrice"]}
    return {"lines": lines, "totals": totals}


def _new_key() -> str:
    return uuid.uuid4().hex


# ----- the handlers, shared by both screen sets --------------------------------------------------------


async def _form_page(
    request: Request,
    caller: Caller,
    customer_id: str,
    where: Where,
    *,
    category: str | None = None,
    offering_id: str | None = None,
    form: FormData | None = None,
    error: Any = None,
    check: Doc | None = None,
    status: int = 200,
) -> Response:
    view = await customer_view(request, caller, customer_id)  # 404 when out of the caller's scope
    async with reading(request, caller, channel_for(caller)) as ctx:
        categories, offers = await _catalog(ctx, customer_id)
        monthly = await _monthly(ctx, offers)
        chosen = await choice(ctx, offering_id)
        body = order_body(form or FormData(), customer_id, chosen)
        quote = await pricing.quote(ctx, body)
    if chosen is not None and category is None:
        category = next((c["id"] for c in dicts(chosen.offering.get("category"))), None)
    return render(
        request,
        "order/form.html",
        status=status,
        layout=where.layout,
        where=where,
        v=view,
        customer_id=customer_id,
        categories=categories,
        category=category,
        offerings=[o for o in offers if _in_category(o, category)],
        monthly=monthly,
        chosen=chosen,
        values=form or {},
        numbers=[],
        price=price_view(quote),
        check=check,
        error=error,
        idem=(form.get("idem") if form is not None else None) or _new_key(),
    )


async def _offerings_part(
    request: Request, caller: Caller, where: Where, customer_id: str, category: str | None
) -> Response:
    async with reading(request, caller, channel_for(caller)) as ctx:
        categories, offers = await _catalog(ctx, customer_id)
        monthly = await _monthly(ctx, offers)
    return render(
        request,
        "order/_catalog.html",
        where=where,
        categories=categories,
        offerings=[o for o in offers if _in_category(o, category)],
        monthly=monthly,
        chosen=None,
        category=category,
    )


async def _options_part(request: Request, caller: Caller, where: Where, customer_id: str, offering_id: str) -> Response:
    async with reading(request, caller, channel_for(caller)) as ctx:
        chosen = await choice(ctx, offering_id)
        if chosen is None:
            raise NotFound(_("This offering is not on sale."))
        quote = await pricing.quote(ctx, order_body(FormData(), customer_id, chosen))
        numbers = await _numbers(ctx, chosen, "") if chosen.numbered else []
    return render(
        request,
        "order/_options.html",
        where=where,
        chosen=chosen,
        values={},
        numbers=numbers,
        price=price_view(quote),
        oob=True,
    )


async def _numbers(ctx: Any, chosen: Choice | None, prefix: str, kind: str | None = None) -> list[Doc]:
    want = kind or (chosen.numbered.domain if chosen is not None and chosen.numbered is not None else None)
    return await ordering.orders.free_numbers(ctx, prefix, NUMBERS_SHOWN, want)


async def _numbers_part(request: Request, caller: Caller, prefix: str, kind: str | None) -> Response:
    prefix = "".join(ch for ch in prefix if ch.isdigit())[:20]
    async with reading(request, caller, channel_for(caller)) as ctx:
        numbers = await _numbers(ctx, None, prefix, kind if kind in NUMBERED else None)
    return render(request, "order/_numbers.html", numbers=numbers, values={})


async def _quote_part(request: Request, caller: Caller, customer_id: str) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    offering_id = form.get("offering")
    async with reading(request, caller, channel_for(caller)) as ctx:
        chosen = await choice(ctx, offering_id if isinstance(offering_id, str) else None)
        quote = await pricing.quote(ctx, order_body(form, customer_id, chosen))
    return render(request, "order/_price.html", price=price_view(quote))


async def _check(request: Request, caller: Caller, customer_id: str, where: Where) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    offering_id = form.get("offering") if isinstance(form.get("offering"), str) else None
    error = None
    result = None
    async with reading(request, caller, channel_for(caller)) as ctx:
        await customers.customers.get(ctx, customer_id)  # 404 out of scope
        chosen = await choice(ctx, str(offering_id) if offering_id else None)
        body = order_body(form, customer_id, chosen)
        try:
            result = await ordering.orders.check(ctx, body)
        except ValidationFailed as exc:
            error = exc
    if not is_htmx(request):
        return await _form_page(
            request, caller, customer_id, where, offering_id=str(offering_id) if offering_id else None,
            form=form, check=_check_view(result, body), error=error, status=400 if error else 200,
        )  # fmt: skip
    return render(request, "order/_check.html", check=_check_view(result, body), error=error)


def _check_view(result: Doc | None, body: Doc) -> Doc | None:
    if result is None:
        return None
    names: dict[str, str] = {}
    stack = list(dicts(body.get("productOrderItem")))
    while stack:
        node = stack.pop()
        names[str(node.get("id"))] = str((node.get("productOffering") or {}).get("name") or node.get("id"))
        stack += dicts(node.get("productOrderItem"))
    items = [{"name": names.get(i["id"], i["id"]), "problems": i["problems"]} for i in result["items"] if i["problems"]]
    return {**result, "item_problems": items, "empty": not body.get("productOrderItem")}


async def _place(request: Request, caller: Caller, customer_id: str, where: Where) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    offering_id = form.get("offering") if isinstance(form.get("offering"), str) else None
    key = form.get("idem")
    key = key[:200] if isinstance(key, str) and key else None
    try:
        if not offering_id:
            raise ValidationFailed(_("Choose an offering first."), field="offering")
        async with transaction(request, caller, channel_for(caller)) as ctx:
            customer = await customers.customers.get(ctx, customer_id)  # 404 out of scope
            chosen = await choice(ctx, str(offering_id))
            if chosen is None:
                raise ValidationFailed(_("This offering is not on sale."), field="offering")
            body = order_body(form, customer_id, chosen, customer_name=customer.get("name"), channel=ctx.channel)
            doc, _first = await ordering.orders.capture(ctx, body, key)
    except ValidationFailed as exc:
        return await _form_page(
            request, caller, customer_id, where, offering_id=str(offering_id) if offering_id else None,
            form=form, error=exc, status=400,
        )  # fmt: skip
    target = where.order_url(str(doc["id"]))
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _order(request: Request, caller: Caller, order_id: str) -> tuple[Doc, list[Doc], Doc]:
    async with reading(request, caller, channel_for(caller)) as ctx:
        doc = await ordering.orders.get(ctx, order_id)  # 404 out of scope
        await names.name_offerings(ctx, [doc])
        work = await ordering.orders.work_orders(ctx, order_id)
        quote = await pricing.quote(ctx, doc)  # at today's catalog prices
    return doc, work, price_view(quote)


def _item_key(item_id: Any) -> tuple[int, str]:
    text = str(item_id or "")
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def _customer_of(doc: Doc) -> str | None:
    return next(
        (str(p["id"]) for p in dicts(doc.get("relatedParty")) if p.get("role") == "customer" and p.get("id")), None
    )


async def _order_page(
    request: Request, caller: Caller, order_id: str, where: Where, error: Any = None, status: int = 200
) -> Response:
    doc, work, price = await _order(request, caller, order_id)
    template = "order/_body.html" if is_htmx(request) else "order/page.html"
    customer_id = _customer_of(doc)
    if where.layout == DESK_LAYOUT and customer_id:
        where = Where(
            where.layout, desk_where(customer_id).form_url, where.orders_url, desk_where(customer_id).customer_url
        )
    return render(
        request,
        template,
        status=status,
        layout=where.layout,
        where=where,
        o=doc,
        work=sorted(work, key=lambda w: (_item_key(w["productOrderItemId"]), w["sequence"] or 0)),
        customer_id=customer_id,
        cancellable=doc.get("state") in CANCELLABLE,
        releasable=doc.get("state") == "held" and bool(caller.roles & RELEASERS),
        price=price,
        error=error,
    )


async def _order_live(request: Request, caller: Caller, order_id: str) -> Response:
    async with reading(request, caller, channel_for(caller)) as ctx:
        doc = await ordering.orders.get(ctx, order_id)  # 404 when unknown or out of the caller's scope
    topics = [live.order_topic(order_id)]
    if (customer_id := _customer_of(doc)) is not None:
        topics.append(live.customer_topic(customer_id))
    return sse(request, topics)


async def _cancel(request: Request, caller: Caller, order_id: str, where: Where) -> Response:
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    reason = form.get("reason")
    async with transaction(request, caller, channel_for(caller)) as ctx:
        await ordering.orders.get(ctx, order_id)  # 404 out of scope
        data: Doc = {"productOrder": {"id": order_id, "@referredType": "ProductOrder"}}
        if isinstance(reason, str) and reason.strip():
            data["cancellationReason"] = reason.strip()[:1000]
        outcome = await ordering.cancellations.create(ctx, data)
    if outcome.get("state") != "done":
        refusal = Conflict(str(outcome.get("stateReason") or _("The order cannot be cancelled.")))
        return await _order_page(request, caller, order_id, where, error=refusal, status=409)
    if is_htmx(request):
        return await _order_page(request, caller, order_id, where)
    return RedirectResponse(where.order_url(order_id), status_code=303)


# ----- the desktop ------------------------------------------------------------------------------------------


@router.get("/desk/customers/{customer_id}/order")
async def desk_form(
    customer_id: str,
    request: Request,
    category: str | None = Query(None, max_length=100),
    offering: str | None = Query(None, max_length=100),
    caller: Caller = Depends(desk_caller),
) -> Response:
    return await _form_page(
        request, caller, customer_id, desk_where(customer_id), category=category, offering_id=offering
    )


@router.get("/desk/customers/{customer_id}/order/offerings")
async def desk_offerings(
    customer_id: str,
    request: Request,
    category: str | None = Query(None, max_length=100),
    caller: Caller = Depends(desk_caller),
) -> Response:
    return await _offerings_part(request, caller, desk_where(customer_id), customer_id, category or None)


@router.get("/desk/customers/{customer_id}/order/options")
async def desk_options(
    customer_id: str, request: Request, offering: str = Query("", max_length=100), caller: Caller = Depends(desk_caller)
) -> Response:
    return await _options_part(request, caller, desk_where(customer_id), customer_id, offering)


@router.get("/desk/customers/{customer_id}/order/numbers")
async def desk_numbers(
    customer_id: str,
    request: Request,
    number_prefix: str = Query("", max_length=20),
    kind: str | None = Query(None, max_length=20),
    caller: Caller = Depends(desk_caller),
) -> Response:
    return await _numbers_part(request, caller, number_prefix, kind)


@router.post("/desk/customers/{customer_id}/order/quote")
async def desk_quote(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    return await _quote_part(request, caller, customer_id)


@router.post("/desk/customers/{customer_id}/order/check")
async def desk_check(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    return await _check(request, caller, customer_id, desk_where(customer_id))


@router.post("/desk/customers/{customer_id}/order")
async def desk_place(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    return await _place(request, caller, customer_id, desk_where(customer_id))


DESK_ORDERS = Where(DESK_LAYOUT, "", "/desk/orders", "/desk")


@router.get("/desk/orders/{order_id}")
async def desk_order(order_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    return await _order_page(request, caller, order_id, DESK_ORDERS)


@router.post("/desk/orders/{order_id}/release")
async def desk_release(order_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    """A held order (credit) released by staff: it goes into fulfilment at once."""
    form = await request.form()
    check_csrf(request, form.get("_csrf"))
    try:
        async with transaction(request, caller, channel_for(caller)) as ctx:
            await ordering.orders.patch(ctx, order_id, {"state": "acknowledged"})
    except (Conflict, Forbidden) as refusal:
        return await _order_page(request, caller, order_id, DESK_ORDERS, error=refusal, status=refusal.status)
    if is_htmx(request):
        return await _order_page(request, caller, order_id, DESK_ORDERS)
    return RedirectResponse(DESK_ORDERS.order_url(order_id), status_code=303)


@router.get("/desk/orders/{order_id}/live")
async def desk_order_live(order_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    return await _order_live(request, caller, order_id)


@router.post("/desk/orders/{order_id}/cancel")
async def desk_cancel(order_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    return await _cancel(request, caller, order_id, DESK_ORDERS)


# ----- the web hall ------------------------------------------------------------------------------------------


@router.get("/hall/order")
async def hall_form(
    request: Request,
    category: str | None = Query(None, max_length=100),
    offering: str | None = Query(None, max_length=100),
    caller: Caller = Depends(hall_caller),
) -> Response:
    return await _form_page(request, caller, hall_customer(caller), HALL, category=category, offering_id=offering)


@router.get("/hall/order/offerings")
async def hall_offerings(
    request: Request, category: str | None = Query(None, max_length=100), caller: Caller = Depends(hall_caller)
) -> Response:
    return await _offerings_part(request, caller, HALL, hall_customer(caller), category or None)


@router.get("/hall/order/options")
async def hall_options(
    request: Request, offering: str = Query("", max_length=100), caller: Caller = Depends(hall_caller)
) -> Response:
    return await _options_part(request, caller, HALL, hall_customer(caller), offering)


@router.get("/hall/order/numbers")
async def hall_numbers(
    request: Request,
    number_prefix: str = Query("", max_length=20),
    kind: str | None = Query(None, max_length=20),
    caller: Caller = Depends(hall_caller),
) -> Response:
    return await _numbers_part(request, caller, number_prefix, kind)


@router.post("/hall/order/quote")
async def hall_quote(request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    return await _quote_part(request, caller, hall_customer(caller))


@router.post("/hall/order/check")
async def hall_check(request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    return await _check(request, caller, hall_customer(caller), HALL)


@router.post("/hall/order")
async def hall_place(request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    return await _place(request, caller, hall_customer(caller), HALL)


@router.get("/hall/orders/{order_id}")
async def hall_order(order_id: str, request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    return await _order_page(request, caller, order_id, HALL)


@router.get("/hall/orders/{order_id}/live")
async def hall_order_live(order_id: str, request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    return await _order_live(request, caller, order_id)


@router.post("/hall/orders/{order_id}/cancel")
async def hall_cancel(order_id: str, request: Request, caller: Caller = Depends(hall_caller)) -> Response:
    return await _cancel(request, caller, order_id, HALL)
