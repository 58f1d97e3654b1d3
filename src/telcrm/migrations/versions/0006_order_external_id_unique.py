"""an externalId names one order of a customer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:50:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_product_order_external', table_name='product_order')
    op.create_index('uq_product_order_external', 'product_order', ['customer_id', 'external_id'], unique=True, postgresql_where=sa.text('external_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_product_order_external', table_name='product_order')
    op.create_index('ix_product_order_external', 'product_order', ['customer_id', 'external_id'], unique=False)
