"""Who may do what with accounts and the billing reference data."""

from __future__ import annotations

from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden

WRITERS = auth.REACH_ALL | {auth.ACCOUNT_MANAGER, auth.DEALER}
REFERENCE_WRITERS = frozenset({auth.ADMIN, auth.BACK_OFFICE, auth.SYSTEM})


def check_account(ctx: Context, action: str) -> None:
    if action in ("list", "read"):
        return
    if action == "delete":
        if not ctx.caller.has(auth.ADMIN, auth.SUPERVISOR, auth.BACK_OFFICE):
            raise Forbidden("only back office, supervisors and administrators may delete accounts")
        return
    if not ctx.caller.roles & WRITERS:
        raise Forbidden(f"your role may not {action} accounts")


def check_reference(ctx: Context, action: str) -> None:
    if action in ("list", "read"):
        return
    if not ctx.caller.roles & REFERENCE_WRITERS:
        raise Forbidden("only back office and administrators manage billing reference data")
