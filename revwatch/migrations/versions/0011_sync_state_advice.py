"""what ingest asks of a source's owners, per table: e.g. billing's index on updated_at when a table lacks it

Issue 17: without that index every incremental read of the table scans it whole (SOURCES.md §1); ingest
says so here and Health shows the CREATE INDEX to ask for.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 16:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sync_state', sa.Column('advice', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('sync_state', 'advice')
