"""All SQL of the party domain."""

from __future__ import annotations

from sqlalchemy import select, update

from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentStore
from telcrm.models import Party, PartyRole

individuals = DocumentStore(Party, kind="Individual")
organizations = DocumentStore(Party, kind="Organization")
any_party = DocumentStore(Party)
party_roles = DocumentStore(PartyRole)


async def ancestors(ctx: Context, party_id: str, limit: int = 50) -> list[str]:
    """Ids from ``party_id`` up its organisation hierarchy (to detect cycles)."""
    out: list[str] = []
    current: str | None = party_id
    while current and len(out) < limit:
        out.append(current)
        current = (
            await ctx.uow.session.execute(select(Party.parent_id).where(Party.id == current))
        ).scalar_one_or_none()
    return out


async def set_scope(
    ctx: Context, party_id: str, customer_id: str | None, dealer_id: str | None, manager_id: str | None
) -> None:
    await ctx.uow.session.execute(
        update(Party)
        .where(Party.id == party_id)
        .values(customer_id=customer_id, dealer_id=dealer_id, manager_id=manager_id)
    )
