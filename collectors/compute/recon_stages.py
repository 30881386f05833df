"""The four stages of reconciliation as set-based SQL (the rules; collectors/compute/reconciliation.py runs them).

Each query judges the items of one kind in scope (event time in [:lo, :hi), or not matched at
the last run) and returns the same columns, `JUDGED`. `outcome` is `matched` or the break
type it would be (missing, amount_mismatch, duplicate, status_mismatch, currency_mismatch);
`waiting` says the item is still inside its timing window, so an unmatched item is
*expected* rather than a break. Timing windows end against what the other side has
delivered (its coverage: the newest record copied), not against the wall clock, so a source
that stops sending turns its items into breaks once its data moves past their window, and
a re-run on the same data gives the same answer.

Matching rules (SOURCES.md §1-6):
- S1 billing ↔ gateway (the window runs from the attempt's or refund's last update, when it
  completed: an ACH payment succeeds days after it was attempted): an attempt or refund is matched 1:1 by reference (Stripe id =
  gateway_reference; Adyen `Settled` line by PSP reference; Adyen `Refunded` line by Merchant
  Reference = refund_id), then status, currency and amount (within :tol) must agree. Money at
  a gateway with no billing record is a break on the billing side.
- S2 gateway ↔ payout: every Stripe balance entry is in exactly one payout (`payout` set);
  each payout equals the sum of its entries' nets, reconstructed as gross − fees − refunds −
  disputes − adjustments; an Adyen batch's `MerchantPayout` equals the net of its lines.
- S3 payout ↔ bank (run in steps, see reconciliation.py): by reference in the bank text,
  else exact amount within ±:match_days of the expected arrival, one-to-one or many-to-one.
- S4 ledger: payout journals by reference (cash, fees, clearing), revenue and tax per site,
  local day and currency (rollup_invoices, non-void) against REV-<site>-<date> journals,
  refunds by refund id; product-account postings nobody expects are breaks too.
"""
from __future__ import annotations

JUDGED = ("item_key", "item_type", "gateway", "site_id", "currency", "amount_minor", "counter_amount_minor",
          "stake_minor", "left_ref", "right_ref", "match_rule", "occurred_at", "accounting_month", "due_at",
          "detail", "fp", "outcome", "missing_side", "waiting")


def _open(stage: str, item_type: str, column: str = "left_ref") -> str:
    return (f"(SELECT {column} FROM recon_items WHERE stage = '{stage}' AND item_type = '{item_type}'"
            " AND status <> 'matched')")


_MONTH = "date_trunc('month', {t} AT TIME ZONE 'UTC')::date"

# ------------------------------------------------------------------ S1 billing ↔ gateway
S1_PAYMENTS = f"""
WITH a AS (
    SELECT * FROM payment_attempts WHERE attempted_at >= :lo AND attempted_at < :hi
    UNION
    SELECT * FROM payment_attempts WHERE attempt_id IN {_open('S1', 'payment')}
), s AS (
    SELECT c.id, c.amount, c.currency, c.status FROM stripe_charges c
    WHERE c.id IN (SELECT gateway_reference FROM a WHERE gateway = 'stripe')
), y AS (
    SELECT psp_reference, count(*) AS n, sum(gross_credit_minor) AS amount, min(gross_currency) AS currency
    FROM adyen_settlement_lines
    WHERE type = 'Settled' AND psp_reference IN (SELECT gateway_reference FROM a WHERE gateway = 'adyen')
    GROUP BY psp_reference
), rc AS (
    SELECT gateway_reference, count(*) AS n FROM payment_attempts
    WHERE gateway_reference IN (SELECT gateway_reference FROM a) GROUP BY gateway_reference
), j AS (
    SELECT a.*, ps.site_id, rc.n AS billing_refs, y.n AS settled_lines,
           CASE a.gateway WHEN 'stripe' THEN s.id IS NOT NULL ELSE y.n IS NOT NULL END AS seen,
           CASE a.gateway WHEN 'stripe' THEN s.status = 'succeeded' ELSE y.n IS NOT NULL END AS took,
           CASE a.gateway WHEN 'stripe' THEN s.status = 'pending' ELSE false END AS gateway_pending,
           coalesce(s.amount, y.amount) AS g_amount, coalesce(s.currency, y.currency) AS g_currency,
           coalesce(s.status, CASE WHEN y.n IS NOT NULL THEN 'settled' END) AS g_status,
           CASE a.gateway WHEN 'stripe' THEN CAST(:stripe_cov AS timestamptz)
                          ELSE CAST(:adyen_cov AS timestamptz) END AS coverage
    FROM a
    LEFT JOIN s ON a.gateway = 'stripe' AND s.id = a.gateway_reference
    LEFT JOIN y ON a.gateway = 'adyen' AND y.psp_reference = a.gateway_reference
    LEFT JOIN rc ON rc.gateway_reference = a.gateway_reference
    LEFT JOIN invoices i ON i.invoice_id = a.invoice_id
    LEFT JOIN parking_sessions ps ON ps.session_id = i.session_id
), o AS (
    SELECT j.*, CASE
        WHEN status = 'succeeded' AND NOT seen THEN 'missing'
        WHEN status = 'succeeded' AND NOT took THEN 'status_mismatch'
        WHEN status <> 'succeeded' AND took THEN 'status_mismatch'
        WHEN billing_refs > 1 OR settled_lines > 1 THEN 'duplicate'
        WHEN g_currency <> currency THEN 'currency_mismatch'
        WHEN abs(g_amount - amount_minor) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM j WHERE status = 'succeeded' OR took
)
SELECT 'attempt:' || attempt_id, 'payment', gateway, site_id, currency, amount_minor, g_amount,
       CASE outcome WHEN 'amount_mismatch' THEN abs(g_amount - amount_minor)
                    WHEN 'status_mismatch' THEN coalesce(CASE WHEN took THEN g_amount END, amount_minor)
                    ELSE amount_minor END,
       attempt_id, gateway_reference, CASE WHEN outcome = 'matched' THEN 'reference' END,
       attempted_at, {_MONTH.format(t='attempted_at')}, updated_at + :gateway_days,
       jsonb_build_object('billing_status', status, 'gateway_status', g_status, 'invoice_id', invoice_id),
       concat_ws('|', status, amount_minor, currency, gateway_reference, g_status, g_amount, g_currency,
                 billing_refs, settled_lines),
       outcome, CASE WHEN outcome = 'missing' THEN 'gateway' END,
       (outcome = 'missing' AND (coverage IS NULL OR updated_at + :gateway_days > coverage))
       OR (outcome = 'status_mismatch' AND (status = 'pending' OR gateway_pending)
           AND (coverage IS NULL OR updated_at + :gateway_days > coverage))
FROM o
"""

