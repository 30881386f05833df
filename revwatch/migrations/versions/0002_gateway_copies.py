"""gateway copies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adyen_settlement_lines',
    sa.Column('file_sha256', sa.Text(), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('company_account', sa.Text(), nullable=True),
    sa.Column('merchant_account', sa.Text(), nullable=False),
    sa.Column('psp_reference', sa.Text(), nullable=True),
    sa.Column('merchant_reference', sa.Text(), nullable=True),
    sa.Column('payment_method', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('modification_reference', sa.Text(), nullable=True),
    sa.Column('gross_currency', sa.Text(), nullable=True),
    sa.Column('gross_debit_minor', sa.BigInteger(), nullable=True),
    sa.Column('gross_credit_minor', sa.BigInteger(), nullable=True),
    sa.Column('exchange_rate', sa.Numeric(precision=18, scale=10), nullable=True),
    sa.Column('net_currency', sa.Text(), nullable=False),
    sa.Column('net_debit_minor', sa.BigInteger(), nullable=True),
    sa.Column('net_credit_minor', sa.BigInteger(), nullable=True),
    sa.Column('commission_minor', sa.BigInteger(), nullable=True),
    sa.Column('markup_minor', sa.BigInteger(), nullable=True),
    sa.Column('scheme_fees_minor', sa.BigInteger(), nullable=True),
    sa.Column('interchange_minor', sa.BigInteger(), nullable=True),
    sa.Column('batch_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('file_sha256', 'line_number', name=op.f('pk_adyen_settlement_lines'))
    )
    op.create_index(op.f('ix_adyen_settlement_lines_batch_number'), 'adyen_settlement_lines', ['batch_number'], unique=False)
    op.create_index(op.f('ix_adyen_settlement_lines_created_at'), 'adyen_settlement_lines', ['created_at'], unique=False)
    op.create_index(op.f('ix_adyen_settlement_lines_merchant_reference'), 'adyen_settlement_lines', ['merchant_reference'], unique=False)
    op.create_index(op.f('ix_adyen_settlement_lines_psp_reference'), 'adyen_settlement_lines', ['psp_reference'], unique=False)
    op.create_table('quarantine',
    sa.Column('quarantine_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('file_name', sa.Text(), nullable=False),
    sa.Column('file_sha256', sa.Text(), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('quarantine_id', name=op.f('pk_quarantine'))
    )
    op.create_index(op.f('ix_quarantine_file_sha256'), 'quarantine', ['file_sha256'], unique=False)
    op.create_table('source_files',
    sa.Column('sha256', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('file_name', sa.Text(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('lines_read', sa.Integer(), nullable=False),
    sa.Column('lines_loaded', sa.Integer(), nullable=False),
    sa.Column('lines_quarantined', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_source_files'))
    )
    op.create_table('stripe_balance_transactions',
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('reporting_category', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('available_on', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Text(), nullable=True),
    sa.Column('payout', sa.Text(), nullable=True),
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('raw', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_balance_transactions'))
    )
    op.create_index(op.f('ix_stripe_balance_transactions_created'), 'stripe_balance_transactions', ['created'], unique=False)
    op.create_index(op.f('ix_stripe_balance_transactions_payout'), 'stripe_balance_transactions', ['payout'], unique=False)
    op.create_index(op.f('ix_stripe_balance_transactions_source'), 'stripe_balance_transactions', ['source'], unique=False)
    op.create_table('stripe_charges',
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('amount_refunded', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('failure_code', sa.Text(), nullable=True),
    sa.Column('outcome_type', sa.Text(), nullable=True),
    sa.Column('outcome_reason', sa.Text(), nullable=True),
    sa.Column('card_brand', sa.Text(), nullable=True),
    sa.Column('attempt_id', sa.Text(), nullable=True),
    sa.Column('invoice_id', sa.Text(), nullable=True),
    sa.Column('balance_transaction', sa.Text(), nullable=True),
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('raw', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_charges'))
    )
    op.create_index(op.f('ix_stripe_charges_attempt_id'), 'stripe_charges', ['attempt_id'], unique=False)
    op.create_index(op.f('ix_stripe_charges_created'), 'stripe_charges', ['created'], unique=False)
    op.create_table('stripe_disputes',
    sa.Column('charge', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('raw', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_disputes'))
    )
    op.create_index(op.f('ix_stripe_disputes_charge'), 'stripe_disputes', ['charge'], unique=False)
    op.create_index(op.f('ix_stripe_disputes_created'), 'stripe_disputes', ['created'], unique=False)
    op.create_table('stripe_payouts',
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('arrival_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('balance_transaction', sa.Text(), nullable=True),
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('raw', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_payouts'))
    )
    op.create_index(op.f('ix_stripe_payouts_created'), 'stripe_payouts', ['created'], unique=False)
    op.create_table('stripe_refunds',
    sa.Column('charge', sa.Text(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('balance_transaction', sa.Text(), nullable=True),
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('raw', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_refunds'))
    )
    op.create_index(op.f('ix_stripe_refunds_charge'), 'stripe_refunds', ['charge'], unique=False)
    op.create_index(op.f('ix_stripe_refunds_created'), 'stripe_refunds', ['created'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_stripe_refunds_created'), table_name='stripe_refunds')
    op.drop_index(op.f('ix_stripe_refunds_charge'), table_name='stripe_refunds')
    op.drop_table('stripe_refunds')
    op.drop_index(op.f('ix_stripe_payouts_created'), table_name='stripe_payouts')
    op.drop_table('stripe_payouts')
    op.drop_index(op.f('ix_stripe_disputes_created'), table_name='stripe_disputes')
    op.drop_index(op.f('ix_stripe_disputes_charge'), table_name='stripe_disputes')
    op.drop_table('stripe_disputes')
    op.drop_index(op.f('ix_stripe_charges_created'), table_name='stripe_charges')
    op.drop_index(op.f('ix_stripe_charges_attempt_id'), table_name='stripe_charges')
    op.drop_table('stripe_charges')
    op.drop_index(op.f('ix_stripe_balance_transactions_source'), table_name='stripe_balance_transactions')
    op.drop_index(op.f('ix_stripe_balance_transactions_payout'), table_name='stripe_balance_transactions')
    op.drop_index(op.f('ix_stripe_balance_transactions_created'), table_name='stripe_balance_transactions')
    op.drop_table('stripe_balance_transactions')
    op.drop_table('source_files')
    op.drop_index(op.f('ix_quarantine_file_sha256'), table_name='quarantine')
    op.drop_table('quarantine')
    op.drop_index(op.f('ix_adyen_settlement_lines_psp_reference'), table_name='adyen_settlement_lines')
    op.drop_index(op.f('ix_adyen_settlement_lines_merchant_reference'), table_name='adyen_settlement_lines')
    op.drop_index(op.f('ix_adyen_settlement_lines_created_at'), table_name='adyen_settlement_lines')
    op.drop_index(op.f('ix_adyen_settlement_lines_batch_number'), table_name='adyen_settlement_lines')
    op.drop_table('adyen_settlement_lines')
