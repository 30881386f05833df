"""bank ledger fx reconciliation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:45:59.163051
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_lines',
    sa.Column('file_sha256', sa.Text(), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('format', sa.Text(), nullable=False),
    sa.Column('account', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('bank_date', sa.Date(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('type_code', sa.Text(), nullable=True),
    sa.Column('direction', sa.Text(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('bank_reference', sa.Text(), nullable=True),
    sa.Column('customer_reference', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('payout_refs', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('payout_candidate', sa.Boolean(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('file_sha256', 'line_number', name=op.f('pk_bank_lines'))
    )
    op.create_index(op.f('ix_bank_lines_bank_date'), 'bank_lines', ['bank_date'], unique=False)
    op.create_table('fx_rates',
    sa.Column('rate_date', sa.Date(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('rate_to_reporting', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('file_sha256', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('rate_date', 'currency', name=op.f('pk_fx_rates'))
    )
    op.create_table('gl_lines',
    sa.Column('journal_id', sa.Text(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('posted_date', sa.Date(), nullable=False),
    sa.Column('account', sa.Text(), nullable=False),
    sa.Column('account_name', sa.Text(), nullable=True),
    sa.Column('debit_minor', sa.BigInteger(), nullable=False),
    sa.Column('credit_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.Column('file_sha256', sa.Text(), nullable=False),
    sa.Column('file_line', sa.Integer(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('journal_id', 'line', name=op.f('pk_gl_lines'))
    )
    op.create_index(op.f('ix_gl_lines_posted_date'), 'gl_lines', ['posted_date'], unique=False)
    op.create_index(op.f('ix_gl_lines_reference'), 'gl_lines', ['reference'], unique=False)
    op.create_table('recon_break_events',
    sa.Column('event_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('break_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_recon_break_events'))
    )
    op.create_index(op.f('ix_recon_break_events_break_id'), 'recon_break_events', ['break_id'], unique=False)
    op.create_table('recon_breaks',
    sa.Column('break_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('stage', sa.Text(), nullable=False),
    sa.Column('item_key', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('assignee', sa.Text(), nullable=True),
    sa.Column('resolution_reason', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.Text(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_fingerprint', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('break_id', name=op.f('pk_recon_breaks')),
    sa.UniqueConstraint('stage', 'item_key', name=op.f('uq_recon_breaks_stage_item_key'))
    )
    op.create_index(op.f('ix_recon_breaks_state'), 'recon_breaks', ['state'], unique=False)
    op.create_table('recon_items',
    sa.Column('stage', sa.Text(), nullable=False),
    sa.Column('item_key', sa.Text(), nullable=False),
    sa.Column('item_type', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('break_type', sa.Text(), nullable=True),
    sa.Column('missing_side', sa.Text(), nullable=True),
    sa.Column('gateway', sa.Text(), nullable=True),
    sa.Column('site_id', sa.Text(), nullable=True),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('counter_amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('break_amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('left_ref', sa.Text(), nullable=True),
    sa.Column('right_ref', sa.Text(), nullable=True),
    sa.Column('match_rule', sa.Text(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accounting_month', sa.Date(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('fingerprint', sa.Text(), nullable=False),
    sa.Column('examined_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('stage', 'item_key', name=op.f('pk_recon_items'))
    )
    op.create_index(op.f('ix_recon_items_accounting_month_stage_status'), 'recon_items', ['accounting_month', 'stage', 'status'], unique=False)
    op.create_index(op.f('ix_recon_items_status_stage'), 'recon_items', ['status', 'stage'], unique=False)
    # every run re-judges the items it left open: find them without reading the matched ones
    op.create_index('ix_recon_items_open', 'recon_items', ['stage', 'item_type'], unique=False,
                    postgresql_where=sa.text("status <> 'matched'"))
    op.execute("""
        CREATE FUNCTION add_business_days(d date, n integer) RETURNS date
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            -- Monday-Friday calendar: a weekend day counts from the Friday before it
            SELECT f + n + 2 * ((n + extract(isodow FROM f)::int - 1) / 5)
            FROM (SELECT d - greatest(extract(isodow FROM d)::int - 5, 0) AS f) x
        $$""")
    op.execute("""
        CREATE FUNCTION recon_break_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'recon_break_events is append-only: % refused', TG_OP;
        END $$""")
    op.execute("CREATE TRIGGER recon_break_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON recon_break_events"
               " FOR EACH STATEMENT EXECUTE FUNCTION recon_break_events_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS recon_break_events_append_only ON recon_break_events")
    op.execute("DROP FUNCTION IF EXISTS recon_break_events_append_only()")
    op.execute("DROP FUNCTION IF EXISTS add_business_days(date, integer)")
    op.drop_index('ix_recon_items_open', table_name='recon_items')
    op.drop_index(op.f('ix_recon_items_status_stage'), table_name='recon_items')
    op.drop_index(op.f('ix_recon_items_accounting_month_stage_status'), table_name='recon_items')
    op.drop_table('recon_items')
    op.drop_index(op.f('ix_recon_breaks_state'), table_name='recon_breaks')
    op.drop_table('recon_breaks')
    op.drop_index(op.f('ix_recon_break_events_break_id'), table_name='recon_break_events')
    op.drop_table('recon_break_events')
    op.drop_index(op.f('ix_gl_lines_reference'), table_name='gl_lines')
    op.drop_index(op.f('ix_gl_lines_posted_date'), table_name='gl_lines')
    op.drop_table('gl_lines')
    op.drop_table('fx_rates')
    op.drop_index(op.f('ix_bank_lines_bank_date'), table_name='bank_lines')
    op.drop_table('bank_lines')