S1_GATEWAY_PAYMENTS = f"""
WITH g AS (
    SELECT 'stripe' AS gateway, c.id AS ref, c.amount, c.currency, c.created, c.attempt_id AS gateway_attempt_id
    FROM stripe_charges c
    WHERE c.status = 'succeeded'
      AND c.id IN (SELECT id FROM stripe_charges WHERE created >= :lo AND created < :hi
                   UNION SELECT right_ref FROM recon_items WHERE stage = 'S1' AND item_type = 'gateway_payment'
                                                             AND status <> 'matched')
    UNION ALL
    SELECT 'adyen', psp_reference, sum(gross_credit_minor), min(gross_currency), min(created_at), min(merchant_reference)
    FROM adyen_settlement_lines
    WHERE type = 'Settled'
      AND psp_reference IN (SELECT psp_reference FROM adyen_settlement_lines
                            WHERE type = 'Settled' AND (created_at >= :lo AND created_at < :hi)
                            UNION SELECT right_ref FROM recon_items WHERE stage = 'S1'
                            AND item_type = 'gateway_payment' AND status <> 'matched')
    GROUP BY psp_reference
)
SELECT g.gateway || ':' || g.ref, 'gateway_payment', g.gateway, NULL, g.currency, g.amount, NULL, g.amount,
       NULL, g.ref, NULL, g.created, {_MONTH.format(t='g.created')}, g.created + :settle,
       jsonb_build_object('gateway_attempt_id', g.gateway_attempt_id),
       concat_ws('|', g.amount, g.currency, g.gateway_attempt_id),
       'missing', 'billing', CAST(:billing_cov AS timestamptz) IS NULL OR g.created + :settle > :billing_cov
FROM g
LEFT JOIN LATERAL (SELECT 1 AS known FROM payment_attempts a WHERE a.gateway_reference = g.ref LIMIT 1) a ON true
WHERE a.known IS NULL  -- by the index, one probe per gateway object (an anti join would read every attempt)
"""

