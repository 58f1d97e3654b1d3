"""TMF629 customers (产权客户) and their users (使用客户): the rules."""

from __future__ import annotations

from typing import Any

from telcrm.customer import policy, repository
from telcrm.kit import auth, references
from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead
from telcrm.kit.documents import DocumentService
from telcrm.kit.errors import Forbidden, InvalidTransition, ValidationFailed
from telcrm.kit.ids import customer_number
from telcrm.kit.query import ListQuery
from telcrm.models import Customer, CustomerUser
from telcrm.party.contact import validate_contact_media
from telcrm.party.service import new_scope
from telcrm.search import service as search
from telcrm.search.keys import phone_keys

STATUSES = ("prospect", "active", "suspended", "terminated")
TRANSITIONS = {
    "prospect": {"active", "terminated"},
    "active": {"suspended", "terminated"},
    "suspended": {"active", "terminated"},
    "terminated": set(),
}
CATEGORIES = {
    "individual": {"Individual"},
    "group": {"Organization"},  # 集团客户
    "dealer": {"Individual", "Organization"},  # 代理商 as a customer
    "employee": {"Individual"},  # the operator's own staff
    "operator": {"Organization"},  # another operator (网间结算)
}
VIP_LEVELS = ("none", "silver", "gold", "platinum", "diamond")
CHANNELS = ("hall", "webHall", "callCenter", "dealer", "accountManager", "sms", "mobileApp", "migration")
MANAGER_ROLES = {"accountmanager", "accountManager"}
DEALER_ROLES = {"dealer", "agent", "acquiringdealer", "acquiringDealer"}


def characteristic(doc: dict[str, Any], name: str) -> tuple[int, Any]:
    for i, item in enumerate(doc.get("characteristic") or []):
        if item.get("name") == name:
            return i, item.get("value")
    return -1, None


def _check_choice(doc: dict[str, Any], name: str, allowed: tuple[str, ...] | dict[str, Any]) -> str | None:
    i, value = characteristic(doc, name)
    if i < 0:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise ValidationFailed(
            f"characteristic {name} must be one of {', '.join(allowed)}", field=f"characteristic[{i}].value"
        )
    return value


