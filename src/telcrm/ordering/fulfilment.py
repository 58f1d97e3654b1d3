"""Order fulfilment (派单, ADR 9): work orders per network domain, results, products, billing start.

An order that passes its checks is decomposed at once, in the capture transaction: every item
becomes work orders for the provisioning system of its network domain (the specification's
``networkDomain``), in sequence within the item. Work orders are rows written in that
transaction and sent by ``telcrm.worker.provisioning`` after commit, so none is lost or sent for
an order that was not stored. Provisioning reports each result back; a temporary failure sends
the work order again (up to ``work_order_max_attempts``), a final one fails the top-level item.

A top-level item (a bundle with its components counts as one) ends either ``completed``, with
its product instances created or changed in the same transaction as the last result, or
``failed``/``cancelled`` with nothing made and its reserved numbers released. When every item has
ended, the order is ``completed``, ``failed`` or ``partial``. Every writer locks the order row
before its work orders, so concurrent results for one order are applied one after the other.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from telcrm.catalog import service as catalog
from telcrm.inventory import service as inventory
from telcrm.kit import references
from telcrm.kit.auth import SYSTEM_CALLER, Context
from telcrm.kit.db import UnitOfWork, json_copy
from telcrm.kit.documents import deferred_writes
from telcrm.kit.errors import DomainError
from telcrm.kit.ids import new_id
from telcrm.kit.outbox import withdraw_signal, work_order_signal
from telcrm.kit.settings import get_settings
from telcrm.models import ProductOrder
from telcrm.ordering import repository
from telcrm.ordering.checks import NUMBER, dicts, walk
from telcrm.ordering.repository import WorkOrderRow

Doc = dict[str, Any]

# The work each network domain does for a new product, in order (派单).
ADD_TASKS: dict[str, tuple[str, ...]] = {
    "broadband": ("port", "appointment", "activation"),
    "mobile": ("number", "sim"),
    "fixed": ("switch",),
    "voip": ("switch",),
    "iptv": ("activation",),
    "leased": ("design", "installation", "activation"),
    "vas": ("feature",),
}
GENERIC = "generic"  # a specification that names no network domain
ITEM_DONE = ("completed", "failed", "cancelled", "rejected")
OPEN_WORK = ("waiting", "pending", "sent")
UNDO = "undo"  # the action of a work order that undoes a completed one of a failed item
NOTE_TYPE = "FulfilmentNote"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(when: datetime | None = None) -> str:
    return (when or _now()).isoformat().replace("+00:00", "Z")


def _system(ctx: Context) -> Context:
    """Fulfilment acts as telcrm itself, in the caller's transaction."""
    return Context(uow=ctx.uow, caller=SYSTEM_CALLER, channel="fulfilment", extra=ctx.extra)


def _subtree(item: Doc) -> list[Doc]:
    return [node for _, node in walk([item])]


def _characteristics(item: Doc) -> dict[str, Any]:
    product = item.get("product") if isinstance(item.get("product"), dict) else {}
    return {
        str(c["name"]): c.get("value")
        for c in dicts((product or {}).get("productCharacteristic"))
        if isinstance(c.get("name"), str)
    }


def _action(item: Doc) -> str:
    """add, modify, delete, noChange; a modify that suspends or resumes says so."""
    action = str(item.get("action"))
    status = ((item.get("product") or {}) if isinstance(item.get("product"), dict) else {}).get("status")
    if action == "modify" and status == "suspended":
        return "suspend"
    if action == "modify" and status == "active":
        return "resume"
    return action


def add_tasks(domain: str) -> tuple[str, ...]:
    """The work orders a new product of ``domain`` gets, in order (a domain not listed: activation)."""
    return ADD_TASKS.get(domain, ("activation",))


def _tasks(action: str, domain: str) -> tuple[str, ...]:
    if action == "noChange":
        return ()
    if action == "add":
        return add_tasks(domain)
    return {"modify": ("change",), "delete": ("cease",), "suspend": ("suspend",), "resume": ("resume",)}[action]


