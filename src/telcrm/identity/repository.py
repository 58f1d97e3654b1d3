"""All SQL of the identity domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telcrm.models import AccessToken, Principal


async def principal_for_token(session: AsyncSession, token_hash: str, now: datetime) -> Principal | None:
    stmt = (
        select(Principal)
        .join(AccessToken, AccessToken.principal_id == Principal.id)
        .where(
            AccessToken.token_hash == token_hash,
            AccessToken.revoked_at.is_(None),
            (AccessToken.expires_at.is_(None)) | (AccessToken.expires_at > now),
            Principal.active.is_(True),
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def principal_by_username(session: AsyncSession, username: str) -> Principal | None:
    stmt = select(Principal).where(Principal.username == username, Principal.active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()
