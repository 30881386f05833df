"""S4 ledger: the rules as named SQL (SOURCES.md §6; columns as in recon_stages.JUDGED).

Payout journals by reference (cash, fees, clearing), revenue and tax per site, local day and
currency (rollup_invoices, non-void) against REV-<site>-<date> journals, refunds by refund id;
postings on the product's accounts that nothing on the product side expects are breaks too.
GL account roles are bound parameters (:cash, :clearing, :revenue, :tax, :fees, :refunds).
"""
from __future__ import annotations

from collectors.compute.recon_payouts import ANALYZE_SCOPE, FILL, OPEN_OR_IN_SPAN, RESET
from revwatch.recon_keys import (
    ADYEN_BATCH_OF_REFERENCE_SQL,
    REVENUE_DAY_OF_REFERENCE_SQL,
    REVENUE_KEY_SQL,
    REVENUE_REFERENCE_SQL,
    REVENUE_SITE_OF_REFERENCE_SQL,
)
from revwatch.rules import site_zones

# GL postings grouped by reference: how many journals, their ids, currencies and first posting day
GL_PER_REFERENCE = """reference, count(DISTINCT journal_id) AS journals,
    string_agg(DISTINCT journal_id, ',') AS journal_ids, min(currency) AS gl_currency,
    count(DISTINCT currency) AS gl_currencies, min(posted_date) AS posted"""

STEPS = (RESET, OPEN_OR_IN_SPAN, ANALYZE_SCOPE, *FILL)

PAYOUT_JOURNALS = f"""
WITH p AS (
    SELECT * FROM recon_payouts WHERE payout_minor > 0 AND status <> 'open'
), gl AS (
    SELECT {GL_PER_REFERENCE},
           coalesce(sum(debit_minor - credit_minor) FILTER (WHERE account = :cash), 0) AS gl_cash,
           coalesce(sum(debit_minor - credit_minor) FILTER (WHERE account = :fees), 0) AS gl_fees,
           coalesce(sum(credit_minor - debit_minor) FILTER (WHERE account = :clearing), 0) AS gl_clearing
    FROM gl_lines WHERE reference IN (SELECT reference FROM p) GROUP BY reference
), o AS (
    SELECT *, CASE
        WHEN gl.journals IS NULL THEN 'missing'
        WHEN gl.journals > 1 THEN 'duplicate'
        WHEN gl.gl_currencies > 1 OR gl.gl_currency <> p.currency THEN 'currency_mismatch'
        WHEN abs(gl.gl_cash - p.payout_minor) + abs(gl.gl_fees - p.fees_minor)
             + abs(gl.gl_clearing - p.payout_minor - p.fees_minor) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM p LEFT JOIN gl USING (reference)
)
SELECT payout_key AS item_key, 'payout_journal' AS item_type, gateway, NULL AS site_id, currency,
       payout_minor AS amount_minor, gl_cash AS counter_amount_minor,
       CASE outcome WHEN 'missing' THEN payout_minor
                    WHEN 'duplicate' THEN greatest(gl_cash - payout_minor, payout_minor * (journals - 1))
                    ELSE abs(gl_cash - payout_minor) + abs(gl_fees - fees_minor) END AS stake_minor,
       reference AS left_ref, journal_ids AS right_ref, CASE WHEN outcome = 'matched' THEN 'reference' END AS match_rule,
       occurred_at, (occurred_at AT TIME ZONE 'UTC')::date AS accounting_day,
       CAST(expected_arrival + :ledger_days AS timestamp) AT TIME ZONE 'UTC' AS due_at,
       jsonb_build_object('cash_minor', gl_cash, 'fees_minor', gl_fees, 'clearing_minor', gl_clearing,
                          'expected_fees_minor', fees_minor, 'journals', journal_ids, 'posted_date', posted) AS detail,
       concat_ws('|', payout_minor, fees_minor, currency, journal_ids, gl_cash, gl_fees, gl_clearing, gl_currency) AS fp,
       outcome, CASE WHEN outcome = 'missing' THEN 'ledger' END AS missing_side,
       outcome = 'missing' AND (CAST(:gl_cov AS date) IS NULL OR expected_arrival + :ledger_days > :gl_cov) AS waiting
FROM o
"""