async def _catalog_facts(ctx: Context, doc: Doc) -> tuple[dict[str, Doc], dict[str, Doc], dict[str, Doc]]:
    """Offerings, specifications and products the order's items refer to (a few queries in all)."""
    nodes = walk(dicts(doc.get("productOrderItem")))
    product_ids = [
        str(node["product"]["id"])
        for _, node in nodes
        if isinstance(node.get("product"), dict) and isinstance(node["product"].get("id"), str)
    ]
    products = await inventory.product_documents(ctx, product_ids)
    offering_ids = [
        str(node["productOffering"]["id"])
        for _, node in nodes
        if isinstance(node.get("productOffering"), dict) and isinstance(node["productOffering"].get("id"), str)
    ]
    offering_ids += [str(p["productOffering"]["id"]) for p in products.values() if _ref_id(p.get("productOffering"))]
    offerings = await catalog.documents(ctx, offering_ids)
    spec_ids = [
        str(o["productSpecification"]["id"]) for o in offerings.values() if _ref_id(o.get("productSpecification"))
    ]
    specs = await catalog.documents(ctx, spec_ids)
    return offerings, specs, products


def _ref(id_: Any, name: Any, kind: str) -> Doc:
    """A TMF EntityRef."""
    return {"id": id_, "name": name, "@referredType": kind}


def _ref_id(ref: Any) -> str | None:
    return str(ref["id"]) if isinstance(ref, dict) and isinstance(ref.get("id"), str) else None


def _domain(node: Doc, offerings: dict[str, Doc], specs: dict[str, Doc], products: dict[str, Doc]) -> str:
    offering_id = _ref_id(node.get("productOffering"))
    if offering_id is None:
        product = products.get(_ref_id(node.get("product")) or "")
        offering_id = _ref_id((product or {}).get("productOffering"))
    offering = offerings.get(offering_id or "")
    spec = specs.get(_ref_id((offering or {}).get("productSpecification")) or "")
    return catalog.network_domain(spec) or GENERIC


async def start(orders: Any, ctx: Context, row: ProductOrder, *, released: bool = False) -> None:
    """An acknowledged order goes into fulfilment: work orders written, order ``inProgress``.
    ``released``: it was held, so its numbers were reserved with an expiry, now lifted."""
    doc = json_copy(row.body)
    offerings, specs, products = await _catalog_facts(ctx, doc)
    now = _now()
    work: list[Doc] = []
    for root in dicts(doc.get("productOrderItem")):
        for node in _subtree(root):
            children = dicts(node.get("productOrderItem"))
            action = _action(node)
            node["state"] = "inProgress"
            if children and action == "add":
                continue  # a bundle is provisioned through its components
            domain = _domain(node, offerings, specs, products)
            payload = {
                "orderId": row.id,
                "orderItemId": str(node.get("id")),
                "domain": domain,
                "action": action,
                "customerId": row.customer_id,
                "productOffering": node.get("productOffering")
                or (products.get(_ref_id(node.get("product")) or "") or {}).get("productOffering"),
                "characteristics": _characteristics(node),
            }
            if _ref_id(node.get("product")):
                payload["product"] = {"id": _ref_id(node.get("product"))}
            for seq, task in enumerate(_tasks(action, domain)):
                work.append(
                    {
                        "id": new_id(),
                        "order_id": row.id,
                        "item_id": str(node.get("id")),
                        "root_item_id": str(root.get("id")),
                        "domain": domain,
                        "task": task,
                        "action": action,
                        "seq": seq,
                        "status": "pending" if seq == 0 else "waiting",
                        "attempt": 1,
                        "send_attempts": 0,
                        "next_attempt_at": now,
                        "payload": {**payload, "task": task},
                    }
                )
    doc["state"] = "inProgress"
    # first the order (at capture its first write: ordering.service defers the INSERT), then what refers to it
    await orders.rewrite(ctx, row, doc, {"state": "inProgress"})
    await repository.insert_work_orders(ctx, work)
    if released:
        await repository.keep_numbers(ctx, row.id)
    if work:
        ctx.uow.after_commit(work_order_signal.notify)
    else:
        await advance(orders, ctx, row, [])


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(2 ** (attempt - 1), 60))


