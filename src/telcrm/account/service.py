"""TMF666 accounts (the payer, 计费客户) and billing reference data: the rules."""

from __future__ import annotations

import re
from typing import Any

from telcrm.account import policy, repository
from telcrm.kit import references
from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead
from telcrm.kit.documents import DocumentService, DocumentStore
from telcrm.kit.errors import InvalidTransition, ValidationFailed
from telcrm.kit.ids import account_number
from telcrm.models import Account, ReferenceItem
from telcrm.party.contact import validate_contact_media
from telcrm.party.service import new_scope
from telcrm.search import service as search

STATES = ("active", "suspended", "closed")
TRANSITIONS = {"active": {"suspended", "closed"}, "suspended": {"active", "closed"}, "closed": set()}
BILLING_ACCOUNT_TYPES = ("postpaid", "prepaid", "hybrid", "groupPaid")
ACCOUNT_KINDS = {"BillingAccount", "PartyAccount", "SettlementAccount", "FinancialAccount"}
PARTY_KINDS = {"Individual", "Organization", "Customer", "PartyRole"}
# TMF666 v4 defines only these events per account kind.
SPEC_EVENTS = {
    "BillingAccount": frozenset({"AttributeValueChange", "StateChange"}),
    "PartyAccount": frozenset({"AttributeValueChange", "StateChange"}),
    "SettlementAccount": frozenset({"AttributeValueChange", "StateChange"}),
    "FinancialAccount": frozenset({"Create", "AttributeValueChange", "StateChange", "Delete"}),
}


def _money(value: Any, field: str) -> None:
    if value is None:
        return
    amount = value.get("value")
    if amount is not None and amount < 0:
        raise ValidationFailed(f"{field}.value cannot be negative", field=f"{field}.value")
    unit = value.get("unit")
    if unit is not None and not re.fullmatch(r"[A-Z]{3}", unit):
        raise ValidationFailed(f"{field}.unit is an ISO 4217 currency code such as CNY", field=f"{field}.unit")


class AccountService(DocumentService[Account]):
    api = "account"
    state_attr = "state"
    audit_type = "Account"

    def __init__(self, store: DocumentStore[Account], type_name: str) -> None:
        super().__init__(store)
        self.type_name = type_name
        self.event_key = type_name[0].lower() + type_name[1:]
        self.events = SPEC_EVENTS[type_name]

    async def _allocate_id(self, ctx: Context) -> str:
        return account_number(await repository.next_account_number(ctx))

    async def authorize(self, ctx: Context, action: str, row: Account | None, doc: dict[str, Any] | None) -> None:
        policy.check_account(ctx, action)

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: Account | None) -> dict[str, Any]:
        state = doc.setdefault("state", "active")
        if state not in STATES:
            raise ValidationFailed(f"state must be one of {', '.join(STATES)}", field="state")
        if row is None and state != "active":
            raise ValidationFailed("a new account is active", field="state")
        account_type = doc.get("accountType")
        if (
            self.type_name == "BillingAccount"
            and account_type is not None
            and account_type not in BILLING_ACCOUNT_TYPES
        ):
            raise ValidationFailed(
                f"accountType must be one of {', '.join(BILLING_ACCOUNT_TYPES)}", field="accountType"
            )
        _money(doc.get("creditLimit"), "creditLimit")
        for i, contact in enumerate(doc.get("contact") or []):
            validate_contact_media(contact.get("contactMedium"), f"contact[{i}].contactMedium")
        owner = None
        for i, related in enumerate(doc.get("relatedParty") or []):
            found = await references.check(ctx, related, f"relatedParty[{i}]", PARTY_KINDS)
            if found is not None and owner is None and found.customer_id:
                owner = found
        if account_type == "groupPaid":
            category = (
                await repository.customer_category(ctx, owner.customer_id) if owner and owner.customer_id else None
            )
            if category not in ("group", None) or owner is None:
                raise ValidationFailed(
                    "a group-paid account (集团统付) belongs to a group customer", field="accountType"
                )
        structure = doc.get("billStructure") or {}
        await references.check(
            ctx, structure.get("cycleSpecification"), "billStructure.cycleSpecification", {"BillingCycleSpecification"}
        )
        await references.check(ctx, structure.get("format"), "billStructure.format", {"BillFormat"})
        for i, media in enumerate(structure.get("presentationMedia") or []):
            await references.check(ctx, media, f"billStructure.presentationMedia[{i}]", {"BillPresentationMedia"})
        await references.check(ctx, doc.get("financialAccount"), "financialAccount", {"FinancialAccount"})
        for i, rel in enumerate(doc.get("accountRelationship") or []):
            await references.check(ctx, rel.get("account"), f"accountRelationship[{i}].account", ACCOUNT_KINDS)
        columns: dict[str, Any] = {
            "name": str(doc.get("name", ""))[:400],
            "state": state,
            "account_type": account_type,
        }
        if owner is not None:
            columns.update(
                customer_id=owner.customer_id,
                owner_customer_id=owner.customer_id,
                dealer_id=owner.dealer_id,
                manager_id=owner.manager_id,
            )
        elif row is None:
            columns.update(new_scope(ctx.caller))
        return columns

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: dict[str, Any]) -> None:
        if new not in STATES:
            raise ValidationFailed(f"state must be one of {', '.join(STATES)}", field="state")
        if new not in TRANSITIONS.get(old, set()):
            raise InvalidTransition(f"an account cannot go from {old} to {new}", field="state")

    async def after_write(self, ctx: Context, row: Account, before: dict[str, Any] | None) -> None:
        await search.index(ctx, row.id, row.customer_id, search.number_keys(row.id), fresh=before is None)


