"""live notifications told after commit by the writing process, not by triggers in the transaction

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 07:20:00.000000
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# A NOTIFY in a transaction makes its commit wait for every other notifying transaction's commit,
# WAL flush included (PostgreSQL serializes them): with a trigger on every outbox and work-order
# write, that was every busy transaction. The writers now name their topics and each process
# sends them after commit, batched (kit.live, ADR 16).


def upgrade() -> None:
    op.execute("DROP TRIGGER work_order_live_update ON work_order")
    op.execute("DROP TRIGGER work_order_live_insert ON work_order")
    op.execute("DROP TRIGGER outbox_event_live ON outbox_event")
    op.execute("DROP FUNCTION telcrm_live_work_order()")
    op.execute("DROP FUNCTION telcrm_live_outbox()")


# revision 0009's triggers, as they were
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


def downgrade() -> None:
    op.execute(FUNCTIONS)
