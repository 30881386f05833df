"""The hand-built operations world: a run log (job_runs), sync state, source copies, FX rates and
quarantine written relative to an instant `now`, for the Health page's tests (tests/test_health_page.py)
and `revwatch show health` (tests/test_show_recon.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

BILLING_ERROR = "OperationalError: connection to billing refused"
RECON_ERROR = "IntegrityError: duplicate key value violates unique constraint"
# The worker schedule (WORKER_SCHEDULE) the run log below was written to: a job is stale when its
# last success is older than two of these intervals (metrics.catalogue.STALE_AFTER_INTERVALS).
SCHEDULE = ("ingest-billing=300,ingest-adyen=600,rollup-sessions=480,match-gateway-payments=3600,"
            "classify-billing=3600,reconcile=3600")


def _run(job, started, seconds=None, outcome="succeeded", read=0, written=0, error=None):
    return (job, started, started + timedelta(seconds=seconds) if seconds is not None else None, outcome, read, written,
            error)


def build(world, now: datetime) -> dict:
    """The rows, and what the test expects of them."""
    runs = []
    # ingest-billing: every 5 minutes for an hour, the third newest failed; three more two days ago
    billing_ok = []
    for k in range(1, 13):
        started = now - timedelta(minutes=5 * k)
        if k == 3:
            runs.append(_run("ingest-billing", started, 1.5, "failed", error=BILLING_ERROR))
        else:
            secs = 2.0 + k * 0.5
            runs.append(_run("ingest-billing", started, secs, read=100 * k, written=10 * k))
            billing_ok.append(secs)
    for k in range(3):
        secs = 30.0 + k
        runs.append(_run("ingest-billing", now - timedelta(days=2, minutes=5 * k), secs))
        billing_ok.append(secs)
    # reconcile: hourly, the newest failed; the one before succeeded three hours ago
    runs.append(_run("reconcile", now - timedelta(hours=3), 40.0))
    runs.append(_run("reconcile", now - timedelta(hours=2), 41.0, "failed", error=RECON_ERROR))
    runs.append(_run("reconcile", now - timedelta(minutes=30), 42.0, "failed", error=RECON_ERROR))
    # rollup-sessions: one running now
    runs.append(_run("rollup-sessions", now - timedelta(minutes=9), 3.0))
    runs.append(_run("rollup-sessions", now - timedelta(minutes=1), None, "running"))
    # ingest-adyen: not configured, every run skipped
    for k in (1, 2):
        runs.append(_run("ingest-adyen", now - timedelta(minutes=10 * k), 0.1, "skipped",
                         error="ADYEN_REPORTS_DIR is not set: Adyen reports are not read"))
    # classify-billing: hourly until ten hours ago, then silence: stale
    classify_finish = now - timedelta(hours=10, seconds=20)
    for k in range(5):
        started = classify_finish - timedelta(seconds=4) - timedelta(hours=k)
        runs.append(_run("classify-billing", started, 4.0))
    # match-gateway-payments: an abandoned run (its worker died) counts as a failure
    runs.append(_run("match-gateway-payments", now - timedelta(hours=3), 7.0))
    runs.append(_run("match-gateway-payments", now - timedelta(hours=2), 600.0, "abandoned", error="worker lost"))
    runs.append(_run("match-gateway-payments", now - timedelta(hours=1), 8.0))
    # a job the catalogue does not know any more
    runs.append(_run("legacy-export", now - timedelta(days=3), 5.0))
    today = now.date()
    with psycopg.connect(world.libpq) as conn:
        conn.cursor().executemany(
            "INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_read, rows_written, error)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)", runs)
        conn.execute("INSERT INTO sync_state (source, table_name, watermark) VALUES"
                     " ('billing', 'parking_sessions', %s), ('billing', 'invoices', %s),"
                     " ('classify-billing', 'billing_findings', %s)",
                     (now - timedelta(minutes=30), now - timedelta(hours=5), now - timedelta(hours=11)))
        conn.execute("INSERT INTO stripe_charges (id, created, currency, raw, amount, amount_refunded, status)"
                     " VALUES ('ch_1', %s, 'USD', %s, 700, 0, 'succeeded'), ('ch_0', %s, 'USD', %s, 500, 0, 'succeeded')",
                     (now - timedelta(hours=1), Jsonb({}), now - timedelta(hours=9), Jsonb({})))
        conn.execute("INSERT INTO stripe_payouts (id, created, currency, raw, amount, status)"
                     " VALUES ('po_1', %s, 'USD', %s, 27000, 'paid')", (now - timedelta(hours=20), Jsonb({})))
        conn.execute("INSERT INTO source_files (sha256, source, file_name, ingested_at, lines_read, lines_loaded,"
                     " lines_quarantined) VALUES ('a1', 'adyen', 'settlement_detail_report_batch_7.csv', %s, 3, 2, 1),"
                     " ('b1', 'bank', 'bai2_20261101.txt', %s, 9, 6, 3)",
                     (now - timedelta(hours=26), now - timedelta(days=6)))
        conn.execute("INSERT INTO adyen_settlement_lines (file_sha256, line_number, merchant_account, created_at, type,"
                     " net_currency, batch_number) VALUES ('a1', 2, 'RevwatchPark', %s, 'Settled', 'EUR', 7),"
                     " ('a1', 3, 'RevwatchPark', %s, 'Settled', 'EUR', 7)",
                     (now - timedelta(hours=31), now - timedelta(hours=30)))
        conn.execute("INSERT INTO bank_lines (file_sha256, line_number, format, account, currency, bank_date, direction,"
                     " amount_minor, payout_candidate) VALUES ('b1', 4, 'bai2', '0975312468', 'USD', %s, 'credit', 2700,"
                     " true)", (today - timedelta(days=6),))
        conn.execute("INSERT INTO fx_rates (rate_date, currency, rate_to_reporting, file_sha256) VALUES"
                     " (%s, 'EUR', 1.09, 'f1'), (%s, 'CAD', 0.73, 'f1'), (%s, 'EUR', 1.08, 'f0')",
                     (today - timedelta(days=1), today - timedelta(days=1), today - timedelta(days=2)))
        conn.cursor().executemany(
            "INSERT INTO quarantine (source, file_name, file_sha256, line_number, reason, record, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [("bank", "bai2_20261101.txt", "b1", n, f"bad amount on line {n}", "16,165,x", now - timedelta(days=1, minutes=n))
             for n in (5, 6, 7)]
            + [("adyen", "settlement_detail_report_batch_7.csv", "a1", 4, "unknown currency XXX", "...",
                now - timedelta(days=10))])
    return {"billing_ok": billing_ok, "billing_last_finish": now - timedelta(minutes=5) + timedelta(seconds=2.5),
            "classify_finish": classify_finish}
