-- Shadow rating, set-based: the price every closed session should have been billed (SOURCES.md §1),
-- with every step of it. Read by revwatch/rules/shadow_rating.py; bind :start, :end (exits in
-- [:start, :end)) and :session_id (NULL: every session of the window; else that one only).
--
-- minutes = ceil(exact numeric epoch difference / 60) (microseconds kept, no float); the plan is the
-- site's with effective_from <= entered_at < coalesce(effective_to, infinity); blocks and the daily
-- max are bigint arithmetic; the local entry date is `entered_at AT TIME ZONE` the site's zone (the
-- one place a site's day is decided, DESIGN.md) and the tax rate is the one in force that day
-- (effective_to exclusive); tax = round(subtotal * rate) on numeric: exact, halves away from zero.
-- A site whose timezone is not a zone (revwatch/rules/site_zones.sql) has no local day: its sessions
-- are rated as far as the plan goes (minutes, blocks, subtotal) and carry that problem, no tax.
-- The placeholder below (in braces) is replaced by site_zones.sql (revwatch/rules/shadow_rating.py).
WITH st AS (
{site_zones}
), s AS (
    SELECT p.session_id, p.site_id, p.entered_at, p.exited_at,
           st.currency, st.tax_jurisdiction, st.zone_problem,
           (p.entered_at AT TIME ZONE st.zone)::date AS local_entry_date,
           ceil((extract(epoch FROM p.exited_at) - extract(epoch FROM p.entered_at)) / 60)::bigint AS minutes
    FROM parking_sessions p
    LEFT JOIN st ON st.site_id = p.site_id
    WHERE p.exited_at IS NOT NULL AND p.exited_at >= :start AND p.exited_at < :end
      AND (CAST(:session_id AS text) IS NULL OR p.session_id = CAST(:session_id AS text))
), planned AS (
    SELECT s.*, rp.rate_plan_id, rp.grace_minutes, rp.increment_minutes::bigint AS inc,
           rp.increment_price_minor AS price, rp.daily_max_minor AS dmax, coalesce(rp.n, 0) AS n_plans,
           tx.rate AS tax_rate, coalesce(tx.n, 0) AS n_rates
    FROM s
    LEFT JOIN LATERAL (
        SELECT r.*, count(*) OVER () AS n FROM rate_plans r
        WHERE r.site_id = s.site_id AND r.effective_from <= s.entered_at
          AND (r.effective_to IS NULL OR s.entered_at < r.effective_to)
        LIMIT 1
    ) rp ON true
    LEFT JOIN LATERAL (
        SELECT t.rate, count(*) OVER () AS n FROM tax_rates t
        WHERE t.jurisdiction = s.tax_jurisdiction AND t.effective_from <= s.local_entry_date
          AND (t.effective_to IS NULL OR s.local_entry_date < t.effective_to)
        LIMIT 1
    ) tx ON true
), blocked AS (
    -- the increments charged: of the whole stay, or of the part past the full days under a daily max
    SELECT planned.*, minutes > grace_minutes AS over_grace,
           CASE
               WHEN minutes <= grace_minutes THEN 0::bigint
               WHEN dmax IS NULL THEN (minutes + inc - 1) / inc
               ELSE ((minutes % 1440) + inc - 1) / inc
           END AS blocks
    FROM planned
), rated AS (
    SELECT blocked.*,
           CASE
               WHEN currency IS NULL THEN 'unknown site'
               WHEN zone_problem IS NOT NULL THEN zone_problem
               WHEN exited_at < entered_at THEN 'exited before it entered'
               WHEN n_plans = 0 THEN 'no rate plan in force'
               WHEN n_plans > 1 THEN 'several rate plans in force'
               WHEN over_grace AND n_rates = 0 THEN 'no tax rate in force'
               WHEN over_grace AND n_rates > 1 THEN 'several tax rates in force'
           END AS problem,
           n_plans = 1 AND exited_at >= entered_at AS priced,
           CASE
               WHEN NOT over_grace THEN 0::bigint
               WHEN dmax IS NULL THEN blocks * price
               ELSE (minutes / 1440) * dmax + least(dmax, blocks * price)
           END AS subtotal
    FROM blocked
)
SELECT session_id AS session_id,
       site_id AS site_id,
       currency AS currency,
       CASE WHEN n_plans = 1 THEN rate_plan_id END AS rate_plan_id,
       minutes AS minutes,
       local_entry_date AS local_entry_date,
       CASE WHEN n_rates = 1 THEN tax_rate END AS tax_rate,
       CASE WHEN priced THEN subtotal END AS subtotal_minor,
       t.tax_minor AS tax_minor,
       subtotal + t.tax_minor AS total_minor,
       CASE WHEN priced THEN over_grace END AS billable,
       problem AS problem,
       CASE WHEN priced THEN grace_minutes END AS grace_minutes,
       CASE WHEN priced THEN minutes / 1440 END AS full_days,
       CASE WHEN priced THEN minutes % 1440 END AS remainder_minutes,
       CASE WHEN priced THEN blocks END AS blocks,
       CASE WHEN priced THEN blocks * price END AS blocks_minor,
       CASE WHEN priced THEN dmax END AS daily_max_minor
FROM rated
CROSS JOIN LATERAL (
    SELECT CASE
               WHEN problem IS NOT NULL THEN NULL
               WHEN NOT over_grace THEN 0::bigint
               ELSE round(subtotal * tax_rate)::bigint
           END AS tax_minor
) t
