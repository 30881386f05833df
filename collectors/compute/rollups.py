"""The first compute jobs: additive hourly rollups over the product's copies of billing.

Each job owns a window of UTC hours and replaces its rollup rows for that window in one
transaction (DESIGN.md's compute-job pattern). The local date of a row is decided here, in
SQL, with the site's time zone, and nowhere else.

A site whose `timezone` is not a zone (revwatch/rules/site_zones.sql) has no local day: its rows stay
under the site, in their exact UTC hour, dated by the UTC day, as rows of an unknown site are, so no
count or amount drops out of any total and the site scope still applies; the classify job marks each
of its sessions `unrated` with the reason, where the Billing accuracy page and `show misbilled` list
it. One such site never stops the rollup of the others (PostgreSQL raises on an unknown zone, so no
rollup reads `sites.timezone` directly).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from revwatch.rules import site_zones


@dataclass(frozen=True)
class Rollup:
    name: str          # job name
    source_table: str  # ingest table whose changes make this rollup stale
    target: str        # rollup table
    count_column: str  # the rollup column that counts source rows (rows read)
    select_sql: str    # SELECT producing the target's columns for :start <= event time < :end
    # Further tables whose changes make this rollup stale (ingest queues windows for it too).
    also_reads: tuple[str, ...] = field(default=())
    # Optional SELECT of timestamptz rows: event times of this rollup's rows outside [:start, :end)
    # that source changes in it can alter (a retry made today changes the outcome of an invoice
    # issued days ago). Their hours are recomputed too, and only those.
    touched_sql: str | None = None


def hour_and_local_date(ts: str) -> str:
    """The grain of every rollup: the UTC hour and the local date of timestamp column `ts` at site `st`
    (joined with `site_join`; the UTC day when the site is unknown or its zone is not a zone)."""
    return f"date_trunc('hour', {ts}, 'UTC') AS hour, {site_zones.local_date(ts, 'st')} AS local_date"


def site_join(site_id: str) -> str:
    """SQL: LEFT JOIN the site `st` (with its checked zone, revwatch/rules/site_zones.sql) of `site_id`."""
    return f"LEFT JOIN (\n{site_zones.SQL}\n) st ON st.site_id = {site_id}"


SESSIONS = Rollup(
    "rollup-sessions", "parking_sessions", "rollup_sessions", "sessions",
    f"""
    SELECT {hour_and_local_date('p.entered_at')}, p.site_id,
           count(*) AS sessions,
           count(p.exited_at) AS closed_sessions,
           coalesce(sum(ceil(extract(epoch FROM p.exited_at - p.entered_at) / 60)), 0)::bigint AS parked_minutes
    FROM parking_sessions p
    {site_join('p.site_id')}
    WHERE p.entered_at >= :start AND p.entered_at < :end
    GROUP BY 1, 2, 3
    """,
)

INVOICES = Rollup(
    "rollup-invoices", "invoices", "rollup_invoices", "invoices",
    f"""
    SELECT {hour_and_local_date('i.issued_at')}, coalesce(p.site_id, '(unknown)') AS site_id, i.currency, i.status,
           count(*) AS invoices,
           sum(i.subtotal_minor)::bigint AS subtotal_minor,
           sum(i.tax_minor)::bigint AS tax_minor,
           sum(i.total_minor)::bigint AS total_minor
    FROM invoices i
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    {site_join('p.site_id')}
    WHERE i.issued_at >= :start AND i.issued_at < :end
    GROUP BY 1, 2, 3, 4, 5
    """,
)

PAYMENTS = Rollup(
    "rollup-payments", "payment_attempts", "rollup_payments", "attempts",
    f"""
    SELECT {hour_and_local_date('a.attempted_at')}, coalesce(p.site_id, '(unknown)') AS site_id, a.currency, a.gateway,
           a.payment_method_type, coalesce(a.card_brand, '') AS card_brand, a.status,
           coalesce(a.failure_code, '') AS failure_code, a.attempt_number > 1 AS is_retry,
           count(*) AS attempts,
           sum(a.amount_minor)::bigint AS amount_minor
    FROM payment_attempts a
    LEFT JOIN invoices i ON i.invoice_id = a.invoice_id
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    {site_join('p.site_id')}
    WHERE a.attempted_at >= :start AND a.attempted_at < :end
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    """,
)

ROLLUPS: tuple[Rollup, ...] = (SESSIONS, INVOICES, PAYMENTS)
