"""month_signoffs: a controller's append-only sign-off of an accounting month, with its frozen snapshot (issue 18)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 04:20:00.000000
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'month_signoffs',
        sa.Column('signoff_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('accounting_month', sa.Date(), nullable=False),
        sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('signed_by', sa.Text(), nullable=False),
        sa.Column('ready', sa.Boolean(), nullable=False),
        sa.Column('override', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('reporting_currency', sa.Text(), nullable=False),
        sa.Column('snapshot', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('snapshot_sha256', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('signoff_id', name=op.f('pk_month_signoffs')),
    )
    op.create_index(op.f('ix_month_signoffs_accounting_month'), 'month_signoffs', ['accounting_month'], unique=False)
    op.execute("""
        CREATE FUNCTION month_signoffs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'month_signoffs is append-only: % refused', TG_OP;
        END $$""")
    op.execute("CREATE TRIGGER month_signoffs_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON month_signoffs"
               " FOR EACH STATEMENT EXECUTE FUNCTION month_signoffs_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS month_signoffs_append_only ON month_signoffs")
    op.execute("DROP FUNCTION IF EXISTS month_signoffs_append_only()")
    op.drop_index(op.f('ix_month_signoffs_accounting_month'), table_name='month_signoffs')
    op.drop_table('month_signoffs')
