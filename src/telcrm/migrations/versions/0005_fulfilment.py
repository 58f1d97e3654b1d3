"""order fulfilment: work orders, cancel requests, number pool item

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('number_pool', sa.Column('item_id', sa.String(length=100), nullable=True))
    op.create_table('work_order',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('item_id', sa.String(length=100), nullable=False),
    sa.Column('root_item_id', sa.String(length=100), nullable=False),
    sa.Column('domain', sa.String(length=20), nullable=False),
    sa.Column('task', sa.String(length=30), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('send_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['product_order.id'], name=op.f('fk_work_order_order_id_product_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order'))
    )
    op.create_index(op.f('ix_work_order_order_id'), 'work_order', ['order_id'], unique=False)
    op.create_index('ix_work_order_pending', 'work_order', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_work_order_sent', 'work_order', ['sent_at'], unique=False, postgresql_where=sa.text("status = 'sent'"))
    op.create_table('cancel_product_order',
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('dealer_id', sa.String(length=40), nullable=True),
    sa.Column('manager_id', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cancel_product_order'))
    )
    op.create_index('ix_cancel_product_order_created', 'cancel_product_order', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_cancel_product_order_order_id'), 'cancel_product_order', ['order_id'], unique=False)
    op.create_index(op.f('ix_cancel_product_order_customer_id'), 'cancel_product_order', ['customer_id'], unique=False)
    op.create_index(op.f('ix_cancel_product_order_dealer_id'), 'cancel_product_order', ['dealer_id'], unique=False)
    op.create_index(op.f('ix_cancel_product_order_manager_id'), 'cancel_product_order', ['manager_id'], unique=False)


def downgrade() -> None:
    op.drop_table('cancel_product_order')
    op.drop_table('work_order')
    op.drop_column('number_pool', 'item_id')
