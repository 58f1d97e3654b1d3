"""product_order: held queue indexed by held_at, not state; fillfactor 75 (HOT updates)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 08:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# An UPDATE that changes a column some index names (in its key or in its predicate) writes a new
# entry into every index of the table. The held queue's partial index named `state`, so every state
# change of an order (captured, completed, failed...) wrote nine index entries. Indexed by a column
# of its own (`held_at`, set while the order is held), the other state changes touch no indexed
# column; with room left in each page (fillfactor 75, for pages written from now on) the new row
# version stays in its page and no index is written (a HOT update).


def upgrade() -> None:
    op.add_column('product_order', sa.Column('held_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE product_order SET held_at = updated_at WHERE state = 'held'")
    op.drop_index('ix_product_order_held', table_name='product_order')
    op.create_index('ix_product_order_held', 'product_order', ['created_at', 'id'], unique=False, postgresql_where=sa.text("held_at IS NOT NULL"))
    op.execute("ALTER TABLE product_order SET (fillfactor = 75)")


def downgrade() -> None:
    op.execute("ALTER TABLE product_order RESET (fillfactor)")
    op.drop_index('ix_product_order_held', table_name='product_order')
    op.create_index('ix_product_order_held', 'product_order', ['created_at', 'id'], unique=False, postgresql_where=sa.text("state = 'held'"))
    op.drop_column('product_order', 'held_at')