async def apply_results(
    orders: Any, ctx: Context, results: list[Doc], *, skip_locked: bool = False
) -> tuple[int, int, list[Doc]]:
    """Provisioning's reports. Returns (accepted, ignored, later): a result for a work order that
    is not waiting for it (unknown, already answered, an older attempt, cancelled) changes nothing.
    With ``skip_locked``, results for orders another transaction holds are not waited for but
    returned as ``later``, for a transaction of their own once this one has committed: a batch
    then never waits for another while holding the locks of all its own orders (ADR 10)."""
    owners = await repository.orders_of_work_orders(ctx, [str(r["id"]) for r in results])
    order_ids = sorted(set(owners.values()))
    rows = await repository.lock_orders(ctx, order_ids, skip_locked=skip_locked)
    later: list[Doc] = []
    if skip_locked and len(rows) < len(order_ids):
        got = {row.id for row in rows}
        held = {wo_id for wo_id, order_id in owners.items() if order_id not in got}
        later = [r for r in results if str(r["id"]) in held]
        results = [r for r in results if str(r["id"]) not in held]
    work = await repository.work_orders(ctx, [r.id for r in rows], lock=True)
    by_id = {w.id: w for w in work}
    max_attempts = get_settings().work_order_max_attempts
    accepted = ignored = 0
    touched: set[str] = set()
    resend = False
    now = _now()
    for result in results:
        wo = by_id.get(str(result["id"]))
        if wo is None or wo.status not in ("pending", "sent") or wo.attempt != result["attempt"]:
            ignored += 1
            continue
        accepted += 1
        touched.add(wo.order_id)
        if result["status"] == "completed":
            wo.status, wo.result, wo.reason, wo.finished_at = "completed", result.get("resource") or {}, None, now
        elif result.get("retryable") and wo.attempt < max_attempts:
            wo.reason = f"attempt {wo.attempt}: {result.get('reason') or 'failed'}"
            wo.attempt += 1
            wo.status, wo.send_attempts, wo.next_attempt_at = "pending", 0, now + backoff(wo.attempt)
            resend = True
        else:
            wo.status, wo.finished_at = "failed", now
            wo.reason = str(result.get("reason") or "provisioning failed")[:1000]
    by_order: dict[str, list[WorkOrderRow]] = defaultdict(list)
    for wo in work:
        by_order[wo.order_id].append(wo)
    # the customers, users, accounts and products these orders name, read once for the whole batch
    await references.prefetch(ctx, {i for row in rows if row.id in touched for i in _named(row.body)})
    for row in rows:
        if row.id in touched:
            await advance(orders, ctx, row, by_order[row.id])
            # an order's steps are CPU without a wait (their writes go at commit), a batch's tens
            # of milliseconds: the process's other requests (captures) run between its orders,
            # not after the whole batch (capture p99 at 200/s: 153-225 ms before, 66-129 ms after; ADR 10)
            await asyncio.sleep(0)
    if resend:
        ctx.uow.after_commit(work_order_signal.notify)
    return accepted, ignored, later


def _named(node: Any) -> set[Any]:
    """The ids of the parties, accounts and products an order document refers to."""
    found: set[Any] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "relatedParty" and isinstance(value, list):
                found.update(r.get("id") for r in value if isinstance(r, dict))
            elif key in ("billingAccount", "product") and isinstance(value, dict):
                found.add(value.get("id"))
            found |= _named(value)
    elif isinstance(node, list):
        for value in node:
            found |= _named(value)
    return found


