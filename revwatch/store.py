"""Whole-store operations the CLI needs: is there a source yet, and forgetting an old one."""
from __future__ import annotations

from sqlalchemy import Engine, text

from revwatch.schema import Base

# The product's copies of the billing source and everything computed from them.
SOURCE_COPIES = (
    "sites", "rate_plans", "tax_rates", "parking_sessions", "invoices", "payment_attempts", "refunds",
    "stripe_charges", "stripe_refunds", "stripe_disputes", "stripe_balance_transactions", "stripe_payouts",
    "source_files", "quarantine", "adyen_settlement_lines",
    "sync_state", "pending_windows", "rollup_sessions", "rollup_invoices", "rollup_payments",
    "rollup_invoice_outcomes", "rollup_refunds", "rollup_disputes", "gateway_mismatches",
    "billing_findings", "billing_correct", "pending_site_hours", "bank_lines", "gl_lines", "fx_rates", "recon_items", "recon_month_counts", "recon_breaks", "recon_break_requests", "gateway_access",
    "figure_snapshots", "load_progress", "work_items",
)
# Kept across a new source: history, not derived data (the run log, the breaks' audit trail, the sign-offs, which
# the database refuses to delete, and who asked for which run).
HISTORY = ("job_runs", "recon_break_events", "audit_log", "weekly_reports", "month_signoffs", "job_run_requests",
           "work_item_events",
           "auto_explanations")


def billing_is_empty(billing: Engine) -> bool:
    """True when the billing source has no sessions yet (or no billing schema at all)."""
    with billing.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('billing.parking_sessions')")).scalar()
        return exists is None or bool(conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM billing.parking_sessions)")).scalar_one())


def has_demo_world(billing: Engine) -> bool:
    """True when the billing database was written by `revwatch demo` (its manifest is there)."""
    with billing.connect() as conn:
        return bool(conn.execute(text("SELECT to_regclass('demo.manifest') IS NOT NULL")).scalar_one())


def reset_source_copies(engine: Engine) -> None:
    """The source was replaced (a new demo world): drop what we copied and computed from the old one.

    The run log and the breaks' events stay: they are history, not derived data.
    """
    assert set(SOURCE_COPIES) <= set(Base.metadata.tables), "SOURCE_COPIES names a table the schema lacks"
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(SOURCE_COPIES)}"))
