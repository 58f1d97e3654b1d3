"""Bulk writes with COPY, shared by the bulk loaders (demo data, the legacy merge and import):
the column lists of the tables they fill, the COPY text format, and a plain libpq URL.

The column lists are the services' tables as the ORM models define them; a loader writes its
rows in exactly this order.
"""

from __future__ import annotations

from typing import Any

import orjson

NULL = "\\N"

COPY_SQL = {
    "party": "COPY party (id, kind, status, name, parent_id, body, version, created_at, updated_at, customer_id,"
    " dealer_id, manager_id) FROM STDIN",
    "customer": "COPY customer (id, name, status, category, vip_level, party_id, party_kind, body, version,"
    " created_at, updated_at, customer_id, dealer_id, manager_id) FROM STDIN",
    "party_role": "COPY party_role (id, name, role_kind, status, party_id, body, version, created_at, updated_at,"
    " customer_id, dealer_id, manager_id) FROM STDIN",
    "account": "COPY account (id, kind, name, state, account_type, owner_customer_id, body, version, created_at,"
    " updated_at, customer_id, dealer_id, manager_id) FROM STDIN",
    "customer_user": "COPY customer_user (id, name, status, party_id, billing_account_id, body, version, created_at,"
    " updated_at, customer_id, dealer_id, manager_id) FROM STDIN",
    "product": "COPY product (id, name, status, offering_id, billing_account_id, user_id, start_date, termination_date,"
    " billing_start_date, body, version, created_at, updated_at, customer_id, dealer_id, manager_id) FROM STDIN",
    "product_order": "COPY product_order (id, state, billing_account_id, external_id, created_by, idempotency_key,"
    " body, version, created_at, updated_at, customer_id, dealer_id, manager_id) FROM STDIN",
    "work_order": "COPY work_order (id, order_id, item_id, root_item_id, domain, task, action, seq, status, attempt,"
    " send_attempts, next_attempt_at, sent_at, finished_at, reason, payload, result, created_at, updated_at)"
    " FROM STDIN",
    "search_key": "COPY search_key (key, kind, ref_id, customer_id, weight) FROM STDIN",
    "audit_entry": "COPY audit_entry (principal_id, principal_name, channel, entity_type, entity_id, customer_id,"
    " action, changes) FROM STDIN",
    "outbox_event": "COPY outbox_event (event_id, api, event_type, resource_type, resource_id, customer_id, payload,"
    " created_at) FROM STDIN",
}


def text(value: str | None) -> str:
    """A text column in COPY text format (None is NULL)."""
    if value is None:
        return NULL
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def json(value: Any) -> str:
    """A JSON(B) column in COPY text format (orjson escapes control characters; backslashes doubled)."""
    return orjson.dumps(value).decode().replace("\\", "\\\\")


def plain_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as libpq (psycopg) takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