S1_REFUNDS = f"""
WITH r AS (
    SELECT * FROM refunds WHERE created_at >= :lo AND created_at < :hi
    UNION
    SELECT * FROM refunds WHERE refund_id IN {_open('S1', 'refund')}
), s AS (
    SELECT id, amount, currency, status FROM stripe_refunds
    WHERE id IN (SELECT gateway_reference FROM r WHERE gateway = 'stripe')
), y AS (
    SELECT merchant_reference, count(*) AS n, sum(gross_debit_minor) AS amount, min(gross_currency) AS currency
    FROM adyen_settlement_lines
    WHERE type = 'Refunded' AND merchant_reference IN (SELECT refund_id FROM r WHERE gateway = 'adyen')
    GROUP BY merchant_reference
), j AS (
    SELECT r.*, i.session_id,
           CASE r.gateway WHEN 'stripe' THEN s.id IS NOT NULL ELSE y.n IS NOT NULL END AS seen,
           CASE r.gateway WHEN 'stripe' THEN s.status = 'succeeded' ELSE y.n IS NOT NULL END AS took,
           CASE r.gateway WHEN 'stripe' THEN s.status = 'pending' ELSE false END AS gateway_pending,
           coalesce(s.amount, y.amount) AS g_amount, coalesce(s.currency, y.currency) AS g_currency,
           coalesce(s.status, CASE WHEN y.n IS NOT NULL THEN 'refunded' END) AS g_status,
           coalesce(s.id, CASE WHEN y.n IS NOT NULL THEN r.refund_id END) AS g_ref, y.n AS lines,
           CASE r.gateway WHEN 'stripe' THEN CAST(:stripe_cov AS timestamptz)
                          ELSE CAST(:adyen_cov AS timestamptz) END AS coverage
    FROM r
    LEFT JOIN s ON r.gateway = 'stripe' AND s.id = r.gateway_reference
    LEFT JOIN y ON r.gateway = 'adyen' AND y.merchant_reference = r.refund_id
    LEFT JOIN invoices i ON i.invoice_id = r.invoice_id
), o AS (
    SELECT j.*, ps.site_id, CASE
        WHEN status = 'succeeded' AND NOT seen THEN 'missing'
        WHEN status = 'succeeded' AND NOT took THEN 'status_mismatch'
        WHEN status <> 'succeeded' AND took THEN 'status_mismatch'
        WHEN lines > 1 THEN 'duplicate'
        WHEN g_currency <> currency THEN 'currency_mismatch'
        WHEN abs(g_amount - amount_minor) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM j LEFT JOIN parking_sessions ps ON ps.session_id = j.session_id
    WHERE status = 'succeeded' OR took
)
SELECT 'refund:' || refund_id, 'refund', gateway, site_id, currency, amount_minor, g_amount,
       CASE outcome WHEN 'amount_mismatch' THEN abs(g_amount - amount_minor) ELSE amount_minor END,
       refund_id, g_ref, CASE WHEN outcome = 'matched' THEN 'reference' END,
       created_at, {_MONTH.format(t='created_at')}, updated_at + :gateway_days,
       jsonb_build_object('billing_status', status, 'gateway_status', g_status, 'invoice_id', invoice_id),
       concat_ws('|', status, amount_minor, currency, gateway_reference, g_status, g_amount, g_currency, lines),
       outcome, CASE WHEN outcome = 'missing' THEN 'gateway' END,
       (outcome = 'missing' AND (coverage IS NULL OR updated_at + :gateway_days > coverage))
       OR (outcome = 'status_mismatch' AND (status = 'pending' OR gateway_pending)
           AND (coverage IS NULL OR updated_at + :gateway_days > coverage))
FROM o
"""

S1_GATEWAY_REFUNDS = f"""
WITH g AS (
    SELECT 'stripe' AS gateway, sr.id AS ref, sr.amount, sr.currency, sr.created
    FROM stripe_refunds sr
    WHERE sr.status = 'succeeded'
      AND (sr.created >= :lo AND sr.created < :hi OR sr.id IN {_open('S1', 'gateway_refund', 'right_ref')})
      AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.gateway = 'stripe' AND r.gateway_reference = sr.id)
    UNION ALL
    SELECT 'adyen', l.merchant_reference, sum(l.gross_debit_minor), min(l.gross_currency), min(l.created_at)
    FROM adyen_settlement_lines l
    WHERE l.type = 'Refunded'
      AND l.merchant_reference IN (SELECT merchant_reference FROM adyen_settlement_lines
                                   WHERE type = 'Refunded' AND created_at >= :lo AND created_at < :hi
                                   UNION SELECT right_ref FROM recon_items WHERE stage = 'S1'
                                   AND item_type = 'gateway_refund' AND status <> 'matched')
      AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.refund_id = l.merchant_reference)
    GROUP BY l.merchant_reference
)
SELECT g.gateway || ':' || g.ref, 'gateway_refund', g.gateway, NULL, g.currency, g.amount, NULL, g.amount,
       NULL, g.ref, NULL, g.created, {_MONTH.format(t='g.created')}, g.created + :settle, NULL::jsonb,
       concat_ws('|', g.amount, g.currency),
       'missing', 'billing', CAST(:billing_cov AS timestamptz) IS NULL OR g.created + :settle > :billing_cov
FROM g
"""

# ------------------------------------------------------------------ payouts: one definition for S2-S4
# Every payout with its reconstruction: Stripe from the balance entries paid out with it, Adyen
# from the lines of its batch. Deductions are positive: net = gross - fees - refunds - disputes
# - adjustments. `expected_arrival` is the day the bank should show it.
PAYOUTS = """
    SELECT 'payout:stripe:' || p.id AS payout_key, 'stripe' AS gateway, p.id AS reference, p.currency,
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
    WHERE {stripe_where}
    UNION ALL
    SELECT 'payout:adyen:' || b.batch_number, 'adyen', 'ADYEN-' || b.batch_number, b.currency,
           b.payout_minor, CASE WHEN b.payout_lines = 0 THEN 'open' ELSE 'paid' END, b.occurred_at,
           add_business_days((b.occurred_at AT TIME ZONE 'UTC')::date, 1),
           b.gross, b.fees, b.refunds, b.disputes, b.net, b.entries
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
        WHERE {adyen_where}
        GROUP BY batch_number
    ) b
"""


