"""live notifications: committed outbox events and work-order changes NOTIFY telcrm_live

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 07:40:00.000000
"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# One notification per statement, naming the customers ("c:<id>") or orders ("o:<id>") it touched;
# PostgreSQL delivers it only if the transaction commits. A statement touching very many (a bulk
# merge) says "*": everything may have changed. Payloads stay far below NOTIFY's 8000-byte limit.
FUNCTIONS = """
CREATE FUNCTION telcrm_live_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE topics text;
BEGIN
  SELECT CASE WHEN count(DISTINCT customer_id) > 100 THEN '*'
              ELSE string_agg(DISTINCT 'c:' || customer_id, ' ') END
    INTO topics FROM live_rows WHERE customer_id IS NOT NULL;
  IF topics IS NOT NULL THEN PERFORM pg_notify('telcrm_live', topics); END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION telcrm_live_work_order() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE topics text;
BEGIN
  SELECT CASE WHEN count(DISTINCT order_id) > 100 THEN '*'
              ELSE string_agg(DISTINCT 'o:' || order_id, ' ') END
    INTO topics FROM live_rows;
  IF topics IS NOT NULL THEN PERFORM pg_notify('telcrm_live', topics); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_event_live AFTER INSERT ON outbox_event
  REFERENCING NEW TABLE AS live_rows FOR EACH STATEMENT EXECUTE FUNCTION telcrm_live_outbox();
CREATE TRIGGER work_order_live_insert AFTER INSERT ON work_order
  REFERENCING NEW TABLE AS live_rows FOR EACH STATEMENT EXECUTE FUNCTION telcrm_live_work_order();
CREATE TRIGGER work_order_live_update AFTER UPDATE ON work_order
  REFERENCING NEW TABLE AS live_rows FOR EACH STATEMENT EXECUTE FUNCTION telcrm_live_work_order();
"""


def upgrade() -> None:
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP TRIGGER work_order_live_update ON work_order")
    op.execute("DROP TRIGGER work_order_live_insert ON work_order")
    op.execute("DROP TRIGGER outbox_event_live ON outbox_event")
    op.execute("DROP FUNCTION telcrm_live_work_order()")
    op.execute("DROP FUNCTION telcrm_live_outbox()")
