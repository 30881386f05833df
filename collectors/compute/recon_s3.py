"""S3 payout ↔ bank: the rules as named SQL (SOURCES.md §4-5; columns as in recon_stages.JUDGED).

Run in steps: the payouts (recon_payouts.FILL over this stage's scope) and the payout-type bank
credits in scope (a bank line already matched to a payout outside the scope is taken), then
matches by reference in the bank text, by exact amount (within :tol) within ±:match_days of the
expected arrival one-to-one, and many-to-one (payouts of one gateway, currency and arrival day
summed). A payout is missing from the bank :bank_days business days after its arrival date,
against the bank statements delivered so far.
"""
from __future__ import annotations

from collectors.compute.recon_payouts import ANALYZE_SCOPE, FILL, OPEN_OR_IN_SPAN, RESET
from revwatch.recon_keys import BANK_KEY_SQL

PAYOUTS = """CREATE TEMP TABLE s3_p ON COMMIT DROP AS
    SELECT * FROM recon_payouts WHERE payout_minor > 0 AND status <> 'open'"""

BANK_CREDITS = f"""CREATE TEMP TABLE s3_b ON COMMIT DROP AS
    WITH b AS (
        SELECT {BANK_KEY_SQL} AS bank_key, currency, bank_date, amount_minor, text, payout_refs FROM bank_lines
        WHERE direction = 'credit' AND (payout_candidate OR cardinality(payout_refs) > 0))
    SELECT bank_key, currency, bank_date, amount_minor, text, payout_refs FROM b
    WHERE (bank_date >= CAST(:lo AS date) AND bank_date < CAST(:hi AS date)
           OR bank_key IN (SELECT item_key FROM recon_items
                           WHERE stage = 'S3' AND item_type = 'bank_credit' AND status <> 'matched'))
      AND bank_key NOT IN (
           SELECT unnest(string_to_array(right_ref, ',')) FROM recon_items
           WHERE stage = 'S3' AND item_type = 'payout' AND status = 'matched'
             AND NOT (occurred_at >= :lo AND occurred_at < :hi))"""

# by reference: each bank line against the payouts its text names
BY_REFERENCE = """CREATE TEMP TABLE s3_m ON COMMIT DROP AS
    WITH r AS (
        SELECT DISTINCT b.bank_key, p.payout_key FROM s3_b b CROSS JOIN LATERAL unnest(b.payout_refs) AS ref(reference)
        JOIN s3_p p ON p.reference = ref.reference
    ), per_bank AS (SELECT bank_key, count(*) AS n FROM r GROUP BY bank_key)
    SELECT r.payout_key, r.bank_key, CASE WHEN pb.n > 1 THEN 'many_to_one' ELSE 'reference' END AS rule
    FROM r JOIN per_bank pb USING (bank_key)"""

# exact amount within the date window, one-to-one (each side's nearest, mutually)
BY_AMOUNT_AND_DATE = """INSERT INTO s3_m (payout_key, bank_key, rule)
    WITH pairs AS (
        SELECT p.payout_key, b.bank_key, abs(b.bank_date - p.expected_arrival) AS dd
        FROM s3_p p JOIN s3_b b ON b.currency = p.currency AND abs(b.amount_minor - p.payout_minor) <= :tol
         AND b.bank_date BETWEEN p.expected_arrival - :match_days AND p.expected_arrival + :match_days
        WHERE p.payout_key NOT IN (SELECT payout_key FROM s3_m) AND b.bank_key NOT IN (SELECT bank_key FROM s3_m)
    ), ranked AS (
        SELECT *, row_number() OVER (PARTITION BY payout_key ORDER BY dd, bank_key) AS rp,
                  row_number() OVER (PARTITION BY bank_key ORDER BY dd, payout_key) AS rb FROM pairs
    )
    SELECT payout_key, bank_key, 'amount_date' AS rule FROM ranked WHERE rp = 1 AND rb = 1"""

# many-to-one: one bank credit for the payouts of one gateway, currency and arrival day
MANY_TO_ONE = """INSERT INTO s3_m (payout_key, bank_key, rule)
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
    SELECT unnest(keys) AS payout_key, bank_key, 'many_to_one' AS rule FROM ranked WHERE rp = 1 AND rb = 1"""

STEPS = (RESET, OPEN_OR_IN_SPAN, ANALYZE_SCOPE, *FILL, PAYOUTS, BANK_CREDITS, BY_REFERENCE, BY_AMOUNT_AND_DATE, MANY_TO_ONE)

PAYOUT_DEPOSITS = """
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
SELECT payout_key AS item_key, 'payout' AS item_type, gateway, NULL AS site_id, currency,
       payout_minor AS amount_minor, bank_minor AS counter_amount_minor,
       CASE outcome WHEN 'missing' THEN payout_minor
                    WHEN 'duplicate' THEN bank_minor - payout_minor
                    WHEN 'amount_mismatch' THEN CASE WHEN first_payout = payout_key
                                                     THEN abs(line_minor - payouts_minor) ELSE 0 END
                    END AS stake_minor,
       reference AS left_ref, bank_keys AS right_ref, CASE WHEN outcome = 'matched' THEN rule END AS match_rule,
       occurred_at, (occurred_at AT TIME ZONE 'UTC')::date AS accounting_day,
       CAST(add_business_days(expected_arrival, :bank_days) AS timestamp) AT TIME ZONE 'UTC' AS due_at,
       jsonb_build_object('arrival_date', expected_arrival, 'bank_dates', bank_dates, 'bank_amount_minor', bank_minor,
                          'bank_texts', bank_texts, 'covered_minor', payouts_minor, 'rule', rule) AS detail,
       concat_ws('|', payout_minor, currency, bank_keys, bank_minor, line_minor, payouts_minor) AS fp,
       outcome, CASE WHEN outcome = 'missing' THEN 'bank' END AS missing_side,
       outcome = 'missing' AND (coverage IS NULL OR add_business_days(expected_arrival, :bank_days) > coverage)
           AS waiting
FROM o
"""

UNMATCHED_CREDITS = """
SELECT b.bank_key AS item_key, 'bank_credit' AS item_type, NULL AS gateway, NULL AS site_id, b.currency,
       b.amount_minor, NULL AS counter_amount_minor, b.amount_minor AS stake_minor,
       NULL AS left_ref, b.bank_key AS right_ref, NULL AS match_rule,
       CAST(b.bank_date AS timestamp) AT TIME ZONE 'UTC' AS occurred_at, b.bank_date AS accounting_day,
       CAST(b.bank_date + 1 AS timestamp) AT TIME ZONE 'UTC' AS due_at,
       jsonb_build_object('bank_date', b.bank_date, 'text', b.text, 'payout_refs', b.payout_refs) AS detail,
       concat_ws('|', b.amount_minor, b.currency, b.text) AS fp,
       'missing' AS outcome, 'payout' AS missing_side,
       CAST(:payout_cov AS timestamptz) IS NULL OR CAST(b.bank_date AS timestamp) AT TIME ZONE 'UTC' > :payout_cov
           AS waiting
FROM s3_b b WHERE b.bank_key NOT IN (SELECT bank_key FROM s3_m)
"""
