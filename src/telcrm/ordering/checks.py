"""The checks of an order at capture (ADR 8): structural ones refuse it, business ones judge it.

``structure`` raises ValidationFailed (400) for an order that is not well formed. ``judge`` never
raises for a broken business rule: it returns the problems per item and for the whole order, and
the state the order takes (``rejected``, ``held`` for credit, else ``acknowledged``). The same
function serves capture and ``POST /api/orders/check``, so both always agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from telcrm.account import service as accounts
from telcrm.catalog import service as catalog
from telcrm.customer import service as customers
from telcrm.kit import references
from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead
from telcrm.kit.errors import ValidationFailed
from telcrm.ordering import policy, repository

Doc = dict[str, Any]
ACTIONS = ("add", "modify", "delete", "noChange")
CUSTOMER_ROLES = ("customer",)
USER_ROLES = ("user",)
NUMBER = "serviceNumber"  # the item characteristic naming a number chosen from the pool (选号)


@dataclass
class Verdict:
    state: str = "acknowledged"
    problems: list[str] = field(default_factory=list)  # about the whole order
    items: dict[str, list[str]] = field(default_factory=dict)  # item id -> problems
    held: list[str] = field(default_factory=list)  # reasons to hold (credit)
    customer: Doc | None = None
    billing_account_id: str | None = None
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (item id, chosen service number)

    @property
    def valid(self) -> bool:
        return self.state != "rejected"

    def item(self, item_id: str, problem: str) -> None:
        self.items.setdefault(item_id, []).append(problem)


def dicts(value: Any) -> list[Doc]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def walk(items: list[Doc], path: str = "productOrderItem") -> list[tuple[str, Doc]]:
    out: list[tuple[str, Doc]] = []
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        out.append((here, item))
        out += walk(dicts(item.get("productOrderItem")), f"{here}.productOrderItem")
    return out


def structure(doc: Doc) -> None:
    """A malformed order: unknown action, duplicate item ids, a relationship to a missing item."""
    items = walk(dicts(doc.get("productOrderItem")))
    seen: set[str] = set()
    for path, item in items:
        if item.get("action") not in ACTIONS:
            raise ValidationFailed(f"{path}.action must be one of {', '.join(ACTIONS)}", field=f"{path}.action")
        item_id = item.get("id")
        if item_id in seen:
            raise ValidationFailed(f"item id {item_id} is used twice in the order", field=f"{path}.id")
        seen.add(str(item_id))
    for path, item in items:
        for j, rel in enumerate(dicts(item.get("productOrderItemRelationship"))):
            if rel.get("id") not in seen:
                raise ValidationFailed(
                    f"{path}.productOrderItemRelationship[{j}] names item {rel.get('id')}, which is not in the order",
                    field=f"{path}.productOrderItemRelationship[{j}].id",
                )


def _party(doc: Doc, roles: tuple[str, ...]) -> list[str]:
    return [
        str(p["id"])
        for p in dicts(doc.get("relatedParty"))
        if str(p.get("role") or "").lower() in roles and isinstance(p.get("id"), str)
    ]


def _note(verdict: Verdict, item_id: str | None, problem: str) -> None:
    if item_id is None:
        verdict.problems.append(problem)
    else:
        verdict.item(item_id, problem)


def customer_ref(doc: Doc) -> str | None:
    found = _party(doc, CUSTOMER_ROLES)
    return found[0] if found else None


def ahead(doc: Doc) -> list[Ahead]:
    """The look-ups ``judge`` starts with (the customer, the order's users and billing account),
    for the caller to read ahead with others in one round trip (kit.db.UnitOfWork.read_ahead)."""
    looks: list[Ahead | None] = []
    named = _party(doc, CUSTOMER_ROLES)
    if len(set(named)) == 1:
        looks.append(customers.order_facts_ahead(named[0]))
    looks += [references.resolve_ahead(user_id, "User") for user_id in _party(doc, USER_ROLES)]
    account_id = (doc.get("billingAccount") or {}).get("id")
    if isinstance(account_id, str) and account_id:
        looks.append(accounts.billing_account_facts_ahead(account_id))
    return [look for look in looks if look is not None]


async def judge(ctx: Context, doc: Doc, *, reserving: bool = False) -> Verdict:
    """The order's problems. ``reserving``: the caller reserves the chosen numbers next, which
    tells whether each is free (one statement per number, not two); ``number_problem`` says why not."""
    verdict = Verdict()
    customer = await _customer(ctx, doc, verdict)
    customer_id = customer["id"] if customer else None
    user = await _user(ctx, _party(doc, USER_ROLES), customer_id, verdict, None)
    await _account(ctx, (doc.get("billingAccount") or {}).get("id"), customer_id, user, verdict, None)
    for item in dicts(doc.get("productOrderItem")):
        await _item(ctx, item, customer, user, verdict)
    await _numbers(ctx, doc, verdict, reserving)
    if verdict.problems or any(verdict.items.values()):
        verdict.state = "rejected"
    elif verdict.held:
        verdict.state = "held"
    return verdict


async def _customer(ctx: Context, doc: Doc, verdict: Verdict) -> Doc | None:
    named = _party(doc, CUSTOMER_ROLES)
    if not named:
        verdict.problems.append("the order names no customer (relatedParty with role customer)")
        return None
    if len(set(named)) > 1:
        verdict.problems.append("the order names more than one customer")
        return None
    customer = await customers.order_facts(ctx, named[0])
    if customer is None:
        verdict.problems.append(f"customer {named[0]} is not known here")
        return None
    verdict.customer = customer
    if customer["status"] != "active":
        verdict.problems.append(f"customer {customer['id']} is {customer['status']}; only active customers order")
    return customer


async def _user(
    ctx: Context, named: list[str], customer_id: str | None, verdict: Verdict, item_id: str | None
) -> references.Resolved | None:
    found = None
    for user_id in named:
        found = await references.resolve(ctx, user_id, "User")
        problem = None
        if found is None or found.kind != "User":
            problem = f"user {user_id} is not known here"
        elif customer_id is not None and found.customer_id != customer_id:
            problem = f"user {user_id} does not belong to customer {customer_id}"
        if problem is not None:
            _note(verdict, item_id, problem)
            found = None
    return found


async def _account(
    ctx: Context,
    account_id: Any,
    customer_id: str | None,
    user: references.Resolved | None,
    verdict: Verdict,
    item_id: str | None,
) -> None:
    if not isinstance(account_id, str) or not account_id:
        return
    account = await accounts.billing_account_facts(ctx, account_id)
    problem = None
    if account is None:
        problem = f"billing account {account_id} is not known here"
    elif customer_id is not None and account["customer_id"] != customer_id:
        group_paid = account["account_type"] == "groupPaid"
        if not (group_paid and user is not None and user.customer_id == account["customer_id"]):
            problem = (
                f"billing account {account_id} belongs to another customer and is not the group-paid "
                "account of the user's group"
            )
    if problem is not None:
        _note(verdict, item_id, problem)
        return
    assert account is not None
    if item_id is None:
        verdict.billing_account_id = account["id"]
    reason = policy.credit_rule(account["body"])
    if reason is not None and reason not in verdict.held:
        verdict.held.append(reason)


async def _item(
    ctx: Context, item: Doc, customer: Doc | None, user: references.Resolved | None, verdict: Verdict
) -> None:
    item_id = str(item.get("id"))
    verdict.items.setdefault(item_id, [])
    customer_id = customer["id"] if customer else None
    product = item.get("product") if isinstance(item.get("product"), dict) else None
    action = item.get("action")
    offering_ref = item.get("productOffering")
    if action == "add":
        if not isinstance(offering_ref, dict) and product is None:
            verdict.item(item_id, "an add item names neither a productOffering nor a product: nothing to add")
        if isinstance(offering_ref, dict):
            await _offering(ctx, item, offering_ref, customer, verdict)
    elif action in ("modify", "delete"):
        product_id = product.get("id") if product else None
        if not isinstance(product_id, str):
            verdict.item(item_id, f"a {action} item names the product it changes (product.id)")
        else:
            found = await references.resolve(ctx, product_id, "Product")
            if found is None or found.kind != "Product":
                verdict.item(item_id, f"product {product_id} is not known here")
            elif customer_id is not None and found.customer_id != customer_id:
                verdict.item(item_id, f"product {product_id} is not a product of customer {customer_id}")
    if product is not None:
        item_user = await _user(ctx, _party(product, USER_ROLES), customer_id, verdict, item_id)
        user = item_user or user
    await _account(ctx, (item.get("billingAccount") or {}).get("id"), customer_id, user, verdict, item_id)


async def _offering(ctx: Context, item: Doc, ref: Doc, customer: Doc | None, verdict: Verdict) -> None:
    item_id = str(item.get("id"))
    offering_id = ref.get("id")
    offering = await catalog.offering_document(ctx, offering_id) if isinstance(offering_id, str) else None
    if offering is None:
        verdict.item(item_id, f"product offering {offering_id} is not in the catalog")
        return
    if customer is not None:
        ok, reason = catalog.eligible(offering, customer["category"], customer["province"])
        if not ok:
            verdict.item(item_id, reason)
    bundled = dicts(offering.get("bundledProductOffering"))
    if not bundled:
        return
    chosen = Counter(
        str((child.get("productOffering") or {}).get("id"))
        for child in dicts(item.get("productOrderItem"))
        if isinstance(child.get("productOffering"), dict)
    )
    allowed = {str(b.get("id")) for b in bundled}
    for other in sorted(set(chosen) - allowed):
        verdict.item(item_id, f"offering {other} is not part of bundle {offering_id}")
    for option in bundled:
        limits = option.get("bundledProductOfferingOption") or {}
        low, high = limits.get("numberRelOfferLowerLimit"), limits.get("numberRelOfferUpperLimit")
        count = chosen.get(str(option.get("id")), 0)
        name = option.get("name") or option.get("id")
        if isinstance(low, int) and count < low:
            verdict.item(item_id, f"bundle {offering_id} needs at least {low} of {name}, the order has {count}")
        if isinstance(high, int) and count > high:
            verdict.item(item_id, f"bundle {offering_id} allows at most {high} of {name}, the order has {count}")


def chosen_number(item: Doc) -> str | None:
    product = item.get("product")
    if item.get("action") not in ("add", "modify") or not isinstance(product, dict):
        return None
    for char in dicts(product.get("productCharacteristic")):
        if char.get("name") == NUMBER and isinstance(char.get("value"), str):
            return str(char["value"]).strip()
    return None


def chosen_numbers(doc: Doc) -> list[tuple[str, str, bool]]:
    """The numbers the order's items choose, in the order of the items: (item id, number, whether
    an earlier item chose that number already)."""
    seen: set[str] = set()
    out: list[tuple[str, str, bool]] = []
    for _, item in walk(dicts(doc.get("productOrderItem"))):
        number = chosen_number(item)
        if number is not None:
            out.append((str(item.get("id")), number, number in seen))
            seen.add(number)
    return out


async def _numbers(ctx: Context, doc: Doc, verdict: Verdict, reserving: bool) -> None:
    for item_id, number, again in chosen_numbers(doc):
        if again:
            verdict.item(item_id, f"number {number} is chosen twice in the order")
            continue
        problem = None if reserving else await number_problem(ctx, number)
        if problem is not None:
            verdict.item(item_id, problem)
        else:
            verdict.numbers.append((item_id, number))


async def number_problem(ctx: Context, number: str) -> str | None:
    """Why ``number`` cannot be chosen now, or None when it is free."""
    status = await repository.number_status(ctx, number)
    if status is None:
        return f"number {number} is not in the number pool"
    return None if status == "free" else f"number {number} is already {status}"
