"""The data steward's operations: review decisions, single merges, unmerges, lineage (ADR 11).

These go through the other domains' services (``rewrite`` for rows moved between customers,
``create`` for a customer split off), so they are audited and emit the TMF events as any other
change; the bulk merge (``telcrm.resolution.merge``) is for whole runs.
"""

from __future__ import annotations

import copy
from typing import Any

from telcrm.account import service as accounts
from telcrm.customer import service as customers
from telcrm.inventory import service as inventory
from telcrm.kit.auth import Context
from telcrm.kit.errors import Conflict, NotFound, ValidationFailed
from telcrm.kit.outbox import emit
from telcrm.party import service as parties
from telcrm.resolution import golden as docs
from telcrm.resolution import policy, repository
from telcrm.resolution.merge import MERGE_EVENT
from telcrm.resolution.policy import DEFAULT_SOURCE_RANKING
from telcrm.resolution.survivorship import golden

UNMERGE_EVENT = "CustomerUnmergeEvent"


async def reviews(ctx: Context, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    policy.check_read(ctx)
    return await repository.open_reviews(ctx, offset, limit)


async def report(ctx: Context) -> dict[str, Any]:
    policy.check_read(ctx)
    return await repository.report(ctx)


async def lineage(ctx: Context, customer_id: str) -> dict[str, Any]:
    policy.check_read(ctx)
    await customers.customers.store.get(ctx, customer_id, label="Customer")  # scope: 404 if out of reach
    row = await repository.golden(ctx, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} was not made from legacy records", field="id")
    records = await repository.records_of(ctx, customer_id)
    return {
        "customerId": customer_id,
        "partyId": row.party_id,
        "kind": row.kind,
        "attributes": row.lineage,
        "records": [
            {
                "key": r.key,
                "source": r.source,
                "productId": r.product_id,
                "original": r.raw,
                "updatedAt": r.updated_at.isoformat() if r.updated_at else None,
            }
            for r in records
        ],
        "history": await repository.history(ctx, customer_id),
    }


async def decide(ctx: Context, review_id: str, same: bool) -> dict[str, Any]:
    """Record the steward's decision on a review pair and act on it at once."""
    policy.check_steward(ctx)
    number = int(review_id) if review_id.isascii() and review_id.isdigit() and len(review_id) <= 18 else 0
    review = await repository.review_for_update(ctx, number) if number > 0 else None
    if review is None:
        raise NotFound(f"review {review_id} not found", field="id")
    if review.status != "open":
        raise Conflict(f"review {review_id} is already decided ({review.status})", field="id")
    await repository.record_decision(ctx, review, same)
    records = await repository.records_by_key(ctx, {review.left_key, review.right_key})
    left, right = records.get(review.left_key), records.get(review.right_key)
    outcome: dict[str, Any] = {"id": str(review.id), "status": review.status, "action": "recorded"}
    if left is None or right is None:
        return outcome
    if same and left.customer_id and right.customer_id and left.customer_id != right.customer_id:
        keep, absorb = sorted((left.customer_id, right.customer_id))
        await merge_customers(ctx, keep, absorb)
        outcome.update(action="merged", customerId=keep, mergedCustomerId=absorb)
    elif not same and left.customer_id and left.customer_id == right.customer_id:
        new_id = await split_off(ctx, left.customer_id, [right.key])
        outcome.update(action="split", customerId=left.customer_id, newCustomerId=new_id)
    elif left.customer_id is None or right.customer_id is None:
        outcome["action"] = "recorded; the next match and merge apply it"
    return outcome


# ----- moving rows between customers ---------------------------------------------------------
def _repoint(
    doc: dict[str, Any], old: str, new: str, *, account: str | None = None, user: str | None = None
) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for related in doc.get("relatedParty") or []:
        if related.get("id") == old:
            related["id"] = new
        elif user is not None and str(related.get("role", "")).lower() == "user":
            related["id"] = user
    if isinstance(doc.get("customer"), dict) and doc["customer"].get("id") == old:
        doc["customer"]["id"] = new
    if account is not None and isinstance(doc.get("billingAccount"), dict):
        doc["billingAccount"]["id"] = account
    return doc


async def _move(
    ctx: Context,
    ids: dict[str, list[str]],
    old: str,
    new: str,
    *,
    account: str | None = None,
    user: str | None = None,
) -> None:
    """Move accounts, users and products from customer ``old`` to ``new`` (audited, with events)."""
    target = await customers.customers.store.get(ctx, new, label="Customer")
    scope = {"customer_id": new, "dealer_id": target.dealer_id, "manager_id": target.manager_id}
    for aid in ids.get("accounts", []):
        account_row = await accounts.billing_accounts.store.get(ctx, aid, for_update=True, label="BillingAccount")
        await accounts.billing_accounts.rewrite(
            ctx, account_row, _repoint(account_row.body, old, new), {**scope, "owner_customer_id": new}
        )
    for uid in ids.get("users", []):
        user_row = await customers.users.store.get(ctx, uid, for_update=True, label="User")
        doc = _repoint(user_row.body, old, new, account=account)
        columns: dict[str, Any] = dict(scope)
        if account is not None:
            columns["billing_account_id"] = account
        await customers.users.rewrite(ctx, user_row, doc, columns)
    for pid in ids.get("products", []):
        row = await inventory.products.store.get(ctx, pid, for_update=True, label="Product")
        doc = _repoint(row.body, old, new, account=account, user=user)
        columns = dict(scope)
        if account is not None:
            columns["billing_account_id"] = account
        if user is not None:
            columns["user_id"] = user
        await inventory.products.rewrite(ctx, row, doc, columns)


def _party_service(kind: str) -> Any:
    return parties.organizations if kind == "Organization" else parties.individuals


async def _rewrite_party(ctx: Context, party_id: str, doc: dict[str, Any]) -> None:
    svc = _party_service(doc.get("@type", "Individual"))
    row = await svc.store.get(ctx, party_id, for_update=True, label=doc.get("@type", "Party"))
    doc = {**doc, "id": party_id}
    await svc.rewrite(ctx, row, doc, {"name": parties.display_name(doc)[:400], "status": doc.get("status")})


async def _regold(ctx: Context, customer_id: str, party_id: str, account_id: str | None, user_id: str | None) -> None:
    """Survivorship again over the customer's records; its party and golden record follow."""
    rows = await repository.records_of(ctx, customer_id)
    g = golden([repository.as_record(r) for r in rows], DEFAULT_SOURCE_RANKING)
    party = docs.party_document(g)
    await _rewrite_party(ctx, party_id, party)
    await repository.save_golden(
        ctx,
        customer_id=customer_id,
        party_id=party_id,
        account_id=account_id,
        user_id=user_id,
        kind=g.kind,
        record_keys=g.record_keys,
        lineage=g.lineage,
    )


async def _set_customer(ctx: Context, customer_id: str, doc: dict[str, Any]) -> None:
    row = await customers.customers.store.get(ctx, customer_id, for_update=True, label="Customer")
    await customers.customers.rewrite(ctx, row, doc, {"status": doc["status"], "name": doc["name"][:400]})


# ----- merge ---------------------------------------------------------------------------------
async def merge_customers(ctx: Context, keep: str, absorb: str) -> int:
    """Merge customer ``absorb`` into ``keep``: its accounts, users and products move, it is closed."""
    policy.check_steward(ctx)
    if keep == absorb:
        raise ValidationFailed("a customer cannot be merged into itself", field="id")
    kept = await customers.customers.store.get(ctx, keep, for_update=True, label="Customer")
    gone = await customers.customers.store.get(ctx, absorb, for_update=True, label="Customer")
    if gone.status == "terminated":
        raise Conflict(f"customer {absorb} is terminated", field="id")
    g_keep = await repository.golden(ctx, keep, for_update=True)
    g_gone = await repository.golden(ctx, absorb, for_update=True)
    if g_keep is None or g_gone is None:
        raise ValidationFailed("only customers made from legacy records are merged here", field="id")
    keep_party = await repository_party(ctx, kept.party_id)
    moved = await repository.owned(ctx, absorb)
    moved_keys = [r.key for r in await repository.records_of(ctx, absorb)]
    snapshot = {
        "keep": {"customer": kept.body, "party": keep_party, "golden": _golden_dict(g_keep)},
        "absorbed": {"customer": gone.body, "golden": _golden_dict(g_gone), "owned": moved, "records": moved_keys},
    }
    await _move(ctx, moved, absorb, keep)
    await repository.relink_records(ctx, moved_keys, keep)
    await repository.drop_golden(ctx, absorb)
    closed = {**gone.body, "status": "terminated", "statusReason": f"merged into customer {keep} (客户归并)"}
    await _set_customer(ctx, absorb, closed)
    kept_doc = copy.deepcopy(kept.body)
    kept_doc["account"] = (kept_doc.get("account") or []) + [
        a for a in gone.body.get("account") or [] if a.get("id") in moved["accounts"]
    ]
    await _set_customer(ctx, keep, kept_doc)
    await _regold(ctx, keep, g_keep.party_id, g_keep.account_id, g_keep.user_id)
    event_id = await repository.add_merge_event(
        ctx, action="merge", customer_id=keep, other_customer_id=absorb, record_keys=moved_keys, snapshot=snapshot
    )
    await emit(
        ctx,
        api="customer",
        event_type=MERGE_EVENT,
        resource_type="customer",
        resource=kept_doc,
        customer_id=keep,
        extra={"mergedCustomer": absorb, "mergedRecords": moved_keys},
    )
    return event_id


async def repository_party(ctx: Context, party_id: str | None) -> dict[str, Any] | None:
    if party_id is None:
        return None
    for svc in (parties.individuals, parties.organizations):
        row = await svc.store.find(ctx, party_id)
        if row is not None:
            return dict(row.body)
    return None


def _golden_dict(g: Any) -> dict[str, Any]:
    return {
        "party_id": g.party_id,
        "account_id": g.account_id,
        "user_id": g.user_id,
        "kind": g.kind,
        "record_keys": list(g.record_keys),
        "lineage": g.lineage,
    }


# ----- unmerge -------------------------------------------------------------------------------
async def unmerge(ctx: Context, customer_id: str, keys: list[str]) -> dict[str, Any]:
    """Split ``keys`` off ``customer_id``: a steward merge is undone to the two customers it joined;
    records merged in bulk get a customer of their own with their products."""
    policy.check_steward(ctx)
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise ValidationFailed("recordKeys lists the legacy record keys to split off", field="recordKeys")
    await customers.customers.store.get(ctx, customer_id, for_update=True, label="Customer")
    held = {r.key for r in await repository.records_of(ctx, customer_id)}
    if not held:
        raise ValidationFailed(f"customer {customer_id} was not made from legacy records", field="id")
    foreign = [k for k in keys if k not in held]
    if foreign:
        raise ValidationFailed(
            f"records {', '.join(foreign[:5])} are not merged into customer {customer_id}", field="recordKeys"
        )
    if set(keys) >= held:
        raise ValidationFailed("at least one record must stay with the customer", field="recordKeys")
    last = await repository.last_merge(ctx, customer_id)
    if last is not None and set(last.record_keys) == set(keys):
        restored = await _undo_merge(ctx, last)
        return {"customerId": customer_id, "restoredCustomerId": restored, "action": "merge undone"}
    new_id = await split_off(ctx, customer_id, keys)
    return {"customerId": customer_id, "newCustomerId": new_id, "action": "split"}


async def _undo_merge(ctx: Context, event: Any) -> str:
    snap = event.snapshot
    keep, absorb = event.customer_id, event.other_customer_id
    absorbed = snap["absorbed"]
    await _set_customer(ctx, absorb, absorbed["customer"])
    await _move(ctx, absorbed["owned"], keep, absorb)
    await repository.relink_records(ctx, absorbed["records"], absorb)
    await repository.save_golden(ctx, customer_id=absorb, **absorbed["golden"])
    kept = snap["keep"]
    await _set_customer(ctx, keep, kept["customer"])
    if kept.get("party"):
        await _rewrite_party(ctx, kept["golden"]["party_id"], kept["party"])
    await repository.save_golden(ctx, customer_id=keep, **kept["golden"])
    await repository.mark_undone(ctx, event.id)
    await repository.add_merge_event(
        ctx,
        action="unmerge",
        customer_id=keep,
        other_customer_id=absorb,
        record_keys=absorbed["records"],
        snapshot={"undoes": event.id},
    )
    await emit(
        ctx,
        api="customer",
        event_type=UNMERGE_EVENT,
        resource_type="customer",
        resource=kept["customer"],
        customer_id=keep,
        extra={"restoredCustomer": absorb, "records": absorbed["records"]},
    )
    return str(absorb)


async def split_off(ctx: Context, customer_id: str, keys: list[str]) -> str:
    """A new customer (party, account, user) for ``keys``, taking the products only they back."""
    g_row = await repository.golden(ctx, customer_id, for_update=True)
    if g_row is None:
        raise ValidationFailed(f"customer {customer_id} was not made from legacy records", field="id")
    rows = await repository.records_of(ctx, customer_id)
    leaving = [r for r in rows if r.key in set(keys)]
    staying = [r for r in rows if r.key not in set(keys)]
    g = golden([repository.as_record(r) for r in leaving], DEFAULT_SOURCE_RANKING)
    party_doc = docs.party_document(g)
    party = await _party_service(party_doc["@type"]).create(ctx, party_doc)
    name = parties.display_name(party)
    customer = await customers.customers.create(
        ctx,
        {
            "name": name,
            "engagedParty": {"id": party["id"], "name": name, "@referredType": party["@type"]},
            "characteristic": [
                {"name": "customerCategory", "value": "group" if party["@type"] == "Organization" else "individual"},
                {"name": "acquisitionChannel", "value": docs.MIGRATION_CHANNEL},
            ],
        },
    )
    cid = customer["id"]
    account = await accounts.billing_accounts.create(
        ctx, {k: v for k, v in docs.account_document("", cid, name).items() if k != "id"}
    )
    user_doc = {
        k: v
        for k, v in docs.user_document("", cid, name, party["id"], account["id"], g).items()
        if k not in ("id", "customer")
    }
    user = await customers.users.create_for(ctx, cid, user_doc)
    # products backed only by leaving records go with them
    staying_products = {r.product_id for r in staying if r.product_id}
    products = sorted({r.product_id for r in leaving if r.product_id and r.product_id not in staying_products})
    await _move(ctx, {"products": products}, customer_id, cid, account=account["id"], user=user["id"])
    await repository.relink_records(ctx, [r.key for r in leaving], cid)
    await repository.save_golden(
        ctx,
        customer_id=cid,
        party_id=party["id"],
        account_id=account["id"],
        user_id=user["id"],
        kind=g.kind,
        record_keys=g.record_keys,
        lineage=g.lineage,
    )
    await _set_customer(ctx, cid, {**customer, "account": [{"id": account["id"], "name": account["name"]}]})
    await _regold(ctx, customer_id, g_row.party_id, g_row.account_id, g_row.user_id)
    keys_sorted = sorted(keys)
    await repository.add_merge_event(
        ctx,
        action="unmerge",
        customer_id=customer_id,
        other_customer_id=cid,
        record_keys=keys_sorted,
        snapshot={"products": products},
    )
    await emit(
        ctx,
        api="customer",
        event_type=UNMERGE_EVENT,
        resource_type="customer",
        resource=customer,
        customer_id=customer_id,
        extra={"newCustomer": cid, "records": keys_sorted},
    )
    return str(cid)
