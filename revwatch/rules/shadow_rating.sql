-- Shadow rating, set-based: the price every closed session should have been billed (SOURCES.md §1),
-- with every step of it. Read by revwatch/rules/shadow_rating.py, which fills the three placeholders
-- in braces below: the sites with their zones (revwatch/rules/site_zones.sql), which closed sessions
-- are rated (by default those exited in the window bound, or only the session bound), and
-- the columns the classify job adds after the drill-down's.
--
-- minutes = ceil(exact numeric epoch difference / 60) (microseconds kept, no float); the plan is the
-- site's with effective_from <= entered_at < coalesce(effective_to, infinity); blocks and the daily
-- max are bigint arithmetic; the local entry date is `entered_at AT TIME ZONE` the site's zone (the
-- one place a site's day is decided, DESIGN.md) and the tax rate is the one in force that day
-- (effective_to exclusive); tax = round(subtotal * rate) on numeric: exact, halves away from zero.
-- A site whose timezone is not a zone (revwatch/rules/site_zones.sql) has no local day: its sessions
-- are rated as far as the plan goes (minutes, blocks, subtotal) and carry that problem, no tax.
--
-- Plans and tax rates are looked up as calendars, joined once (issue 17): each site's time is cut at
-- every instant one of its plans starts or ends, so within a span the same plans are in force and a
-- session's entry falls in exactly one span (of a site that exists). The same for a jurisdiction's tax
-- rates over local dates. A span knows how many are in force (none or several: a problem).
WITH st AS (
{site_zones}
), plan_edges AS (
    SELECT site_id, '-infinity'::timestamptz AS edge FROM sites
    UNION
    SELECT site_id, effective_from FROM rate_plans
    UNION
    SELECT site_id, effective_to FROM rate_plans WHERE effective_to IS NOT NULL
), plan_spans AS (
    SELECT site_id, edge AS lo,
           coalesce(lead(edge) OVER (PARTITION BY site_id ORDER BY edge), 'infinity'::timestamptz) AS hi
    FROM plan_edges
), plan_counts AS (
    SELECT g.site_id, g.lo, g.hi, count(r.rate_plan_id) AS n_plans, min(r.rate_plan_id) AS rate_plan_id
    FROM plan_spans g
    LEFT JOIN rate_plans r ON r.site_id = g.site_id AND r.effective_from <= g.lo
                          AND (r.effective_to IS NULL OR g.lo < r.effective_to)
    GROUP BY g.site_id, g.lo, g.hi
), site_calendar AS (
    -- every site's time in spans [lo, hi) with its zone, currency, and the plan in force (when just one is)
    SELECT st.site_id, st.currency, st.tax_jurisdiction, st.zone, st.zone_problem, c.lo, c.hi, c.n_plans,
           rp.rate_plan_id, rp.grace_minutes, rp.increment_minutes::bigint AS inc,
           rp.increment_price_minor AS price, rp.daily_max_minor AS dmax
    FROM st
    JOIN plan_counts c ON c.site_id = st.site_id
    LEFT JOIN rate_plans rp ON rp.rate_plan_id = c.rate_plan_id AND c.n_plans = 1
), tax_edges AS (
    SELECT jurisdiction, effective_from AS on_day FROM tax_rates
    UNION
    SELECT jurisdiction, effective_to FROM tax_rates WHERE effective_to IS NOT NULL
), tax_spans AS (
    SELECT jurisdiction, on_day AS lo,
           coalesce(lead(on_day) OVER (PARTITION BY jurisdiction ORDER BY on_day), 'infinity'::date) AS hi
    FROM tax_edges
), tax_calendar AS (
    SELECT g.jurisdiction, g.lo, g.hi, count(*) AS n, min(t.rate) AS rate
    FROM tax_spans g
    JOIN tax_rates t ON t.jurisdiction = g.jurisdiction AND t.effective_from <= g.lo
                    AND (t.effective_to IS NULL OR g.lo < t.effective_to)
    GROUP BY g.jurisdiction, g.lo, g.hi
), s AS (
    -- each session with its site's span; computed once per session (OFFSET 0 keeps the planner from
    -- inlining `minutes` into every expression below that reads it)
    SELECT p.session_id, p.site_id, p.entered_at, p.exited_at, c.currency, c.tax_jurisdiction, c.zone,
           c.zone_problem, coalesce(c.n_plans, 0) AS n_plans, c.rate_plan_id, c.grace_minutes, c.inc, c.price,
           c.dmax, (p.entered_at AT TIME ZONE c.zone)::date AS local_entry_date,
           ceil((extract(epoch FROM p.exited_at) - extract(epoch FROM p.entered_at)) / 60)::bigint AS minutes
    FROM ({sessions}) p
    LEFT JOIN site_calendar c ON c.site_id = p.site_id AND c.lo <= p.entered_at AND p.entered_at < c.hi
    OFFSET 0
), planned AS (
    SELECT s.*, tc.rate AS tax_rate, coalesce(tc.n, 0) AS n_rates
    FROM s
    LEFT JOIN tax_calendar tc ON tc.jurisdiction = s.tax_jurisdiction
                             AND tc.lo <= s.local_entry_date AND s.local_entry_date < tc.hi
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
       CASE WHEN priced THEN dmax END AS daily_max_minor{extra}
FROM rated
CROSS JOIN LATERAL (
    SELECT CASE
               WHEN problem IS NOT NULL THEN NULL
               WHEN NOT over_grace THEN 0::bigint
               ELSE round(subtotal * tax_rate)::bigint
           END AS tax_minor
) t
