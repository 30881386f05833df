"""work_items, work_item_events, auto_explanations: the work queue's items that are not breaks, their history, and
what the auto-explain rules did (issue 19)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'work_items',
        sa.Column('item_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('work_type', sa.Text(), nullable=False),
        sa.Column('source_key', sa.Text(), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('site_id', sa.Text(), nullable=True),
        sa.Column('gateway', sa.Text(), nullable=True),
        sa.Column('currency', sa.Text(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('customer_minor', sa.BigInteger(), nullable=False),
        sa.Column('company_minor', sa.BigInteger(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
        sa.Column('trace_id', sa.Text(), nullable=False),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('fingerprint', sa.Text(), nullable=False),
        sa.Column('owner', sa.Text(), nullable=True),
        sa.Column('resolved_by', sa.Text(), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolution', sa.Text(), nullable=True),
        sa.Column('resolved_fingerprint', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('item_id', name=op.f('pk_work_items')),
        sa.UniqueConstraint('work_type', 'source_key', name=op.f('uq_work_items_work_type_source_key')),
    )
    op.create_index('ix_work_items_open', 'work_items', ['work_type'], unique=False,
                    postgresql_where=sa.text("state = 'open'"))
    op.create_table(
        'work_item_events',
        sa.Column('event_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('item_id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_work_item_events')),
    )
    op.create_index(op.f('ix_work_item_events_item_id'), 'work_item_events', ['item_id'], unique=False)
    # time to resolution reads the items active in the last weeks: both histories by time
    op.create_index(op.f('ix_work_item_events_at'), 'work_item_events', ['at'], unique=False)
    op.create_index(op.f('ix_recon_break_events_at'), 'recon_break_events', ['at'], unique=False)
    op.create_table(
        'auto_explanations',
        sa.Column('explanation_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('rule', sa.Text(), nullable=False),
        sa.Column('rule_version', sa.BigInteger(), nullable=False),
        sa.Column('work_type', sa.Text(), nullable=False),
        sa.Column('item_ref', sa.BigInteger(), nullable=False),
        sa.Column('resolved', sa.Boolean(), nullable=False),
        sa.Column('explanation', sa.Text(), nullable=False),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('currency', sa.Text(), nullable=True),
        sa.Column('amount_minor', sa.BigInteger(), nullable=True),
        sa.Column('explained_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('undone_by', sa.Text(), nullable=True),
        sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('explanation_id', name=op.f('pk_auto_explanations')),
    )
    op.create_index('uq_auto_explanations_live', 'auto_explanations', ['rule', 'work_type', 'item_ref'], unique=True,
                    postgresql_where=sa.text('undone_at IS NULL'))
    op.execute("""
        CREATE FUNCTION work_item_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'work_item_events is append-only: % refused', TG_OP;
        END $$""")
    op.execute("CREATE TRIGGER work_item_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON work_item_events"
               " FOR EACH STATEMENT EXECUTE FUNCTION work_item_events_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS work_item_events_append_only ON work_item_events")
    op.execute("DROP FUNCTION IF EXISTS work_item_events_append_only()")
    op.drop_index(op.f('ix_recon_break_events_at'), table_name='recon_break_events')
    op.drop_index(op.f('ix_work_item_events_at'), table_name='work_item_events')
    op.drop_index(op.f('ix_work_item_events_item_id'), table_name='work_item_events')
    op.drop_table('work_item_events')
    op.drop_index('uq_auto_explanations_live', table_name='auto_explanations')
    op.drop_table('auto_explanations')
    op.drop_index('ix_work_items_open', table_name='work_items')
    op.drop_table('work_items')
