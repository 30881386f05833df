"""Payment rollups beyond attempts: invoice outcomes (retry recovery), refunds, disputes.

Same compute-job pattern and grain as collectors/compute/rollups.py (UTC hour + site local date +
site, local date decided here in SQL; a site whose zone is not a zone is dated by the UTC day, as there). Counts and integer minor-unit sums only; every rate
(first-attempt success, recovery, time to refund, dispute ratio) is a read-time ratio.

Raw failure codes are stored, not decline classes: the taxonomy (metrics/figures/declines.py) is
applied at read time, so changing it needs no recompute.
"""
from __future__ import annotations

from collectors.compute.rollups import Rollup, hour_and_local_date, site_join

# The first attempt of an invoice: lowest attempt number, then earliest, then id (a tie-break
# that never depends on storage order).
_FIRST = "a.attempt_number, a.attempted_at, a.attempt_id"

INVOICE_OUTCOMES = Rollup(
    "rollup-invoice-outcomes", "invoices", "rollup_invoice_outcomes", "invoices",
    f"""
    WITH o AS (  -- per invoice issued in the window: what its attempts (of any time) made of it
        SELECT a.invoice_id,
               count(*) AS attempts,
               (array_agg(a.gateway ORDER BY {_FIRST}))[1] AS first_gateway,
               (array_agg(a.status ORDER BY {_FIRST}))[1] = 'succeeded' AS first_ok,
               (array_agg(coalesce(a.failure_code, '') ORDER BY {_FIRST}) FILTER (WHERE a.status = 'failed'))[1]
                   AS first_failure_code,
               bool_or(a.status = 'succeeded') AS paid,
               (array_agg(a.amount_minor ORDER BY {_FIRST}) FILTER (WHERE a.status = 'succeeded'))[1] AS paid_minor
        FROM payment_attempts a
        JOIN invoices iw ON iw.invoice_id = a.invoice_id AND iw.issued_at >= :start AND iw.issued_at < :end
        GROUP BY a.invoice_id)
    SELECT {hour_and_local_date('i.issued_at')}, coalesce(p.site_id, '(unknown)') AS site_id, i.currency, i.status,
           coalesce(o.first_gateway, '') AS first_gateway, coalesce(o.first_failure_code, '') AS first_failure_code,
           count(*) AS invoices,
           sum(i.total_minor)::bigint AS total_minor,
           count(o.invoice_id) AS attempted,
           count(*) FILTER (WHERE o.first_ok) AS first_succeeded,
           count(*) FILTER (WHERE o.paid) AS succeeded,
           count(*) FILTER (WHERE o.attempts > 1) AS retried,
           count(*) FILTER (WHERE o.paid AND NOT o.first_ok) AS recovered,
           coalesce(sum(o.paid_minor) FILTER (WHERE o.paid AND NOT o.first_ok), 0)::bigint AS recovered_minor,
           coalesce(sum(o.paid_minor) FILTER (WHERE o.paid), 0)::bigint AS succeeded_minor,
           coalesce(sum(i.total_minor) FILTER (WHERE o.paid IS NOT TRUE), 0)::bigint AS unpaid_minor
    FROM invoices i
    LEFT JOIN o ON o.invoice_id = i.invoice_id
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    {site_join('p.site_id')}
    WHERE i.issued_at >= :start AND i.issued_at < :end
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    """,
    also_reads=("payment_attempts",),
    # Retries come hours to weeks after the invoice (the billing service decides, and an ACH
    # debit settles days later): attempts changing in the window move the outcome of invoices
    # issued before it. Their issue hours are recomputed too (found through the indexed
    # attempted_at range), instead of guessing a fixed lookback that a slow retry could outrun.
    touched_sql="""
    SELECT DISTINCT i.issued_at FROM payment_attempts a JOIN invoices i ON i.invoice_id = a.invoice_id
    WHERE a.attempted_at >= :start AND a.attempted_at < :end AND i.issued_at < :start""",
)

REFUNDS = Rollup(
    "rollup-refunds", "refunds", "rollup_refunds", "refunds",
    f"""
    SELECT {hour_and_local_date('r.created_at')}, coalesce(p.site_id, '(unknown)') AS site_id, r.currency, r.gateway, r.status,
           coalesce(r.reason, '') AS reason,
           count(*) AS refunds,
           sum(r.amount_minor)::bigint AS amount_minor,
           count(a.attempt_id) AS timed_refunds,
           coalesce(sum(round(extract(epoch FROM r.created_at - a.attempted_at))), 0)::bigint AS refund_seconds
    FROM refunds r
    LEFT JOIN payment_attempts a ON a.attempt_id = r.attempt_id
    LEFT JOIN invoices i ON i.invoice_id = r.invoice_id
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    {site_join('p.site_id')}
    WHERE r.created_at >= :start AND r.created_at < :end
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    """,
)

