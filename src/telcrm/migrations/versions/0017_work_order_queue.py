"""work_order_queue: the open work orders by due time in a small table; work_order's status changes HOT

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 02:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# work_order's three partial indexes (pending and withdrawing by next_attempt_at, sent by sent_at)
# named `status` in their predicates, so every status change of a work order (2.5 an order: sent,
# completed...) wrote a new entry into each of its indexes, primary key and order id included: a
# quarter of the database's buffer work per order (ADR 10). The queue they served is now a table of
# its own, one row per open work order, written with the work order's change; work_order's indexes
# name only `id` and `order_id`, which never change, and a third of each new page is left free for
# updated versions: a status change is a HOT update. The queue rows are taken from the old partial
# indexes (one range each, not a read of the whole table) before they are dropped.


def upgrade() -> None:
    op.create_table(
        'work_order_queue',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['id'], ['work_order.id'], name=op.f('fk_work_order_queue_id_work_order'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_queue')),
    )
    op.create_index('ix_work_order_queue_due', 'work_order_queue', ['status', 'due_at', 'id'], unique=False)
    op.execute(
        "INSERT INTO work_order_queue (id, status, due_at)"
        " SELECT id, status, next_attempt_at FROM work_order WHERE status = 'pending'"
        " UNION ALL SELECT id, status, next_attempt_at FROM work_order WHERE status = 'withdrawing'"
        " UNION ALL SELECT id, status, sent_at FROM work_order WHERE status = 'sent'"
    )
    op.drop_index('ix_work_order_pending', table_name='work_order')
    op.drop_index('ix_work_order_sent', table_name='work_order')
    op.drop_index('ix_work_order_withdrawing', table_name='work_order')
    op.execute("ALTER TABLE work_order SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE work_order RESET (fillfactor)")
    op.create_index('ix_work_order_withdrawing', 'work_order', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'withdrawing'"))
    op.create_index('ix_work_order_sent', 'work_order', ['sent_at'], unique=False, postgresql_where=sa.text("status = 'sent'"))
    op.create_index('ix_work_order_pending', 'work_order', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.drop_index('ix_work_order_queue_due', table_name='work_order_queue')
    op.drop_table('work_order_queue')
