"""stripe charges by invoice: the Trace page finds a charge billing has no attempt for (a double
charge) from its session and invoice

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 13:10:00.000000
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_stripe_charges_invoice_id'), 'stripe_charges', ['invoice_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_stripe_charges_invoice_id'), table_name='stripe_charges')
