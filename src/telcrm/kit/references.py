"""Loose TMF references (EntityRef): linked when they resolve here, kept as external otherwise.

Ids are unique across all resource tables, so one look-up tells what an id names. A reference
that resolves to an object of the wrong kind is an error; one that does not resolve is kept
as the client sent it and shown as unresolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, any_, bindparam, literal, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY

from telcrm.kit import cache
from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead, Prebuilt
from telcrm.kit.errors import Forbidden, WrongReference
from telcrm.models import Account, CatalogItem, Customer, CustomerUser, Party, PartyRole, Product, ReferenceItem

# Kinds that belong to no customer (catalog and reference data).
UNOWNED = frozenset(
    {
        "ProductOffering",
        "ProductSpecification",
        "ProductOfferingPrice",
        "Category",
        "Catalog",
        "BillFormat",
        "BillingCycleSpecification",
        "BillPresentationMedia",
    }
)


@dataclass(frozen=True)
class Resolved:
    id: str
    kind: str  # Individual, Organization, Customer, BillingAccount, PartyRole, User, BillFormat, ProductOffering...
    customer_id: str | None
    dealer_id: str | None
    manager_id: str | None


def _resolved(row: Any) -> Resolved:
    """A look-up's row (id, kind and the three owner columns) as a ``Resolved``."""
    return Resolved(id=row[0], kind=row[1], customer_id=row[2], dealer_id=row[3], manager_id=row[4])


def _lookup(*, many: bool = False) -> Any:
    """One statement over every resource table, built once (building it costs more than running it):
    for one id (``ref_id``), or with ``many`` for an array of them (``ref_ids``)."""
    ids: Any = bindparam("ref_ids", type_=ARRAY(String)) if many else bindparam("ref_id")

    def named(column: Any) -> Any:
        return column == any_(ids) if many else column == ids

    none = literal(None)
    queries = [
        select(Party.id, Party.kind, Party.customer_id, Party.dealer_id, Party.manager_id).where(named(Party.id)),
        select(Customer.id, literal("Customer"), Customer.customer_id, Customer.dealer_id, Customer.manager_id).where(
            named(Customer.id)
        ),
        select(Account.id, Account.kind, Account.customer_id, Account.dealer_id, Account.manager_id).where(
            named(Account.id)
        ),
        select(
            PartyRole.id, literal("PartyRole"), PartyRole.customer_id, PartyRole.dealer_id, PartyRole.manager_id
        ).where(named(PartyRole.id)),
        select(
            CustomerUser.id, literal("User"), CustomerUser.customer_id, CustomerUser.dealer_id, CustomerUser.manager_id
        ).where(named(CustomerUser.id)),
        select(ReferenceItem.id, ReferenceItem.kind, none, none, none).where(named(ReferenceItem.id)),
        select(CatalogItem.id, CatalogItem.kind, none, none, none).where(named(CatalogItem.id)),
        select(Product.id, literal("Product"), Product.customer_id, Product.dealer_id, Product.manager_id).where(
            named(Product.id)
        ),
    ]
    return union_all(*queries)


LOOKUP = Prebuilt(_lookup())
LOOKUP_MANY = Prebuilt(_lookup(many=True))
# The look-up in the one table that holds a kind, for a caller that takes nothing else (an order's
# user, the product an item changes): one index probe instead of one per resource table, and two
# relations locked and opened per run instead of sixteen (ADR 10).
LOOKUP_OF_KIND = {
    "User": Prebuilt(
        select(
            CustomerUser.id, literal("User"), CustomerUser.customer_id, CustomerUser.dealer_id, CustomerUser.manager_id
        ).where(CustomerUser.id == bindparam("ref_id"))
    ),
    "Product": Prebuilt(
        select(Product.id, literal("Product"), Product.customer_id, Product.dealer_id, Product.manager_id).where(
            Product.id == bindparam("ref_id")
        )
    ),
}
OWNED = "references.prefetched"  # per transaction: what ``prefetch`` read and ``remember`` was told
MEMO = "references.unowned"  # per transaction: ids of catalog and reference items already resolved
CATALOG = "catalog"  # per process (kit.cache): catalog ids resolved, dropped when the catalog changes
CATALOG_KINDS = frozenset({"ProductOffering", "ProductSpecification", "ProductOfferingPrice", "Category", "Catalog"})