def payouts_sql(stripe_where: str = "true", adyen_where: str = "true") -> str:
    return PAYOUTS.format(stripe_where=stripe_where, adyen_where=adyen_where)


# ------------------------------------------------------------------ S2 gateway ↔ payout
S2_ENTRIES = f"""
SELECT 'txn:' || t.id, 'balance_entry', 'stripe', NULL, t.currency, t.net, NULL, abs(t.net),
       t.id, t.payout, CASE WHEN t.payout IS NOT NULL THEN 'reference' END,
       t.created, {_MONTH.format(t='t.created')}, coalesce(t.available_on, t.created) + :payout_days,
       jsonb_build_object('type', t.type, 'reporting_category', t.reporting_category, 'available_on', t.available_on),
       concat_ws('|', t.amount, t.fee, t.net, t.currency, t.status, t.payout),
       CASE WHEN t.payout IS NOT NULL THEN 'matched' ELSE 'missing' END, 'payout',
       t.status = 'pending' OR CAST(:payout_cov AS timestamptz) IS NULL
       OR coalesce(t.available_on, t.created) + :payout_days > :payout_cov
FROM stripe_balance_transactions t
WHERE t.type <> 'payout'
  AND t.id IN (SELECT id FROM stripe_balance_transactions WHERE created >= :lo AND created < :hi
               UNION SELECT left_ref FROM recon_items WHERE stage = 'S2' AND item_type = 'balance_entry'
                                                         AND status <> 'matched')
"""

_S2_PAYOUT_SCOPE_STRIPE = """(p.created >= :lo AND p.created < :hi
    OR p.id IN (SELECT payout FROM stripe_balance_transactions WHERE created >= :lo AND created < :hi)
    OR 'payout:stripe:' || p.id IN (SELECT item_key FROM recon_items WHERE stage = 'S2' AND status <> 'matched'))"""
_S2_PAYOUT_SCOPE_ADYEN = """batch_number IN (
    SELECT batch_number FROM adyen_settlement_lines WHERE created_at >= :lo AND created_at < :hi
    UNION SELECT substr(item_key, 14)::int FROM recon_items
          WHERE stage = 'S2' AND item_key LIKE 'payout:adyen:%' AND status <> 'matched')"""

S2_PAYOUTS = f"""
WITH p AS ({payouts_sql(_S2_PAYOUT_SCOPE_STRIPE, _S2_PAYOUT_SCOPE_ADYEN)})
SELECT payout_key, 'payout', gateway, NULL, currency, payout_minor, net_minor, abs(payout_minor - net_minor),
       reference, NULL, CASE WHEN entries > 0 AND abs(payout_minor - net_minor) <= :tol THEN 'reconstruction' END,
       occurred_at, {_MONTH.format(t='occurred_at')}, occurred_at + :payout_days,
       jsonb_build_object('gross_minor', gross_minor, 'fees_minor', fees_minor, 'refunds_minor', refunds_minor,
                          'disputes_minor', disputes_minor,
                          'adjustments_minor', gross_minor - fees_minor - refunds_minor - disputes_minor - net_minor,
                          'net_minor', net_minor, 'entries', entries, 'payout_status', status),
       concat_ws('|', payout_minor, currency, status, gross_minor, fees_minor, refunds_minor, disputes_minor,
                 net_minor, entries),
       CASE WHEN status = 'open' THEN 'missing'
            WHEN entries > 0 AND abs(payout_minor - net_minor) <= :tol THEN 'matched'
            ELSE 'amount_mismatch' END,
       CASE WHEN status = 'open' THEN 'payout' END,
       (status = 'open' OR entries = 0)
       AND (coverage IS NULL OR occurred_at + :payout_days > coverage)
FROM (SELECT p.*, CASE gateway WHEN 'stripe' THEN CAST(:payout_cov AS timestamptz)
                               ELSE CAST(:adyen_cov AS timestamptz) END AS coverage FROM p) p
"""

# ------------------------------------------------------------------ S3 payout ↔ bank
# Steps: the payouts and payout-type bank credits in scope (a bank line already matched to a
# payout outside the scope is taken), then matches by reference, by amount and date one-to-one,
# by amount and date many-to-one (payouts of one gateway, currency and arrival day summed).
_S3_SCOPE_STRIPE = f"""p.status <> 'failed' AND (p.created >= :lo AND p.created < :hi
    OR 'payout:stripe:' || p.id IN {_open('S3', 'payout', 'item_key')})"""
_S3_SCOPE_ADYEN = """batch_number IN (
    SELECT batch_number FROM adyen_settlement_lines WHERE type = 'MerchantPayout' AND created_at >= :lo AND created_at < :hi
    UNION SELECT substr(item_key, 14)::int FROM recon_items
          WHERE stage = 'S3' AND item_type = 'payout' AND item_key LIKE 'payout:adyen:%' AND status <> 'matched')"""
_BANK_KEY = "'bank:' || file_sha256 || ':' || line_number"