async def advance(orders: Any, ctx: Context, row: ProductOrder, work: list[WorkOrderRow]) -> None:
    """Move an in-progress order on after its work orders changed: next tasks, items, order."""
    doc = json_copy(row.body)
    now = _now()
    released = False
    by_item: dict[str, list[WorkOrderRow]] = defaultdict(list)
    by_root: dict[str, list[WorkOrderRow]] = defaultdict(list)
    for wo in sorted(work, key=lambda w: (w.item_id, w.seq)):
        by_item[wo.item_id].append(wo)
        by_root[wo.root_item_id].append(wo)
    for chain in by_item.values():
        for before, after in itertools.pairwise(chain):
            # an undo goes on after the one before it ended either way: undoing is best effort
            ended = ("completed", "failed") if after.action == UNDO else ("completed",)
            if before.status in ended and after.status == "waiting":
                after.status, after.next_attempt_at = "pending", now
                released = True
    roots = dicts(doc.get("productOrderItem"))
    for root in roots:
        if root.get("state") in ITEM_DONE:
            continue
        mine = by_root.get(str(root.get("id")), [])
        failed = [w for w in mine if w.status == "failed"]
        if failed:
            reason = "; ".join(f"{w.domain}/{w.task}: {w.reason}" for w in failed)
            await _end_item(ctx, row, doc, root, mine, "failed", reason)
        elif all(w.status == "completed" for w in mine):
            await _complete_item(orders, ctx, row, doc, root, mine)
        else:
            for node in _subtree(root):
                steps = by_item.get(str(node.get("id")), [])
                if steps and all(w.status == "completed" for w in steps):
                    node["state"] = "completed"
    states = [root.get("state") for root in roots]
    if row.state == "inProgress" and all(state in ITEM_DONE for state in states):
        if all(state == "completed" for state in states):
            doc["state"] = "completed"
        elif any(state == "completed" for state in states):
            doc["state"] = "partial"
        else:
            doc["state"] = "failed"
        doc["completionDate"] = _stamp(now)
    if doc != row.body:
        with deferred_writes(ctx):  # with the batch's other orders, at commit
            await orders.rewrite(ctx, row, doc, {"state": doc["state"]})
    if released:
        ctx.uow.after_commit(work_order_signal.notify)


def withdraw(ctx: Context, work: list[WorkOrderRow], reason: str | None = None) -> None:
    """Open work orders stop. One provisioning already has (sent) is ``withdrawing`` until the
    sender has told provisioning to drop it; the others are cancelled at once."""
    now = _now()
    told = False
    for wo in work:
        if wo.status not in OPEN_WORK:
            continue
        if wo.status == "sent":
            wo.status, wo.next_attempt_at, wo.send_attempts = "withdrawing", now, 0
            told = True
        else:
            wo.status = "cancelled"
        wo.finished_at = now
        if reason is not None:
            wo.reason = reason
    if told:
        ctx.uow.after_commit(withdraw_signal.notify)
        ctx.uow.after_commit(work_order_signal.notify)


async def _end_item(
    ctx: Context, row: ProductOrder, doc: Doc, root: Doc, work: list[WorkOrderRow], state: str, reason: str
) -> None:
    """The item ends without products: its other work orders stop, what provisioning already did
    for it is undone (a failed bundle leaves no activated parts behind), its numbers go back."""
    withdraw(ctx, work)
    nodes = _subtree(root)
    for node in nodes:
        node["state"] = state
    await repository.release_numbers(ctx, row.id, [str(n.get("id")) for n in nodes])
    undo = await _undo(ctx, work) if state == "failed" else 0
    if undo:
        reason = f"{reason}; {undo} completed work order(s) are being undone"
    note = {
        "id": f"fulfilment-{len(dicts(doc.get('note'))) + 1}",
        "author": "telcrm",
        "date": _stamp(),
        "text": f"item {root.get('id')} {state}: {reason}"[:2000],
        "@type": NOTE_TYPE,
        "@baseType": "Note",
        "productOrderItemId": str(root.get("id")),
    }
    doc["note"] = [*dicts(doc.get("note")), note]


UNDO_SEQ = 100  # undo work orders come after an item's own tasks, in reverse order


