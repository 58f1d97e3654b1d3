"""Read models over the customer: the 360 view and the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from telcrm.customer.repository import customers
from telcrm.kit.auth import Context
from telcrm.kit.errors import NotFound
from telcrm.models import AuditEntry

# One statement, one round trip: PostgreSQL assembles the whole view as JSON.
_VIEW_360 = text(
    """
WITH c AS (
  SELECT * FROM customer
  WHERE id = :id AND (:everything OR manager_id = :manager_id OR dealer_id = :dealer_id
                      OR customer_id = :customer_id)
)
SELECT json_build_object(
  'customer', c.body,
  'party', (SELECT p.body FROM party p WHERE p.id = c.party_id),
  'engagedPartyResolved', c.party_id IS NOT NULL,
  'accounts', COALESCE((SELECT json_agg(a.body ORDER BY a.created_at) FROM
      (SELECT body, created_at FROM account WHERE customer_id = c.id ORDER BY created_at LIMIT 200) a), '[]'),
  'users', COALESCE((SELECT json_agg(u.body ORDER BY u.created_at) FROM
      (SELECT body, created_at FROM customer_user WHERE customer_id = c.id ORDER BY created_at LIMIT 500) u), '[]'),
  'products', COALESCE((SELECT json_agg(pi.body ORDER BY pi.created_at) FROM
      (SELECT body, created_at FROM product WHERE customer_id = c.id ORDER BY created_at LIMIT 500) pi), '[]'),
  'orders', COALESCE((SELECT json_agg(po.body ORDER BY po.created_at DESC, po.id DESC) FROM
      (SELECT body, created_at, id FROM product_order WHERE customer_id = c.id
       ORDER BY created_at DESC, id DESC LIMIT 50) po), '[]'),
  'relatedParties', COALESCE((SELECT json_agg(json_build_object(
        'ref', r.value,
        'resolved', COALESCE(p2.id, pr2.id) IS NOT NULL,
        'kind', COALESCE(p2.kind, CASE WHEN pr2.id IS NOT NULL THEN 'PartyRole' END),
        'name', COALESCE(p2.name, pr2.name)))
      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(c.body->'relatedParty') = 'array'
                                     THEN c.body->'relatedParty' ELSE '[]'::jsonb END) r
      LEFT JOIN party p2 ON p2.id = r.value->>'id'
      LEFT JOIN party_role pr2 ON pr2.id = r.value->>'id'), '[]'),
  'roles', COALESCE((SELECT json_agg(pr.body) FROM party_role pr WHERE pr.party_id = c.party_id), '[]'),
  'audit', COALESCE((SELECT json_agg(json_build_object(
        'at', e.at, 'who', e.principal_name, 'channel', e.channel, 'entityType', e.entity_type,
        'entityId', e.entity_id, 'action', e.action, 'changes', e.changes) ORDER BY e.id DESC)
      FROM (SELECT * FROM audit_entry WHERE customer_id = c.id ORDER BY id DESC LIMIT 20) e), '[]')
)::text
FROM c
"""
)


def _scope_params(ctx: Context) -> dict[str, Any]:
    scope = ctx.caller.scope
    return {
        "everything": scope.everything,
        "manager_id": scope.manager_id,
        "dealer_id": scope.dealer_id,
        "customer_id": scope.customer_id,
    }


async def customer_360_json(ctx: Context, customer_id: str) -> str:
    """The 360 view as a JSON text, or NotFound when the customer is unknown or out of scope."""
    row = (await ctx.uow.session.execute(_VIEW_360, {"id": customer_id, **_scope_params(ctx)})).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found", field="id")
    return str(row[0])


async def audit_trail(ctx: Context, customer_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
    await customers.get(ctx, customer_id, label="Customer")  # scope check
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.customer_id == customer_id)
        .order_by(AuditEntry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await ctx.uow.session.execute(stmt)).scalars().all()
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "who": e.principal_name,
            "whoId": e.principal_id,
            "channel": e.channel,
            "entityType": e.entity_type,
            "entityId": e.entity_id,
            "action": e.action,
            "changes": e.changes,
        }
        for e in rows
    ]