S3_STEPS = (
    f"""CREATE TEMP TABLE s3_p ON COMMIT DROP AS
        SELECT * FROM ({payouts_sql(_S3_SCOPE_STRIPE, _S3_SCOPE_ADYEN)}) x WHERE payout_minor > 0 AND status <> 'open'""",
    f"""CREATE TEMP TABLE s3_b ON COMMIT DROP AS
        SELECT {_BANK_KEY} AS bank_key, currency, bank_date, amount_minor, text, payout_refs FROM bank_lines
        WHERE direction = 'credit' AND (payout_candidate OR cardinality(payout_refs) > 0)
          AND (bank_date >= CAST(:lo AS date) AND bank_date < CAST(:hi AS date)
               OR {_BANK_KEY} IN {_open('S3', 'bank_credit', 'item_key')})
          AND {_BANK_KEY} NOT IN (
               SELECT unnest(string_to_array(right_ref, ',')) FROM recon_items
               WHERE stage = 'S3' AND item_type = 'payout' AND status = 'matched'
                 AND NOT (occurred_at >= :lo AND occurred_at < :hi))""",
    # by reference: each bank line against the payouts its text names
    """CREATE TEMP TABLE s3_m ON COMMIT DROP AS
        WITH r AS (
            SELECT DISTINCT b.bank_key, p.payout_key FROM s3_b b CROSS JOIN LATERAL unnest(b.payout_refs) AS ref(reference)
            JOIN s3_p p ON p.reference = ref.reference
        ), per_bank AS (SELECT bank_key, count(*) AS n FROM r GROUP BY bank_key)
        SELECT r.payout_key, r.bank_key, CASE WHEN pb.n > 1 THEN 'many_to_one' ELSE 'reference' END AS rule
        FROM r JOIN per_bank pb USING (bank_key)""",
    # exact amount within the date window, one-to-one (each side's nearest, mutually)
    """INSERT INTO s3_m
        WITH pairs AS (
            SELECT p.payout_key, b.bank_key, abs(b.bank_date - p.expected_arrival) AS dd
            FROM s3_p p JOIN s3_b b ON b.currency = p.currency AND abs(b.amount_minor - p.payout_minor) <= :tol
             AND b.bank_date BETWEEN p.expected_arrival - :match_days AND p.expected_arrival + :match_days
            WHERE p.payout_key NOT IN (SELECT payout_key FROM s3_m) AND b.bank_key NOT IN (SELECT bank_key FROM s3_m)
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY payout_key ORDER BY dd, bank_key) AS rp,
                      row_number() OVER (PARTITION BY bank_key ORDER BY dd, payout_key) AS rb FROM pairs
        )
        SELECT payout_key, bank_key, 'amount_date' FROM ranked WHERE rp = 1 AND rb = 1""",
    # many-to-one: one bank credit for the payouts of one gateway, currency and arrival day
    """INSERT INTO s3_m
        WITH g AS (
            SELECT gateway, currency, expected_arrival, sum(payout_minor) AS total, array_agg(payout_key) AS keys
            FROM s3_p WHERE payout_key NOT IN (SELECT payout_key FROM s3_m)
            GROUP BY gateway, currency, expected_arrival HAVING count(*) > 1
        ), pairs AS (
            SELECT g.*, b.bank_key, abs(b.bank_date - g.expected_arrival) AS dd
            FROM g JOIN s3_b b ON b.currency = g.currency AND abs(b.amount_minor - g.total) <= :tol
             AND b.bank_date BETWEEN g.expected_arrival - :match_days AND g.expected_arrival + :match_days
            WHERE b.bank_key NOT IN (SELECT bank_key FROM s3_m)
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY gateway, currency, expected_arrival ORDER BY dd, bank_key) AS rp,
                      row_number() OVER (PARTITION BY bank_key ORDER BY dd, gateway, expected_arrival) AS rb FROM pairs
        )
        SELECT unnest(keys), bank_key, 'many_to_one' FROM ranked WHERE rp = 1 AND rb = 1""",
)

