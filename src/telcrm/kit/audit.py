"""The audit log: every change to customer data records who, when, through which channel, what."""

from __future__ import annotations

from typing import Any

from telcrm.kit.auth import Context
from telcrm.models import AuditEntry


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Top-level attributes that changed, each as ``{"before": ..., "after": ...}``."""
    before = before or {}
    after = after or {}
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes[key] = {"before": before.get(key), "after": after.get(key)}
    return changes


def record(
    ctx: Context,
    *,
    entity_type: str,
    entity_id: str,
    customer_id: str | None,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    ctx.uow.session.add(
        AuditEntry(
            principal_id=ctx.caller.id,
            principal_name=ctx.caller.name,
            channel=ctx.channel,
            entity_type=entity_type,
            entity_id=entity_id,
            customer_id=customer_id,
            action=action,
            changes=diff(before, after),
        )
    )
