"""S1 billing ↔ gateway: the rules as named SQL (SOURCES.md §1-3; columns as in recon_stages.JUDGED).

An attempt or refund is matched 1:1 by reference (Stripe id = gateway_reference; Adyen
`Settled` line by PSP reference; Adyen `Refunded` line by Merchant Reference = refund_id), then
status, currency and amount (within :tol) must agree. Its window runs from its last update
(an ACH payment succeeds days after it was attempted) to the gateway's coverage. Money at a
gateway with no billing record is a break on the billing side.
"""
from __future__ import annotations

PAYMENTS = """
WITH a AS (
    SELECT * FROM payment_attempts WHERE attempted_at >= :lo AND attempted_at < :hi
    UNION
    SELECT * FROM payment_attempts WHERE attempt_id IN (
        SELECT left_ref FROM recon_rejudge WHERE stage = 'S1' AND item_type = 'payment')
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
SELECT 'attempt:' || attempt_id AS item_key, 'payment' AS item_type, gateway, site_id, currency, amount_minor,
       g_amount AS counter_amount_minor,
       CASE outcome WHEN 'amount_mismatch' THEN abs(g_amount - amount_minor)
                    WHEN 'status_mismatch' THEN coalesce(CASE WHEN took THEN g_amount END, amount_minor)
                    ELSE amount_minor END AS stake_minor,
       attempt_id AS left_ref, gateway_reference AS right_ref,
       CASE WHEN outcome = 'matched' THEN 'reference' END AS match_rule,
       attempted_at AS occurred_at, (attempted_at AT TIME ZONE 'UTC')::date AS accounting_day,
       updated_at + :gateway_days AS due_at,
       jsonb_build_object('billing_status', status, 'gateway_status', g_status, 'invoice_id', invoice_id) AS detail,
       concat_ws('|', status, amount_minor, currency, gateway_reference, g_status, g_amount, g_currency,
                 billing_refs, settled_lines) AS fp,
       outcome, CASE WHEN outcome = 'missing' THEN 'gateway' END AS missing_side,
       (outcome = 'missing' AND (coverage IS NULL OR updated_at + :gateway_days > coverage))
       OR (outcome = 'status_mismatch' AND (status = 'pending' OR gateway_pending)
           AND (coverage IS NULL OR updated_at + :gateway_days > coverage)) AS waiting
FROM o
"""

GATEWAY_PAYMENTS = """
WITH g AS (
    SELECT 'stripe' AS gateway, c.id AS ref, c.amount, c.currency, c.created, c.attempt_id AS gateway_attempt_id
    FROM stripe_charges c
    WHERE c.status = 'succeeded'
      AND c.id IN (SELECT id FROM stripe_charges WHERE created >= :lo AND created < :hi
                   UNION SELECT right_ref FROM recon_rejudge WHERE stage = 'S1' AND item_type = 'gateway_payment')
    UNION ALL
    SELECT 'adyen', psp_reference, sum(gross_credit_minor), min(gross_currency), min(created_at), min(merchant_reference)
    FROM adyen_settlement_lines
    WHERE type = 'Settled'
      AND psp_reference IN (SELECT psp_reference FROM adyen_settlement_lines
                            WHERE type = 'Settled' AND (created_at >= :lo AND created_at < :hi)
                            UNION SELECT right_ref FROM recon_rejudge WHERE stage = 'S1'
                                                                        AND item_type = 'gateway_payment')
    GROUP BY psp_reference
)
SELECT g.gateway || ':' || g.ref AS item_key, 'gateway_payment' AS item_type, g.gateway, NULL AS site_id, g.currency,
       g.amount AS amount_minor, NULL AS counter_amount_minor, g.amount AS stake_minor,
       NULL AS left_ref, g.ref AS right_ref, NULL AS match_rule,
       g.created AS occurred_at, (g.created AT TIME ZONE 'UTC')::date AS accounting_day, g.created + :settle AS due_at,
       jsonb_build_object('gateway_attempt_id', g.gateway_attempt_id) AS detail,
       concat_ws('|', g.amount, g.currency, g.gateway_attempt_id) AS fp,
       'missing' AS outcome, 'billing' AS missing_side,
       CAST(:billing_cov AS timestamptz) IS NULL OR g.created + :settle > :billing_cov AS waiting
FROM g
LEFT JOIN LATERAL (SELECT 1 AS known FROM payment_attempts a WHERE a.gateway_reference = g.ref LIMIT 1) a ON true
WHERE a.known IS NULL  -- by the index, one probe per gateway object (an anti join would read every attempt)
"""

REFUNDS = """
WITH r AS (
    SELECT * FROM refunds WHERE created_at >= :lo AND created_at < :hi
    UNION
    SELECT * FROM refunds WHERE refund_id IN (
        SELECT left_ref FROM recon_rejudge WHERE stage = 'S1' AND item_type = 'refund')
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
SELECT 'refund:' || refund_id AS item_key, 'refund' AS item_type, gateway, site_id, currency, amount_minor,
       g_amount AS counter_amount_minor,
       CASE outcome WHEN 'amount_mismatch' THEN abs(g_amount - amount_minor) ELSE amount_minor END AS stake_minor,
       refund_id AS left_ref, g_ref AS right_ref, CASE WHEN outcome = 'matched' THEN 'reference' END AS match_rule,
       created_at AS occurred_at, (created_at AT TIME ZONE 'UTC')::date AS accounting_day,
       updated_at + :gateway_days AS due_at,
       jsonb_build_object('billing_status', status, 'gateway_status', g_status, 'invoice_id', invoice_id) AS detail,
       concat_ws('|', status, amount_minor, currency, gateway_reference, g_status, g_amount, g_currency, lines) AS fp,
       outcome, CASE WHEN outcome = 'missing' THEN 'gateway' END AS missing_side,
       (outcome = 'missing' AND (coverage IS NULL OR updated_at + :gateway_days > coverage))
       OR (outcome = 'status_mismatch' AND (status = 'pending' OR gateway_pending)
           AND (coverage IS NULL OR updated_at + :gateway_days > coverage)) AS waiting
FROM o
"""

