"""The audit log: every change to customer data records who, when, through which channel, what."""

from __future__ import annotations

from typing import Any

from telcrm.kit.auth import Context
from telcrm.kit.db import snapshot

BUFFER = "audit.entries"


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
    # a snapshot (the documents may still change in this transaction), written with the
    # transaction's other entries in one statement just before it commits
    changes = snapshot(diff(before, after))
    ctx.uow.buffer(BUFFER, lambda rows: _write(ctx, rows)).append(
        {
            "principal_id": ctx.caller.id,
            "principal_name": ctx.caller.name,
            "channel": ctx.channel,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "customer_id": customer_id,
            "action": action,
            "changes": changes,
        }
    )


COLUMNS = ("principal_id", "principal_name", "channel", "entity_type", "entity_id", "customer_id", "action", "changes")


async def _write(ctx: Context, rows: list[dict[str, Any]]) -> None:
    await ctx.uow.insert_rows("audit_entry", COLUMNS, rows, jsonb=("changes",))
