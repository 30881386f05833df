"""job_run_requests: an engineer asks from the Health page for a job to run now; the worker takes it (issue 18)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 04:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'job_run_requests',
        sa.Column('request_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('job', sa.Text(), nullable=False),
        sa.Column('requested_by', sa.Text(), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('taken_by', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('request_id', name=op.f('pk_job_run_requests')),
    )
    op.create_index('ix_job_run_requests_waiting', 'job_run_requests', ['job'], unique=False,
                    postgresql_where=sa.text('taken_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_job_run_requests_waiting', table_name='job_run_requests')
    op.drop_table('job_run_requests')
