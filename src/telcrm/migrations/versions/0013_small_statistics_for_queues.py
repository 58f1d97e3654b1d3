"""Small statistics samples for the queue and log tables (ADR 10, seventh session)

work_order, outbox_event, delivery and audit_entry grow by several rows per order and are read only
through their keys and partial indexes. Autovacuum analyses them every few tens of thousands of rows;
with the default target (100: 30,000 sampled rows, every column's values sorted) each ANALYZE took
0.25-0.4 s of a core, 1-1.5 s under load, and on a two-core server that burst held captures back.
A target of 10 samples 3,000 rows (15-25 ms) and still keeps the few status values as common values.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 23:10:00.000000
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

TABLES = ('work_order', 'outbox_event', 'delivery', 'audit_entry')


def _set(target: int) -> None:
    names = ', '.join(f"'{table}'::regclass" for table in TABLES)
    op.execute(
        f"""
        DO $$
        DECLARE c record;
        BEGIN
            FOR c IN SELECT attrelid::regclass AS rel, attname FROM pg_attribute
                     WHERE attrelid IN ({names}) AND attnum > 0 AND NOT attisdropped
            LOOP
                EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS {target}', c.rel, c.attname);
            END LOOP;
        END $$
        """
    )


def upgrade() -> None:
    _set(10)


def downgrade() -> None:
    _set(-1)