class CustomerService(DocumentService[Customer]):
    api = "customer"
    type_name = "Customer"
    event_key = "customer"
    audit_type = "Customer"

    async def _allocate_id(self, ctx: Context) -> str:
        return customer_number(await repository.next_customer_number(ctx))

    async def authorize(self, ctx: Context, action: str, row: Customer | None, doc: dict[str, Any] | None) -> None:
        policy.check_customer(ctx, action, doc)

    def customer_of(self, row: Customer) -> str | None:
        return row.id

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: Customer | None) -> dict[str, Any]:
        validate_contact_media(doc.get("contactMedium"))
        party = await references.check(ctx, doc.get("engagedParty"), "engagedParty", {"Individual", "Organization"})
        party_kind = party.kind if party else (doc.get("engagedParty") or {}).get("@referredType")
        if party_kind not in ("Individual", "Organization"):
            party_kind = None
        category = _check_choice(doc, "customerCategory", CATEGORIES)
        if category is None:
            category = "group" if party_kind == "Organization" else "individual"
        if party is not None and party.kind not in CATEGORIES[category]:
            i, _ = characteristic(doc, "customerCategory")
            raise ValidationFailed(
                f"a {category} customer must engage {' or '.join(sorted(CATEGORIES[category]))}, not {party.kind}",
                field=f"characteristic[{i}].value" if i >= 0 else "engagedParty.id",
            )
        vip = _check_choice(doc, "vipLevel", VIP_LEVELS)
        _check_choice(doc, "acquisitionChannel", CHANNELS)

        status = doc.get("status")
        if row is None:
            if status is None:
                status = "active" if party is None or await self._real_name(ctx, party.id) else "prospect"
                doc["status"] = status
            if status not in ("prospect", "active"):
                raise ValidationFailed("a new customer is prospect or active", field="status")
        if status not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
        if status in ("suspended", "terminated") and not doc.get("statusReason"):  # also when only the reason goes
            raise ValidationFailed(f"say why the customer is {status} (statusReason)", field="statusReason")
        activating = status == "active" and (row is None or row.status == "prospect")
        if activating and party is not None and not await self._real_name(ctx, party.id):
            raise ValidationFailed(
                "an active customer needs a party with an identification (real-name registration, 实名制)",
                field="status",
            )

        manager_id, dealer_id = await self._related(ctx, doc, row)
        for i, ref in enumerate(doc.get("account") or []):
            await references.check(
                ctx, ref, f"account[{i}]", {"BillingAccount", "PartyAccount", "SettlementAccount", "FinancialAccount"}
            )
        return {
            "name": str(doc.get("name", ""))[:400],
            "status": status,
            "category": category,
            "vip_level": vip,
            "party_id": party.id if party else None,
            "party_kind": party_kind,
            "customer_id": doc["id"],
            "dealer_id": dealer_id,
            "manager_id": manager_id,
        }

    async def _real_name(self, ctx: Context, party_id: str) -> bool:
        body = await repository.party_body(ctx, party_id) or {}
        return bool(body.get("individualIdentification") or body.get("organizationIdentification"))

    async def _related(self, ctx: Context, doc: dict[str, Any], row: Customer | None) -> tuple[str | None, str | None]:
        """The account manager and the acquiring dealer named in ``relatedParty``."""
        manager_id = dealer_id = None
        for i, related in enumerate(doc.get("relatedParty") or []):
            role = str(related.get("role") or "")
            found = await references.check(
                ctx,
                related,
                f"relatedParty[{i}]",
                {"Individual", "Organization", "PartyRole", "Customer"},
                scoped=False,
            )
            if role in MANAGER_ROLES:
                if found is not None and found.kind != "Individual":
                    raise ValidationFailed("an account manager is an Individual", field=f"relatedParty[{i}].id")
                manager_id = related.get("id")
            elif role in DEALER_ROLES:
                if found is not None and found.kind not in ("Organization", "Individual"):
                    raise ValidationFailed("a dealer is an Organization or Individual", field=f"relatedParty[{i}].id")
                dealer_id = related.get("id")
        caller = ctx.caller
        if not caller.roles & auth.REACH_ALL:
            own = new_scope(caller)
            if caller.has(auth.DEALER):
                if dealer_id not in (None, caller.dealer_id):
                    raise Forbidden("a dealer signs up customers for itself only", field="relatedParty")
                dealer_id = caller.dealer_id if row is None else (row.dealer_id or dealer_id)
                doc.setdefault("relatedParty", [])
                if row is None and not any(str(r.get("role")) in DEALER_ROLES for r in doc["relatedParty"]):
                    doc["relatedParty"].append(
                        {"id": caller.dealer_id, "role": "dealer", "@referredType": "Organization", "name": caller.name}
                    )
            if caller.has(auth.ACCOUNT_MANAGER) and row is None and manager_id is None:
                manager_id = own.get("manager_id")
                if manager_id:  # named in the document too, or the next change would drop the manager
                    doc.setdefault("relatedParty", []).append(
                        {"id": manager_id, "role": "accountManager", "@referredType": "Individual", "name": caller.name}
                    )
            if caller.has(auth.ACCOUNT_MANAGER) and manager_id != caller.party_id and not caller.has(auth.DEALER):
                raise Forbidden("an account manager cannot hand a customer to another manager", field="relatedParty")
        return manager_id, dealer_id

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: dict[str, Any]) -> None:
        if new not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
        if new not in TRANSITIONS.get(old, set()):
            raise InvalidTransition(f"a customer cannot go from {old} to {new}", field="status")
        if new in ("suspended", "terminated") and not doc.get("statusReason"):
            raise ValidationFailed(f"say why the customer is {new} (statusReason)", field="statusReason")
        if new == "terminated":
            policy.check_terminate(ctx)

    async def patch(self, ctx: Context, id_: str, patch: dict[str, Any], check: Any = None) -> dict[str, Any]:
        if patch.get("status") == "terminated":
            # out of scope is 404, then who may terminate (403), then what stands in the way (409)
            current = await repository.customers.get(ctx, id_, label="Customer")
            policy.check_terminate(ctx)
            if current.status != "terminated" and await repository.active_user_count(ctx, id_):
                raise InvalidTransition(
                    "the customer still has active users; terminate their services first", field="status"
                )
            if current.status != "terminated" and await repository.live_product_count(ctx, id_):
                raise InvalidTransition(
                    "the customer still has products in service; terminate or cancel them first", field="status"
                )
        return await super().patch(ctx, id_, patch, check)

    async def after_write(self, ctx: Context, row: Customer, before: dict[str, Any] | None) -> None:
        await repository.propagate_scope(ctx, row)
        keys = list(search.number_keys(row.id))
        keys += [(kind, key, 1) for kind, key in _name_keys(row.name)]
        keys += search.contact_keys(row.body.get("contactMedium"))
        await search.index(ctx, row.id, row.id, keys, fresh=before is None)
        if row.party_id:
            await search.attach(ctx, row.party_id, row.id)


