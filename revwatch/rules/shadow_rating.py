"""Shadow rating (SOURCES.md §1): the price every closed session should have been billed, with every
step, by one SQL statement (shadow_rating.sql). The classify job (collectors/compute/
billing_classification.py) rates a window of exits with it; the billing drill-down
(metrics/figures/billing_accuracy.py) rates one session with it, so the page explains exactly the
figures the job judged by, and a site's local day is decided by PostgreSQL only (DESIGN.md).

Sessions that cannot be rated get a `problem` (no site, a site timezone that is not a zone, no plan
or several in force, no tax rate for a billable session, exit before entry) and NULL amounts from the first missing step. The property
tests hold this SQL to the pure Python reference in tests/reference/shadow_rating.py.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, text

from revwatch.rules import load, site_zones

# Which closed sessions are rated (a query of parking_sessions rows): the exits in [:start, :end), or only :session_id
EXITED_IN = """SELECT p.session_id, p.site_id, p.entered_at, p.exited_at FROM parking_sessions p
    WHERE p.exited_at IS NOT NULL AND p.exited_at >= :start AND p.exited_at < :end
      AND (CAST(:session_id AS text) IS NULL OR p.session_id = CAST(:session_id AS text))"""


def rating_sql(sessions: str = EXITED_IN, extra: str = "") -> str:
    """The rating statement over the closed sessions `sessions` selects (session_id, site_id, entered_at,
    exited_at of parking_sessions), each with COLUMNS and then `extra` (", <expr> AS <name>" over the rated
    session: its exited_at, its site's zone, ...)."""
    return (load("shadow_rating").replace("{site_zones}", site_zones.SQL).replace("{sessions}", sessions)
            .replace("{extra}", extra))


# binds :start, :end (exits in [start, end)) and :session_id (NULL: all); a site's day by site_zones.sql
SQL = rating_sql()

COLUMNS = ("session_id", "site_id", "currency", "rate_plan_id", "minutes", "local_entry_date", "tax_rate",
           "subtotal_minor", "tax_minor", "total_minor", "billable", "problem", "grace_minutes", "full_days",
           "remainder_minutes", "blocks", "blocks_minor", "daily_max_minor")

_ONE_INSTANT = timedelta(microseconds=1)  # timestamptz's resolution


def rate_window(conn: Connection, start: datetime, end: datetime) -> list[Row]:
    """Shadow-rated rows (COLUMNS) of the sessions that exited in [start, end), by session_id."""
    rows = conn.execute(text(SQL), {"start": start, "end": end, "session_id": None})
    return sorted(rows, key=lambda r: r.session_id)


def rate_one(conn: Connection, session_id: str, exited_at: datetime) -> Row | None:
    """The shadow-rated row (COLUMNS) of one session that exited at `exited_at`; None if it is not there.
    The exit narrows the read to the exited_at index, as the job's windows do."""
    return conn.execute(text(SQL), {"start": exited_at, "end": exited_at + _ONE_INSTANT,
                                    "session_id": session_id}).first()
