"""Who may do what with parties and party roles."""

from __future__ import annotations

from typing import Any

from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden

WRITERS = auth.REACH_ALL | {auth.ACCOUNT_MANAGER, auth.DEALER}
# What a self-service customer may change on their own party record.
SELF_SERVICE_FIELDS = frozenset({"contactMedium"})


def check_party(ctx: Context, action: str, patch: dict[str, Any] | None) -> None:
    caller = ctx.caller
    if action in ("list", "read"):
        return  # visibility is the repository's scope
    if action == "delete":
        if not caller.has(auth.ADMIN, auth.SUPERVISOR):
            raise Forbidden("only administrators and supervisors may delete parties")
        return
    if caller.roles & WRITERS:
        return
    if action == "update" and caller.has(auth.CUSTOMER) and patch is not None:
        extra = sorted(set(patch) - SELF_SERVICE_FIELDS)
        if not extra:
            return
        raise Forbidden(f"customers may change only their contact details, not {extra[0]}", field=extra[0])
    raise Forbidden(f"your role may not {action} parties")


def check_party_role(ctx: Context, action: str) -> None:
    if action in ("list", "read"):
        return
    if not ctx.caller.has(auth.ADMIN, auth.SUPERVISOR, auth.BACK_OFFICE, auth.SYSTEM):
        raise Forbidden(f"your role may not {action} party roles")