def _name_keys(name: str) -> list[tuple[str, str]]:
    from telcrm.search.keys import name_keys

    return name_keys(name)


USER_STATUSES = ("active", "suspended", "terminated")


class UserService(DocumentService[CustomerUser]):
    """使用客户: who uses a line. Kept under ``/api/customers/{id}/users`` (no TMF resource)."""

    api = "customer"
    type_name = "User"
    event_key = "user"
    audit_type = "User"

    async def authorize(self, ctx: Context, action: str, row: CustomerUser | None, doc: dict[str, Any] | None) -> None:
        policy.check_user(ctx, action)

    async def list_for(
        self, ctx: Context, customer_id: str, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        await repository.customers.get(ctx, customer_id, label="Customer")
        rows, total = await self.store.list(
            ctx, ListQuery(offset=offset, limit=limit), extra=[CustomerUser.customer_id == customer_id]
        )
        return [r.body for r in rows], total

    async def create_for(self, ctx: Context, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        customer = await repository.customers.get(ctx, customer_id, label="Customer")
        if customer.status == "terminated":
            raise InvalidTransition("a terminated customer cannot register users", field="customer")
        return await self.create(ctx, {**data, "customer": {"id": customer.id, "name": customer.name}})

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: CustomerUser | None) -> dict[str, Any]:
        customer_id = (doc.get("customer") or {}).get("id")
        customer = await repository.customers.get(ctx, str(customer_id), label="Customer")
        status = doc.setdefault("status", "active")
        if status not in USER_STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(USER_STATUSES)}", field="status")
        party = await references.check(ctx, doc.get("party"), "party", {"Individual"}, scoped=False)
        account = await references.check(ctx, doc.get("billingAccount"), "billingAccount", {"BillingAccount"})
        if account is not None and account.customer_id != customer.id:
            raise ValidationFailed("the billing account belongs to another customer", field="billingAccount.id")
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("name is required", field="name")
        number = doc.get("phoneNumber")
        if number is not None and (not isinstance(number, str) or not phone_keys(number)):
            raise ValidationFailed("phoneNumber is not a phone number", field="phoneNumber")
        return {
            "name": name[:400],
            "status": status,
            "party_id": party.id if party else None,
            "billing_account_id": account.id if account else None,
            "customer_id": customer.id,
            "dealer_id": customer.dealer_id,
            "manager_id": customer.manager_id,
        }

    async def after_write(self, ctx: Context, row: CustomerUser, before: dict[str, Any] | None) -> None:
        keys: list[tuple[str, str, int]] = [(k, v, -1) for k, v in _name_keys(row.name)]
        number = row.body.get("phoneNumber")
        if isinstance(number, str):
            keys += [("phone", key, 0) for key in phone_keys(number)]
        await search.index(ctx, row.id, row.customer_id, keys, fresh=before is None)


customers = CustomerService(repository.customers)
users = UserService(repository.users)


def order_facts_ahead(customer_id: str) -> Ahead:
    """The look-up ``order_facts`` makes, to be read ahead with others (kit.db.UnitOfWork.read_ahead)."""
    return repository.order_facts_ahead(customer_id)


async def order_facts(ctx: Context, customer_id: str) -> dict[str, Any] | None:
    """What order capture needs to know about a customer (ADR 8), or None when not held or out of scope.

    ``province`` comes from the first postal address (``stateOrProvince``) of the customer's party.
    """
    row = await repository.order_facts(ctx, customer_id)
    if row is None:
        return None
    id_, name, status, category, dealer_id, manager_id, province = row
    return {
        "id": id_,
        "name": name,
        "status": status,
        "category": category,
        "province": province if isinstance(province, str) else None,
        "dealer_id": dealer_id,
        "manager_id": manager_id,
    }
