"""number_pool: partial indexes for free numbers and lapsing reservations instead of (status, number)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 18:10:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# The (status, number) index let the planner take every 'reserved' entry (dead ones included) for
# statements that name one order's numbers: at commit a result batch's numbers are taken with the
# status written into the text, and with 'reserved' rare in the statistics the planner walked that
# index instead of the order-id index, 200+ entries and heap visits per batch, more as the minute
# went on (ADR 10). What needs an index by status is 选号 (free numbers by prefix, in order) and
# the sweep for lapsed reservations (held and pending orders only): each gets a partial index that
# no statement about one order's numbers can use. The free numbers are indexed in the "C"
# collation so that a prefix (LIKE 'p%') is a range of the index whatever the database's collation.


def upgrade() -> None:
    op.drop_index('ix_number_pool_status_number', table_name='number_pool')
    op.create_index('ix_number_pool_free', 'number_pool', [sa.text('number COLLATE "C"')], unique=False, postgresql_where=sa.text("status = 'free'"))
    op.create_index('ix_number_pool_reserved_until', 'number_pool', ['reserved_until'], unique=False, postgresql_where=sa.text("reserved_until IS NOT NULL"))


def downgrade() -> None:
    op.drop_index('ix_number_pool_reserved_until', table_name='number_pool')
    op.drop_index('ix_number_pool_free', table_name='number_pool')
    op.create_index('ix_number_pool_status_number', 'number_pool', ['status', 'number'], unique=False)
