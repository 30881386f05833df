"""load_progress: an ingest job's first load read in chunks, each committed on its own (issue 17)

A stopped first load resumes from `loaded_to`; Health and the console say how far along it is.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'load_progress',
        sa.Column('job', sa.Text(), nullable=False),
        sa.Column('started_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('span_from', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('span_to', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('loaded_to', sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column('rows_expected', sa.BigInteger(), nullable=False),
        sa.Column('rows_loaded', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('chunks_done', sa.Integer(), server_default='0', nullable=False),
        sa.Column('updated_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('finished_at', sa.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('job', name=op.f('pk_load_progress')),
    )


def downgrade() -> None:
    op.drop_table('load_progress')
