"""Payouts, one definition for S2-S4, and S2 gateway ↔ payout (columns as in recon_stages.JUDGED).

Every payout with its reconstruction: Stripe from the balance entries paid out with it, Adyen
from the lines of its batch. Deductions are positive: net = gross - fees - refunds - disputes -
adjustments; `expected_arrival` is the day the bank should show it. Each stage first names the
payouts it judges (its scope: `recon_payout_scope`, gateway and the payout's own reference),
then `FILL` reconstructs exactly those into `recon_payouts`, which the stage's rules read.

S2: every Stripe balance entry is in exactly one payout (`payout` set); each payout equals the
sum of its entries' nets; an Adyen batch's `MerchantPayout` equals the net of its lines.
"""
from __future__ import annotations

from revwatch.recon_keys import (
    ADYEN_BATCH_OF_KEY_SQL,
    ADYEN_PAYOUT_KEY_SQL,
    ADYEN_REFERENCE_SQL,
    PAYOUT_REF_OF_KEY_SQL,
    STRIPE_PAYOUT_KEY_SQL,
)

SCOPE_TABLE = """CREATE TEMP TABLE recon_payout_scope (gateway text NOT NULL, reference text NOT NULL,
                                                      PRIMARY KEY (gateway, reference)) ON COMMIT DROP"""

PAYOUTS = f"""
    SELECT {STRIPE_PAYOUT_KEY_SQL} AS payout_key, 'stripe' AS gateway, p.id AS reference, p.currency,
           p.amount AS payout_minor, p.status, p.created AS occurred_at,
           (p.arrival_date AT TIME ZONE 'UTC')::date AS expected_arrival,
           coalesce(f.gross, 0) AS gross_minor, coalesce(f.fees, 0) AS fees_minor,
           coalesce(f.refunds, 0) AS refunds_minor, coalesce(f.disputes, 0) AS disputes_minor,
           coalesce(f.net, 0) AS net_minor, coalesce(f.entries, 0) AS entries
    FROM stripe_payouts p
    LEFT JOIN LATERAL (
        SELECT coalesce(sum(t.amount) FILTER (WHERE t.reporting_category = 'charge'), 0) AS gross,
               sum(t.fee) - coalesce(sum(t.amount) FILTER (WHERE t.reporting_category = 'fee'), 0) AS fees,
               -coalesce(sum(t.amount) FILTER (WHERE t.reporting_category IN ('refund', 'refund_failure')), 0) AS refunds,
               -coalesce(sum(t.amount) FILTER (WHERE t.reporting_category IN ('dispute', 'dispute_reversal')), 0) AS disputes,
               sum(t.amount) - sum(t.fee) AS net, count(*) AS entries
        FROM stripe_balance_transactions t WHERE t.payout = p.id AND t.type <> 'payout'
    ) f ON true
    WHERE p.id IN (SELECT reference FROM recon_payout_scope WHERE gateway = 'stripe')
    UNION ALL
    SELECT {ADYEN_PAYOUT_KEY_SQL} AS payout_key, 'adyen' AS gateway, {ADYEN_REFERENCE_SQL} AS reference,
           b.currency, b.payout_minor, CASE WHEN b.payout_lines = 0 THEN 'open' ELSE 'paid' END AS status,
           b.occurred_at, add_business_days((b.occurred_at AT TIME ZONE 'UTC')::date, 1) AS expected_arrival,
           b.gross AS gross_minor, b.fees AS fees_minor, b.refunds AS refunds_minor, b.disputes AS disputes_minor,
           b.net AS net_minor, b.entries
    FROM (
        SELECT batch_number, min(net_currency) AS currency,
               coalesce(sum(net_debit_minor) FILTER (WHERE type = 'MerchantPayout'), 0)
                 - coalesce(sum(net_credit_minor) FILTER (WHERE type = 'MerchantPayout'), 0) AS payout_minor,
               count(*) FILTER (WHERE type = 'MerchantPayout') AS payout_lines,
               coalesce(min(created_at) FILTER (WHERE type = 'MerchantPayout'), max(created_at)) AS occurred_at,
               coalesce(sum(gross_credit_minor) FILTER (WHERE type = 'Settled'), 0) AS gross,
               coalesce(sum(coalesce(commission_minor, 0) + coalesce(markup_minor, 0) + coalesce(scheme_fees_minor, 0)
                            + coalesce(interchange_minor, 0)) FILTER (WHERE type <> 'MerchantPayout'), 0)
                 + coalesce(sum(net_debit_minor) FILTER (WHERE type = 'Fee'), 0) AS fees,
               coalesce(sum(gross_debit_minor) FILTER (WHERE type = 'Refunded'), 0) AS refunds,
               coalesce(sum(gross_debit_minor) FILTER (WHERE type = 'Chargeback'), 0)
                 - coalesce(sum(gross_credit_minor) FILTER (WHERE type = 'ChargebackReversed'), 0) AS disputes,
               coalesce(sum(coalesce(net_credit_minor, 0) - coalesce(net_debit_minor, 0))
                        FILTER (WHERE type <> 'MerchantPayout'), 0) AS net,
               count(*) FILTER (WHERE type <> 'MerchantPayout') AS entries
        FROM adyen_settlement_lines
        WHERE batch_number IN (SELECT CAST(reference AS int) FROM recon_payout_scope WHERE gateway = 'adyen')
        GROUP BY batch_number
    ) b
"""

