"""payment rollups: invoice outcomes, retry recovery, refunds, disputes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _grain() -> list[sa.Column]:
    return [
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('site_id', sa.Text(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('rollup_disputes',
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('gateway', sa.Text(), nullable=False),
    sa.Column('card_brand', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('disputes', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    *_grain(),
    sa.PrimaryKeyConstraint('currency', 'gateway', 'card_brand', 'reason', 'outcome', 'hour', 'local_date', 'site_id', name=op.f('pk_rollup_disputes'))
    )
    op.create_index(op.f('ix_rollup_disputes_local_date'), 'rollup_disputes', ['local_date'], unique=False)
    op.create_table('rollup_invoice_outcomes',
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('first_gateway', sa.Text(), nullable=False),
    sa.Column('first_failure_code', sa.Text(), nullable=False),
    sa.Column('invoices', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('attempted', sa.BigInteger(), nullable=False),
    sa.Column('first_succeeded', sa.BigInteger(), nullable=False),
    sa.Column('succeeded', sa.BigInteger(), nullable=False),
    sa.Column('retried', sa.BigInteger(), nullable=False),
    sa.Column('recovered', sa.BigInteger(), nullable=False),
    sa.Column('recovered_minor', sa.BigInteger(), nullable=False),
    sa.Column('succeeded_minor', sa.BigInteger(), nullable=False),
    sa.Column('unpaid_minor', sa.BigInteger(), nullable=False),
    *_grain(),
    sa.PrimaryKeyConstraint('currency', 'status', 'first_gateway', 'first_failure_code', 'hour', 'local_date', 'site_id', name=op.f('pk_rollup_invoice_outcomes'))
    )
    op.create_index(op.f('ix_rollup_invoice_outcomes_local_date'), 'rollup_invoice_outcomes', ['local_date'], unique=False)
    op.create_table('rollup_refunds',
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('gateway', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('refunds', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('timed_refunds', sa.BigInteger(), nullable=False),
    sa.Column('refund_seconds', sa.BigInteger(), nullable=False),
    *_grain(),
    sa.PrimaryKeyConstraint('currency', 'gateway', 'status', 'reason', 'hour', 'local_date', 'site_id', name=op.f('pk_rollup_refunds'))
    )
    op.create_index(op.f('ix_rollup_refunds_local_date'), 'rollup_refunds', ['local_date'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rollup_refunds_local_date'), table_name='rollup_refunds')
    op.drop_table('rollup_refunds')
    op.drop_index(op.f('ix_rollup_invoice_outcomes_local_date'), table_name='rollup_invoice_outcomes')
    op.drop_table('rollup_invoice_outcomes')
    op.drop_index(op.f('ix_rollup_disputes_local_date'), table_name='rollup_disputes')
    op.drop_table('rollup_disputes')