REVENUE_DAYS = f"""
WITH e AS (
    SELECT site_id, local_date, currency, sum(subtotal_minor) AS subtotal, sum(tax_minor) AS tax,
           {REVENUE_REFERENCE_SQL} AS reference
    FROM rollup_invoices
    WHERE status <> 'void'
      AND (local_date >= CAST(:lo AS date) - 1 AND local_date < CAST(:hi AS date) + 1
           OR local_date IN (SELECT (detail ->> 'local_date')::date FROM recon_items
                             WHERE stage = 'S4' AND item_type = 'revenue_day' AND status <> 'matched'))
    GROUP BY site_id, local_date, currency
), gl AS (
    SELECT {GL_PER_REFERENCE},
           coalesce(sum(credit_minor - debit_minor) FILTER (WHERE account = :revenue), 0) AS gl_revenue,
           coalesce(sum(credit_minor - debit_minor) FILTER (WHERE account = :tax), 0) AS gl_tax,
           coalesce(sum(debit_minor - credit_minor) FILTER (WHERE account = :clearing), 0) AS gl_clearing
    FROM gl_lines WHERE reference IN (SELECT reference FROM e) GROUP BY reference
), o AS (
    SELECT e.*, gl.journals, gl.journal_ids, gl.gl_currency, gl.posted, gl.gl_revenue, gl.gl_tax, gl.gl_clearing,
           s.zone AS timezone, CASE
        WHEN gl.journals IS NULL THEN 'missing'
        WHEN gl.journals > 1 THEN 'duplicate'
        WHEN gl.gl_currencies > 1 OR gl.gl_currency <> e.currency THEN 'currency_mismatch'
        WHEN abs(gl.gl_revenue - e.subtotal) + abs(gl.gl_tax - e.tax) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM e LEFT JOIN gl USING (reference) LEFT JOIN ({site_zones.SQL}) s ON s.site_id = e.site_id
)
SELECT {REVENUE_KEY_SQL} AS item_key, 'revenue_day' AS item_type, NULL AS gateway, site_id, currency,
       subtotal + tax AS amount_minor, gl_revenue + gl_tax AS counter_amount_minor,
       CASE outcome WHEN 'missing' THEN subtotal + tax
                    WHEN 'duplicate' THEN greatest(gl_revenue + gl_tax - subtotal - tax, 0)
                    ELSE abs(gl_revenue - subtotal) + abs(gl_tax - tax) END AS stake_minor,
       reference AS left_ref, journal_ids AS right_ref, CASE WHEN outcome = 'matched' THEN 'reference' END AS match_rule,
       CAST(local_date AS timestamp) AT TIME ZONE coalesce(timezone, 'UTC') AS occurred_at,
       local_date AS accounting_day,  -- the site's local day, not the UTC one
       CAST(local_date + 1 + :ledger_days AS timestamp) AT TIME ZONE 'UTC' AS due_at,
       jsonb_build_object('local_date', local_date, 'subtotal_minor', subtotal, 'tax_minor', tax,
                          'gl_revenue_minor', gl_revenue, 'gl_tax_minor', gl_tax, 'gl_clearing_minor', gl_clearing,
                          'journals', journal_ids, 'posted_date', posted) AS detail,
       concat_ws('|', subtotal, tax, currency, journal_ids, gl_revenue, gl_tax, gl_currency) AS fp,
       outcome, CASE WHEN outcome = 'missing' THEN 'ledger' END AS missing_side,
       outcome = 'missing' AND (CAST(:gl_cov AS date) IS NULL OR local_date + 1 + :ledger_days > :gl_cov) AS waiting
FROM o
"""

