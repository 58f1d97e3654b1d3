"""work_order_queue: vacuum never truncates it

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 04:15:00.000000
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# A VACUUM that finds empty pages at the end of a table cuts them off, under the table's ACCESS
# EXCLUSIVE lock: every transaction that writes the queue of open work orders (captures, result
# batches, the sender) waits while it lasts. The queue is emptied and refilled all day, so there is
# always an empty tail to cut and a writer to hold up; its pages are reused instead.


def upgrade() -> None:
    op.execute("ALTER TABLE work_order_queue SET (vacuum_truncate = false)")


def downgrade() -> None:
    op.execute("ALTER TABLE work_order_queue RESET (vacuum_truncate)")
