"""Gateway vs billing: money a gateway took that billing did not record.

A compute job (`match-gateway-payments`, the pattern of collectors/compute/windows.py): it owns a
window of gateway event time and replaces its findings for that window in one transaction,
recording the run. Gateway objects that took money are a succeeded Stripe charge (by
`created`) and an Adyen `Settled` line (by Creation Date; the first line of a PSP reference,
so a report read twice does not count twice). Each is matched to billing's attempt by
reference (`payment_attempts.gateway_reference` = charge id / PSP reference) or, failing
that, by the attempt id the gateway carries (Stripe `metadata.attempt_id`, Adyen Merchant
Reference), SOURCES.md §2-3. One row in `gateway_mismatches` per finding:

- `unrecorded_success`: the attempt exists and billing says `failed` or `unknown`
  (the customer was charged, billing does not know);
- `no_internal_attempt`: no attempt by reference nor by attempt id (a charge billing never
  made: a double charge).

Sync order. Billing, Stripe and Adyen are copied by separate ingests, and billing may lag
the gateway by minutes: a charge seen before its attempt would look like a double charge.
So only gateway objects older than the *cutoff* are judged:

    cutoff = billing watermark (sync_state: billing / payment_attempts, else the newest
             payment_attempts.updated_at copied) - settle delay

The settle delay is a setting (`GATEWAY_SETTLE_MINUTES`, default 120). The part of a window
after the cutoff is not judged; the job keeps the cutoff it judged up to (sync_state, source
`match-gateway-payments`), and each run also judges [that cutoff, the new cutoff), so what
was too recent is judged once billing has caught up. With no billing data nothing is judged.

Staleness. Ingest queues windows for this job on changes to `stripe_charges`,
`adyen_settlement_lines` (gateway time: the window itself) and `payment_attempts` (by
`attempted_at`): an attempt's gateway objects can be hours later (an Adyen line settles 1-6 h
after the payment), so the window is widened to cover the gateway objects of the attempts
that changed in it, found through the indexed keys.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, text

from collectors.compute.windows import align, consume_pending, judged_until, mark_judged, pending_span
from revwatch.rules import site_zones
from revwatch.runlog import RunStats, recorded_run, try_job_lock

JOB = "match-gateway-payments"
TARGET = "gateway_mismatches"
READS = ("stripe_charges", "adyen_settlement_lines", "payment_attempts")
KINDS = ("unrecorded_success", "no_internal_attempt")
DEFAULT_SETTLE = timedelta(hours=2)
HOUR = timedelta(hours=1)


_WATERMARK = """
    SELECT coalesce((SELECT watermark FROM sync_state WHERE source = 'billing' AND table_name = 'payment_attempts'),
                    (SELECT max(updated_at) FROM payment_attempts))"""

# The window grows to cover the gateway objects of attempts that changed in it (both ways:
# an Adyen line settles hours after its attempt).
_WIDEN = """
    WITH a AS (SELECT attempt_id, gateway_reference FROM payment_attempts
               WHERE attempted_at >= :start AND attempted_at < :end)
    SELECT min(t), max(t) FROM (
        SELECT c.created AS t FROM a JOIN stripe_charges c ON c.id = a.gateway_reference
        UNION ALL SELECT c.created FROM a JOIN stripe_charges c ON c.attempt_id = a.attempt_id
        UNION ALL SELECT l.created_at FROM a JOIN adyen_settlement_lines l
                  ON l.psp_reference = a.gateway_reference AND l.type = 'Settled'
        UNION ALL SELECT l.created_at FROM a JOIN adyen_settlement_lines l
                  ON l.merchant_reference = a.attempt_id AND l.type = 'Settled') x"""

_FIRST_OBJECT = """
    SELECT least((SELECT min(created) FROM stripe_charges),
                 (SELECT min(created_at) FROM adyen_settlement_lines WHERE type = 'Settled'))"""

_COLUMNS = ("gateway, gateway_reference, kind, occurred_at, hour, local_date, attempt_id, gateway_attempt_id,"
            " invoice_id, site_id, currency, amount_minor, gateway_status, billing_status")

# Gateway objects that took money in [:start, :judge_end), each with billing's attempt.
FINDINGS_SQL = """
    WITH g AS (
        SELECT 'stripe' AS gateway, c.id AS ref, c.attempt_id AS gw_attempt, c.invoice_id AS gw_invoice,
               c.created AS occurred_at, c.currency, c.amount AS amount_minor, c.status AS gateway_status
        FROM stripe_charges c
        WHERE c.status = 'succeeded' AND c.created >= :start AND c.created < :judge_end
        UNION ALL
        SELECT 'adyen', l.psp_reference, l.merchant_reference, NULL, l.created_at,
               coalesce(l.gross_currency, l.net_currency), coalesce(l.gross_credit_minor, 0), l.type
        FROM adyen_settlement_lines l
        WHERE l.type = 'Settled' AND l.psp_reference IS NOT NULL
          AND l.created_at >= :start AND l.created_at < :judge_end
          AND NOT EXISTS (SELECT 1 FROM adyen_settlement_lines e
                          WHERE e.psp_reference = l.psp_reference AND e.type = 'Settled'
                            AND (e.created_at, e.file_sha256, e.line_number) < (l.created_at, l.file_sha256, l.line_number))),
    -- billing's attempt for each gateway object: by reference first, else by the attempt id the
    -- gateway carries. Two hash joins, set-based (a per-row OR lookup took minutes at 1 M charges).
    matched AS (
        SELECT DISTINCT ON (g.gateway, g.ref) g.*, coalesce(r.attempt_id, x.attempt_id) AS matched_attempt
        FROM g
        LEFT JOIN payment_attempts r ON r.gateway_reference = g.ref
        LEFT JOIN payment_attempts x ON x.attempt_id = g.gw_attempt
        ORDER BY g.gateway, g.ref, r.attempt_id NULLS LAST),
    found AS (
        SELECT g.gateway, g.ref AS gateway_reference,
               CASE WHEN a.attempt_id IS NULL THEN 'no_internal_attempt' ELSE 'unrecorded_success' END AS kind,
               g.occurred_at, date_trunc('hour', g.occurred_at, 'UTC') AS hour,
               {local_date} AS local_date,
               a.attempt_id, g.gw_attempt AS gateway_attempt_id, i.invoice_id, p.site_id,
               g.currency, g.amount_minor, g.gateway_status, a.status AS billing_status
        FROM matched g
        LEFT JOIN payment_attempts a ON a.attempt_id = g.matched_attempt
        LEFT JOIN invoices i ON i.invoice_id = coalesce(a.invoice_id, g.gw_invoice)
        LEFT JOIN parking_sessions p ON p.session_id = i.session_id
        LEFT JOIN ({sites}) st ON st.site_id = p.site_id
        WHERE a.attempt_id IS NULL OR a.status IN ('failed', 'unknown')),
    ins AS (
        INSERT INTO gateway_mismatches AS m ({cols}) SELECT {cols} FROM found
        ON CONFLICT (gateway, gateway_reference) DO UPDATE SET ({cols}) = ROW({excluded})
        RETURNING 1)
    SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM ins)
