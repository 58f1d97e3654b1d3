"""Who is calling, and which customers that lets them see and change.

Scope is decided here once and applied by every repository: a caller either reaches every
customer, or only rows whose scope columns (``customer_id``, ``dealer_id``, ``manager_id``)
match the caller's own ids.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, false, or_

# Staff roles
ADMIN = "admin"
AGENT = "agent"  # call-center agent
CLERK = "clerk"  # retail hall clerk
ACCOUNT_MANAGER = "account_manager"
BACK_OFFICE = "back_office"
SUPERVISOR = "supervisor"
# Non-staff roles
DEALER = "dealer"
CUSTOMER = "customer"
SYSTEM = "system"  # an integrated system (billing, provisioning, ODS) with an API key

STAFF_ROLES = frozenset({ADMIN, AGENT, CLERK, ACCOUNT_MANAGER, BACK_OFFICE, SUPERVISOR})
ALL_ROLES = STAFF_ROLES | {DEALER, CUSTOMER, SYSTEM}
# Front-line and back-office staff serve whoever calls or walks in: they reach every customer.
REACH_ALL = frozenset({ADMIN, AGENT, CLERK, BACK_OFFICE, SUPERVISOR, SYSTEM})


@dataclass(frozen=True)
class Caller:
    id: str
    kind: str  # staff | dealer | customer | system
    name: str
    roles: frozenset[str]
    party_id: str | None = None  # the caller's own party (an account manager's Individual)
    dealer_id: str | None = None  # for dealers: the dealer's Organization party
    customer_id: str | None = None  # for self-service customers

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def scope(self) -> Scope:
        if self.roles & REACH_ALL:
            return Scope(everything=True)
        return Scope(
            manager_id=self.party_id if ACCOUNT_MANAGER in self.roles else None,
            dealer_id=self.dealer_id if DEALER in self.roles else None,
            customer_id=self.customer_id if CUSTOMER in self.roles else None,
        )


@dataclass(frozen=True)
class Scope:
    everything: bool = False
    manager_id: str | None = None
    dealer_id: str | None = None
    customer_id: str | None = None

    def clause(self, model: Any) -> ColumnElement[bool] | None:
        """The predicate limiting ``model`` (which has the Scoped columns) to this scope."""
        if self.everything:
            return None
        parts: list[ColumnElement[bool]] = []
        if self.manager_id:
            parts.append(model.manager_id == self.manager_id)
        if self.dealer_id:
            parts.append(model.dealer_id == self.dealer_id)
        if self.customer_id:
            parts.append(model.customer_id == self.customer_id)
        if not parts:
            return false()
        return or_(*parts)

    def admits(self, customer_id: str | None, dealer_id: str | None, manager_id: str | None) -> bool:
        """The same rule for values already in hand (a row loaded, a reference resolved)."""
        if self.everything:
            return True
        return bool(
            (self.manager_id and manager_id == self.manager_id)
            or (self.dealer_id and dealer_id == self.dealer_id)
            or (self.customer_id and customer_id == self.customer_id)
        )


@dataclass(frozen=True)
class Context:
    """What every service call carries: the transaction, the caller and the channel."""

    uow: Any  # telcrm.kit.db.UnitOfWork (Any keeps this module free of the DB layer)
    caller: Caller
    channel: str = "api"  # api | web | cli | demo | worker
    extra: dict[str, Any] = field(default_factory=dict)


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


SYSTEM_CALLER = Caller(id="system", kind="system", name="telcrm", roles=frozenset({SYSTEM, ADMIN}))
