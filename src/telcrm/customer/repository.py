"""All SQL of the customer domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import JSONB

from telcrm.kit.auth import Context
from telcrm.kit.db import Ahead, Prebuilt
from telcrm.kit.documents import DocumentStore
from telcrm.models import Account, Customer, CustomerUser, Party, PartyRole, Product, ProductOrder

customers = DocumentStore(Customer)
users = DocumentStore(CustomerUser)


async def next_customer_number(ctx: Context) -> int:
    return int((await ctx.uow.session.execute(text("SELECT nextval('customer_number_seq')"))).scalar_one())


# the stateOrProvince of the first postal address with one, worked out in the database
_FIRST_POSTAL: Any = literal_column(
    """'$.contactMedium[*] ? (@.mediumType == "postalAddress" """
    """&& @.characteristic.stateOrProvince like_regex "[^[:space:]]")'::jsonpath"""
)


def _order_facts() -> Prebuilt:
    postal = func.jsonb_path_query_first(Party.body, _FIRST_POSTAL, type_=JSONB)
    province = postal["characteristic"]["stateOrProvince"].astext.label("province")
    return Prebuilt(
        select(
            Customer.id,
            Customer.name,
            Customer.status,
            Customer.category,
            Customer.dealer_id,
            Customer.manager_id,
            province,
            Customer.customer_id,
            Customer.dealer_id,
            Customer.manager_id,
        )
        .outerjoin(Party, Party.id == Customer.party_id)
        .where(Customer.id == bindparam("id"))
    )


_ORDER_FACTS = _order_facts()  # one per order captured: prebuilt, scope applied to the values (ADR 10)


def order_facts_ahead(customer_id: str) -> Ahead:
    return _ORDER_FACTS.ahead(id=customer_id)


async def order_facts(ctx: Context, customer_id: str) -> tuple[Any, ...] | None:
    """(id, name, status, category, dealer_id, manager_id, province) of the customer, with its party's
    province, if the caller may see it."""
    return await _ORDER_FACTS.first_in_scope(ctx, id=customer_id)


async def party_body(ctx: Context, party_id: str) -> dict[str, Any] | None:
    return (await ctx.uow.session.execute(select(Party.body).where(Party.id == party_id))).scalar_one_or_none()


async def propagate_scope(ctx: Context, customer: Customer) -> None:
    """Keep the scope columns of everything the customer owns equal to the customer's."""
    values = {"dealer_id": customer.dealer_id, "manager_id": customer.manager_id}
    session = ctx.uow.session
    for model in (Account, CustomerUser, PartyRole, Party, Product, ProductOrder):
        await session.execute(update(model).where(model.customer_id == customer.id).values(**values))
    if customer.party_id:
        await session.execute(
            update(Party).where(Party.id == customer.party_id).values(customer_id=customer.id, **values)
        )


# Product states in which a product still delivers (or is about to deliver) a service.
LIVE_PRODUCT_STATES = ("created", "pendingActive", "active", "suspended", "pendingTerminate")


async def live_product_count(ctx: Context, customer_id: str) -> int:
    stmt = select(func.count()).where(Product.customer_id == customer_id, Product.status.in_(LIVE_PRODUCT_STATES))
    return int((await ctx.uow.session.execute(stmt)).scalar_one())


async def active_user_count(ctx: Context, customer_id: str) -> int:
    stmt = select(func.count()).where(CustomerUser.customer_id == customer_id, CustomerUser.status == "active")
    return int((await ctx.uow.session.execute(stmt)).scalar_one())