# Outcome of a Stripe dispute from its status: won/lost are final; an inquiry closed without
# a chargeback ('warning_closed') and a prevented dispute cost nothing, so they count as won.
_STRIPE_OUTCOME = """CASE d.status WHEN 'won' THEN 'won' WHEN 'warning_closed' THEN 'won' WHEN 'prevented' THEN 'won'
                     WHEN 'lost' THEN 'lost' ELSE 'open' END"""
# Adyen's card scheme names -> billing's card_brand words.
_ADYEN_BRAND = """CASE lower(c.payment_method) WHEN 'mc' THEN 'mastercard' WHEN 'visa' THEN 'visa' WHEN 'amex' THEN 'amex'
                  WHEN 'discover' THEN 'discover' WHEN 'interac' THEN 'interac' ELSE lower(c.payment_method) END"""

DISPUTES = Rollup(
    "rollup-disputes", "stripe_disputes", "rollup_disputes", "disputes",
    f"""
    WITH opened AS (
        -- Stripe: one dispute object each, its status as of the latest copy.
        SELECT 'stripe' AS gateway, d.created AS opened_at, d.currency, d.amount AS amount_minor,
               coalesce(d.reason, '') AS reason, {_STRIPE_OUTCOME} AS outcome,
               coalesce(a.card_brand, lower(ch.card_brand), '') AS card_brand, a.invoice_id
        FROM stripe_disputes d
        LEFT JOIN stripe_charges ch ON ch.id = d.charge
        LEFT JOIN payment_attempts a ON a.gateway_reference = d.charge
        WHERE d.created >= :start AND d.created < :end
        UNION ALL
        -- Adyen: the first Chargeback line of a PSP reference opens the dispute (a report read
        -- twice or a second chargeback does not open another); a ChargebackReversed line for
        -- the same reference, at any time, means it was won. The settlement report carries no
        -- defence status: an unreversed chargeback is counted lost, its debit stands.
        SELECT 'adyen', c.created_at, c.gross_currency, coalesce(c.gross_debit_minor, 0),
               '',  -- the settlement report carries no chargeback reason
               CASE WHEN EXISTS (SELECT 1 FROM adyen_settlement_lines rv
                                 WHERE rv.psp_reference = c.psp_reference AND rv.type = 'ChargebackReversed')
                    THEN 'won' ELSE 'lost' END,
               coalesce(a.card_brand, {_ADYEN_BRAND}, ''), a.invoice_id
        FROM adyen_settlement_lines c
        LEFT JOIN payment_attempts a ON a.gateway_reference = c.psp_reference
        WHERE c.type = 'Chargeback' AND c.psp_reference IS NOT NULL AND c.created_at >= :start AND c.created_at < :end
          AND NOT EXISTS (SELECT 1 FROM adyen_settlement_lines e
                          WHERE e.psp_reference = c.psp_reference AND e.type = 'Chargeback'
                            AND (e.created_at, e.file_sha256, e.line_number) < (c.created_at, c.file_sha256, c.line_number)))
    SELECT {hour_and_local_date('x.opened_at')}, coalesce(p.site_id, '(unknown)') AS site_id, x.currency, x.gateway,
           x.card_brand, x.reason, x.outcome,
           count(*) AS disputes,
           sum(x.amount_minor)::bigint AS amount_minor
    FROM opened x
    LEFT JOIN invoices i ON i.invoice_id = x.invoice_id
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    {site_join('p.site_id')}
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    """,
    also_reads=("adyen_settlement_lines",),
    # A reversal (or a repeated chargeback line) arriving now changes a dispute opened earlier.
    touched_sql="""
    SELECT DISTINCT c.created_at FROM adyen_settlement_lines c
    WHERE c.type = 'Chargeback' AND c.psp_reference IN (
        SELECT l.psp_reference FROM adyen_settlement_lines l
        WHERE l.type IN ('Chargeback', 'ChargebackReversed') AND l.created_at >= :start AND l.created_at < :end)""",
)

PAYMENT_ROLLUPS: tuple[Rollup, ...] = (INVOICE_OUTCOMES, REFUNDS, DISPUTES)