S3_PAYOUTS = f"""
WITH per_payout AS (
    SELECT m.payout_key, count(*) AS n_bank, min(m.rule) AS rule,
           string_agg(m.bank_key, ',' ORDER BY m.bank_key) AS bank_keys,
           sum(b.amount_minor) AS bank_minor,
           jsonb_agg(b.bank_date ORDER BY m.bank_key) AS bank_dates, jsonb_agg(b.text ORDER BY m.bank_key) AS bank_texts
    FROM s3_m m JOIN s3_b b USING (bank_key) GROUP BY m.payout_key
), per_bank AS (  -- what each bank line had to cover (several payouts when many-to-one)
    SELECT m.bank_key, sum(p.payout_minor) AS payouts_minor, min(m.payout_key) AS first_payout
    FROM s3_m m JOIN s3_p p USING (payout_key) GROUP BY m.bank_key
), j AS (
    SELECT p.*, pp.n_bank, pp.rule, pp.bank_keys, pp.bank_minor, pp.bank_dates, pp.bank_texts,
           pb.payouts_minor, pb.first_payout, b.amount_minor AS line_minor,
           (SELECT max(bank_date) FROM bank_lines bl WHERE bl.currency = p.currency) AS coverage
    FROM s3_p p LEFT JOIN per_payout pp USING (payout_key)
    LEFT JOIN s3_m m1 ON m1.payout_key = p.payout_key AND pp.n_bank = 1
    LEFT JOIN per_bank pb ON pb.bank_key = m1.bank_key
    LEFT JOIN s3_b b ON b.bank_key = m1.bank_key
), o AS (
    SELECT j.*, CASE
        WHEN n_bank IS NULL THEN 'missing'
        WHEN n_bank > 1 THEN 'duplicate'
        WHEN abs(line_minor - payouts_minor) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM j
)
SELECT payout_key, 'payout', gateway, NULL, currency, payout_minor, bank_minor,
       CASE outcome WHEN 'missing' THEN payout_minor
                    WHEN 'duplicate' THEN bank_minor - payout_minor
                    WHEN 'amount_mismatch' THEN CASE WHEN first_payout = payout_key THEN abs(line_minor - payouts_minor) ELSE 0 END
                    END,
       reference, bank_keys, CASE WHEN outcome = 'matched' THEN rule END,
       occurred_at, {_MONTH.format(t='occurred_at')},
       CAST(add_business_days(expected_arrival, :bank_days) AS timestamp) AT TIME ZONE 'UTC',
       jsonb_build_object('arrival_date', expected_arrival, 'bank_dates', bank_dates, 'bank_amount_minor', bank_minor,
                          'bank_texts', bank_texts, 'covered_minor', payouts_minor, 'rule', rule),
       concat_ws('|', payout_minor, currency, bank_keys, bank_minor, line_minor, payouts_minor),
       outcome, CASE WHEN outcome = 'missing' THEN 'bank' END,
       outcome = 'missing' AND (coverage IS NULL OR add_business_days(expected_arrival, :bank_days) > coverage)
FROM o
"""

S3_BANK_CREDITS = """
SELECT b.bank_key, 'bank_credit', NULL, NULL, b.currency, b.amount_minor, NULL, b.amount_minor,
       NULL, b.bank_key, NULL, CAST(b.bank_date AS timestamp) AT TIME ZONE 'UTC',
       date_trunc('month', b.bank_date)::date, CAST(b.bank_date + 1 AS timestamp) AT TIME ZONE 'UTC',
       jsonb_build_object('bank_date', b.bank_date, 'text', b.text, 'payout_refs', b.payout_refs),
       concat_ws('|', b.amount_minor, b.currency, b.text),
       'missing', 'payout',
       CAST(:payout_cov AS timestamptz) IS NULL OR CAST(b.bank_date AS timestamp) AT TIME ZONE 'UTC' > :payout_cov
FROM s3_b b WHERE b.bank_key NOT IN (SELECT bank_key FROM s3_m)
"""

# ------------------------------------------------------------------ S4 ledger
_S4_SCOPE_STRIPE = f"""p.status <> 'failed' AND (p.created >= :lo AND p.created < :hi
    OR 'payout:stripe:' || p.id IN {_open('S4', 'payout_journal', 'item_key')})"""
_S4_SCOPE_ADYEN = """batch_number IN (
    SELECT batch_number FROM adyen_settlement_lines WHERE type = 'MerchantPayout' AND created_at >= :lo AND created_at < :hi
    UNION SELECT substr(item_key, 14)::int FROM recon_items
          WHERE stage = 'S4' AND item_type = 'payout_journal' AND item_key LIKE 'payout:adyen:%' AND status <> 'matched')"""


def _gl_by_reference(refs_sql: str, *sums: str) -> str:
    """GL postings grouped by reference: journals, their ids and currencies, and the named sums."""
    extra = "".join(f", {s}" for s in sums)
    return f"""SELECT reference, count(DISTINCT journal_id) AS journals,
                      string_agg(DISTINCT journal_id, ',') AS journal_ids, min(currency) AS gl_currency,
                      count(DISTINCT currency) AS gl_currencies, min(posted_date) AS posted{extra}
               FROM gl_lines WHERE reference IN ({refs_sql}) GROUP BY reference"""


def _account_sum(role: str, sign: str = "debit_minor - credit_minor", name: str | None = None) -> str:
    return f"coalesce(sum({sign}) FILTER (WHERE account = :{role}), 0) AS {name or 'gl_' + role}"


