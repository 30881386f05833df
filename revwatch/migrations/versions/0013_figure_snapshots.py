"""figure_snapshots: the exporter's figure sections kept between scrapes (issue 17)

The payment, billing and reconciliation families are sums over tables that grow with history; the worker
keeps them here after each compute job that feeds them, and a cold /metrics scrape reads one small row a
section (metrics/faces/exporter_snapshot.py). The partial index finds the runs still running at once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:30:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'figure_snapshots',
        sa.Column('section', sa.Text(), nullable=False),
        sa.Column('taken_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('frontier', sa.BigInteger(), nullable=False),
        sa.Column('last_event', sa.BigInteger(), nullable=False),
        sa.Column('families', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint('section', name=op.f('pk_figure_snapshots')),
    )
    op.create_index('ix_job_runs_running', 'job_runs', ['run_id'], postgresql_where=sa.text('finished_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_job_runs_running', table_name='job_runs')
    op.drop_table('figure_snapshots')
