"""work orders being withdrawn from provisioning

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 05:10:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_work_order_withdrawing', 'work_order', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'withdrawing'"))


def downgrade() -> None:
    op.drop_index('ix_work_order_withdrawing', table_name='work_order')
