"""Shadow rating, set-based: the price every closed session should have been billed (SOURCES.md §1).

One SELECT over the product's copies `parking_sessions`, `sites`, `rate_plans`, `tax_rates`.
The window is on **exit**: `:start <= exited_at < :end` — a session is priced and invoiced
when it leaves, so a window of exits is the set of sessions whose invoices are due (and a
late exit re-rates a session in the window it exited, not the one it entered).

- minutes = ceil(exact numeric epoch difference / 60) (microseconds kept, no float);
- the plan is the site's with effective_from <= entered_at < coalesce(effective_to, infinity);
- blocks and the daily max are bigint arithmetic;
- the local entry date is `entered_at AT TIME ZONE sites.timezone` (the one place a site's day
  is decided, DESIGN.md), and the tax rate is the one in force that day (effective_to exclusive);
- tax = round(subtotal * rate) on numeric: exact, halves away from zero (= half up, amounts >= 0).

Sessions that cannot be rated get a `problem` (no site, no plan or several in force, no tax
rate for a billable session, exit before entry) and NULL amounts from the first missing step,
mirroring `metrics.figures.shadow_rating.rate_session` (the reference the property tests hold this to).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

SHADOW_RATING_SQL = """
WITH s AS (
    SELECT p.session_id, p.site_id, p.entered_at, p.exited_at,
           st.currency, st.tax_jurisdiction,
           (p.entered_at AT TIME ZONE st.timezone)::date AS local_entry_date,
           ceil((extract(epoch FROM p.exited_at) - extract(epoch FROM p.entered_at)) / 60)::bigint AS minutes
    FROM parking_sessions p
    LEFT JOIN sites st ON st.site_id = p.site_id
    WHERE p.exited_at IS NOT NULL AND p.exited_at >= :start AND p.exited_at < :end
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
), rated AS (
    SELECT planned.*,
           CASE
               WHEN currency IS NULL THEN 'unknown site'
               WHEN exited_at < entered_at THEN 'exited before it entered'
               WHEN n_plans = 0 THEN 'no rate plan in force'
               WHEN n_plans > 1 THEN 'several rate plans in force'
               WHEN minutes > grace_minutes AND n_rates = 0 THEN 'no tax rate in force'
               WHEN minutes > grace_minutes AND n_rates > 1 THEN 'several tax rates in force'
           END AS problem,
           minutes > grace_minutes AS billable,
           CASE
               WHEN minutes <= grace_minutes THEN 0::bigint
               WHEN dmax IS NULL THEN ((minutes + inc - 1) / inc) * price
               ELSE (minutes / 1440) * dmax + least(dmax, (((minutes % 1440) + inc - 1) / inc) * price)
           END AS subtotal_minor
    FROM planned
)
SELECT session_id, site_id, currency,
       CASE WHEN n_plans = 1 THEN rate_plan_id END AS rate_plan_id,
       minutes, local_entry_date,
       CASE WHEN n_rates = 1 THEN tax_rate END AS tax_rate,
       CASE WHEN n_plans = 1 AND exited_at >= entered_at THEN subtotal_minor END AS subtotal_minor,
       tax_minor, subtotal_minor + tax_minor AS total_minor,
       CASE WHEN n_plans = 1 AND exited_at >= entered_at THEN billable END AS billable,
       problem
FROM rated
CROSS JOIN LATERAL (
    SELECT CASE
               WHEN problem IS NOT NULL THEN NULL
               WHEN NOT billable THEN 0::bigint
               ELSE round(subtotal_minor * tax_rate)::bigint
           END AS tax_minor
) t
"""

COLUMNS = ("session_id", "site_id", "currency", "rate_plan_id", "minutes", "local_entry_date", "tax_rate",
           "subtotal_minor", "tax_minor", "total_minor", "billable", "problem")


def expected_prices(conn, start: datetime, end: datetime) -> list:
    """Shadow-rated rows (COLUMNS) of the sessions that exited in [start, end), by session_id."""
    return list(conn.execute(text(SHADOW_RATING_SQL + " ORDER BY session_id"), {"start": start, "end": end}))
