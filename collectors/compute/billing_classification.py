"""Billing accuracy: every closed session judged against its shadow-rated price (SOURCES.md §1).

A compute job (`classify-billing`, the pattern of collectors/compute/windows.py): it owns a window of
**exit** time and replaces the findings of the sessions that exited in it in one transaction,
recording the run. One row per judged session in `billing_findings`, correct ones included,
so accuracy (correct / billable) and every sum are additive over sites, plans and days.

Classes (`CLASSES`), decided in this order:

- `unrated`: the session cannot be shadow-rated (`problem` says why); `billable` is still true
  when a plan in force says the stay outlasted its grace (e.g. no tax rate in force): such a
  session counts as billable and not correct, since nobody can say it was billed right. A site
  whose timezone is not a zone (revwatch/rules/site_zones.sql) makes each of its sessions unrated
  ('site timezone "Mars/Olympus" is not a time zone'), dated by the UTC day, and stops no other site;
- `negative_invoice`: a non-void invoice with a negative total (`problem` names it): never a
  price, so never judged under-billed; its difference is still counted (billed - expected);
- not billable (within grace) and no non-void invoice: nothing to judge, no row;
- `invoice_not_due`: not billable, yet a non-void invoice;
- `voided_without_replacement`: billable, only void invoices;
- `missing_invoice`: billable, no invoice at all;
- `duplicate_invoice`: billable, two or more non-void invoices;
- `currency_mismatch`: a non-void invoice in a currency other than the site's;
- `correct`: billable (by the order above), one invoice, subtotal and tax as expected;
- `tax_error`: subtotal right, tax wrong;
- `over_billed` / `under_billed`: by total (by subtotal when totals agree but the split does not).

Billed amounts sum the non-void invoices; `difference_minor` = billed total - expected total
(NULL when currencies differ or the session is unrated). `problem` joins the rating's problem and,
when there is one, the negative invoice. Leakage and overcharge are read-time
sums of its negative and positive parts (metrics/figures/billing_accuracy.py).

Settle delay: billing writes an invoice shortly after the exit and ingest copies sessions and
invoices separately, so a session is judged only once it exited before the *cutoff*

    cutoff = least(billing watermark of parking_sessions, of invoices) - settle delay

(watermarks from sync_state, else the newest updated_at copied; `BILLING_SETTLE_MINUTES`).
The job keeps the cutoff it judged up to (sync_state, source `classify-billing`) and each run
also judges [that cutoff, the new cutoff). Ingest queues windows on changes to parking_sessions
(by entered_at) and invoices (by issued_at); the window is widened to the exits of the sessions
entered in it and of the sessions of the invoices issued in it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, text

from collectors.compute.windows import align, consume_pending, judged_until, mark_judged, pending_span
from revwatch.rules import shadow_rating, site_zones
from revwatch.runlog import RunStats, recorded_run, try_job_lock

JOB = "classify-billing"
TARGET = "billing_findings"
READS = ("parking_sessions", "invoices")
CLASSES = ("correct", "missing_invoice", "duplicate_invoice", "over_billed", "under_billed", "tax_error",
           "currency_mismatch", "invoice_not_due", "voided_without_replacement", "negative_invoice", "unrated")
DEFAULT_SETTLE = timedelta(hours=2)
HOUR = timedelta(hours=1)

_WATERMARK = """
    SELECT least(
        coalesce((SELECT watermark FROM sync_state WHERE source = 'billing' AND table_name = 'parking_sessions'),
                 (SELECT max(updated_at) FROM parking_sessions)),
        coalesce((SELECT watermark FROM sync_state WHERE source = 'billing' AND table_name = 'invoices'),
                 (SELECT max(updated_at) FROM invoices))) AS watermark"""

_WIDEN = """
    SELECT min(x.exited_at) AS first_exit, max(x.exited_at) AS last_exit FROM (
        SELECT p.exited_at AS exited_at FROM parking_sessions p
        WHERE p.entered_at >= :start AND p.entered_at < :end AND p.exited_at IS NOT NULL
        UNION ALL
        SELECT p.exited_at AS exited_at FROM invoices i JOIN parking_sessions p ON p.session_id = i.session_id
        WHERE i.issued_at >= :start AND i.issued_at < :end AND p.exited_at IS NOT NULL) x"""

_FIRST_EXIT = "SELECT min(exited_at) AS first_exit FROM parking_sessions"

# The shadow rating (revwatch/rules/shadow_rating.sql, bound :start, :end, :session_id NULL) of the
# sessions exited in [:start, :end), each judged with its invoices. The rating is the one statement
# the drill-down runs too, included whole as the `rated` CTE; every other column is named.
FINDINGS_SQL = f"""
    WITH rated AS (
{shadow_rating.SQL}
    ),
    inv AS (
        SELECT i.session_id AS session_id,
               count(*) FILTER (WHERE i.status <> 'void') AS n,
               count(*) FILTER (WHERE i.status = 'void') AS n_void,
               coalesce(sum(i.subtotal_minor) FILTER (WHERE i.status <> 'void'), 0)::bigint AS sub,
               coalesce(sum(i.tax_minor) FILTER (WHERE i.status <> 'void'), 0)::bigint AS tax,
               coalesce(sum(i.total_minor) FILTER (WHERE i.status <> 'void'), 0)::bigint AS total,
               min(i.currency) FILTER (WHERE i.status <> 'void') AS cur,
               count(DISTINCT i.currency) FILTER (WHERE i.status <> 'void') AS n_cur,
               min(i.invoice_id || ' has a negative total: ' || i.total_minor || ' minor units')
                   FILTER (WHERE i.status <> 'void' AND i.total_minor < 0) AS negative
        FROM invoices i JOIN rated r ON r.session_id = i.session_id
        GROUP BY i.session_id),
    judged AS (
        SELECT r.session_id AS session_id, r.site_id AS site_id, p.exited_at AS exited_at, st.zone AS zone,
               r.currency AS currency, r.rate_plan_id AS rate_plan_id, r.billable AS billable,
               nullif(concat_ws('; ', r.problem, 'invoice ' || v.negative), '') AS problem,
               r.subtotal_minor AS expected_subtotal_minor, r.tax_minor AS expected_tax_minor,
               r.total_minor AS expected_total_minor, v.cur AS billed_currency,
               coalesce(v.sub, 0) AS billed_subtotal_minor, coalesce(v.tax, 0) AS billed_tax_minor,
               coalesce(v.total, 0) AS billed_total_minor, coalesce(v.n, 0) AS invoices,
               coalesce(v.n_void, 0) AS void_invoices,
               coalesce(v.n_cur, 0) > 1 OR v.cur <> r.currency AS other_currency,
               CASE
                   WHEN r.problem IS NOT NULL THEN 'unrated'
                   WHEN v.negative IS NOT NULL THEN 'negative_invoice'
                   WHEN NOT r.billable THEN CASE WHEN coalesce(v.n, 0) > 0 THEN 'invoice_not_due' END
                   WHEN coalesce(v.n, 0) = 0 AND coalesce(v.n_void, 0) > 0 THEN 'voided_without_replacement'
                   WHEN coalesce(v.n, 0) = 0 THEN 'missing_invoice'
                   WHEN v.n > 1 THEN 'duplicate_invoice'
                   WHEN v.n_cur > 1 OR v.cur <> r.currency THEN 'currency_mismatch'
                   WHEN v.sub = r.subtotal_minor AND v.tax = r.tax_minor THEN 'correct'
                   WHEN v.sub = r.subtotal_minor THEN 'tax_error'
                   WHEN v.total > r.total_minor THEN 'over_billed'
                   WHEN v.total < r.total_minor THEN 'under_billed'
                   WHEN v.sub > r.subtotal_minor THEN 'over_billed'
                   ELSE 'under_billed'
               END AS class
        FROM rated r
        JOIN parking_sessions p ON p.session_id = r.session_id
        LEFT JOIN inv v ON v.session_id = r.session_id
        LEFT JOIN (
{site_zones.SQL}
        ) st ON st.site_id = r.site_id),
    found AS (
        SELECT session_id, site_id, exited_at, date_trunc('hour', exited_at, 'UTC') AS hour,
               {site_zones.local_date('exited_at', 'judged')} AS local_date,
               currency, rate_plan_id, class, billable, problem, expected_subtotal_minor, expected_tax_minor,
               expected_total_minor, billed_currency, billed_subtotal_minor, billed_tax_minor, billed_total_minor,
               invoices, void_invoices,
               CASE WHEN class IN ('unrated', 'currency_mismatch') THEN NULL
                    WHEN class = 'negative_invoice' AND other_currency THEN NULL
                    ELSE billed_total_minor - expected_total_minor END AS difference_minor
        FROM judged WHERE class IS NOT NULL),
    ins AS (
        INSERT INTO billing_findings AS f (
            session_id, site_id, exited_at, hour, local_date, currency, rate_plan_id, class, billable, problem,
            expected_subtotal_minor, expected_tax_minor, expected_total_minor, billed_currency,
            billed_subtotal_minor, billed_tax_minor, billed_total_minor, invoices, void_invoices, difference_minor)
        SELECT session_id, site_id, exited_at, hour, local_date, currency, rate_plan_id, class, billable, problem,
               expected_subtotal_minor, expected_tax_minor, expected_total_minor, billed_currency,
               billed_subtotal_minor, billed_tax_minor, billed_total_minor, invoices, void_invoices, difference_minor
        FROM found
        ON CONFLICT (session_id) DO UPDATE SET
            site_id = excluded.site_id, exited_at = excluded.exited_at, hour = excluded.hour,
            local_date = excluded.local_date, currency = excluded.currency, rate_plan_id = excluded.rate_plan_id,
            class = excluded.class, billable = excluded.billable, problem = excluded.problem,
            expected_subtotal_minor = excluded.expected_subtotal_minor,
            expected_tax_minor = excluded.expected_tax_minor, expected_total_minor = excluded.expected_total_minor,
            billed_currency = excluded.billed_currency, billed_subtotal_minor = excluded.billed_subtotal_minor,
            billed_tax_minor = excluded.billed_tax_minor, billed_total_minor = excluded.billed_total_minor,
            invoices = excluded.invoices, void_invoices = excluded.void_invoices,
            difference_minor = excluded.difference_minor
        RETURNING 1 AS written)
    SELECT (SELECT count(*) FROM rated) AS sessions_rated, (SELECT count(*) FROM ins) AS findings_written
