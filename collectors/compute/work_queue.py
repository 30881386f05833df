"""The work-queue job (issue 19): keep `work_items` equal to what needs a person now, and its history.

What needs a person comes from the computed findings and the source copies (revwatch/work_items.py names the
types): a mis-billed session (billing_findings: under-billed when billing is short, over-billed when the customer
was charged too much), a gateway charge billing does not record (gateway_mismatches), a Stripe dispute waiting
for evidence (with the gateway's `evidence_details.due_by`), a refund that failed or has been pending longer
than REFUND_PENDING_HOURS. Reconciliation breaks are not copied: they keep their workflow in recon_breaks and
the queue reads them there.

One transaction, set-based: an item found for the first time is opened; one found again after it cleared, or
whose data changed since a person resolved it, is reopened; an open one no longer found is cleared (resolved
without a person). Each change appends its event (actor: the job, `work-queue`). A run reads the open findings, not history:
its cost follows what is wrong now.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, text

from revwatch import clock
from revwatch.runlog import RunStats, recorded_run, try_job_lock

JOB = "work-queue"
ACTOR = JOB  # as reconcile signs its break events: the job by name
# billing_findings classes whose difference is money to put right: short (re-invoice) or over (refund)
MISBILLED = ("missing_invoice", "voided_without_replacement", "under_billed", "over_billed", "duplicate_invoice",
             "invoice_not_due", "tax_error")
NEEDS_EVIDENCE = ("needs_response", "warning_needs_response")  # Stripe's dispute statuses awaiting the merchant

_SITE_OF_INVOICE = """LEFT JOIN invoices inv ON inv.invoice_id = {invoice}
    LEFT JOIN parking_sessions ps ON ps.session_id = inv.session_id"""

# Every finding that needs a person: one row per (work_type, source_key) with the columns work_items keeps.
FOUND = f"""
    SELECT CASE WHEN f.difference_minor > 0 THEN 'over_billed' ELSE 'under_billed' END AS work_type,
           f.session_id AS source_key, f.site_id, NULL::text AS gateway, coalesce(f.currency, f.billed_currency) AS currency,
           abs(f.difference_minor) AS amount_minor, greatest(f.difference_minor, 0) AS customer_minor,
           greatest(-f.difference_minor, 0) AS company_minor, f.exited_at AS occurred_at,
           NULL::timestamptz AS deadline, f.session_id AS trace_id,
           jsonb_build_object('class', f.class, 'expected_total_minor', f.expected_total_minor,
                              'billed_total_minor', f.billed_total_minor, 'invoices', f.invoices,
                              'void_invoices', f.void_invoices) AS detail
    FROM billing_findings f
    WHERE f.class = ANY(CAST(:misbilled AS text[])) AND f.difference_minor <> 0
    UNION ALL
    SELECT 'unrecorded_charge', m.gateway || ':' || m.gateway_reference, m.site_id, m.gateway, m.currency,
           m.amount_minor, m.amount_minor, 0, m.occurred_at, NULL, m.gateway_reference,
           jsonb_build_object('kind', m.kind, 'gateway_status', m.gateway_status, 'billing_status', m.billing_status,
                              'attempt_id', m.attempt_id, 'invoice_id', m.invoice_id)
    FROM gateway_mismatches m
    UNION ALL
    SELECT 'dispute_evidence', d.id, ps.site_id, 'stripe', upper(d.currency), d.amount, 0, d.amount, d.created,
           CASE WHEN d.raw #>> '{{evidence_details,due_by}}' ~ '^[0-9]+$'
                THEN to_timestamp((d.raw #>> '{{evidence_details,due_by}}')::bigint) END,
           d.id, jsonb_build_object('status', d.status, 'reason', d.reason, 'charge', d.charge,
                                    'invoice_id', c.invoice_id)
    FROM stripe_disputes d
    LEFT JOIN stripe_charges c ON c.id = d.charge
    {_SITE_OF_INVOICE.format(invoice="c.invoice_id")}
    WHERE d.status = ANY(CAST(:needs_evidence AS text[]))
    UNION ALL
    SELECT 'refund_stuck', r.refund_id, ps.site_id, r.gateway, r.currency, r.amount_minor, r.amount_minor, 0,
           r.created_at, NULL, r.refund_id,
           jsonb_build_object('status', r.status, 'reason', r.reason, 'invoice_id', r.invoice_id,
                              'attempt_id', r.attempt_id)
    FROM refunds r
    {_SITE_OF_INVOICE.format(invoice="r.invoice_id")}
    WHERE r.status = 'failed' OR (r.status = 'pending' AND r.created_at < :pending_before)"""

_COLUMNS = ("site_id, gateway, currency, amount_minor, customer_minor, company_minor, occurred_at, deadline,"
            " trace_id, detail, fingerprint")
_SET_DATA = ", ".join(f"{c} = f.{c}" for c in _COLUMNS.replace(" ", "").split(","))

_STAGE = f"""
    CREATE TEMPORARY TABLE found ON COMMIT DROP AS
    SELECT *, md5(concat_ws('|', currency, amount_minor, customer_minor, company_minor, deadline, site_id,
                            detail::text)) AS fingerprint
    FROM ({FOUND}) x"""

# each step's changed items get their event (none for an update of an open item's figures); the step says how many
_EVENTS = """, events AS (INSERT INTO work_item_events (item_id, at, actor, action, note)
                           SELECT item_id, :now, :actor, {action}, {note} FROM changed)"""
_COUNT = "SELECT count(*) FROM changed"

# (what changes, the statement): each changes items, records one event per item changed (but an update of an open
# item's figures) and returns how many it changed
_STEPS = (
    ("opened", f"""
     WITH changed AS (
        INSERT INTO work_items (work_type, source_key, state, {_COLUMNS}, opened_at)
        SELECT f.work_type, f.source_key, 'open', {", ".join("f." + c for c in _COLUMNS.replace(" ", "").split(","))}, :now
        FROM found f
        WHERE NOT EXISTS (SELECT 1 FROM work_items w WHERE w.work_type = f.work_type AND w.source_key = f.source_key)
        RETURNING item_id)
     {_EVENTS.format(action="'opened'", note="NULL")} {_COUNT}"""),
    ("reopened", f"""
     WITH changed AS (
        UPDATE work_items w SET state = 'open', {_SET_DATA}, resolved_by = NULL, resolved_at = NULL,
               resolution = NULL, resolved_fingerprint = NULL
        FROM found f
        WHERE w.work_type = f.work_type AND w.source_key = f.source_key
          AND (w.state = 'cleared' OR (w.state = 'resolved' AND w.resolved_fingerprint IS DISTINCT FROM f.fingerprint))
        RETURNING w.item_id)
     {_EVENTS.format(action="'reopened'", note="'found again: its data changed since it was resolved, or it came back'")}
     {_COUNT}"""),
    ("updated", f"""
     WITH changed AS (
        UPDATE work_items w SET {_SET_DATA}
        FROM found f
        WHERE w.work_type = f.work_type AND w.source_key = f.source_key AND w.state = 'open'
          AND w.fingerprint <> f.fingerprint
        RETURNING w.item_id)
     {_COUNT}"""),
    ("cleared", f"""
     WITH changed AS (
        UPDATE work_items w SET state = 'cleared', resolved_by = :actor, resolved_at = :now,
               resolution = 'no longer found: the data matches now'
        WHERE w.state = 'open'
          AND NOT EXISTS (SELECT 1 FROM found f WHERE f.work_type = w.work_type AND f.source_key = w.source_key)
        RETURNING w.item_id)
     {_EVENTS.format(action="'cleared'", note="'no longer found: the data matches now'")} {_COUNT}"""),
)


def sync(conn: Connection, now: datetime, refund_pending: timedelta) -> dict[str, int]:
    """Bring work_items to what is found as of `now`, in the caller's transaction; how many items each step
    changed (opened, reopened, updated, cleared) and how many were found."""
    conn.execute(text(_STAGE), {"misbilled": list(MISBILLED), "needs_evidence": list(NEEDS_EVIDENCE),
                                "pending_before": now - refund_pending})
    counts = {"found": conn.execute(text("SELECT count(*) FROM found")).scalar_one()}
    for step, sql in _STEPS:
        counts[step] = conn.execute(text(sql), {"now": now, "actor": ACTOR}).scalar_one()
    conn.execute(text("DROP TABLE found"))
    return counts


def run_job(engine: Engine, refund_pending: timedelta) -> RunStats:
    with recorded_run(engine, JOB) as stats, engine.begin() as conn:
        try_job_lock(conn, JOB)
        counts = sync(conn, clock.now(), refund_pending)
        stats.rows_read = counts["found"]
        stats.rows_written = counts["opened"] + counts["reopened"] + counts["updated"] + counts["cleared"]
    return stats
