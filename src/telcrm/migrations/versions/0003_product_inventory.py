"""product inventory

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:10:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('product',
    sa.Column('name', sa.String(length=400), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('offering_id', sa.String(length=40), nullable=True),
    sa.Column('billing_account_id', sa.String(length=40), nullable=True),
    sa.Column('user_id', sa.String(length=40), nullable=True),
    sa.Column('start_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('termination_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('billing_start_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('dealer_id', sa.String(length=40), nullable=True),
    sa.Column('manager_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['billing_account_id'], ['account.id'], name=op.f('fk_product_billing_account_id_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['customer_user.id'], name=op.f('fk_product_user_id_customer_user'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product'))
    )
    op.create_index('ix_product_created', 'product', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_product_billing_account_id'), 'product', ['billing_account_id'], unique=False)
    op.create_index(op.f('ix_product_customer_id'), 'product', ['customer_id'], unique=False)
    op.create_index(op.f('ix_product_dealer_id'), 'product', ['dealer_id'], unique=False)
    op.create_index(op.f('ix_product_manager_id'), 'product', ['manager_id'], unique=False)
    op.create_index(op.f('ix_product_offering_id'), 'product', ['offering_id'], unique=False)
    op.create_index(op.f('ix_product_user_id'), 'product', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_product_user_id'), table_name='product')
    op.drop_index(op.f('ix_product_offering_id'), table_name='product')
    op.drop_index(op.f('ix_product_manager_id'), table_name='product')
    op.drop_index(op.f('ix_product_dealer_id'), table_name='product')
    op.drop_index(op.f('ix_product_customer_id'), table_name='product')
    op.drop_index(op.f('ix_product_billing_account_id'), table_name='product')
    op.drop_index('ix_product_created', table_name='product')
    op.drop_table('product')
