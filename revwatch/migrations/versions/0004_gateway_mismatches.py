"""gateway mismatches: money the gateways took that billing did not record

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway_mismatches',
    sa.Column('gateway', sa.Text(), nullable=False),
    sa.Column('gateway_reference', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('attempt_id', sa.Text(), nullable=True),
    sa.Column('gateway_attempt_id', sa.Text(), nullable=True),
    sa.Column('invoice_id', sa.Text(), nullable=True),
    sa.Column('site_id', sa.Text(), nullable=True),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('gateway_status', sa.Text(), nullable=False),
    sa.Column('billing_status', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('gateway', 'gateway_reference', name=op.f('pk_gateway_mismatches'))
    )
    op.create_index(op.f('ix_gateway_mismatches_local_date'), 'gateway_mismatches', ['local_date'], unique=False)
    op.create_index(op.f('ix_gateway_mismatches_occurred_at'), 'gateway_mismatches', ['occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_gateway_mismatches_occurred_at'), table_name='gateway_mismatches')
    op.drop_index(op.f('ix_gateway_mismatches_local_date'), table_name='gateway_mismatches')
    op.drop_table('gateway_mismatches')
