"""product ordering and number pool

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 01:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('product_order',
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('billing_account_id', sa.String(length=40), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('dealer_id', sa.String(length=40), nullable=True),
    sa.Column('manager_id', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_order'))
    )
    op.create_index('ix_product_order_created', 'product_order', ['created_at', 'id'], unique=False)
    op.create_index('ix_product_order_external', 'product_order', ['customer_id', 'external_id'], unique=False)
    op.create_index('uq_product_order_idempotency', 'product_order', ['created_by', 'idempotency_key'], unique=True, postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.create_index(op.f('ix_product_order_billing_account_id'), 'product_order', ['billing_account_id'], unique=False)
    op.create_index(op.f('ix_product_order_customer_id'), 'product_order', ['customer_id'], unique=False)
    op.create_index(op.f('ix_product_order_dealer_id'), 'product_order', ['dealer_id'], unique=False)
    op.create_index(op.f('ix_product_order_manager_id'), 'product_order', ['manager_id'], unique=False)
    op.create_table('number_pool',
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('reserved_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_number_pool'))
    )
    op.create_index('ix_number_pool_status_number', 'number_pool', ['status', 'number'], unique=False)
    op.create_index(op.f('ix_number_pool_order_id'), 'number_pool', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_table('number_pool')
    op.drop_table('product_order')
