"""TMF622 product orders: capture, check, lifecycle (ADR 6, ADR 8).

Capture is one transaction: the structural checks refuse a malformed order (400); the business
checks (ordering.checks) judge a well-formed one, which is stored either way, as ``acknowledged``,
``held`` (credit) or ``rejected``, with one order ``note`` per problem so every channel sees why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead
from telcrm.kit.documents import DocumentService, deferred_writes
from telcrm.kit.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed, WrongReference
from telcrm.kit.query import ListQuery
from telcrm.models import CancelProductOrder, ProductOrder
from telcrm.ordering import checks, fulfilment, policy, pricing, repository
from telcrm.ordering.checks import Verdict
from telcrm.party.service import new_scope
from telcrm.search import service as search
from telcrm.search.keys import fold

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
ROW = "ordering.row"  # the order row last written, for the steps that follow in the same transaction
# a capture's order id, the numbers it tried to reserve with its first look-ups and those it got
EARLY = "ordering.reserved_ahead"
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


def order_search_keys(doc: Doc) -> list[tuple[str, str, int]]:
    """An order's id and the channel's externalId find its customer."""
    keys = [("id", fold(str(doc["id"])).upper(), 0)]
    external = doc.get("externalId")
    if isinstance(external, str) and fold(external):
        keys.append(("id", fold(external).upper(), 0))
    return keys


def work_order_document(wo: repository.WorkOrderRow) -> Doc:
    """A work order as the channels see it (telcrm's own shape: TMF622 has no work orders)."""

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value is not None else None

    return {
        "id": wo.id,
        "productOrderItemId": wo.item_id,
        "domain": wo.domain,
        "task": wo.task,
        "action": wo.action,
        "sequence": wo.seq,
        "state": wo.status,
        "attempt": wo.attempt,
        "reason": wo.reason,
        "result": wo.result,
        "createdAt": stamp(wo.created_at),
        "sentAt": stamp(wo.sent_at),
        "finishedAt": stamp(wo.finished_at),
    }


def _external(data: Doc) -> tuple[str, str] | None:
    """(customer id, externalId) of an order that names both: a capture with these again is a retry."""
    external, customer_id = data.get("externalId"), checks.customer_ref(data)
    return (customer_id, external) if isinstance(external, str) and external and customer_id is not None else None


class OrderService(DocumentService[ProductOrder]):
    api = API
    type_name = "ProductOrder"
    event_key = "productOrder"
    audit_type = "ProductOrder"
    state_attr = "state"
    events = frozenset({"Create", "AttributeValueChange", "StateChange", "Delete"})
    # an order that passes its checks goes into fulfilment in the capture transaction: its row is
    # written once, already inProgress (its Create event still shows it acknowledged)
    defer_insert = True
    direct_writes = True

    async def authorize(self, ctx: Context, action: str, row: ProductOrder | None, doc: Doc | None) -> None:
        policy.check(ctx, action)

    async def held(self, ctx: Context, limit: int) -> tuple[list[Doc], int]:
        """Orders on hold (credit) in the caller's scope, oldest first: the staff's queue to settle."""
        await self.authorize(ctx, "list", None, None)
        rows, total = await self.store.list(ctx, ListQuery(limit=limit), extra=[ProductOrder.held_at.is_not(None)])
        return [r.body for r in rows], total

    async def free_numbers(
        self, ctx: Context, prefix: str, limit: int, kind: str | None = None
    ) -> list[dict[str, str]]:
        """选号: free numbers starting with ``prefix`` (of one ``kind``: mobile, fixed), for the channels to offer."""
        await self.authorize(ctx, "create", None, None)
        return await repository.free_numbers(ctx, prefix, limit, kind)

    async def check(self, ctx: Context, data: Doc) -> Doc:
        """Run the capture checks without storing anything, and price the order (ordering.pricing):
        ``itemPrice`` lists each priced item's prices, ``orderTotalPrice`` the totals."""
        await self.authorize(ctx, "create", None, data)
        checks.structure(data)
        result = report(await checks.judge(ctx, data))
        priced = await pricing.quote(ctx, data)
        result["itemPrice"] = priced["productOrderItem"]
        result["orderTotalPrice"] = priced["orderTotalPrice"]
        return result

    async def capture(self, ctx: Context, data: Doc, idempotency_key: str | None) -> tuple[Doc, bool]:
        """Create the order, or return the first one with the same key / externalId (created False)."""
        await self.authorize(ctx, "create", None, data)
        checks.structure(data)
        # retries racing each other with one key wait here for the first, then find its order (the
        # unique indexes back this: a race they settle is a 409, never a second order). The lock,
        # the look-ups for an earlier order and those the checks start with go in one round trip,
        # in this order: each look-up still sees what was committed before it ran, after the lock.
        # The chosen numbers are reserved in that round trip too, last, for the order's id taken
        # now: most orders go into fulfilment, which keeps them (a held or rejected one is settled
        # by ``_reserve``; a retry gives back what it got).
        keys = self._keys(ctx, data, idempotency_key)
        looks = [repository.serialize_ahead(keys), *self._existing_ahead(ctx, data, idempotency_key)]
        order_id = self.new_id()
        tried = [(item_id, number) for item_id, number, again in checks.chosen_numbers(data) if not again]
        reserving = [repository.reserve_number_ahead(number, order_id, item_id) for item_id, number in tried]
        await ctx.uow.read_ahead([look for look in looks if look is not None] + checks.ahead(data) + reserving)
        got = {pair for pair, look in zip(tried, reserving, strict=True) if ctx.uow.ahead.pop(look, None)}
        await repository.serialize(ctx, keys)
        existing = await self._existing(ctx, data, idempotency_key)
        if existing is not None:
            if got:
                await repository.release_numbers(ctx, order_id)
            return existing.body, False
        ctx.extra[KEY] = idempotency_key
        ctx.extra[EARLY] = (order_id, set(tried), got)
        # the order, its work orders and what else it makes are written at commit, in one round
        # trip with the search keys, audit, events and COMMIT (nothing reads them back before)
        with deferred_writes(ctx):
            await self.create(ctx, data)
            row: ProductOrder = ctx.extra.pop(ROW)
            if row.state == "acknowledged":
                await fulfilment.start(self, ctx, row)
            else:
                await self.write(ctx, row)
        return row.body, True

    async def patch(self, ctx: Context, id_: str, patch: Doc, check: Any = None) -> Doc:
        await super().patch(ctx, id_, patch, check)
        row: ProductOrder = ctx.extra.pop(ROW)
        if row.state == "acknowledged":  # e.g. a held order released: fulfilment starts
            await fulfilment.start(self, ctx, row, released=True)
        return row.body

    async def _store(self, ctx: Context, row: Any, doc: Doc, columns: Doc) -> None:
        """``held_at`` follows ``state``: since when the order is held, NULL when it is not (the held
        queue's index names it, so that other state changes leave every index alone)."""
        if "state" in columns:
            held = columns["state"] == "held"
            columns = {**columns, "held_at": (row.held_at or datetime.now(UTC)) if held else None}
        await super()._store(ctx, row, doc, columns)

    async def rewrite(self, ctx: Context, row: ProductOrder, doc: Doc, columns: Doc) -> Doc:
        """Fulfilment's own steps keep to the TMF622 lifecycle too."""
        new = doc.get("state")
        if new != row.state and new not in TRANSITIONS.get(row.state, set()):
            raise InvalidTransition(f"an order cannot go from {row.state} to {new}", field="state")
        return await super().rewrite(ctx, row, doc, columns)

    async def apply_results(
        self, ctx: Context, results: list[Doc], *, skip_locked: bool = False
    ) -> tuple[int, int, list[Doc]]:
        """Provisioning reports work orders done or failed (ADR 9); (accepted, ignored, later):
        ``later`` are the results ``skip_locked`` left for another transaction."""
        policy.check_provisioning(ctx)
        return await fulfilment.apply_results(self, ctx, results, skip_locked=skip_locked)

    async def work_orders(self, ctx: Context, order_id: str) -> list[Doc]:
        """The work orders of an order the caller may see, for the channels to follow progress."""
        await self.get(ctx, order_id)
        return [work_order_document(w) for w in await repository.work_orders(ctx, [order_id])]

    @staticmethod
    def _keys(ctx: Context, data: Doc, key: str | None) -> list[str]:
        """What makes a capture a retry of an earlier one: its Idempotency-Key, its externalId."""
        keys = [f"key:{ctx.caller.id}:{key}"] if key is not None else []
        external = _external(data)
        if external is not None:
            keys.append(f"external:{external[0]}:{external[1]}")
        return keys

    @staticmethod
    def _existing_ahead(ctx: Context, data: Doc, key: str | None) -> list[Ahead]:
        """The first look-ups ``_existing`` makes."""
        looks = [repository.by_idempotency_key_ahead(ctx.caller.id, key)] if key is not None else []
        external = _external(data)
        if external is not None:
            looks.append(repository.by_external_id_ahead(*external))
        return looks

    async def _existing(self, ctx: Context, data: Doc, key: str | None) -> ProductOrder | None:
        if key is not None:
            found = await repository.by_idempotency_key(ctx, ctx.caller.id, key)
            if found is not None:
                return found
        external = _external(data)
        return None if external is None else await repository.by_external_id(ctx, *external)

    async def prepare(self, ctx: Context, doc: Doc, row: ProductOrder | None) -> Doc:
        if row is not None:
            external = doc.get("externalId")
            if isinstance(external, str) and external != row.external_id and row.customer_id is not None:
                taken = await repository.by_external_id(ctx, row.customer_id, external[:200])
                if taken is not None and taken.id != row.id:
                    raise Conflict(f"order {taken.id} of this customer has externalId {external}", field="externalId")
            return self._prepare_change(doc, row)
        verdict = await checks.judge(ctx, doc, reserving=True)
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
            "held_at": datetime.now(UTC) if verdict.state == "held" else None,
        }
        if customer is not None:
            columns.update(
                customer_id=customer["id"], dealer_id=customer["dealer_id"], manager_id=customer["manager_id"]
            )
        else:
            columns.update(new_scope(ctx.caller))
        return columns

    async def _allocate_id(self, ctx: Context) -> str:
        early = ctx.extra.get(EARLY)
        return early[0] if early is not None else self.new_id()

    async def _reserve(self, ctx: Context, order_id: str, verdict: Verdict) -> None:
        """Reserve the chosen numbers in the capture transaction; one not free rejects the item (the
        order's other problems are still all reported: numbers are checked even if it is rejected).
        Numbers the capture reserved with its first look-ups (``capture``) are not reserved again."""
        # an order that goes into fulfilment at once holds its numbers until it ends (no expiry)
        hold = None if verdict.state == "acknowledged" else NUMBER_HOLD
        early = ctx.extra.pop(EARLY, None)
        tried, got = (early[1], early[2]) if early is not None and early[0] == order_id else (set(), set())
        for item_id, number in verdict.numbers:
            pair = (item_id, number)
            if pair in got:
                continue  # free, and this order's since the first look-ups
            if verdict.state == "rejected":
                problem = await checks.number_problem(ctx, number)
            elif pair not in tried and await repository.reserve_number(ctx, number, order_id, item_id, hold):
                continue
            else:  # not free when the first look-ups tried it, or now
                problem = await checks.number_problem(ctx, number) or f"number {number} was just taken"
            if problem is not None:
                verdict.item(item_id, problem)
                verdict.state = "rejected"
        if verdict.state == "rejected":
            await repository.release_numbers(ctx, order_id)
            return
        unchosen = got - set(verdict.numbers)  # (none: the checks choose the numbers the capture read)
        if unchosen:
            await repository.release_numbers(ctx, order_id, [item for item, _ in unchosen])
        if got and hold is not None:
            await repository.keep_numbers(ctx, order_id, datetime.now(UTC) + hold)

    async def after_write(self, ctx: Context, row: ProductOrder, before: Doc | None) -> None:
        ctx.extra[ROW] = row
        if before is not None and row.state in RELEASING:
            await repository.release_numbers(ctx, row.id)
        if before is None or before.get("externalId") != row.body.get("externalId"):
            await search.index(ctx, row.id, row.customer_id, order_search_keys(row.body), fresh=before is None)

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
            for _, node in checks.walk(checks.dicts(doc.get("productOrderItem"))):
                node["state"] = "cancelled"
        if state in ("completed", "failed", "partial") and row.state != state:
            doc.setdefault("completionDate", _now())
        external = doc.get("externalId")
        return {"state": state, "external_id": str(external)[:200] if isinstance(external, str) else None}

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: Doc) -> None:
        if new not in STATES:
            raise ValidationFailed(f"state must be one of {', '.join(STATES)}", field="state")
        # fulfilment moves orders through the rest of the lifecycle (ADR 9); by hand, only these
        if new not in CHANNEL_TRANSITIONS.get(old, set()):
            raise InvalidTransition(f"an order cannot go from {old} to {new}", field="state")
        if old == "held" and new == "acknowledged":
            policy.check_release(ctx)

    async def before_delete(self, ctx: Context, row: ProductOrder) -> None:
        if row.state in NOT_DELETABLE:
            raise InvalidTransition(f"a {row.state} order cannot be deleted; cancel it first", field="state")
        await repository.release_numbers(ctx, row.id)


