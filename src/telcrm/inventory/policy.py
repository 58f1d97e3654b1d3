"""Who may do what with product instances (ADR 7)."""

from __future__ import annotations

from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden

# Reads are limited by scope (ADR 3): a customer sees only its own products, read-only.
WRITERS = auth.REACH_ALL | {auth.ACCOUNT_MANAGER, auth.DEALER}
DELETERS = frozenset({auth.ADMIN, auth.SUPERVISOR})


def check(ctx: Context, action: str) -> None:
    if action in ("list", "read"):
        return
    if action == "delete":
        if not ctx.caller.roles & DELETERS:
            raise Forbidden("only supervisors and administrators may delete products")
        return
    if not ctx.caller.roles & WRITERS:
        raise Forbidden(f"your role may not {action} products")
