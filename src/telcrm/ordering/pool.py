"""Filling the number pool (选号) in bulk: for the ``telcrm numbers add`` command and the demo data."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

KINDS = ("mobile", "fixed")


def add_numbers(dsn: str, numbers: Sequence[str], kind: str) -> int:
    """Put ``numbers`` in the pool as free numbers of ``kind``; returns how many were added.

    Numbers already in the pool are left as they are, and so are numbers some customer already
    has (a phone search key: a user's, a product's or a contact's number), so running it twice
    adds nothing the second time.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            "INSERT INTO number_pool (number, kind, status)"
            " SELECT n, %s, 'free' FROM unnest(%s::text[]) AS n"
            " WHERE NOT EXISTS (SELECT 1 FROM search_key k WHERE k.kind = 'phone' AND k.key = n)"
            " ORDER BY n ON CONFLICT (number) DO NOTHING",
            (kind, list(numbers)),
        )
        return max(cur.rowcount, 0)
