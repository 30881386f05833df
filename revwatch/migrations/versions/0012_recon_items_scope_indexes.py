"""recon_items: the indexes an incremental reconcile reads its scope by (issue 17)

An item is judged again when its event time falls in the changed span (stage, occurred_at) or when
it still waits and its window has passed what the other side has delivered (stage, item type,
gateway, due_at, over waiting items only); before, every unmatched item was judged on every run.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_recon_items_occurred', 'recon_items', ['stage', 'occurred_at'])
    op.create_index('ix_recon_items_waiting', 'recon_items', ['stage', 'item_type', 'gateway', 'due_at'],
                    postgresql_where=sa.text("status = 'expected'"))


def downgrade() -> None:
    op.drop_index('ix_recon_items_waiting', table_name='recon_items')
    op.drop_index('ix_recon_items_occurred', table_name='recon_items')