""".format(cols=_COLUMNS, excluded=", ".join(f"excluded.{c.strip()}" for c in _COLUMNS.split(",")),
           local_date=site_zones.local_date("g.occurred_at", "st"), sites=site_zones.SQL)


def cutoff(conn: Connection, delay: timedelta) -> datetime | None:
    """Gateway objects before this instant are judged; None while billing has no data."""
    wm = conn.execute(text(_WATERMARK)).scalar()
    return None if wm is None else wm - delay


def replace_window(conn: Connection, start: datetime, end: datetime, cut: datetime | None) -> tuple[int, int]:
    """Delete the findings of [start, end) and judge again what lies before the cutoff;
    return (gateway objects read, findings written)."""
    judge_end = start if cut is None else max(start, min(end, cut))
    conn.execute(text(f"DELETE FROM {TARGET} WHERE occurred_at >= :start AND occurred_at < :end"),
                 {"start": start, "end": end})
    read, written = conn.execute(text(FINDINGS_SQL), {"start": start, "judge_end": judge_end}).one()
    return int(read), int(written)


def run_job(engine: Engine, start: datetime | None = None, end: datetime | None = None,
            delay: timedelta = DEFAULT_SETTLE) -> RunStats:
    """Judge [start, end), or with no window what ingest queued, plus whatever the cutoff
    passed since the last run (the span [last cutoff, cutoff) was not judgeable before)."""
    with recorded_run(engine, JOB) as stats, engine.begin() as conn:
        try_job_lock(conn, JOB)
        consumed: list[int] = []
        if start is None or end is None:
            start, end, consumed = pending_span(conn, JOB)
        cut, judged = cutoff(conn, delay), judged_until(conn, JOB, TARGET)
        if cut is not None and (judged is None or cut > judged):
            if judged is None:  # first run: from the first gateway object on
                judged = conn.execute(text(_FIRST_OBJECT)).scalar() or cut
            start, end = (judged, cut) if start is None or end is None else (min(start, judged), max(end, cut))
        if start is None or end is None:
            return stats  # nothing changed since the last run
        lo, hi = conn.execute(text(_WIDEN), {"start": start, "end": end}).one()
        if lo is not None:
            start, end = min(start, lo), max(end, hi + HOUR)
        start, end = align(start, end)
        stats.window_start, stats.window_end = start, end
        stats.rows_read, stats.rows_written = replace_window(conn, start, end, cut)
        consume_pending(conn, consumed)
        if cut is not None:  # judged up to here; what lies after waits for billing to catch up
            mark_judged(conn, JOB, TARGET, cut)
    return stats