async def _undo(ctx: Context, work: list[WorkOrderRow]) -> int:
    """Compensating work orders for what provisioning completed, per item in reverse order
    (activation is undone before the port is released); returns how many."""
    now = _now()
    rows: list[Doc] = []
    by_item: dict[str, list[WorkOrderRow]] = defaultdict(list)
    for wo in work:
        if wo.status == "completed" and wo.action != UNDO:
            by_item[wo.item_id].append(wo)
    for steps in by_item.values():
        for n, wo in enumerate(sorted(steps, key=lambda w: w.seq, reverse=True)):
            task = f"undo-{wo.task}"[:30]
            undoes = {"workOrderId": wo.id, "task": wo.task, "result": wo.result or {}}
            rows.append(
                {
                    "id": new_id(),
                    "order_id": wo.order_id,
                    "item_id": wo.item_id,
                    "root_item_id": wo.root_item_id,
                    "domain": wo.domain,
                    "task": task,
                    "action": UNDO,
                    "seq": UNDO_SEQ + n,
                    "status": "pending" if n == 0 else "waiting",
                    "attempt": 1,
                    "send_attempts": 0,
                    "next_attempt_at": now,
                    "payload": {**wo.payload, "task": task, "action": UNDO, "undoes": undoes},
                }
            )
    if rows:
        await repository.insert_work_orders(ctx, rows)
        ctx.uow.after_commit(work_order_signal.notify)
    return len(rows)


async def _complete_item(
    orders: Any, ctx: Context, row: ProductOrder, doc: Doc, root: Doc, work: list[WorkOrderRow]
) -> None:
    """All work of the item is done: create or change its products, in a savepoint."""
    system = _system(ctx)
    try:
        if _action(root) == "add" and not dicts(root.get("productOrderItem")):
            # one new product: the inventory's checks all come before its first write, so a refusal
            # leaves nothing to undo and the savepoint (three statements and a flush) is not needed;
            # it is written at commit with the batch's other new products
            with deferred_writes(ctx):
                await _realise(system, row, doc, root, work)
        else:
            # a bundle's parent product is checked against its components, read from the database
            async with ctx.uow.savepoint():
                with deferred_writes(ctx, on=False):
                    await _realise(system, row, doc, root, work)
    except DomainError as exc:
        await _end_item(ctx, row, doc, root, work, "failed", f"the product could not be recorded: {exc.message}")
        return
    nodes = _subtree(root)
    for node in nodes:
        node["state"] = "completed"
    await repository.take_numbers(ctx, row.id, [str(n.get("id")) for n in nodes])


async def _realise(ctx: Context, row: ProductOrder, doc: Doc, root: Doc, work: list[WorkOrderRow]) -> None:
    offerings, _specs, products = await _catalog_facts(ctx, {"productOrderItem": [root]})
    price_ids = [
        str(p["id"])
        for o in offerings.values()
        for p in dicts(o.get("productOfferingPrice"))
        if isinstance(p.get("id"), str)
    ]
    prices = await catalog.documents(ctx, price_ids)
    resources: dict[str, Doc] = defaultdict(dict)
    for wo in work:
        resources[wo.item_id].update(wo.result or {})
    await _realise_node(ctx, row, doc, root, (offerings, prices, products), resources)


async def _realise_node(
    ctx: Context,
    row: ProductOrder,
    doc: Doc,
    node: Doc,
    facts: tuple[dict[str, Doc], dict[str, Doc], dict[str, Doc]],
    resources: dict[str, Doc],
) -> str | None:
    offerings, prices, products = facts
    action = _action(node)
    children = [
        await _realise_node(ctx, row, doc, child, facts, resources) for child in dicts(node.get("productOrderItem"))
    ]
    product_id = _ref_id(node.get("product"))
    if action == "add":
        body = _new_product(row, doc, node, offerings, prices, resources.get(str(node.get("id")), {}))
        if children:
            body["isBundle"] = True
            body["productRelationship"] = [
                {"relationshipType": "bundled", "product": {"id": c, "@referredType": "Product"}} for c in children if c
            ]
        created = await inventory.products.create(ctx, body)
        product_id = str(created["id"])
    elif action in ("modify", "suspend", "resume") and product_id:
        await inventory.products.patch(ctx, product_id, _change(node, products.get(product_id) or {}))
    elif action == "delete" and product_id:
        await inventory.products.patch(ctx, product_id, {"status": "terminated"})
    if product_id:
        node["product"] = {**(node.get("product") or {}), "id": product_id, "@referredType": "Product"}
    return product_id


