"""correct sessions counted, not stored one by one; the classify job's queue of stale site-hours

Issue 17: at 2 M sessions 99 % are judged correct, and writing a row for each was a quarter of the
classify job's time. `billing_correct` counts them per (site, UTC hour, local date, plan, currency);
`billing_findings` keeps every other class. The rows already judged correct are counted and deleted
here (set-based). `pending_site_hours` is the queue ingest fills with the (site, hour of exit) whose
judgment a change made stale; parking_sessions gets an index on (site_id, exited_at) to read one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_correct',
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('rate_plan_id', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('sessions', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('site_id', 'hour', 'local_date', 'rate_plan_id', 'currency', name=op.f('pk_billing_correct'))
    )
    op.create_index(op.f('ix_billing_correct_hour'), 'billing_correct', ['hour'], unique=False)
    op.create_index(op.f('ix_billing_correct_local_date_site_id'), 'billing_correct', ['local_date', 'site_id'], unique=False)
    op.create_table('pending_site_hours',
    sa.Column('consumer', sa.Text(), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'site_id', 'hour', name=op.f('pk_pending_site_hours'))
    )
    op.create_index(op.f('ix_billing_findings_site_id_hour'), 'billing_findings', ['site_id', 'hour'], unique=False)
    op.create_index(op.f('ix_parking_sessions_site_id_exited_at'), 'parking_sessions', ['site_id', 'exited_at'], unique=False)
    op.execute("""
        INSERT INTO billing_correct (site_id, hour, local_date, rate_plan_id, currency, sessions)
        SELECT site_id, hour, local_date, rate_plan_id, currency, count(*) FROM billing_findings
        WHERE class = 'correct' GROUP BY 1, 2, 3, 4, 5""")
    op.execute("DELETE FROM billing_findings WHERE class = 'correct'")


def downgrade() -> None:
    op.drop_index(op.f('ix_parking_sessions_site_id_exited_at'), table_name='parking_sessions')
    op.drop_index(op.f('ix_billing_findings_site_id_hour'), table_name='billing_findings')
    op.drop_table('pending_site_hours')
    op.drop_index(op.f('ix_billing_correct_local_date_site_id'), table_name='billing_correct')
    op.drop_index(op.f('ix_billing_correct_hour'), table_name='billing_correct')
    op.drop_table('billing_correct')
    # the correct sessions are judged again, one row each, by the next classify run
    op.execute("DELETE FROM sync_state WHERE source = 'classify-billing'")
