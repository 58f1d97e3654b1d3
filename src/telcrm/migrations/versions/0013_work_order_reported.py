"""Results recorded before their order moves on (ADR 9, ADR 10): work_order.reported

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 20:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('work_order', sa.Column('reported', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index(
        'ix_work_order_reported', 'work_order', ['order_id'], unique=False, postgresql_where=sa.text('reported')
    )


def downgrade() -> None:
    op.drop_index('ix_work_order_reported', table_name='work_order', postgresql_where=sa.text('reported'))
    op.drop_column('work_order', 'reported')