REFUND_JOURNALS = f"""
WITH r AS (
    SELECT * FROM refunds WHERE status = 'succeeded' AND created_at >= :lo AND created_at < :hi
    UNION
    SELECT * FROM refunds WHERE status = 'succeeded' AND refund_id IN (
        SELECT left_ref FROM recon_items WHERE stage = 'S4' AND item_type = 'refund_journal' AND status <> 'matched')
), gl AS (
    SELECT {GL_PER_REFERENCE},
           coalesce(sum(debit_minor - credit_minor) FILTER (WHERE account = :refunds), 0) AS gl_refunds,
           coalesce(sum(credit_minor - debit_minor) FILTER (WHERE account = :clearing), 0) AS gl_clearing
    FROM gl_lines WHERE reference IN (SELECT refund_id FROM r) GROUP BY reference
), o AS (
    SELECT r.*, gl.*, ps.site_id, CASE
        WHEN gl.journals IS NULL THEN 'missing'
        WHEN gl.journals > 1 THEN 'duplicate'
        WHEN gl.gl_currencies > 1 OR gl.gl_currency <> r.currency THEN 'currency_mismatch'
        WHEN abs(gl.gl_refunds - r.amount_minor) + abs(gl.gl_clearing - r.amount_minor) > :tol THEN 'amount_mismatch'
        ELSE 'matched' END AS outcome
    FROM r LEFT JOIN gl ON gl.reference = r.refund_id
    LEFT JOIN invoices i ON i.invoice_id = r.invoice_id LEFT JOIN parking_sessions ps ON ps.session_id = i.session_id
)
SELECT 'refund:' || refund_id AS item_key, 'refund_journal' AS item_type, gateway, site_id, currency, amount_minor,
       gl_refunds AS counter_amount_minor,
       CASE outcome WHEN 'missing' THEN amount_minor
                    WHEN 'duplicate' THEN greatest(gl_refunds - amount_minor, amount_minor * (journals - 1))
                    ELSE abs(gl_refunds - amount_minor) END AS stake_minor,
       refund_id AS left_ref, journal_ids AS right_ref, CASE WHEN outcome = 'matched' THEN 'reference' END AS match_rule,
       created_at AS occurred_at, (created_at AT TIME ZONE 'UTC')::date AS accounting_day,
       CAST((created_at AT TIME ZONE 'UTC')::date + 1 + :ledger_days AS timestamp) AT TIME ZONE 'UTC' AS due_at,
       jsonb_build_object('refunds_minor', gl_refunds, 'clearing_minor', gl_clearing, 'journals', journal_ids,
                          'posted_date', posted) AS detail,
       concat_ws('|', amount_minor, currency, journal_ids, gl_refunds, gl_clearing, gl_currency) AS fp,
       outcome, CASE WHEN outcome = 'missing' THEN 'ledger' END AS missing_side,
       outcome = 'missing'
       AND (CAST(:gl_cov AS date) IS NULL OR (created_at AT TIME ZONE 'UTC')::date + 1 + :ledger_days > :gl_cov)
           AS waiting
FROM o
"""

# Postings on the product's accounts that nothing on the product side expects.
LEDGER_ONLY = f"""
WITH l AS (
    SELECT coalesce(reference, 'journal ' || journal_id) AS ref, * FROM gl_lines
    WHERE account IN (:clearing, :revenue, :tax, :fees, :refunds)
      AND (posted_date >= CAST(:lo AS date) AND posted_date < CAST(:hi AS date)
           OR coalesce(reference, 'journal ' || journal_id) IN (
               SELECT right_ref FROM recon_items WHERE stage = 'S4' AND item_type = 'ledger_entry'
                                                   AND status <> 'matched'))
), g AS (
    SELECT ref, min(currency) AS currency, min(posted_date) AS posted,
           greatest(sum(debit_minor), sum(credit_minor)) AS debits,
           string_agg(DISTINCT journal_id, ',') AS journal_ids,
           {REVENUE_SITE_OF_REFERENCE_SQL} AS rev_site, {REVENUE_DAY_OF_REFERENCE_SQL} AS rev_date,
           {ADYEN_BATCH_OF_REFERENCE_SQL} AS adyen_batch
    FROM l GROUP BY ref
)
SELECT 'gl:' || ref AS item_key, 'ledger_entry' AS item_type, NULL AS gateway, rev_site AS site_id, currency,
       debits AS amount_minor, NULL AS counter_amount_minor, debits AS stake_minor,
       NULL AS left_ref, ref AS right_ref, NULL AS match_rule,
       CAST(posted AS timestamp) AT TIME ZONE 'UTC' AS occurred_at, posted AS accounting_day, NULL AS due_at,
       jsonb_build_object('journals', journal_ids, 'posted_date', posted) AS detail,
       concat_ws('|', debits, currency, journal_ids) AS fp,
       'missing' AS outcome,
       CASE WHEN ref LIKE 'po\\_%' OR ref LIKE 'ADYEN-%' THEN 'gateway' ELSE 'billing' END AS missing_side,
       -- the side the posting refers to may not have delivered that far yet: expected, as every other
       -- item is while its counterpart's source is behind (payouts: Stripe or Adyen; the rest: billing)
       coalesce(CASE WHEN ref LIKE 'po\\_%' THEN CAST(:payout_cov AS timestamptz)
                     WHEN adyen_batch IS NOT NULL THEN CAST(:adyen_cov AS timestamptz)
                     ELSE CAST(:billing_cov AS timestamptz) END < CAST(posted AS timestamp) AT TIME ZONE 'UTC',
                true) AS waiting
FROM g
WHERE NOT EXISTS (SELECT 1 FROM stripe_payouts p WHERE p.id = g.ref)
  AND NOT EXISTS (SELECT 1 FROM adyen_settlement_lines a WHERE a.type = 'MerchantPayout'
                  AND a.batch_number = g.adyen_batch)
  AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.refund_id = g.ref)
  AND NOT EXISTS (SELECT 1 FROM rollup_invoices ri WHERE ri.local_date = g.rev_date AND ri.site_id = g.rev_site)
"""
