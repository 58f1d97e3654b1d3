"""Migrations that move data: run on a database of their own, from the revision before."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from telcrm.migrations import config, upgrade
from tests.conftest import _plain, scratch_database


@pytest.fixture
def scratch_url(worker_id: str) -> Iterator[str]:
    """An empty database of this test's own, dropped after."""
    with scratch_database(f"telcrm_migration_{worker_id}_{os.getpid()}") as url:
        yield url


WORK_INDEXES = "SELECT indexname FROM pg_indexes WHERE tablename = 'work_order' ORDER BY 1"


def test_revision_0017_moves_the_open_work_orders_into_the_queue_and_back(scratch_url: str) -> None:
    upgrade(scratch_url, "0016")
    with psycopg.connect(_plain(scratch_url), autocommit=True) as conn:
        conn.execute("INSERT INTO product_order (id, state, body, version) VALUES ('O1', 'inProgress', '{}', 1)")
        statuses = ["waiting", "pending", "sent", "withdrawing", "completed", "failed", "cancelled"]
        for n, status in enumerate(statuses):
            conn.execute(
                "INSERT INTO work_order (id, order_id, item_id, root_item_id, domain, task, action, seq, status,"
                " attempt, send_attempts, next_attempt_at, sent_at, payload)"
                " VALUES (%s, 'O1', '1', '1', 'mobile', 'sim', 'add', %s, %s, 1, 0,"
                " '2026-11-24 10:00+00'::timestamptz + %s * interval '1 minute',"
                " '2026-11-24 09:00+00'::timestamptz + %s * interval '1 minute', '{}')",
                (f"W{n}", n, status, n, n),
            )
        before = conn.execute(WORK_INDEXES).fetchall()
        assert ("ix_work_order_pending",) in before

        upgrade(scratch_url, "0017")
        queued = conn.execute(
            "SELECT id, status, to_char(due_at AT TIME ZONE 'UTC', 'HH24:MI') FROM work_order_queue ORDER BY id"
        ).fetchall()
        # pending and withdrawing by their next attempt, sent by when it was sent; no other
        assert queued == [("W1", "pending", "10:01"), ("W2", "sent", "09:02"), ("W3", "withdrawing", "10:03")]
        assert conn.execute(WORK_INDEXES).fetchall() == [("ix_work_order_order_id",), ("pk_work_order",)]
        options = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'work_order'").fetchone()
        assert options == (["fillfactor=70"],)
        upgrade(scratch_url, "0018")  # and vacuum leaves the queue's empty pages to be reused
        options = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'work_order_queue'").fetchone()
        assert options == (["vacuum_truncate=false"],)
        # a work order's queue row goes with it
        conn.execute("DELETE FROM work_order WHERE id = 'W1'")
        assert conn.execute("SELECT count(*) FROM work_order_queue").fetchone() == (2,)

        command.downgrade(config(scratch_url), "0016")
        assert conn.execute(WORK_INDEXES).fetchall() == before
        assert conn.execute("SELECT to_regclass('work_order_queue')").fetchone() == (None,)
        assert conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'work_order'").fetchone() == (None,)
