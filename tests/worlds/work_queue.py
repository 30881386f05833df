"""A hand-built work-queue world (tests of issue 19): one item of every kind and one that is not, as of Friday
4 December 2026 15:00 UTC, with every amount and due time stated exactly."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.worlds.recon import add_item

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # a Friday
PENDING = timedelta(hours=48)


def finding(conn, session: str, cls: str, expected: int, billed: int, currency: str = "USD", site: str = "S1",
            exited: datetime = NOW - timedelta(days=2)) -> None:
    conn.execute(text("""
        INSERT INTO billing_findings (session_id, site_id, exited_at, hour, local_date, currency, class, billable,
            expected_total_minor, billed_currency, billed_subtotal_minor, billed_tax_minor, billed_total_minor,
            invoices, void_invoices, difference_minor)
        VALUES (:s, :site, :at, date_trunc('hour', CAST(:at AS timestamptz)), CAST(:at AS date), :cur, :cls, true,
                :exp, :cur, :billed, 0, :billed, 1, 0, :billed - :exp)"""),
                 {"s": session, "site": site, "at": exited, "cur": currency, "cls": cls, "exp": expected,
                  "billed": billed})


def mismatch(conn, ref: str, amount: int, kind: str = "unrecorded_success") -> None:
    at = NOW - timedelta(days=1)
    conn.execute(text("""
        INSERT INTO gateway_mismatches (gateway, gateway_reference, kind, occurred_at, hour, local_date, attempt_id,
            site_id, currency, amount_minor, gateway_status, billing_status)
        VALUES ('stripe', :ref, :kind, :at, :at, CAST(:at AS date), 'pa_1', 'S1', 'USD', :amount, 'succeeded',
                'failed')"""), {"ref": ref, "kind": kind, "at": at, "amount": amount})


def dispute(conn, dispute_id: str, amount: int, status: str = "needs_response", due_by: object = None) -> None:
    raw = {"id": dispute_id, "evidence_details": {"due_by": due_by}}
    conn.execute(text("""
        INSERT INTO stripe_disputes (id, charge, amount, status, reason, created, currency, raw)
        VALUES (:id, 'ch_1', :amount, :status, 'fraudulent', :at, 'usd', CAST(:raw AS jsonb))"""),
                 {"id": dispute_id, "amount": amount, "status": status, "at": NOW - timedelta(days=3),
                  "raw": json.dumps(raw)})


def refund(conn, refund_id: str, amount: int, status: str, created: datetime) -> None:
    conn.execute(text("""
        INSERT INTO refunds (refund_id, invoice_id, attempt_id, gateway, amount_minor, currency, reason, status,
                             created_at, updated_at)
        VALUES (:id, 'inv_1', 'pa_1', 'stripe', :amount, 'USD', 'goodwill', :status, :at, :at)"""),
                 {"id": refund_id, "amount": amount, "status": status, "at": created})


def build(w) -> None:
    """Every kind of item (and findings that are no item) into the world `w`; `w.due_by` the dispute's due date."""
    due = int((NOW + timedelta(days=4)).timestamp())
    with w.engine.begin() as conn:
        finding(conn, "ses_short", "under_billed", 1000, 700)
        finding(conn, "ses_missing", "missing_invoice", 1250, 0)
        finding(conn, "ses_dup", "duplicate_invoice", 900, 1800, currency="CAD", site="S2")
        finding(conn, "ses_tax_over", "tax_error", 1000, 1013)
        finding(conn, "ses_right", "correct", 1000, 1000)
        finding(conn, "ses_tax_even", "tax_error", 1000, 1000)  # the split is wrong, not the total: no money to move
        mismatch(conn, "ch_unrecorded", 2524)
        dispute(conn, "dp_due", 4316, due_by=due)
        dispute(conn, "dp_no_date", 794, status="warning_needs_response")
        dispute(conn, "dp_review", 1588, status="under_review", due_by=due)
        refund(conn, "re_failed", 664, "failed", NOW - timedelta(hours=1))
        refund(conn, "re_slow", 500, "pending", NOW - timedelta(hours=49))
        refund(conn, "re_recent", 400, "pending", NOW - timedelta(hours=47))
        refund(conn, "re_done", 300, "succeeded", NOW - timedelta(days=9))
        add_item(conn, "S3", "payout:po_1", "payout", "break", "USD", 2500, NOW - timedelta(days=5),
                 break_type="amount_mismatch", break_amount_minor=-75, left_ref="po_1", site_id="S1")
        conn.execute(text("INSERT INTO recon_breaks (stage, item_key, state, opened_at)"
                          " VALUES ('S3', 'payout:po_1', 'open', :at)"), {"at": NOW - timedelta(days=11)})
        conn.execute(text("INSERT INTO fx_rates (rate_date, currency, rate_to_reporting, file_sha256)"
                          " VALUES ('2026-12-01', 'CAD', 0.75, 'test')"))
    w.due_by = datetime.fromtimestamp(due, UTC)


def ran(w, now: datetime = NOW) -> None:
    """The run log of a world whose work queue is known as of `now`: every ingest brought data, then each compute
    the queue gathers from ran, then the work-queue job."""
    from revwatch.schedule import INGESTS

    t0 = now - timedelta(hours=3)
    for job in INGESTS:
        w.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_written) VALUES (%s, %s, %s,"
              " 'succeeded', 1)", (job, t0, t0 + timedelta(minutes=1)))
    for n, job in enumerate(("match-gateway-payments", "classify-billing", "reconcile", "work-queue")):
        start = t0 + timedelta(minutes=30 + 5 * n)
        w.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_written) VALUES (%s, %s, %s,"
              " 'succeeded', 1)", (job, start, start + timedelta(minutes=1)))


def gathered(make_world, pin_clock):
    """A fresh world with `build`'s items, the clock stopped at NOW, and the work-queue job's gathering done."""
    from collectors.compute import work_queue as job

    pin_clock(NOW)
    w = make_world()
    build(w)
    with w.engine.begin() as conn:
        job.sync(conn, NOW, PENDING)
    return w
