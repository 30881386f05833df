"""Least privilege for the dashboard, the face of Revwatch that people reach over the network.

The worker owns the schema: it migrates, bulk-loads and rebuilds indexes. The dashboard reads
every product table and writes only what its own actions write: the break workflow (the state
columns of `recon_breaks`, an event, an approval request and its decision, an audit entry), a weekly report build, a month's sign-off, a request to run a job now, and
the work queue's owners and resolutions (and their events). A role granted
here cannot change a copied source row, a rollup, a finding, a reconciliation item, a job run,
the schedule or the audit trail, and cannot read the billing source. Roles are made by whoever
administers the server (`CREATE ROLE … LOGIN PASSWORD …`): no password passes through Revwatch.
"""
from __future__ import annotations

from sqlalchemy import Connection, text

# What the dashboard's actions write (metrics/actions/break_workflow.py, revwatch/audit.py,
# metrics/actions/weekly_report.py): columns where an UPDATE is needed, never whole rows.
DASHBOARD_WRITES: tuple[tuple[str, str], ...] = (
    ("recon_breaks", "UPDATE (assignee, state, resolution_reason, resolved_by, resolved_at, resolved_fingerprint,"
                     " approved_by, approved_at)"),
    ("recon_break_events", "INSERT"),
    ("recon_break_requests", "INSERT"),
    ("recon_break_requests", "UPDATE (decision, decided_by, decided_at, decision_note)"),
    ("audit_log", "INSERT"),
    ("weekly_reports", "INSERT"),
    ("month_signoffs", "INSERT"),
    ("job_run_requests", "INSERT"),
    # the work queue's items (metrics/actions/work_item_actions.py): who owns one, and its resolution
    ("work_items", "UPDATE (owner, state, resolved_by, resolved_at, resolution, resolved_fingerprint)"),
    ("work_item_events", "INSERT"),
    ("auto_explanations", "UPDATE (undone_by, undone_at)"),  # a controller undoes a rule
)
DASHBOARD_SEQUENCES = ("recon_break_events_event_id_seq", "recon_break_requests_request_id_seq",
                       "weekly_reports_report_id_seq", "month_signoffs_signoff_id_seq",
                       "job_run_requests_request_id_seq", "work_item_events_event_id_seq")


class NoSuchRole(LookupError):
    pass


def grant_dashboard(conn: Connection, role: str) -> list[str]:
    """Grant `role` what the dashboard needs in this database, and SELECT on tables created
    later by the current (migrating) user; idempotent. Returns the statements run."""
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
        raise NoSuchRole(f"no role {role!r} on this server: create it first (CREATE ROLE {role} LOGIN PASSWORD '…')")
    who = conn.dialect.identifier_preparer.quote(role)
    database = conn.dialect.identifier_preparer.quote(conn.execute(text("SELECT current_database()")).scalar_one())
    statements = [
        f"GRANT CONNECT ON DATABASE {database} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {who}",
        *(f"GRANT {privilege} ON {table} TO {who}" for table, privilege in DASHBOARD_WRITES),
        *(f"GRANT USAGE ON SEQUENCE {seq} TO {who}" for seq in DASHBOARD_SEQUENCES),
    ]
    for statement in statements:
        conn.execute(text(statement))
    return statements
