"""TMF622 product orders: capture, check, lifecycle (ADR 6, ADR 8).

Capture is one transaction: the structural checks refuse a malformed order (400); the business
checks (ordering.checks) judge a well-formed one, which is stored either way, as ``acknowledged``,
``held`` (credit) or ``rejected``, with one order ``note`` per problem so every channel sees why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentService
from telcrm.kit.errors import Conflict, InvalidTransition, ValidationFailed
from telcrm.models import ProductOrder
from telcrm.ordering import checks, policy, repository
from telcrm.ordering.checks import Verdict
from telcrm.party.service import new_scope

Doc = dict[str, Any]
API = "productOrdering"
STATES = (
    "acknowledged",
    "rejected",
    "pending",
    "held",
    "inProgress",
    "cancelled",
    "completed",
    "failed",
    "partial",
    "assessingCancellation",
    "pendingCancellation",
)
# The TMF622 v4 order lifecycle.
TRANSITIONS: dict[str, set[str]] = {
    "acknowledged": {"rejected", "pending", "held", "inProgress", "cancelled"},
    "pending": {"acknowledged", "held", "inProgress", "cancelled"},
    "held": {"acknowledged", "pending", "inProgress", "cancelled"},
    "inProgress": {"pending", "held", "completed", "failed", "partial", "assessingCancellation"},
    "assessingCancellation": {"inProgress", "pendingCancellation"},
    "pendingCancellation": {"cancelled"},
    "rejected": set(),
    "cancelled": set(),
    "completed": set(),
    "failed": set(),
    "partial": set(),
}
# What the channels (not the fulfilment side) may do: release a held order, cancel one not started.
CHANNEL_TRANSITIONS: dict[str, set[str]] = {
    "held": {"acknowledged", "cancelled"},
    "acknowledged": {"cancelled"},
    "pending": {"cancelled"},
}
# Fixed at capture: changing them would bypass the checks (cancel and order again instead).
FIXED = ("productOrderItem", "relatedParty", "billingAccount")
NOT_DELETABLE = ("pending", "inProgress", "assessingCancellation", "pendingCancellation")
NOTE_TYPE = "OrderCheckNote"
KEY = "ordering.idempotency_key"
# A chosen number stays reserved for the order this long (fulfilment takes it; ADR 6).
NUMBER_HOLD = timedelta(days=7)
# States in which an order gives its reserved numbers back.
RELEASING = ("rejected", "cancelled", "failed")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def notes(verdict: Verdict) -> list[Doc]:
    """One TMF Note per problem, typed so that clients can tell them from their own notes."""
    when = _now()
    out: list[Doc] = []

    def add(text: str, item_id: str | None, kind: str) -> None:
        note: Doc = {
            "id": f"check-{len(out) + 1}",
            "author": "telcrm",
            "date": when,
            "text": text,
            "@type": NOTE_TYPE,
            "@baseType": "Note",
            "checkOutcome": kind,
        }
        if item_id is not None:
            note["productOrderItemId"] = item_id
        out.append(note)

    for problem in verdict.problems:
        add(f"order: {problem}", None, "rejected")
    for item_id, problems in verdict.items.items():
        for problem in problems:
            add(f"item {item_id}: {problem}", item_id, "rejected")
    if verdict.state == "held":
        for reason in verdict.held:
            add(f"held: {reason}", None, "held")
    return out


def report(verdict: Verdict) -> Doc:
    """The answer of ``POST /api/orders/check``."""
    return {
        "valid": verdict.valid,
        "state": verdict.state,
        "problems": verdict.problems,
        "held": verdict.held,
        "items": [{"id": item_id, "problems": problems} for item_id, problems in verdict.items.items()],
    }


class OrderService(DocumentService[ProductOrder]):
    api = API
    type_name = "ProductOrder"
    event_key = "productOrder"
    audit_type = "ProductOrder"
    state_attr = "state"
    events = frozenset({"Create", "AttributeValueChange", "StateChange", "Delete"})

    async def authorize(self, ctx: Context, action: str, row: ProductOrder | None, doc: Doc | None) -> None:
        policy.check(ctx, action)

    async def free_numbers(self, ctx: Context, prefix: str, limit: int) -> list[dict[str, str]]:
        """选号: free numbers starting with ``prefix``, for the channels to offer."""
        await self.authorize(ctx, "create", None, None)
        return await repository.free_numbers(ctx, prefix, limit)

    async def check(self, ctx: Context, data: Doc) -> Doc:
        """Run the capture checks without storing anything."""
        await self.authorize(ctx, "create", None, data)
        checks.structure(data)
        return report(await checks.judge(ctx, data))

    async def capture(self, ctx: Context, data: Doc, idempotency_key: str | None) -> tuple[Doc, bool]:
        """Create the order, or return the first one with the same key / externalId (created False)."""
        await self.authorize(ctx, "create", None, data)
        checks.structure(data)
        existing = await self._existing(ctx, data, idempotency_key)
        if existing is not None:
            return existing.body, False
        ctx.extra[KEY] = idempotency_key
        try:
            async with ctx.uow.session.begin_nested():
                doc = await self.create(ctx, data)
        except IntegrityError:
            # lost a race on the unique index: the winner's order is the answer
            existing = await self._existing(ctx, data, idempotency_key)
            if existing is None:
                raise
            return existing.body, False
        return doc, True

    async def _existing(self, ctx: Context, data: Doc, key: str | None) -> ProductOrder | None:
        if key is not None:
            found = await repository.by_idempotency_key(ctx, ctx.caller.id, key)
            if found is not None:
                return found
        external, customer_id = data.get("externalId"), checks.customer_ref(data)
        if isinstance(external, str) and external and customer_id is not None:
            return await repository.by_external_id(ctx, customer_id, external)
        return None

    async def prepare(self, ctx: Context, doc: Doc, row: ProductOrder | None) -> Doc:
        if row is not None:
            return self._prepare_change(doc, row)
        verdict = await checks.judge(ctx, doc)
        await self._reserve(ctx, doc["id"], verdict)
        doc["state"] = verdict.state
        doc["orderDate"] = _now()
        found = notes(verdict)
        if found:
            doc["note"] = [n for n in doc.get("note") or [] if isinstance(n, dict)] + found
        customer = verdict.customer
        columns: Doc = {
            "state": verdict.state,
            "billing_account_id": verdict.billing_account_id,
            "external_id": str(doc["externalId"])[:200] if isinstance(doc.get("externalId"), str) else None,
            "created_by": ctx.caller.id,
            "idempotency_key": ctx.extra.get(KEY),
        }
        if customer is not None:
            columns.update(
                customer_id=customer["id"], dealer_id=customer["dealer_id"], manager_id=customer["manager_id"]
            )
        else:
            columns.update(new_scope(ctx.caller))
        return columns

    async def _reserve(self, ctx: Context, order_id: str, verdict: Verdict) -> None:
        """Reserve the chosen numbers in the capture transaction; one already gone rejects the item."""
        if verdict.state == "rejected":
            return
        for item_id, number in verdict.numbers:
            if not await repository.reserve_number(ctx, number, order_id, NUMBER_HOLD):
                verdict.item(item_id, f"number {number} was just taken by another order")
                verdict.state = "rejected"
        if verdict.state == "rejected":
            await repository.release_numbers(ctx, order_id)

    async def after_write(self, ctx: Context, row: ProductOrder, before: Doc | None) -> None:
        if before is not None and row.state in RELEASING:
            await repository.release_numbers(ctx, row.id)

    def _prepare_change(self, doc: Doc, row: ProductOrder) -> Doc:
        for attr in FIXED:
            if doc.get(attr) != row.body.get(attr):
                raise Conflict(
                    f"{attr} is fixed when the order is captured; cancel the order and place a new one", field=attr
                )
        state = doc.get("state")
        if state not in STATES:
            raise ValidationFailed(f"state must be one of {', '.join(STATES)}", field="state")
        if state == "cancelled" and row.state != "cancelled":
            doc.setdefault("cancellationDate", _now())
        if state in ("completed", "failed", "partial") and row.state != state:
            doc.setdefault("completionDate", _now())
        external = doc.get("externalId")
        return {"state": state, "external_id": str(external)[:200] if isinstance(external, str) else None}

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: Doc) -> None:
        if new not in STATES:
            raise ValidationFailed(f"state must be one of {', '.join(STATES)}", field="state")
        table = TRANSITIONS if policy.may_fulfil(ctx) else CHANNEL_TRANSITIONS
        if new not in table.get(old, set()):
            raise InvalidTransition(f"an order cannot go from {old} to {new}", field="state")

    async def before_delete(self, ctx: Context, row: ProductOrder) -> None:
        if row.state in NOT_DELETABLE:
            raise InvalidTransition(f"a {row.state} order cannot be deleted; cancel it first", field="state")
        await repository.release_numbers(ctx, row.id)


orders = OrderService(repository.orders)