# the reconstructed payouts of a stage, with the columns PAYOUTS gives (created once per run, empty)
PAYOUTS_TABLE = f"CREATE TEMP TABLE recon_payouts ON COMMIT DROP AS {PAYOUTS} WITH NO DATA"
RESET = "TRUNCATE recon_payout_scope, recon_payouts"
FILL = (f"INSERT INTO recon_payouts {PAYOUTS}", "ANALYZE recon_payouts")
# The payouts S3 (payout ↔ bank) and S4 (payout journal) judge (bind :stage): paid Stripe payouts
# created in the span or still open at the stage; Adyen batches paid out in the span or still open.
OPEN_OR_IN_SPAN = f"""
INSERT INTO recon_payout_scope (gateway, reference)
SELECT 'stripe', p.id FROM stripe_payouts p
WHERE p.status <> 'failed'
  AND (p.created >= :lo AND p.created < :hi
       OR p.id IN (SELECT {PAYOUT_REF_OF_KEY_SQL} FROM recon_items
                   WHERE stage = :stage AND item_type IN ('payout', 'payout_journal')
                     AND item_key LIKE 'payout:stripe:%' AND status <> 'matched'))
UNION
SELECT 'adyen', CAST(batch_number AS text) FROM (
    SELECT batch_number FROM adyen_settlement_lines
    WHERE type = 'MerchantPayout' AND created_at >= :lo AND created_at < :hi
    UNION SELECT {ADYEN_BATCH_OF_KEY_SQL} FROM recon_items
          WHERE stage = :stage AND item_type IN ('payout', 'payout_journal')
            AND item_key LIKE 'payout:adyen:%' AND status <> 'matched') b
"""
ANALYZE_SCOPE = "ANALYZE recon_payout_scope"

# ------------------------------------------------------------------ S2 gateway ↔ payout
# Stripe payouts created in the span, those whose entries were, and those open at S2; Adyen
# batches with a line in the span, and those open at S2.
S2_SCOPE = f"""
INSERT INTO recon_payout_scope (gateway, reference)
SELECT 'stripe', p.id FROM stripe_payouts p
WHERE p.created >= :lo AND p.created < :hi
   OR p.id IN (SELECT payout FROM stripe_balance_transactions WHERE created >= :lo AND created < :hi)
   OR p.id IN (SELECT {PAYOUT_REF_OF_KEY_SQL} FROM recon_items
               WHERE stage = 'S2' AND item_key LIKE 'payout:stripe:%' AND status <> 'matched')
UNION
SELECT 'adyen', CAST(batch_number AS text) FROM (
    SELECT batch_number FROM adyen_settlement_lines WHERE created_at >= :lo AND created_at < :hi
    UNION SELECT {ADYEN_BATCH_OF_KEY_SQL} FROM recon_items
          WHERE stage = 'S2' AND item_key LIKE 'payout:adyen:%' AND status <> 'matched') b
"""