def resolve_ahead(id_: Any, kind: str | None = None) -> Ahead | None:
    """The look-up ``resolve`` makes for an id not yet known in the transaction (with the same
    ``kind``), to be read ahead with others (kit.db.UnitOfWork.read_ahead)."""
    if not isinstance(id_, str) or not 0 < len(id_) <= 40:
        return None
    return (LOOKUP_OF_KIND[kind] if kind else LOOKUP).ahead(ref_id=id_)


async def resolve(ctx: Context, id_: str, kind: str | None = None) -> Resolved | None:
    """What ``id_`` names here, or None. With ``kind`` (a key of ``LOOKUP_OF_KIND``), only a record of
    that kind is found: for a caller to whom anything else is as good as unknown."""
    if not isinstance(id_, str) or not id_ or len(id_) > 40:
        return None
    if kind is not None:
        known = (ctx.extra.get(OWNED) or {}).get(id_)
        if known is not None:
            return known if known.kind == kind else None
        row = await LOOKUP_OF_KIND[kind].first(ctx.uow, ref_id=id_)
        return _resolved(row) if row is not None else None
    memo: dict[str, Resolved] = ctx.extra.setdefault(MEMO, {})
    if id_ in memo:
        return memo[id_]
    prefetched: dict[str, Resolved] | None = ctx.extra.get(OWNED)
    if prefetched is not None and id_ in prefetched:
        return prefetched[id_]
    copies = cache.shared(CATALOG)
    fresh = cache.changed_here(ctx, CATALOG)
    kind = None if fresh else copies.get(("kind", id_))
    if kind is not None:
        memo[id_] = found = Resolved(id=id_, kind=kind, customer_id=None, dealer_id=None, manager_id=None)
        return found
    mark = None if fresh else copies.mark()
    row = await LOOKUP.first(ctx.uow, ref_id=id_)
    if row is None:
        return None
    found = _resolved(row)
    if not (found.customer_id or found.dealer_id or found.manager_id) and found.kind in UNOWNED:
        memo[id_] = found  # catalog and reference items belong to nobody and keep their kind
        if found.kind in CATALOG_KINDS:
            copies.store(mark, ("kind", id_), found.kind)
    return found


async def prefetch(ctx: Context, ids: Any) -> None:
    """Resolve many ids in one statement for the rest of the transaction. Only for steps that do not
    change who owns the records they name (order fulfilment making products for its orders)."""
    wanted = sorted({i for i in ids if isinstance(i, str) and 0 < len(i) <= 40})
    if not wanted:
        return
    prefetched: dict[str, Resolved] = ctx.extra.setdefault(OWNED, {})
    for row in await LOOKUP_MANY.all(ctx.uow, ref_ids=wanted):
        prefetched[row[0]] = _resolved(row)


def remember(ctx: Context, found: Resolved) -> None:
    """A record this transaction has just written, resolved from here on without a look-up: rows
    written at commit (``UnitOfWork.defer_write``) are not in the database yet, and a later step
    that names one (a bundle product naming the products just made for its components) would look
    for it in every resource table in vain."""
    prefetched: dict[str, Resolved] = ctx.extra.setdefault(OWNED, {})
    prefetched[found.id] = found


async def check(ctx: Context, ref: Any, field: str, allowed: set[str], *, scoped: bool = True) -> Resolved | None:
    """Resolve ``ref`` (an EntityRef dict); error if it names the wrong kind or out-of-scope data."""
    if not isinstance(ref, dict) or "id" not in ref:
        return None
    found = await resolve(ctx, ref["id"])
    if found is None:
        return None
    if found.kind not in allowed:
        raise WrongReference(
            f"{field} refers to {found.kind} {found.id}; expected {' or '.join(sorted(allowed))}",
            field=f"{field}.id",
        )
    referred = ref.get("@referredType")
    if isinstance(referred, str) and referred and referred not in (found.kind, "Party", "Account", "PartyRole"):
        raise WrongReference(
            f"{field}.@referredType is {referred} but {found.id} is {found.kind}", field=f"{field}.@referredType"
        )
    owned = found.customer_id or found.dealer_id or found.manager_id
    if scoped and owned and not ctx.caller.scope.admits(found.customer_id, found.dealer_id, found.manager_id):
        raise Forbidden(f"{field} refers to a record outside your portfolio", field=f"{field}.id")
    return found