orders = OrderService(repository.orders)


class CancelOrderService(DocumentService[CancelProductOrder]):
    """TMF622 cancelProductOrder: the request is decided when it is made (``done`` or
    ``terminatedWithError`` with the reason in ``stateReason``, a telcrm extension)."""

    api = API
    type_name = "CancelProductOrder"
    event_key = "cancelProductOrder"
    audit_type = "CancelProductOrder"
    state_attr = "state"
    events = frozenset({"Create", "StateChange"})

    async def authorize(self, ctx: Context, action: str, row: CancelProductOrder | None, doc: Doc | None) -> None:
        if action in ("update", "delete"):
            raise Forbidden("a cancellation request is not changed or deleted once made")
        policy.check(ctx, "create" if action == "create" else action)

    async def prepare(self, ctx: Context, doc: Doc, row: CancelProductOrder | None) -> Doc:
        ref = doc.get("productOrder")
        order_id = ref.get("id") if isinstance(ref, dict) else None
        if not isinstance(order_id, str) or not order_id:
            raise ValidationFailed("productOrder.id names the order to cancel", field="productOrder.id")
        found = await repository.lock_orders(ctx, [order_id])
        if not found:
            raise WrongReference(f"product order {order_id} not found", field="productOrder.id")
        order = found[0]
        reason = doc.get("cancellationReason")
        refused = await fulfilment.cancel(orders, ctx, order, reason if isinstance(reason, str) else None)
        doc["productOrder"] = {
            **(ref if isinstance(ref, dict) else {}),
            "id": order.id,
            "@referredType": "ProductOrder",
        }
        if refused is None:
            doc["state"] = "done"
            doc["effectiveCancellationDate"] = _now()
        else:
            doc["state"] = "terminatedWithError"
            doc["stateReason"] = refused
        return {
            "state": doc["state"],
            "order_id": order.id,
            "customer_id": order.customer_id,
            "dealer_id": order.dealer_id,
            "manager_id": order.manager_id,
        }


cancellations = CancelOrderService(repository.cancellations)
