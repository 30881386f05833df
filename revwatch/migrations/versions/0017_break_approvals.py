"""four eyes on big break resolutions: recon_break_requests, and who approved a resolution (issue 18)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 04:10:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('recon_breaks', sa.Column('approved_by', sa.Text(), nullable=True))
    op.add_column('recon_breaks', sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'recon_break_requests',
        sa.Column('request_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('break_id', sa.BigInteger(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('category', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('why_approval', sa.Text(), nullable=False),
        sa.Column('at_stake_reporting_minor', sa.BigInteger(), nullable=True),
        sa.Column('reporting_currency', sa.Text(), nullable=False),
        sa.Column('threshold_minor', sa.BigInteger(), nullable=False),
        sa.Column('fingerprint', sa.Text(), nullable=False),
        sa.Column('requested_by', sa.Text(), nullable=False),
        sa.Column('requested_issuer', sa.Text(), nullable=False),
        sa.Column('requested_subject', sa.Text(), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decision', sa.Text(), nullable=True),
        sa.Column('decided_by', sa.Text(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('request_id', name=op.f('pk_recon_break_requests')),
    )
    op.create_index(op.f('ix_recon_break_requests_break_id'), 'recon_break_requests', ['break_id'], unique=False)
    op.create_index('uq_recon_break_requests_pending', 'recon_break_requests', ['break_id'], unique=True,
                    postgresql_where=sa.text('decision IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_recon_break_requests_pending', table_name='recon_break_requests')
    op.drop_index(op.f('ix_recon_break_requests_break_id'), table_name='recon_break_requests')
    op.drop_table('recon_break_requests')
    op.drop_column('recon_breaks', 'approved_at')
    op.drop_column('recon_breaks', 'approved_by')
