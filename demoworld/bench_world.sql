-- The sessions numbered [%(lo)s, %(hi)s) of a bench world (demoworld/bench_world.py), with their
-- invoices and payment attempts, written by PostgreSQL itself (generate_series): no rows travel.
-- Session g enters at %(start)s + g * %(step)s seconds at site g mod %(sites)s and stays 5 to 300
-- minutes (every 997th: two days, every 53rd: within the 10-minute grace); an exit after %(end)s
-- is still parked. Its invoice bills the plan in force at entry (200 a started 30 minutes, 250 once the
-- site's price changed) with the site's tax; every 100th is under-billed by one increment. Its first
-- attempt fails for every 17th (retried and paid a day later), else succeeds.
WITH g AS (
    SELECT g, %(start)s::timestamptz + g * %(step)s * interval '1 second' AS entered_at,
           CASE WHEN g %% 997 = 0 THEN 2880 WHEN g %% 53 = 0 THEN 1 + g %% 9 ELSE 5 + (g * 7919) %% 296 END AS minutes
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) g
)
INSERT INTO billing.parking_sessions (session_id, site_id, entered_at, exited_at, customer_id, updated_at)
SELECT 'B' || lpad(g::text, 10, '0'), 'BS' || lpad((g %% %(sites)s)::text, 4, '0'), entered_at,
       CASE WHEN entered_at + minutes * interval '1 minute' <= %(end)s THEN entered_at + minutes * interval '1 minute' END,
       CASE WHEN g %% 8 = 0 THEN NULL ELSE 'C' || (g %% 50000) END,
       CASE WHEN entered_at + minutes * interval '1 minute' <= %(end)s THEN entered_at + minutes * interval '1 minute'
            ELSE entered_at END
FROM g;

WITH closed AS (
    SELECT p.session_id, substr(p.session_id, 2)::bigint AS g, p.exited_at, s.currency, t.rate,
           ceil(extract(epoch FROM p.exited_at - p.entered_at) / 60)::bigint AS minutes,
           CASE WHEN p.entered_at >= r.effective_from AND r.rate_plan_id LIKE '%%-2' THEN 250 ELSE 200 END AS price
    FROM billing.parking_sessions p
    JOIN billing.sites s ON s.site_id = p.site_id
    JOIN billing.tax_rates t ON t.jurisdiction = s.tax_jurisdiction AND t.effective_to IS NULL
    JOIN billing.rate_plans r ON r.site_id = p.site_id AND r.effective_to IS NULL
    WHERE p.session_id >= 'B' || lpad(%(lo)s::text, 10, '0') AND p.session_id < 'B' || lpad(%(hi)s::text, 10, '0')
      AND p.exited_at IS NOT NULL
), priced AS (
    SELECT *, ((minutes + 29) / 30 - CASE WHEN g %% 100 = 0 THEN 1 ELSE 0 END) * price AS subtotal
    FROM closed WHERE minutes > 10
)
INSERT INTO billing.invoices (invoice_id, session_id, currency, subtotal_minor, tax_minor, total_minor, issued_at, status, updated_at)
SELECT 'I' || substr(session_id, 2), session_id, currency, subtotal, round(subtotal * rate)::bigint,
       subtotal + round(subtotal * rate)::bigint, exited_at + interval '1 minute',
       CASE WHEN g %% 17 = 0 AND exited_at + interval '1 day' > %(end)s THEN 'open' ELSE 'paid' END,
       CASE WHEN g %% 17 = 0 AND exited_at + interval '1 day' <= %(end)s THEN exited_at + interval '1 day'
            ELSE exited_at + interval '1 minute' END  -- its last change: paid on the retry, else issued
FROM priced;

INSERT INTO billing.payment_attempts (attempt_id, invoice_id, attempt_number, gateway, gateway_reference, idempotency_key,
                                      amount_minor, currency, status, failure_code, payment_method_type, card_brand,
                                      attempted_at, updated_at)
SELECT 'A' || substr(i.invoice_id, 2) || '-' || n, i.invoice_id, n, CASE WHEN g %% 3 = 0 THEN 'adyen' ELSE 'stripe' END,
       CASE WHEN g %% 3 = 0 THEN 'PSP' ELSE 'ch_' END || substr(i.invoice_id, 2) || n, i.invoice_id || '-' || n,
       i.total_minor, i.currency, CASE WHEN n = 1 AND g %% 17 = 0 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN n = 1 AND g %% 17 = 0 THEN 'insufficient_funds' END, 'card', 'visa', at, at
FROM billing.invoices i
CROSS JOIN LATERAL (SELECT substr(i.invoice_id, 2)::bigint AS g) k
CROSS JOIN LATERAL (VALUES (1, i.issued_at + interval '30 seconds'), (2, i.issued_at + interval '1 day')) a (n, at)
WHERE i.invoice_id >= 'I' || lpad(%(lo)s::text, 10, '0') AND i.invoice_id < 'I' || lpad(%(hi)s::text, 10, '0')
  AND (n = 1 OR g %% 17 = 0) AND at <= %(end)s;
