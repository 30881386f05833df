"""A closed session's billing judged against its shadow-rated price (SOURCES.md §1): one SQL statement
the classify job (collectors/compute/billing_classification.py) writes from and the drill-downs (the
Billing accuracy page, Trace) read one session with, so a correct session, which is counted rather than
stored, is explained with exactly the figures it was judged by.

Classes (`CLASSES`), decided in this order:

- `unrated`: the session cannot be shadow-rated (`problem` says why); `billable` is still true
  when a plan in force says the stay outlasted its grace (e.g. no tax rate in force): such a
  session counts as billable and not correct, since nobody can say it was billed right. A site
  whose timezone is not a zone (revwatch/rules/site_zones.sql) makes each of its sessions unrated
  ('site timezone "Mars/Olympus" is not a time zone'), dated by the UTC day, and stops no other site;
- `negative_invoice`: a non-void invoice with a negative total (`problem` names it): never a
  price, so never judged under-billed; its difference is still counted (billed - expected);
- not billable (within grace) and no non-void invoice: nothing to judge (class NULL);
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
when there is one, the negative invoice. Placed in time by the exit: its UTC `hour` and the site's
`local_date` (decided in SQL).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, text

from revwatch.rules import shadow_rating, site_zones

CLASSES = ("correct", "missing_invoice", "duplicate_invoice", "over_billed", "under_billed", "tax_error",
           "currency_mismatch", "invoice_not_due", "voided_without_replacement", "negative_invoice", "unrated")
# The judged columns, as billing_findings stores them
COLUMNS = ("session_id", "site_id", "exited_at", "hour", "local_date", "currency", "rate_plan_id", "class",
           "billable", "problem", "expected_subtotal_minor", "expected_tax_minor", "expected_total_minor",
           "billed_currency", "billed_subtotal_minor", "billed_tax_minor", "billed_total_minor", "invoices",
           "void_invoices", "difference_minor")


def judgment_sql(sessions: str = shadow_rating.EXITED_IN, every_invoice: bool = False) -> str:
    """SELECT COLUMNS of every closed session `sessions` selects (shadow_rating.rating_sql), class NULL
    when there is nothing to judge (within grace, no invoice). `every_invoice`: the invoices are summed
    whole rather than those of `sessions` only, cheaper when `sessions` is (nearly) every session."""
    narrowed = "" if every_invoice else f"JOIN ({sessions}) p ON p.session_id = i.session_id  -- not `rated`: the planner can size this one"
    rated = shadow_rating.rating_sql(sessions, extra=",\n       exited_at AS exited_at, zone AS zone")
    return f"""
    WITH rated AS (
{rated}
    ),
    inv AS (
        SELECT i.session_id AS session_id,
               count(*) FILTER (WHERE i.status <> 'void') AS n,
               count(*) FILTER (WHERE i.status = 'void') AS n_void,
               coalesce(sum(i.subtotal_minor) FILTER (WHERE i.status <> 'void'), 0)::bigint AS sub,
               coalesce(sum(i.tax_minor) FILTER (WHERE i.status <> 'void'), 0)::bigint AS tax,
               coalesce(sum(i.total_minor) FILTER (WHERE i.status <> 'void'), 0)::bigint AS total,
               min(i.currency) FILTER (WHERE i.status <> 'void') AS cur,
               max(i.currency) FILTER (WHERE i.status <> 'void') AS cur_max,  -- min <> max: several currencies
               min(i.invoice_id || ' has a negative total: ' || i.total_minor || ' minor units')
                   FILTER (WHERE i.status <> 'void' AND i.total_minor < 0) AS negative
        FROM invoices i
        {narrowed}
        GROUP BY i.session_id),
    judged AS (
        SELECT r.session_id AS session_id, r.site_id AS site_id, r.exited_at AS exited_at, r.zone AS zone,
               r.currency AS currency, r.rate_plan_id AS rate_plan_id, r.billable AS billable,
               nullif(concat_ws('; ', r.problem, 'invoice ' || v.negative), '') AS problem,
               r.subtotal_minor AS expected_subtotal_minor, r.tax_minor AS expected_tax_minor,
               r.total_minor AS expected_total_minor, v.cur AS billed_currency,
               coalesce(v.sub, 0) AS billed_subtotal_minor, coalesce(v.tax, 0) AS billed_tax_minor,
               coalesce(v.total, 0) AS billed_total_minor, coalesce(v.n, 0)::integer AS invoices,
               coalesce(v.n_void, 0)::integer AS void_invoices,
               v.cur_max <> v.cur OR v.cur <> r.currency AS other_currency,
               CASE
                   WHEN r.problem IS NOT NULL THEN 'unrated'
                   WHEN v.negative IS NOT NULL THEN 'negative_invoice'
                   WHEN NOT r.billable THEN CASE WHEN coalesce(v.n, 0) > 0 THEN 'invoice_not_due' END
                   WHEN coalesce(v.n, 0) = 0 AND coalesce(v.n_void, 0) > 0 THEN 'voided_without_replacement'
                   WHEN coalesce(v.n, 0) = 0 THEN 'missing_invoice'
                   WHEN v.n > 1 THEN 'duplicate_invoice'
                   WHEN v.cur_max <> v.cur OR v.cur <> r.currency THEN 'currency_mismatch'
                   WHEN v.sub = r.subtotal_minor AND v.tax = r.tax_minor THEN 'correct'
                   WHEN v.sub = r.subtotal_minor THEN 'tax_error'
                   WHEN v.total > r.total_minor THEN 'over_billed'
                   WHEN v.total < r.total_minor THEN 'under_billed'
                   WHEN v.sub > r.subtotal_minor THEN 'over_billed'
                   ELSE 'under_billed'
               END AS class
        FROM rated r
        LEFT JOIN inv v ON v.session_id = r.session_id)
    SELECT session_id, site_id, exited_at, date_bin('1 hour', exited_at, timestamptz '2000-01-01 00:00+00') AS hour,
           {site_zones.local_date('exited_at', 'judged')} AS local_date,
           currency, rate_plan_id, class, billable, problem, expected_subtotal_minor, expected_tax_minor,
           expected_total_minor, billed_currency, billed_subtotal_minor, billed_tax_minor, billed_total_minor,
           invoices, void_invoices,
           CASE WHEN class IN ('unrated', 'currency_mismatch') THEN NULL
                WHEN class = 'negative_invoice' AND other_currency THEN NULL
                ELSE billed_total_minor - expected_total_minor END AS difference_minor
    FROM judged"""


_ONE = judgment_sql()
_ONE_INSTANT = timedelta(microseconds=1)  # timestamptz's resolution


def judge_one(conn: Connection, session_id: str, exited_at: datetime) -> Row | None:
    """One closed session judged now (COLUMNS; class None when there is nothing to judge), as the
    classify job judges it; None when no session of that id exited at `exited_at`."""
    return conn.execute(text(_ONE), {"start": exited_at, "end": exited_at + _ONE_INSTANT,
                                     "session_id": session_id}).first()
