"""store only what is needed from the gateways: the Stripe objects stored before are cut down to
their allowlists (no card number, CVC, fingerprint, expiry, last4, name, e-mail, phone, address or
free text), and a table of which object types each gateway lets the product read

The allowlists are frozen here as they were when this ran (the live ones, which ingest applies, are
collectors/ingest/stripe_fields.py; tests/test_stripe_stored_fields.py proves both cut the same way).
Set-based: one UPDATE per table, building each object again from the fields it may keep with jsonb
operators; a row already minimal is not rewritten. Not reversible: what was dropped is gone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 09:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

K, R = 'keep', 'ref'  # a plain value (string, number, boolean, null); an id, or the id of an expanded object
_IDENTITY = {'id': K, 'object': K, 'created': K, 'livemode': K, 'currency': K, 'amount': K}
ALLOWLISTS = {
    'stripe_charges': {
        **_IDENTITY,
        'amount_captured': K, 'amount_refunded': K, 'captured': K, 'paid': K, 'refunded': K, 'disputed': K,
        'status': K, 'failure_code': K,
        'outcome': {'type': K, 'reason': K, 'network_status': K, 'risk_level': K},
        'payment_method_details': {'type': K, 'card': {'brand': K, 'wallet': {'type': K}}},
        'metadata': {'attempt_id': K, 'invoice_id': K},
        'balance_transaction': R,
    },
    'stripe_refunds': {
        **_IDENTITY,
        'status': K, 'reason': K, 'failure_reason': K, 'charge': R, 'balance_transaction': R,
        'failure_balance_transaction': R, 'metadata': {'refund_id': K},
    },
    'stripe_disputes': {
        **_IDENTITY,
        'status': K, 'reason': K, 'is_charge_refundable': K, 'charge': R,
        'evidence_details': {'due_by': K, 'has_evidence': K, 'past_due': K, 'submission_count': K},
    },
    'stripe_balance_transactions': {
        **_IDENTITY,
        'fee': K, 'net': K, 'type': K, 'reporting_category': K, 'status': K, 'available_on': K,
        'exchange_rate': K, 'source': R,
    },
    'stripe_payouts': {
        **_IDENTITY,
        'status': K, 'arrival_date': K, 'automatic': K, 'method': K, 'type': K, 'source_type': K,
        'failure_code': K, 'balance_transaction': R, 'failure_balance_transaction': R,
    },
}


def _value(rule, v: str) -> str:
    """SQL: the jsonb to keep for the jsonb expression `v` under `rule`, NULL to drop the name."""
    if rule == K:
        return f"CASE WHEN jsonb_typeof({v}) IN ('string', 'number', 'boolean', 'null') THEN {v} END"
    if rule == R:
        return (f"CASE jsonb_typeof({v}) WHEN 'string' THEN {v} WHEN 'null' THEN {v} WHEN 'object' THEN"
                f" CASE WHEN jsonb_typeof(({v}) -> 'id') IN ('string', 'null') THEN ({v}) -> 'id' END END")
    return f"CASE jsonb_typeof({v}) WHEN 'null' THEN {v} WHEN 'object' THEN {_object(rule, v)} END"


def _object(spec: dict, x: str) -> str:
    """SQL: the object `x` (jsonb) with only the names of `spec`, each by its rule; absent names stay absent."""
    pairs = []
    for name, rule in spec.items():
        v = f"(({x}) -> '{name}')"
        pairs.append(f"('{name}', {_value(rule, v)})")
    return (f"(SELECT coalesce(jsonb_object_agg(f.k, f.v), '{{}}'::jsonb) FROM (VALUES {', '.join(pairs)}) AS f(k, v)"
            " WHERE f.v IS NOT NULL)")


def upgrade() -> None:
    for table, spec in ALLOWLISTS.items():
        op.execute(f"UPDATE {table} AS t SET raw = n.raw FROM (SELECT id, {_object(spec, 'raw')} AS raw FROM {table}) AS n"
                   " WHERE t.id = n.id AND t.raw IS DISTINCT FROM n.raw")
    op.create_table('gateway_access',
    sa.Column('gateway', sa.Text(), nullable=False),
    sa.Column('object_type', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('gateway', 'object_type', name=op.f('pk_gateway_access'))
    )


def downgrade() -> None:
    op.drop_table('gateway_access')  # the fields dropped from the stored objects do not come back
