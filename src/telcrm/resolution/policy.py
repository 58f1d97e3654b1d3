"""Who may act on legacy records, and the default trust of each source (ADR 11)."""

from __future__ import annotations

from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden

# Data stewards: the role model (ADR 3) has no steward role; deciding that two customers are one
# changes customer data wholesale, which is back office, supervisor and admin work.
STEWARDS = frozenset({auth.ADMIN, auth.SUPERVISOR, auth.BACK_OFFICE})
READERS = STEWARDS | {auth.SYSTEM}

# Most trusted first: billing holds the paying customer's checked identity, mobile is real-name
# registered (实名制), the fixed-network systems are the oldest and least kept up.
DEFAULT_SOURCE_RANKING: tuple[str, ...] = ("billing", "mobile", "broadband", "fixed", "voip")


def check_read(ctx: Context) -> None:
    if not ctx.caller.roles & READERS:
        raise Forbidden("legacy record resolution is for data stewards (admin, supervisor, back office)")


def check_steward(ctx: Context) -> None:
    if not ctx.caller.roles & STEWARDS:
        raise Forbidden("only a data steward (admin, supervisor, back office) may decide or undo merges")
