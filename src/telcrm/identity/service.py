"""Authentication: API keys, staff/dealer/customer logins, and the callers they become."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from telcrm.identity import repository
from telcrm.kit import auth
from telcrm.kit.auth import Caller, hash_secret, new_secret
from telcrm.kit.errors import Unauthenticated, ValidationFailed
from telcrm.kit.ids import new_id
from telcrm.models import AccessToken, Principal

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def caller_of(p: Principal) -> Caller:
    return Caller(
        id=p.id,
        kind=p.kind,
        name=p.display_name,
        roles=frozenset(p.roles),
        party_id=p.party_id,
        dealer_id=p.dealer_id,
        customer_id=p.customer_id,
    )


class TokenCache:
    """Authenticated tokens cached for a short time: one DB lookup per token per period."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: dict[str, tuple[float, Caller]] = {}

    def get(self, token_hash: str) -> Caller | None:
        hit = self._items.get(token_hash)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, token_hash: str, caller: Caller) -> None:
        if self.seconds <= 0:
            return
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[token_hash] = (time.monotonic() + self.seconds, caller)

    def clear(self) -> None:
        self._items.clear()


async def authenticate(session: AsyncSession, token: str, cache: TokenCache | None = None) -> Caller:
    token_hash = hash_secret(token)
    if cache is not None and (hit := cache.get(token_hash)) is not None:
        return hit
    principal = await repository.principal_for_token(session, token_hash, datetime.now(UTC))
    if principal is None:
        raise Unauthenticated("the bearer token is unknown, expired or revoked")
    caller = caller_of(principal)
    if cache is not None:
        cache.put(token_hash, caller)
    return caller


async def login(session: AsyncSession, username: str, password: str, hours: int) -> tuple[str, Caller]:
    principal = await repository.principal_by_username(session, username)
    try:
        _hasher.verify(principal.password_hash if principal and principal.password_hash else _DUMMY_HASH, password)
    except (VerifyMismatchError, InvalidHashError):
        principal = None
    if principal is None:
        raise Unauthenticated("unknown username or wrong password")
    token = new_secret("tcs")
    session.add(
        AccessToken(
            token_hash=hash_secret(token),
            principal_id=principal.id,
            kind="session",
            name="login",
            expires_at=datetime.now(UTC) + timedelta(hours=hours),
        )
    )
    return token, caller_of(principal)


async def logout(session: AsyncSession, token: str) -> None:
    """End a login session: its token stops working (API keys are revoked elsewhere, not here)."""
    await session.execute(
        update(AccessToken)
        .where(AccessToken.token_hash == hash_secret(token), AccessToken.kind == "session")
        .values(revoked_at=datetime.now(UTC))
    )


def _check_roles(roles: list[str]) -> None:
    unknown = sorted(set(roles) - auth.ALL_ROLES)
    if unknown or not roles:
        raise ValidationFailed(
            f"unknown role {', '.join(unknown) or '(none)'}; roles are {', '.join(sorted(auth.ALL_ROLES))}",
            field="role",
        )


def new_principal(
    *,
    kind: str,
    display_name: str,
    roles: list[str],
    username: str | None = None,
    password: str | None = None,
    party_id: str | None = None,
    dealer_id: str | None = None,
    customer_id: str | None = None,
    password_hash: str | None = None,
) -> Principal:
    _check_roles(roles)
    if password is not None:
        password_hash = _hasher.hash(password)
    return Principal(
        id=new_id(),
        kind=kind,
        username=username,
        password_hash=password_hash,
        display_name=display_name,
        roles=roles,
        party_id=party_id,
        dealer_id=dealer_id,
        customer_id=customer_id,
        active=True,
    )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def create_api_key(session: AsyncSession, *, name: str, role: str, dealer_id: str | None = None) -> str:
    """A system client with one role and a new API key; returns the key (shown once)."""
    kind = "dealer" if role == auth.DEALER else ("customer" if role == auth.CUSTOMER else "system")
    principal = new_principal(kind=kind, display_name=name, roles=[role], dealer_id=dealer_id)
    session.add(principal)
    await session.flush()
    key = new_secret("tck")
    session.add(AccessToken(token_hash=hash_secret(key), principal_id=principal.id, kind="apikey", name=name))
    await session.flush()
    return key


async def rotate_api_key(session: AsyncSession, *, name: str, role: str) -> str:
    """A new key for the system client ``name``; the earlier clients of that name are deactivated,
    so the keys they were given stop working (the demo's simulator gets a fresh key per start)."""
    await session.execute(
        update(Principal)
        .where(Principal.kind == "system", Principal.display_name == name, Principal.active.is_(True))
        .values(active=False)
    )
    return await create_api_key(session, name=name, role=role)


async def add_token(session: AsyncSession, principal: Principal, *, kind: str, name: str) -> str:
    key = new_secret("tck" if kind == "apikey" else "tcs")
    session.add(AccessToken(token_hash=hash_secret(key), principal_id=principal.id, kind=kind, name=name))
    await session.flush()
    return key