class ReferenceService(DocumentService[ReferenceItem]):
    api = "account"
    state_attr = None
    audit_type = "Reference"

    def __init__(self, store: DocumentStore[ReferenceItem], type_name: str) -> None:
        super().__init__(store)
        self.type_name = type_name
        self.event_key = type_name[0].lower() + type_name[1:]
        self.events = frozenset()  # TMF666 v4 defines no events for reference data

    async def authorize(self, ctx: Context, action: str, row: ReferenceItem | None, doc: dict[str, Any] | None) -> None:
        policy.check_reference(ctx, action)

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: ReferenceItem | None) -> dict[str, Any]:
        if self.type_name == "BillingCycleSpecification":
            for attr in (
                "billingDateShift",
                "chargeDateOffset",
                "creditDateOffset",
                "mailingDateOffset",
                "paymentDueDateOffset",
            ):
                value = doc.get(attr)
                if value is not None and not -366 <= value <= 366:
                    raise ValidationFailed(f"{attr} must be between -366 and 366 days", field=attr)
        return {"name": str(doc.get("name", ""))[:200]}


billing_accounts = AccountService(repository.billing_accounts, "BillingAccount")
party_accounts = AccountService(repository.party_accounts, "PartyAccount")
settlement_accounts = AccountService(repository.settlement_accounts, "SettlementAccount")
financial_accounts = AccountService(repository.financial_accounts, "FinancialAccount")
bill_formats = ReferenceService(repository.bill_formats, "BillFormat")
billing_cycles = ReferenceService(repository.billing_cycles, "BillingCycleSpecification")
presentation_media = ReferenceService(repository.presentation_media, "BillPresentationMedia")


def billing_account_facts_ahead(account_id: str) -> Ahead:
    """The look-up ``billing_account_facts`` makes, to be read ahead with others (kit.db.UnitOfWork.read_ahead)."""
    return repository.billing_account_facts_ahead(account_id)


async def billing_account_facts(ctx: Context, account_id: str) -> dict[str, Any] | None:
    """A billing account's owner, type and body, for order capture (ADR 8); None when not held here."""
    row = await repository.billing_account_facts(ctx, account_id)
    if row is None:
        return None
    return {"id": row[0], "customer_id": row[1], "account_type": row[2], "body": row[3]}
