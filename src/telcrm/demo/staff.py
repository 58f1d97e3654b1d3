"""Demo staff logins, one per role, linked to demo data where the role needs it."""

from __future__ import annotations

from sqlalchemy import exists, func, select

from telcrm.identity import service as identity
from telcrm.kit import auth
from telcrm.kit.db import Database
from telcrm.models import Customer, Principal, Product, ProductOrder

DEMO_PASSWORD = "telcrm-demo"

STAFF = [
    ("admin", auth.ADMIN, "系统管理员 administrator"),
    ("agent", auth.AGENT, "10000号 call-center agent"),
    ("clerk", auth.CLERK, "营业厅 retail hall clerk"),
    ("manager", auth.ACCOUNT_MANAGER, "大客户经理 account manager (sees own portfolio)"),
    ("backoffice", auth.BACK_OFFICE, "后台 back office"),
    ("supervisor", auth.SUPERVISOR, "班长 supervisor"),
    ("dealer", auth.DEALER, "代理商 dealer (sees customers it signed up)"),
    ("customer", auth.CUSTOMER, "网上营业厅 self-service customer (sees only itself)"),
]


async def ensure_staff(url: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """Create the demo logins if missing. Returns them, and a new admin API key the first time."""
    db = Database(url, pool_size=1)
    admin_key = None
    try:
        async with db.unit_of_work() as uow:
            session = uow.session
            existing = set((await session.execute(select(Principal.username))).scalars())
            top_manager = (
                await session.execute(
                    select(Customer.manager_id)
                    .where(Customer.manager_id.is_not(None))
                    .group_by(Customer.manager_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            top_dealer = (
                await session.execute(
                    select(Customer.dealer_id)
                    .where(Customer.dealer_id.is_not(None))
                    .group_by(Customer.dealer_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            # the first active individual with a product and an order, so the web hall has something to show
            individual = (Customer.category == "individual", Customer.status == "active")
            served = (
                exists().where(Product.customer_id == Customer.id),
                exists().where(ProductOrder.customer_id == Customer.id),
            )
            first_customer = (
                await session.execute(select(Customer.id).where(*individual, *served).order_by(Customer.id).limit(1))
            ).scalar_one_or_none() or (
                await session.execute(select(Customer.id).where(*individual).order_by(Customer.id).limit(1))
            ).scalar_one_or_none()
            password_hash = identity.hash_password(DEMO_PASSWORD)
            for username, role, _ in STAFF:
                if username in existing:
                    continue
                kind = {"dealer": "dealer", "customer": "customer"}.get(role, "staff")
                session.add(
                    identity.new_principal(
                        kind=kind,
                        username=username,
                        password_hash=password_hash,
                        display_name=username,
                        roles=[role],
                        party_id=top_manager if role == auth.ACCOUNT_MANAGER else None,
                        dealer_id=top_dealer if role == auth.DEALER else None,
                        customer_id=first_customer if role == auth.CUSTOMER else None,
                    )
                )
            if "admin" not in existing:
                admin_key = await identity.create_api_key(session, name="demo-admin-key", role=auth.ADMIN)
    finally:
        await db.dispose()
    return [(u, r, n) for u, r, n in STAFF], admin_key
