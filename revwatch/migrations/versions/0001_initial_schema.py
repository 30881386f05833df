"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('invoices',
    sa.Column('invoice_id', sa.Text(), nullable=False),
    sa.Column('session_id', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('subtotal_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('invoice_id', name=op.f('pk_invoices'))
    )
    op.create_index(op.f('ix_invoices_issued_at'), 'invoices', ['issued_at'], unique=False)
    op.create_index(op.f('ix_invoices_session_id'), 'invoices', ['session_id'], unique=False)
    op.create_table('job_runs',
    sa.Column('run_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('job', sa.Text(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows_read', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rows_written', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('outcome', sa.Text(), server_default='running', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_job_runs'))
    )
    op.create_index(op.f('ix_job_runs_job_started_at'), 'job_runs', ['job', 'started_at'], unique=False)
    op.create_table('parking_sessions',
    sa.Column('session_id', sa.Text(), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('exited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('customer_id', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_parking_sessions'))
    )
    op.create_index(op.f('ix_parking_sessions_entered_at'), 'parking_sessions', ['entered_at'], unique=False)
    op.create_index(op.f('ix_parking_sessions_site_id_entered_at'), 'parking_sessions', ['site_id', 'entered_at'], unique=False)
    op.create_table('payment_attempts',
    sa.Column('attempt_id', sa.Text(), nullable=False),
    sa.Column('invoice_id', sa.Text(), nullable=False),
    sa.Column('attempt_number', sa.Integer(), nullable=False),
    sa.Column('gateway', sa.Text(), nullable=False),
    sa.Column('gateway_reference', sa.Text(), nullable=True),
    sa.Column('idempotency_key', sa.Text(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('failure_code', sa.Text(), nullable=True),
    sa.Column('payment_method_type', sa.Text(), nullable=False),
    sa.Column('card_brand', sa.Text(), nullable=True),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('attempt_id', name=op.f('pk_payment_attempts'))
    )
    op.create_index(op.f('ix_payment_attempts_attempted_at'), 'payment_attempts', ['attempted_at'], unique=False)
    op.create_index(op.f('ix_payment_attempts_gateway_reference'), 'payment_attempts', ['gateway_reference'], unique=False)
    op.create_index(op.f('ix_payment_attempts_invoice_id'), 'payment_attempts', ['invoice_id'], unique=False)
    op.create_table('pending_windows',
    sa.Column('pending_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('table_name', sa.Text(), nullable=False),
    sa.Column('consumer', sa.Text(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('pending_id', name=op.f('pk_pending_windows'))
    )
    op.create_index(op.f('ix_pending_windows_consumer'), 'pending_windows', ['consumer'], unique=False)
    op.create_index(op.f('ix_pending_windows_table_name'), 'pending_windows', ['table_name'], unique=False)
    op.create_table('rate_plans',
    sa.Column('rate_plan_id', sa.Text(), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('effective_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('grace_minutes', sa.Integer(), nullable=False),
    sa.Column('increment_minutes', sa.Integer(), nullable=False),
    sa.Column('increment_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('daily_max_minor', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('rate_plan_id', name=op.f('pk_rate_plans'))
    )
    op.create_index(op.f('ix_rate_plans_site_id'), 'rate_plans', ['site_id'], unique=False)
    op.create_table('refunds',
    sa.Column('refund_id', sa.Text(), nullable=False),
    sa.Column('invoice_id', sa.Text(), nullable=False),
    sa.Column('attempt_id', sa.Text(), nullable=False),
    sa.Column('gateway', sa.Text(), nullable=False),
    sa.Column('gateway_reference', sa.Text(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('refund_id', name=op.f('pk_refunds'))
    )
    op.create_index(op.f('ix_refunds_created_at'), 'refunds', ['created_at'], unique=False)
    op.create_index(op.f('ix_refunds_invoice_id'), 'refunds', ['invoice_id'], unique=False)
    op.create_table('rollup_invoices',
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('invoices', sa.BigInteger(), nullable=False),
    sa.Column('subtotal_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('currency', 'status', 'hour', 'local_date', 'site_id', name=op.f('pk_rollup_invoices'))
    )
    op.create_index(op.f('ix_rollup_invoices_local_date'), 'rollup_invoices', ['local_date'], unique=False)
    op.create_table('rollup_payments',
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('gateway', sa.Text(), nullable=False),
    sa.Column('payment_method_type', sa.Text(), nullable=False),
    sa.Column('card_brand', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('failure_code', sa.Text(), nullable=False),
    sa.Column('is_retry', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('currency', 'gateway', 'payment_method_type', 'card_brand', 'status', 'failure_code', 'is_retry', 'hour', 'local_date', 'site_id', name=op.f('pk_rollup_payments'))
    )
    op.create_index(op.f('ix_rollup_payments_local_date'), 'rollup_payments', ['local_date'], unique=False)
    op.create_table('rollup_sessions',
    sa.Column('sessions', sa.BigInteger(), nullable=False),
    sa.Column('closed_sessions', sa.BigInteger(), nullable=False),
    sa.Column('parked_minutes', sa.BigInteger(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'local_date', 'site_id', name=op.f('pk_rollup_sessions'))
    )
    op.create_index(op.f('ix_rollup_sessions_local_date'), 'rollup_sessions', ['local_date'], unique=False)
    op.create_table('sites',
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('region', sa.Text(), nullable=False),
    sa.Column('timezone', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('tax_jurisdiction', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('site_id', name=op.f('pk_sites'))
    )
    op.create_table('sync_state',
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('table_name', sa.Text(), nullable=False),
    sa.Column('watermark', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('source', 'table_name', name=op.f('pk_sync_state'))
    )
    op.create_table('tax_rates',
    sa.Column('jurisdiction', sa.Text(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('rate', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.PrimaryKeyConstraint('jurisdiction', 'effective_from', name=op.f('pk_tax_rates'))
    )


def downgrade() -> None:
    op.drop_table('tax_rates')
    op.drop_table('sync_state')
    op.drop_table('sites')
    op.drop_index(op.f('ix_rollup_sessions_local_date'), table_name='rollup_sessions')
    op.drop_table('rollup_sessions')
    op.drop_index(op.f('ix_rollup_payments_local_date'), table_name='rollup_payments')
    op.drop_table('rollup_payments')
    op.drop_index(op.f('ix_rollup_invoices_local_date'), table_name='rollup_invoices')
    op.drop_table('rollup_invoices')
    op.drop_index(op.f('ix_refunds_invoice_id'), table_name='refunds')
    op.drop_index(op.f('ix_refunds_created_at'), table_name='refunds')
    op.drop_table('refunds')
    op.drop_index(op.f('ix_rate_plans_site_id'), table_name='rate_plans')
    op.drop_table('rate_plans')
    op.drop_index(op.f('ix_pending_windows_table_name'), table_name='pending_windows')
    op.drop_index(op.f('ix_pending_windows_consumer'), table_name='pending_windows')
    op.drop_table('pending_windows')
    op.drop_index(op.f('ix_payment_attempts_invoice_id'), table_name='payment_attempts')
    op.drop_index(op.f('ix_payment_attempts_gateway_reference'), table_name='payment_attempts')
    op.drop_index(op.f('ix_payment_attempts_attempted_at'), table_name='payment_attempts')
    op.drop_table('payment_attempts')
    op.drop_index(op.f('ix_parking_sessions_site_id_entered_at'), table_name='parking_sessions')
    op.drop_index(op.f('ix_parking_sessions_entered_at'), table_name='parking_sessions')
    op.drop_table('parking_sessions')
    op.drop_index(op.f('ix_job_runs_job_started_at'), table_name='job_runs')
    op.drop_table('job_runs')
    op.drop_index(op.f('ix_invoices_session_id'), table_name='invoices')
    op.drop_index(op.f('ix_invoices_issued_at'), table_name='invoices')
    op.drop_table('invoices')
