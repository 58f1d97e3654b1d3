"""Who may do what with the product catalog."""

from __future__ import annotations

from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden

# The catalog is public to every channel: any authenticated caller (customers and dealers too) reads it.
WRITERS = frozenset({auth.ADMIN, auth.BACK_OFFICE, auth.SYSTEM})


def check(ctx: Context, action: str) -> None:
    if action in ("list", "read"):
        return
    if not ctx.caller.roles & WRITERS:
        raise Forbidden("only back office, administrators and system clients manage the product catalog")