def _price(price: Doc) -> Doc:
    out: Doc = {
        "priceType": price.get("priceType"),
        "productOfferingPrice": _ref(price["id"], price.get("name"), "ProductOfferingPrice"),
    }
    if price.get("priceType") == "recurring":
        out["recurringChargePeriod"] = price.get("recurringChargePeriodType") or "month"
    amount = price.get("price") if isinstance(price.get("price"), dict) else None
    if amount is not None and "value" in amount:
        out["price"] = {"taxIncludedAmount": {"unit": amount.get("unit") or "CNY", "value": amount["value"]}}
    if isinstance(price.get("percentage"), int | float):
        out.setdefault("price", {})["percentage"] = price["percentage"]
    return out


def _new_product(
    row: ProductOrder,
    doc: Doc,
    node: Doc,
    offerings: dict[str, Doc],
    prices: dict[str, Doc],
    resource: Doc,
) -> Doc:
    """The product instance an ``add`` item makes, under the order's customer, account and user."""
    offering = offerings.get(_ref_id(node.get("productOffering")) or "") or {}
    item_product = node.get("product") if isinstance(node.get("product"), dict) else {}
    chars = dict(_characteristics(node))
    for use in dicts(offering.get("prodSpecCharValueUse")):
        values = dicts(use.get("productSpecCharacteristicValue"))
        if isinstance(use.get("name"), str) and len(values) == 1:
            chars.setdefault(use["name"], values[0].get("value"))
    for key, value in resource.items():
        if isinstance(value, str | int | float) and key not in chars:
            chars[key] = value
    related: list[Doc] = [{"id": row.customer_id, "role": "customer", "@referredType": "Customer"}]
    users = [
        p
        for p in dicts((item_product or {}).get("relatedParty")) + dicts(doc.get("relatedParty"))
        if str(p.get("role") or "").lower() == "user" and isinstance(p.get("id"), str)
    ]
    if users:
        related.append({"id": users[0]["id"], "role": "user", "@referredType": "User"})
    account = _ref_id(node.get("billingAccount")) or _ref_id(doc.get("billingAccount"))
    body: Doc = {
        "name": offering.get("name") or (node.get("productOffering") or {}).get("name") or "product",
        "status": "active",
        "isBundle": False,
        "isCustomerVisible": True,
        "orderDate": doc.get("orderDate"),
        "productOffering": _ref(offering.get("id"), offering.get("name"), "ProductOffering"),
        "productCharacteristic": [
            {"name": k, "valueType": "number" if isinstance(v, int | float) else "string", "value": v}
            for k, v in chars.items()
        ],
        "productPrice": [
            _price(prices[p["id"]]) for p in dicts(offering.get("productOfferingPrice")) if p.get("id") in prices
        ],
        "relatedParty": related,
        "productOrderItem": [
            {
                "productOrderId": row.id,
                "orderItemId": str(node.get("id")),
                "orderItemAction": "add",
                "@referredType": "ProductOrderItem",
            }
        ],
    }
    spec = offering.get("productSpecification")
    if isinstance(spec, dict) and spec.get("id"):
        body["productSpecification"] = _ref(spec["id"], spec.get("name"), "ProductSpecification")
    if account:
        body["billingAccount"] = {"id": account, "@referredType": "BillingAccount"}
    serial = resource.get("iccid")
    if isinstance(serial, str):
        body["productSerialNumber"] = serial
    if not body["productOffering"]["id"]:
        body.pop("productOffering")
    return body