S2_ENTRIES = """
SELECT 'txn:' || t.id AS item_key, 'balance_entry' AS item_type, 'stripe' AS gateway, NULL AS site_id, t.currency,
       t.net AS amount_minor, NULL AS counter_amount_minor, abs(t.net) AS stake_minor,
       t.id AS left_ref, t.payout AS right_ref, CASE WHEN t.payout IS NOT NULL THEN 'reference' END AS match_rule,
       t.created AS occurred_at, (t.created AT TIME ZONE 'UTC')::date AS accounting_day,
       coalesce(t.available_on, t.created) + :payout_days AS due_at,
       jsonb_build_object('type', t.type, 'reporting_category', t.reporting_category,
                          'available_on', t.available_on) AS detail,
       concat_ws('|', t.amount, t.fee, t.net, t.currency, t.status, t.payout) AS fp,
       CASE WHEN t.payout IS NOT NULL THEN 'matched' ELSE 'missing' END AS outcome, 'payout' AS missing_side,
       t.status = 'pending' OR CAST(:payout_cov AS timestamptz) IS NULL
       OR coalesce(t.available_on, t.created) + :payout_days > :payout_cov AS waiting
FROM stripe_balance_transactions t
WHERE t.type <> 'payout'
  AND t.id IN (SELECT id FROM stripe_balance_transactions WHERE created >= :lo AND created < :hi
               UNION SELECT left_ref FROM recon_items WHERE stage = 'S2' AND item_type = 'balance_entry'
                                                         AND status <> 'matched')
"""

S2_PAYOUTS = """
SELECT payout_key AS item_key, 'payout' AS item_type, gateway, NULL AS site_id, currency,
       payout_minor AS amount_minor, net_minor AS counter_amount_minor, abs(payout_minor - net_minor) AS stake_minor,
       reference AS left_ref, NULL AS right_ref,
       CASE WHEN entries > 0 AND abs(payout_minor - net_minor) <= :tol THEN 'reconstruction' END AS match_rule,
       occurred_at, (occurred_at AT TIME ZONE 'UTC')::date AS accounting_day, occurred_at + :payout_days AS due_at,
       jsonb_build_object('gross_minor', gross_minor, 'fees_minor', fees_minor, 'refunds_minor', refunds_minor,
                          'disputes_minor', disputes_minor,
                          'adjustments_minor', gross_minor - fees_minor - refunds_minor - disputes_minor - net_minor,
                          'net_minor', net_minor, 'entries', entries, 'payout_status', status) AS detail,
       concat_ws('|', payout_minor, currency, status, gross_minor, fees_minor, refunds_minor, disputes_minor,
                 net_minor, entries) AS fp,
       CASE WHEN status = 'open' THEN 'missing'
            WHEN entries > 0 AND abs(payout_minor - net_minor) <= :tol THEN 'matched'
            ELSE 'amount_mismatch' END AS outcome,
       CASE WHEN status = 'open' THEN 'payout' END AS missing_side,
       (status = 'open' OR entries = 0) AND (coverage IS NULL OR occurred_at + :payout_days > coverage) AS waiting
FROM (SELECT p.*, CASE gateway WHEN 'stripe' THEN CAST(:payout_cov AS timestamptz)
                               ELSE CAST(:adyen_cov AS timestamptz) END AS coverage FROM recon_payouts p) p
"""

S2_STEPS = (RESET, S2_SCOPE, ANALYZE_SCOPE, *FILL)