S4_PAYOUT_JOURNALS = f"""
WITH p AS (
    SELECT * FROM ({payouts_sql(_S4_SCOPE_STRIPE, _S4_SCOPE_ADYEN)}) x WHERE payout_minor > 0 AND status <> 'open'
), gl AS ({_gl_by_reference('SELECT reference FROM p', _account_sum('cash'), _account_sum('fees'),
                             _account_sum('clearing', 'credit_minor - debit_minor'))}),
o AS (
    SELECT *, CASE
        WHEN gl.journals IS NULL THEN 'missing'
        WHEN gl.journals > 1 THEN 'duplicate'
        WHEN gl.gl_currencies > 1 OR gl.gl_currency <> p.currency THEN 'currency_mismatch'
        WHEN abs(gl.gl_cash - p.payout_minor) + abs(gl.gl_fees - p.fees_minor)
             + abs(gl.gl_clearing - p.payout_minor - p.fees_minor) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM p LEFT JOIN gl USING (reference)
)
SELECT payout_key, 'payout_journal', gateway, NULL, currency, payout_minor, gl_cash,
       CASE outcome WHEN 'missing' THEN payout_minor
                    WHEN 'duplicate' THEN greatest(gl_cash - payout_minor, payout_minor * (journals - 1))
                    ELSE abs(gl_cash - payout_minor) + abs(gl_fees - fees_minor) END,
       reference, journal_ids, CASE WHEN outcome = 'matched' THEN 'reference' END,
       occurred_at, {_MONTH.format(t='occurred_at')},
       CAST(expected_arrival + :ledger_days AS timestamp) AT TIME ZONE 'UTC',
       jsonb_build_object('cash_minor', gl_cash, 'fees_minor', gl_fees, 'clearing_minor', gl_clearing,
                          'expected_fees_minor', fees_minor, 'journals', journal_ids, 'posted_date', posted),
       concat_ws('|', payout_minor, fees_minor, currency, journal_ids, gl_cash, gl_fees, gl_clearing, gl_currency),
       outcome, CASE WHEN outcome = 'missing' THEN 'ledger' END,
       outcome = 'missing' AND (CAST(:gl_cov AS date) IS NULL OR expected_arrival + :ledger_days > :gl_cov)
FROM o
"""

S4_REVENUE_DAYS = f"""
WITH e AS (
    SELECT site_id, local_date, currency, sum(subtotal_minor) AS subtotal, sum(tax_minor) AS tax,
           'REV-' || site_id || '-' || to_char(local_date, 'YYYY-MM-DD') AS reference
    FROM rollup_invoices
    WHERE status <> 'void'
      AND (local_date >= CAST(:lo AS date) - 1 AND local_date < CAST(:hi AS date) + 1
           OR local_date IN (SELECT (detail ->> 'local_date')::date FROM recon_items
                             WHERE stage = 'S4' AND item_type = 'revenue_day' AND status <> 'matched'))
    GROUP BY site_id, local_date, currency
), gl AS ({_gl_by_reference('SELECT reference FROM e', _account_sum('revenue', 'credit_minor - debit_minor'),
                             _account_sum('tax', 'credit_minor - debit_minor'),
                             _account_sum('clearing'))}),
o AS (
    SELECT e.*, gl.journals, gl.journal_ids, gl.gl_currency, gl.posted, gl.gl_revenue, gl.gl_tax, gl.gl_clearing,
           s.timezone, CASE
        WHEN gl.journals IS NULL THEN 'missing'
        WHEN gl.journals > 1 THEN 'duplicate'
        WHEN gl.gl_currencies > 1 OR gl.gl_currency <> e.currency THEN 'currency_mismatch'
        WHEN abs(gl.gl_revenue - e.subtotal) + abs(gl.gl_tax - e.tax) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM e LEFT JOIN gl USING (reference) LEFT JOIN sites s ON s.site_id = e.site_id
)
SELECT 'rev:' || site_id || ':' || to_char(local_date, 'YYYY-MM-DD') || ':' || currency, 'revenue_day', NULL, site_id,
       currency, subtotal + tax, gl_revenue + gl_tax,
       CASE outcome WHEN 'missing' THEN subtotal + tax
                    WHEN 'duplicate' THEN greatest(gl_revenue + gl_tax - subtotal - tax, 0)
                    ELSE abs(gl_revenue - subtotal) + abs(gl_tax - tax) END,
       reference, journal_ids, CASE WHEN outcome = 'matched' THEN 'reference' END,
       CAST(local_date AS timestamp) AT TIME ZONE coalesce(timezone, 'UTC'), date_trunc('month', local_date)::date,
       CAST(local_date + 1 + :ledger_days AS timestamp) AT TIME ZONE 'UTC',
       jsonb_build_object('local_date', local_date, 'subtotal_minor', subtotal, 'tax_minor', tax,
                          'gl_revenue_minor', gl_revenue, 'gl_tax_minor', gl_tax, 'gl_clearing_minor', gl_clearing,
                          'journals', journal_ids, 'posted_date', posted),
       concat_ws('|', subtotal, tax, currency, journal_ids, gl_revenue, gl_tax, gl_currency),
       outcome, CASE WHEN outcome = 'missing' THEN 'ledger' END,
       outcome = 'missing' AND (CAST(:gl_cov AS date) IS NULL OR local_date + 1 + :ledger_days > :gl_cov)
FROM o
"""