def _change(node: Doc, current: Doc) -> Doc:
    """The merge patch a modify item makes to its product: characteristics changed by name (e.g. a
    bandwidth change), status (suspend, resume), offering (a plan change)."""
    item_product = node.get("product") if isinstance(node.get("product"), dict) else {}
    patch: Doc = {}
    changes = {
        str(c["name"]): c
        for c in dicts((item_product or {}).get("productCharacteristic"))
        if isinstance(c.get("name"), str) and c.get("name") != NUMBER
    }
    if changes:
        chars = [changes.pop(str(c.get("name")), c) for c in dicts(current.get("productCharacteristic"))]
        patch["productCharacteristic"] = chars + list(changes.values())
    if (item_product or {}).get("status") in ("suspended", "active"):
        patch["status"] = item_product["status"]  # type: ignore[index]
    offering = node.get("productOffering")
    if isinstance(offering, dict) and offering.get("id"):
        patch["productOffering"] = _ref(offering["id"], offering.get("name"), "ProductOffering")
    return patch


CANCELLABLE_AT_ONCE = ("acknowledged", "held", "pending")


async def cancel(orders: Any, ctx: Context, row: ProductOrder, reason: str | None) -> str | None:
    """Cancel an order the caller has locked. Returns None when cancelled, else why it cannot be.

    An order not yet in fulfilment is cancelled at once. One in progress is cancelled only while
    none of its work has been done (TMF622: assessingCancellation → pendingCancellation →
    cancelled); its open work orders are withdrawn and late results for them are ignored.
    """
    doc = json_copy(row.body)
    if row.state == "inProgress":
        work = await repository.work_orders(ctx, [row.id], lock=True)
        done = sorted({w.root_item_id for w in work if w.status == "completed"})
        if done:
            return f"work for item(s) {', '.join(done)} is already done; order their termination instead"
        for step in ("assessingCancellation", "pendingCancellation"):
            doc["state"] = step
            doc = json_copy(await orders.rewrite(ctx, row, doc, {"state": step}))
        withdraw(ctx, work, "order cancelled")
    elif row.state not in CANCELLABLE_AT_ONCE:
        return f"a {row.state} order cannot be cancelled"
    doc["state"] = "cancelled"
    doc["cancellationDate"] = _stamp()
    if reason:
        doc["cancellationReason"] = reason[:1000]
    for _, node in walk(dicts(doc.get("productOrderItem"))):
        if node.get("state") not in ITEM_DONE:
            node["state"] = "cancelled"
    await orders.rewrite(ctx, row, doc, {"state": "cancelled"})
    return None


async def expire_reservations(orders: Any, ctx: Context, limit: int = 100) -> int:
    """Orders still waiting (held, pending) when their number reservation lapses are cancelled."""
    ids = await repository.expired_reservations(ctx, _now(), limit)
    for row in await repository.lock_orders(ctx, ids):
        if row.state in CANCELLABLE_AT_ONCE:
            await cancel(orders, ctx, row, "the reserved number was held too long: reservation expired")
        elif row.state == "inProgress":
            await repository.keep_numbers(ctx, row.id)
        else:
            await repository.release_numbers(ctx, row.id)
    return len(ids)


async def claim_due(ctx: Context, limit: int, status: str = "pending") -> list[WorkOrderRow]:
    """Work orders to send now (or, with ``status="withdrawing"``, to withdraw), locked for the
    caller's transaction (others' are skipped)."""
    return await repository.claim_due_work_orders(ctx, _now(), limit, status)


async def tidy_queue(uow: UnitOfWork) -> None:
    """Clear the queue of open work orders of the dead row versions its churn leaves (an
    autocommit unit of work: ``Database.read_only``)."""
    await repository.vacuum_queue(uow)


async def resend_unanswered(ctx: Context, older_than: timedelta) -> int:
    return await repository.resend_unanswered(ctx, _now() - older_than)
