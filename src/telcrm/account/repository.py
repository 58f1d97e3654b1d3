"""All SQL of the account domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, text

from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead, Prebuilt
from telcrm.kit.documents import DocumentStore
from telcrm.models import Account, Customer, ReferenceItem

billing_accounts = DocumentStore(Account, kind="BillingAccount")

# order capture reads one billing account per order: prebuilt, scope applied to the values (ADR 10)
_BILLING_FACTS = Prebuilt(
    select(
        Account.id,
        Account.customer_id,
        Account.account_type,
        Account.body,
        Account.customer_id,
        Account.dealer_id,
        Account.manager_id,
    ).where(Account.id == bindparam("id"), Account.kind == "BillingAccount")
)


def billing_account_facts_ahead(account_id: str) -> Ahead:
    return _BILLING_FACTS.ahead(id=account_id)


async def billing_account_facts(ctx: Context, account_id: str) -> tuple[Any, ...] | None:
    """(id, customer_id, account_type, body) of a billing account the caller may see."""
    return await _BILLING_FACTS.first_in_scope(ctx, id=account_id)


party_accounts = DocumentStore(Account, kind="PartyAccount")
settlement_accounts = DocumentStore(Account, kind="SettlementAccount")
financial_accounts = DocumentStore(Account, kind="FinancialAccount")
bill_formats = DocumentStore(ReferenceItem, kind="BillFormat", scoped=False)
billing_cycles = DocumentStore(ReferenceItem, kind="BillingCycleSpecification", scoped=False)
presentation_media = DocumentStore(ReferenceItem, kind="BillPresentationMedia", scoped=False)


async def next_account_number(ctx: Context) -> int:
    return int((await ctx.uow.session.execute(text("SELECT nextval('account_number_seq')"))).scalar_one())


async def customer_category(ctx: Context, customer_id: str) -> str | None:
    stmt = select(Customer.category).where(Customer.id == customer_id)
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()
