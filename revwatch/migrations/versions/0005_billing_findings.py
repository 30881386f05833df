"""billing findings: every closed session's invoices against its shadow-rated price

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_findings',
    sa.Column('session_id', sa.Text(), nullable=False),
    sa.Column('site_id', sa.Text(), nullable=False),
    sa.Column('exited_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=True),
    sa.Column('rate_plan_id', sa.Text(), nullable=True),
    sa.Column('class', sa.Text(), nullable=False),
    sa.Column('billable', sa.Boolean(), nullable=True),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('expected_subtotal_minor', sa.BigInteger(), nullable=True),
    sa.Column('expected_tax_minor', sa.BigInteger(), nullable=True),
    sa.Column('expected_total_minor', sa.BigInteger(), nullable=True),
    sa.Column('billed_currency', sa.Text(), nullable=True),
    sa.Column('billed_subtotal_minor', sa.BigInteger(), nullable=False),
    sa.Column('billed_tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('billed_total_minor', sa.BigInteger(), nullable=False),
    sa.Column('invoices', sa.Integer(), nullable=False),
    sa.Column('void_invoices', sa.Integer(), nullable=False),
    sa.Column('difference_minor', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_billing_findings'))
    )
    op.create_index(op.f('ix_billing_findings_exited_at'), 'billing_findings', ['exited_at'], unique=False)
    op.create_index(op.f('ix_billing_findings_local_date_site_id'), 'billing_findings', ['local_date', 'site_id'], unique=False)
    op.create_index(op.f('ix_parking_sessions_exited_at'), 'parking_sessions', ['exited_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_parking_sessions_exited_at'), table_name='parking_sessions')
    op.drop_index(op.f('ix_billing_findings_local_date_site_id'), table_name='billing_findings')
    op.drop_index(op.f('ix_billing_findings_exited_at'), table_name='billing_findings')
    op.drop_table('billing_findings')