GATEWAY_REFUNDS = """
WITH g AS (
    SELECT 'stripe' AS gateway, sr.id AS ref, sr.amount, sr.currency, sr.created
    FROM stripe_refunds sr
    WHERE sr.status = 'succeeded'
      AND (sr.created >= :lo AND sr.created < :hi
           OR sr.id IN (SELECT right_ref FROM recon_rejudge WHERE stage = 'S1' AND item_type = 'gateway_refund'))
      AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.gateway = 'stripe' AND r.gateway_reference = sr.id)
    UNION ALL
    SELECT 'adyen', l.merchant_reference, sum(l.gross_debit_minor), min(l.gross_currency), min(l.created_at)
    FROM adyen_settlement_lines l
    WHERE l.type = 'Refunded'
      AND l.merchant_reference IN (SELECT merchant_reference FROM adyen_settlement_lines
                                   WHERE type = 'Refunded' AND created_at >= :lo AND created_at < :hi
                                   UNION SELECT right_ref FROM recon_rejudge WHERE stage = 'S1'
                                                                               AND item_type = 'gateway_refund')
      AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.refund_id = l.merchant_reference)
    GROUP BY l.merchant_reference
)
SELECT g.gateway || ':' || g.ref AS item_key, 'gateway_refund' AS item_type, g.gateway, NULL AS site_id, g.currency,
       g.amount AS amount_minor, NULL AS counter_amount_minor, g.amount AS stake_minor,
       NULL AS left_ref, g.ref AS right_ref, NULL AS match_rule,
       g.created AS occurred_at, (g.created AT TIME ZONE 'UTC')::date AS accounting_day, g.created + :settle AS due_at,
       NULL::jsonb AS detail, concat_ws('|', g.amount, g.currency) AS fp,
       'missing' AS outcome, 'billing' AS missing_side,
       CAST(:billing_cov AS timestamptz) IS NULL OR g.created + :settle > :billing_cov AS waiting
FROM g
"""

# The items of S1 judged again beyond the changed span (collectors/compute/reconciliation.py: recon_rejudge).
# An item waits for its other side: it is judged again when that side changed in the span (a gateway object
# names its billing record by reference, and back), or when the side's coverage has passed its window and a
# waiting item becomes a break. A break whose other side never comes is not judged again run after run.
REJUDGE = """
INSERT INTO recon_rejudge (stage, item_type, item_key, left_ref, right_ref)
SELECT stage, item_type, item_key, left_ref, right_ref FROM recon_items
WHERE stage = 'S1' AND status = 'expected' AND item_type IN ('payment', 'refund') AND gateway = 'stripe'
  AND due_at <= CAST(:stripe_cov AS timestamptz)
UNION ALL
SELECT stage, item_type, item_key, left_ref, right_ref FROM recon_items
WHERE stage = 'S1' AND status = 'expected' AND item_type IN ('payment', 'refund') AND gateway = 'adyen'
  AND due_at <= CAST(:adyen_cov AS timestamptz)
UNION ALL
SELECT stage, item_type, item_key, left_ref, right_ref FROM recon_items
WHERE stage = 'S1' AND status = 'expected' AND item_type IN ('gateway_payment', 'gateway_refund')
  AND due_at <= CAST(:billing_cov AS timestamptz)
UNION ALL  -- attempts beyond the span whose gateway side changed, or that share a reference with one that did
SELECT 'S1', 'payment', 'attempt:' || a.attempt_id, a.attempt_id, a.gateway_reference FROM payment_attempts a
WHERE NOT (a.attempted_at >= :lo AND a.attempted_at < :hi) AND a.gateway_reference IN (
    SELECT id FROM stripe_charges WHERE created >= :lo AND created < :hi
    UNION SELECT psp_reference FROM adyen_settlement_lines WHERE type = 'Settled' AND created_at >= :lo AND created_at < :hi
    UNION SELECT gateway_reference FROM payment_attempts WHERE attempted_at >= :lo AND attempted_at < :hi)
UNION ALL  -- gateway payments whose billing side changed (it may have come)
SELECT 'S1', 'gateway_payment', gateway || ':' || gateway_reference, NULL, gateway_reference FROM payment_attempts
WHERE attempted_at >= :lo AND attempted_at < :hi AND gateway_reference IS NOT NULL
UNION ALL  -- refunds whose gateway side changed
SELECT 'S1', 'refund', 'refund:' || refund_id, refund_id, NULL FROM refunds
WHERE gateway = 'stripe' AND gateway_reference IN (SELECT id FROM stripe_refunds WHERE created >= :lo AND created < :hi)
UNION ALL
SELECT 'S1', 'refund', 'refund:' || refund_id, refund_id, NULL FROM refunds
WHERE refund_id IN (SELECT merchant_reference FROM adyen_settlement_lines
                    WHERE type = 'Refunded' AND created_at >= :lo AND created_at < :hi)
UNION ALL  -- gateway refunds whose billing side changed
SELECT 'S1', 'gateway_refund', 'stripe:' || gateway_reference, NULL, gateway_reference FROM refunds
WHERE created_at >= :lo AND created_at < :hi AND gateway = 'stripe' AND gateway_reference IS NOT NULL
UNION ALL
SELECT 'S1', 'gateway_refund', 'adyen:' || refund_id, NULL, refund_id FROM refunds
WHERE created_at >= :lo AND created_at < :hi
"""
