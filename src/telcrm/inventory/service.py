"""TMF637 product inventory: the rules (ADR 7).

A product instance hangs under one customer (产权客户), one billing account (账户) and one user
(使用客户): the 三户模型. Its scope columns are the customer's, so account managers, dealers and
self-service customers see exactly the products of their customers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telcrm.catalog import service as catalog
from telcrm.inventory import policy, repository
from telcrm.kit import references
from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentService
from telcrm.kit.errors import InvalidTransition, ValidationFailed
from telcrm.kit.outbox import emit
from telcrm.kit.references import Resolved
from telcrm.kit.timestamps import parse_timestamp
from telcrm.models import Product
from telcrm.party.service import new_scope
from telcrm.search import service as search
from telcrm.search.keys import fold, phone_keys

API = "productInventory"
# ProductStatusType of TMF637 v4. The spec spells one value "aborted " (trailing space): the
# document keeps the spec's literal, the ``status`` column the canonical "aborted".
SPEC_ABORTED = "aborted "
STATUSES = ("created", "pendingActive", "active", "suspended", "pendingTerminate", "terminated", "cancelled", "aborted")
INITIAL = ("created", "pendingActive", "active")
TRANSITIONS: dict[str, set[str]] = {
    "created": {"pendingActive", "active", "cancelled", "aborted"},
    "pendingActive": {"active", "cancelled", "aborted"},
    "active": {"suspended", "pendingTerminate", "terminated"},
    "suspended": {"active", "pendingTerminate", "terminated"},
    "pendingTerminate": {"terminated", "active"},
    "terminated": set(),
    "cancelled": set(),
    "aborted": set(),
}
DELETABLE = ("created", "cancelled", "aborted")
OWNER_ROLES = ("customer", "owner")
USER_ROLES = ("user",)
PARTY_KINDS = {"Individual", "Organization", "Customer", "PartyRole", "User"}
# The relationship type by which a bundle product names its components.
BUNDLED = "bundled"
NUMBER_CHARACTERISTICS = ("serviceNumber", "msisdn", "phoneNumber")
BILLING_STARTED = "inventory.billing_started"


def canonical(status: Any) -> Any:
    return "aborted" if status in ("aborted", SPEC_ABORTED) else status


def _check_status(status: Any) -> str:
    value = canonical(status)
    if value not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
    return str(value)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _list(doc: dict[str, Any], attr: str) -> list[Any]:
    value = doc.get(attr)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class ProductService(DocumentService[Product]):
    api = API
    type_name = "Product"
    event_key = "product"
    audit_type = "Product"
    # TMF637 v4 events (ProductBatchEvent is not emitted).
    events = frozenset({"Create", "AttributeValueChange", "StateChange", "Delete"})
    direct_writes = True

    async def authorize(self, ctx: Context, action: str, row: Product | None, doc: dict[str, Any] | None) -> None:
        policy.check(ctx, action)

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: Product | None) -> dict[str, Any]:
        status = _check_status(doc.get("status"))
        if row is None and status not in INITIAL:
            raise ValidationFailed(f"a new product is {', '.join(INITIAL)}", field="status")
        doc["status"] = SPEC_ABORTED if status == "aborted" else status
        owner, user = await self._parties(ctx, doc)
        account = await references.check(ctx, doc.get("billingAccount"), "billingAccount", {"BillingAccount"})
        if owner is None:
            owner = user or account
        customer_id = owner.customer_id if owner is not None else None
        if row is not None and row.customer_id and owner is not None and customer_id != row.customer_id:
            raise ValidationFailed(
                f"a product stays with its customer {row.customer_id}; move it with an order", field="relatedParty"
            )
        if customer_id is None and row is not None:
            customer_id = row.customer_id
        if user is not None and user.customer_id != customer_id:
            raise ValidationFailed(
                f"user {user.id} belongs to another customer than the product", field=self._field(doc, USER_ROLES)
            )
        if account is not None and account.customer_id != customer_id:
            raise ValidationFailed(
                f"billing account {account.id} belongs to another customer than the product", field="billingAccount.id"
            )
        offering_id = await self._catalog_refs(ctx, doc, row)
        await self._products(ctx, doc, customer_id)

        columns: dict[str, Any] = {
            "name": doc["name"][:400] if isinstance(doc.get("name"), str) else None,
            "status": status,
            "offering_id": offering_id,
            "billing_account_id": account.id if account is not None else None,
            "user_id": user.id if user is not None else None,
        }
        if owner is not None:
            columns.update(customer_id=owner.customer_id, dealer_id=owner.dealer_id, manager_id=owner.manager_id)
        elif row is None:
            columns.update(new_scope(ctx.caller))
        self._dates(ctx, doc, row, status, columns)
        return columns

    async def _parties(self, ctx: Context, doc: dict[str, Any]) -> tuple[Resolved | None, Resolved | None]:
        owner = user = None
        for i, related in enumerate(_list(doc, "relatedParty")):
            role = str(related.get("role") or "").lower()
            field = f"relatedParty[{i}]"
            if role in OWNER_ROLES:
                found = await references.check(ctx, related, field, {"Customer"})
                if found is not None and owner is not None and found.id != owner.id:
                    raise ValidationFailed("a product belongs to one customer", field=f"{field}.id")
                owner = found or owner
            elif role in USER_ROLES:
                found = await references.check(ctx, related, field, {"User"})
                if found is not None and user is not None and found.id != user.id:
                    raise ValidationFailed("a product has one user", field=f"{field}.id")
                user = found or user
            else:
                await references.check(ctx, related, field, PARTY_KINDS, scoped=False)
        return owner, user

    @staticmethod
    def _field(doc: dict[str, Any], roles: tuple[str, ...]) -> str:
        for i, related in enumerate(_list(doc, "relatedParty")):
            if str(related.get("role") or "").lower() in roles:
                return f"relatedParty[{i}].id"
        return "relatedParty"

    async def _catalog_refs(self, ctx: Context, doc: dict[str, Any], row: Product | None) -> str | None:
        ref = doc.get("productOffering")
        offering = await references.check(ctx, ref, "productOffering", {"ProductOffering"})
        changed = offering is not None and (row is None or row.offering_id != offering.id)
        if offering is not None and changed and await catalog.lifecycle_status(ctx, offering.id) == "inDesign":
            raise ValidationFailed(
                f"product offering {offering.id} is still inDesign; products are sold under active offerings",
                field="productOffering.id",
            )
        await references.check(ctx, doc.get("productSpecification"), "productSpecification", {"ProductSpecification"})
        for i, price in enumerate(_list(doc, "productPrice")):
            await references.check(
                ctx,
                price.get("productOfferingPrice"),
                f"productPrice[{i}].productOfferingPrice",
                {"ProductOfferingPrice"},
            )
            await references.check(
                ctx, price.get("billingAccount"), f"productPrice[{i}].billingAccount", {"BillingAccount"}
            )
        if isinstance(ref, dict) and isinstance(ref.get("id"), str):
            return str(ref["id"])[:40]
        return None

    async def _products(self, ctx: Context, doc: dict[str, Any], customer_id: str | None) -> None:
        bundled = False
        refs = [
            (f"productRelationship[{i}].product", r.get("product"))
            for i, r in enumerate(_list(doc, "productRelationship"))
        ]
        refs += [(f"product[{i}]", r) for i, r in enumerate(_list(doc, "product"))]
        for rel in _list(doc, "productRelationship"):
            bundled = bundled or rel.get("relationshipType") == BUNDLED
        for field, ref in refs:
            if not isinstance(ref, dict) or "id" not in ref:
                continue
            if ref["id"] == doc["id"]:
                raise ValidationFailed("a product cannot relate to itself", field=f"{field}.id")
            found = await references.check(ctx, ref, field, {"Product"})
            if found is not None and found.customer_id != customer_id:
                raise ValidationFailed(f"product {found.id} belongs to another customer", field=f"{field}.id")
        if bundled and doc.get("isBundle") is not True:
            raise ValidationFailed(
                "a product with bundled components is a bundle: set isBundle to true", field="isBundle"
            )

    def _dates(
        self, ctx: Context, doc: dict[str, Any], row: Product | None, status: str, columns: dict[str, Any]
    ) -> None:
        if status == "active" and not doc.get("startDate"):
            doc["startDate"] = _now()
        if status == "terminated" and not doc.get("terminationDate"):
            doc["terminationDate"] = _now()
        start, end = parse_timestamp(doc.get("startDate")), parse_timestamp(doc.get("terminationDate"))
        if start is not None and end is not None and end < start:
            raise ValidationFailed("terminationDate is before startDate", field="terminationDate")
        columns.update(start_date=start, termination_date=end)
        if status == "active" and (row is None or row.billing_start_date is None):
            # 开帐: billing starts the first time the product is active, once.
            columns["billing_start_date"] = datetime.now(UTC)
            ctx.extra.setdefault(BILLING_STARTED, set()).add(doc["id"])

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: dict[str, Any]) -> None:
        before, after = canonical(old), _check_status(new)
        if before == after:
            return
        if after not in TRANSITIONS.get(before, set()):
            raise InvalidTransition(f"a product cannot go from {before} to {after}", field="status")

    async def before_delete(self, ctx: Context, row: Product) -> None:
        if row.status not in DELETABLE:
            raise InvalidTransition(
                f"a {row.status} product cannot be deleted (only {', '.join(DELETABLE)}); terminate it instead",
                field="status",
            )

    async def after_write(self, ctx: Context, row: Product, before: dict[str, Any] | None) -> None:
        await search.index(ctx, row.id, row.customer_id, search_keys(row.body), fresh=before is None)
        references.remember(ctx, Resolved(row.id, "Product", row.customer_id, row.dealer_id, row.manager_id))

    async def after_events(self, ctx: Context, row: Product, before: dict[str, Any] | None) -> None:
        started: set[str] = ctx.extra.get(BILLING_STARTED, set())
        if row.id in started:
            started.discard(row.id)
            when = row.billing_start_date.isoformat() if row.billing_start_date else _now()
            await emit(
                ctx,
                api=API,
                event_type="ProductBillingStartEvent",  # ours, not a TMF637 event
                resource_type=self.event_key,
                resource=row.body,
                customer_id=row.customer_id,
                extra={"billingStartDate": when},
            )


def search_keys(doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    """A product's service numbers (phone keys) and serial number (id key) find its customer."""
    keys: list[tuple[str, str, int]] = []
    for char in _list(doc, "productCharacteristic"):
        value = char.get("value")
        if char.get("name") in NUMBER_CHARACTERISTICS and isinstance(value, str):
            keys += [("phone", key, 0) for key in phone_keys(value)]
    serial = doc.get("productSerialNumber")
    if isinstance(serial, str) and serial.strip():
        keys.append(("id", fold(serial).upper(), 0))
    return keys


products = ProductService(repository.products)


async def product_documents(ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The documents of the caller's products among ``ids``."""
    return {row.id: row.body for row in await repository.find_many(ctx, ids)}
