"""Rollups indexed by hour: a compute job replaces a few hours without scanning the whole rollup (issue 17)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 22:10:00.000000
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

TABLES = ('rollup_invoices', 'rollup_payments', 'rollup_invoice_outcomes', 'rollup_refunds', 'rollup_disputes')


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f'ix_{table}_hour', table, ['hour'])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f'ix_{table}_hour', table_name=table)
