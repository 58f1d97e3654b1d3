"""Who may do what with customers and their users."""

from __future__ import annotations

from typing import Any

from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden

WRITERS = auth.REACH_ALL | {auth.ACCOUNT_MANAGER, auth.DEALER}
TERMINATORS = frozenset({auth.ADMIN, auth.SUPERVISOR, auth.BACK_OFFICE, auth.SYSTEM})
SELF_SERVICE_FIELDS = frozenset({"contactMedium"})


def check_customer(ctx: Context, action: str, patch: dict[str, Any] | None) -> None:
    caller = ctx.caller
    if action in ("list", "read"):
        return
    if action == "delete":
        if not caller.has(auth.ADMIN, auth.SUPERVISOR):
            raise Forbidden("only administrators and supervisors may delete customers; terminate instead")
        return
    if caller.roles & WRITERS:
        return
    if action == "update" and caller.has(auth.CUSTOMER) and patch is not None and not set(patch) - SELF_SERVICE_FIELDS:
        return
    raise Forbidden(f"your role may not {action} customers")


def check_terminate(ctx: Context) -> None:
    if not ctx.caller.roles & TERMINATORS:
        raise Forbidden("only back office, supervisors and administrators may terminate a customer", field="status")


def check_user(ctx: Context, action: str) -> None:
    if action in ("list", "read"):
        return
    if not ctx.caller.roles & WRITERS:
        raise Forbidden(f"your role may not {action} users")
