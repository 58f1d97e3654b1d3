"""orders on hold, for the staff's queue

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 08:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_product_order_held', 'product_order', ['created_at', 'id'], unique=False, postgresql_where=sa.text("state = 'held'"))


def downgrade() -> None:
    op.drop_index('ix_product_order_held', table_name='product_order')