"""


def cutoff(conn: Connection, delay: timedelta) -> datetime | None:
    """Sessions that exited before this instant are judged; None while billing has no data."""
    wm = conn.execute(text(_WATERMARK)).one().watermark
    return None if wm is None else wm - delay


def replace_window(conn: Connection, start: datetime, end: datetime, cut: datetime | None) -> tuple[int, int]:
    """Delete the findings of sessions exited in [start, end) and judge again those exited
    before the cutoff; return (sessions rated, findings written)."""
    judge_end = start if cut is None else max(start, min(end, cut))
    conn.execute(text(f"DELETE FROM {TARGET} WHERE exited_at >= :start AND exited_at < :end"),
                 {"start": start, "end": end})
    got = conn.execute(text(FINDINGS_SQL), {"start": start, "end": judge_end, "session_id": None}).one()
    return int(got.sessions_rated), int(got.findings_written)


def run_job(engine: Engine, start: datetime | None = None, end: datetime | None = None,
            delay: timedelta = DEFAULT_SETTLE) -> RunStats:
    """Judge the sessions exited in [start, end), or with no window what ingest queued, plus
    whatever the cutoff passed since the last run."""
    with recorded_run(engine, JOB) as stats, engine.begin() as conn:
        try_job_lock(conn, JOB)
        consumed: list[int] = []
        if start is None or end is None:
            start, end, consumed = pending_span(conn, JOB)
        if start is not None and end is not None:
            wide = conn.execute(text(_WIDEN), {"start": start, "end": end}).one()
            if wide.first_exit is not None:
                start, end = min(start, wide.first_exit), max(end, wide.last_exit + HOUR)
        cut, judged = cutoff(conn, delay), judged_until(conn, JOB, TARGET)
        if cut is not None and (judged is None or cut > judged):
            if judged is None:  # first run: from the first exit on
                judged = conn.execute(text(_FIRST_EXIT)).one().first_exit or cut
            start, end = (judged, cut) if start is None or end is None else (min(start, judged), max(end, cut))
        if start is None or end is None:
            return stats  # nothing changed since the last run
        start, end = align(start, end)
        stats.window_start, stats.window_end = start, end
        stats.rows_read, stats.rows_written = replace_window(conn, start, end, cut)
        consume_pending(conn, consumed)
        if cut is not None:
            mark_judged(conn, JOB, TARGET, cut)
    return stats
