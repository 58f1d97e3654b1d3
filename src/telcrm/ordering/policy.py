"""Who may do what with product orders, and the pluggable credit rule (ADR 8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telcrm.kit import auth
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden

# Reads are limited by scope (ADR 3). Self-service customers place orders for themselves.
WRITERS = auth.REACH_ALL | {auth.ACCOUNT_MANAGER, auth.DEALER, auth.CUSTOMER}
DELETERS = frozenset({auth.ADMIN, auth.SUPERVISOR})
# Only the fulfilment side (an integrated system, or an administrator) moves orders along the
# whole TMF622 lifecycle; channels may only release a held order or cancel one not yet started.
FULFILMENT = frozenset({auth.SYSTEM, auth.ADMIN})
# A held order (credit) is released by the operator's staff or an integrated credit system, never
# by the customer or a dealer it was held for.
RELEASERS = auth.STAFF_ROLES | {auth.SYSTEM}


def check(ctx: Context, action: str) -> None:
    if action in ("list", "read"):
        return
    if action == "delete":
        if not ctx.caller.roles & DELETERS:
            raise Forbidden("only supervisors and administrators may delete product orders")
        return
    if not ctx.caller.roles & WRITERS:
        raise Forbidden(f"your role may not {action} product orders")


def check_release(ctx: Context) -> None:
    if not ctx.caller.roles & RELEASERS:
        raise Forbidden("only the operator's staff release a held order", field="state")


def check_provisioning(ctx: Context) -> None:
    """Only integrated systems (provisioning) and administrators report work order results."""
    if not ctx.caller.roles & FULFILMENT:
        raise Forbidden("only the provisioning systems report work order results")


def _amount(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        return float(value["value"])
    return None


def overdue_over_credit_limit(account: dict[str, Any]) -> str | None:
    """Default credit rule: an overdue balance above the account's credit limit holds the order."""
    limit = _amount(account.get("creditLimit"))
    for balance in account.get("accountBalance") or []:
        if not isinstance(balance, dict) or balance.get("balanceType") != "overdue":
            continue
        overdue = _amount(balance.get("amount"))
        if overdue is not None and overdue > (limit or 0.0):
            return (
                f"billing account {account.get('id')} is overdue by {overdue:g}, over its credit limit "
                f"{limit or 0:g}: the order is held until the debt is settled"
            )
    return None


# The credit rule in force: takes a billing account's TMF666 document, returns a reason to hold
# the order or None. Replace it (e.g. with a call to a credit-scoring system) to change the rule.
CreditRule = Callable[[dict[str, Any]], str | None]
credit_rule: CreditRule = overdue_over_credit_limit
