"""How many times a catalog job was started (ADR 14): catalog_job.starts

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 11:20:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('catalog_job', sa.Column('starts', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('catalog_job', 'starts')