S4_REFUND_JOURNALS = f"""
WITH r AS (
    SELECT * FROM refunds WHERE status = 'succeeded' AND created_at >= :lo AND created_at < :hi
    UNION
    SELECT * FROM refunds WHERE status = 'succeeded' AND refund_id IN {_open('S4', 'refund_journal')}
), gl AS ({_gl_by_reference('SELECT refund_id FROM r', _account_sum('refunds'),
                             _account_sum('clearing', 'credit_minor - debit_minor'))}),
o AS (
    SELECT r.*, gl.*, ps.site_id, CASE
        WHEN gl.journals IS NULL THEN 'missing'
        WHEN gl.journals > 1 THEN 'duplicate'
        WHEN gl.gl_currencies > 1 OR gl.gl_currency <> r.currency THEN 'currency_mismatch'
        WHEN abs(gl.gl_refunds - r.amount_minor) + abs(gl.gl_clearing - r.amount_minor) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM r LEFT JOIN gl ON gl.reference = r.refund_id
    LEFT JOIN invoices i ON i.invoice_id = r.invoice_id LEFT JOIN parking_sessions ps ON ps.session_id = i.session_id
)
SELECT 'refund:' || refund_id, 'refund_journal', gateway, site_id, currency, amount_minor, gl_refunds,
       CASE outcome WHEN 'missing' THEN amount_minor
                    WHEN 'duplicate' THEN greatest(gl_refunds - amount_minor, amount_minor * (journals - 1))
                    ELSE abs(gl_refunds - amount_minor) END,
       refund_id, journal_ids, CASE WHEN outcome = 'matched' THEN 'reference' END,
       created_at, {_MONTH.format(t='created_at')},
       CAST((created_at AT TIME ZONE 'UTC')::date + 1 + :ledger_days AS timestamp) AT TIME ZONE 'UTC',
       jsonb_build_object('refunds_minor', gl_refunds, 'clearing_minor', gl_clearing, 'journals', journal_ids,
                          'posted_date', posted),
       concat_ws('|', amount_minor, currency, journal_ids, gl_refunds, gl_clearing, gl_currency),
       outcome, CASE WHEN outcome = 'missing' THEN 'ledger' END,
       outcome = 'missing'
       AND (CAST(:gl_cov AS date) IS NULL OR (created_at AT TIME ZONE 'UTC')::date + 1 + :ledger_days > :gl_cov)
FROM o
"""

# Postings on the product's accounts that nothing on the product side expects.
S4_LEDGER_ONLY = f"""
WITH l AS (
    SELECT coalesce(reference, 'journal ' || journal_id) AS ref, * FROM gl_lines
    WHERE account IN (:clearing, :revenue, :tax, :fees, :refunds)
      AND (posted_date >= CAST(:lo AS date) AND posted_date < CAST(:hi AS date)
           OR coalesce(reference, 'journal ' || journal_id) IN {_open('S4', 'ledger_entry', 'right_ref')})
), g AS (
    SELECT ref, min(currency) AS currency, min(posted_date) AS posted,
           greatest(sum(debit_minor), sum(credit_minor)) AS debits,
           string_agg(DISTINCT journal_id, ',') AS journal_ids,
           substring(ref FROM '^REV-(.+)-[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$') AS rev_site,
           CAST(substring(ref FROM '^REV-.+-([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})$') AS date) AS rev_date
    FROM l GROUP BY ref
)
SELECT 'gl:' || ref, 'ledger_entry', NULL, rev_site, currency, debits, NULL, debits,
       NULL, ref, NULL, CAST(posted AS timestamp) AT TIME ZONE 'UTC', date_trunc('month', posted)::date, NULL,
       jsonb_build_object('journals', journal_ids, 'posted_date', posted),
       concat_ws('|', debits, currency, journal_ids),
       'missing', CASE WHEN ref LIKE 'po\\_%' OR ref LIKE 'ADYEN-%' THEN 'gateway' ELSE 'billing' END, false
FROM g
WHERE NOT EXISTS (SELECT 1 FROM stripe_payouts p WHERE p.id = g.ref)
  AND NOT EXISTS (SELECT 1 FROM adyen_settlement_lines a WHERE g.ref LIKE 'ADYEN-%' AND a.type = 'MerchantPayout'
                  AND a.batch_number::text = substr(g.ref, 7))
  AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.refund_id = g.ref)
  AND NOT EXISTS (SELECT 1 FROM rollup_invoices ri WHERE ri.local_date = g.rev_date AND ri.site_id = g.rev_site)
"""

STAGES: dict[str, dict] = {
    "S1": {"queries": (S1_PAYMENTS, S1_GATEWAY_PAYMENTS, S1_REFUNDS, S1_GATEWAY_REFUNDS)},
    "S2": {"queries": (S2_ENTRIES, S2_PAYOUTS)},
    "S3": {"steps": S3_STEPS, "queries": (S3_PAYOUTS, S3_BANK_CREDITS)},
    "S4": {"queries": (S4_PAYOUT_JOURNALS, S4_REVENUE_DAYS, S4_REFUND_JOURNALS, S4_LEDGER_ONLY)},
}
