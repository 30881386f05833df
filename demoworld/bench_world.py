"""A billing world of any size for `revwatch bench` (issue 17): SOURCES.md §1's schema filled by
PostgreSQL itself (bench_world.sql), sessions at a steady rate, so that a world ten times the size is ten
times the history at the same traffic, and `extend` adds the next minutes of traffic as the source would.

No incidents beyond a steady 1 % under-billed, 1/17 first attempts failed and retried: it measures, it
does not demonstrate (the demo world, demoworld/pipeline.py, does that). Deterministic for the same
arguments.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources

import psycopg

from demoworld.writer import ddl

ZONES = (("America/New_York", "USD", "US-NY", "0.088750"), ("America/Toronto", "CAD", "CA-ON", "0.130000"),
         ("Europe/Berlin", "EUR", "DE", "0.190000"), ("America/St_Johns", "CAD", "CA-NL", "0.150000"))
CHUNK = 1_000_000  # sessions written per statement group
# its statements, one execute each (a statement with parameters is prepared alone); the header comment dropped
_STATEMENTS = [part for part in resources.files("demoworld").joinpath("bench_world.sql").read_text().split(";\n")
               if part.strip() and not all(line.startswith("--") for line in part.strip().splitlines())]


def step_seconds(per_day: int) -> float:
    """Seconds between two entries at `per_day` sessions a day (every site together)."""
    return 86_400 / per_day


def create(url: str, sessions: int, per_day: int, sites: int, end: datetime, write_from: int = 0,
           progress: Callable[[str], None] = print) -> datetime:
    """Replace the billing schema with a world of `sessions` sessions entering at `per_day` a day up to `end`
    (and their invoices and attempts), written from session `write_from` on (`extend` writes the older ones
    later); return the first entry. A quarter of the sites change price halfway through."""
    step = step_seconds(per_day)
    start = end - timedelta(seconds=step * sessions)
    tables_sql, after_sql = ddl()
    with psycopg.connect(url) as conn:
        conn.execute("DROP SCHEMA IF EXISTS billing CASCADE")
        conn.execute(tables_sql)
        for s in range(sites):
            zone, currency, jurisdiction, _ = ZONES[s % len(ZONES)]
            site = f"BS{s:04d}"
            conn.execute("INSERT INTO billing.sites VALUES (%s, %s, %s, %s, %s, %s)",
                         (site, f"bench site {s}", jurisdiction[:2], zone, currency, jurisdiction))
            change = start + (end - start) / 2 if s % 4 == 0 else None
            conn.execute("INSERT INTO billing.rate_plans VALUES (%s, %s, '2000-01-01Z', %s, 10, 30, 200, NULL)",
                         (f"{site}-1", site, change))
            if change is not None:
                conn.execute("INSERT INTO billing.rate_plans VALUES (%s, %s, %s, NULL, 10, 30, 250, NULL)",
                             (f"{site}-2", site, change))
        for _, _, jurisdiction, rate in {z[2]: z for z in ZONES}.values():
            conn.execute("INSERT INTO billing.tax_rates VALUES (%s, %s, '2000-01-01', NULL)", (jurisdiction, rate))
        conn.execute(after_sql)
    extend(url, write_from, sessions, start, step, sites, end, progress)
    return start


def extend(url: str, lo: int, hi: int, start: datetime, step: float, sites: int, end: datetime,
           progress: Callable[[str], None] = print) -> None:
    """Write sessions [lo, hi) of the world that starts at `start` (one every `step` seconds), as known at
    `end`: exits, invoices and attempts after it are not there yet."""
    for a in range(lo, hi, CHUNK):
        b = min(hi, a + CHUNK)
        progress(f"writing sessions {a:,} to {b:,}")
        with psycopg.connect(url) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            for statement in _STATEMENTS:
                conn.execute(statement, {"lo": a, "hi": b, "start": start, "step": step, "sites": sites, "end": end})
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("parking_sessions", "invoices", "payment_attempts"):
            conn.execute(f"ANALYZE billing.{table}")


LONGEST_STAY = timedelta(days=2)  # bench_world.sql: no session stays longer, no retry comes later than a day


def advance(url: str, start: datetime, step: float, sites: int, end: datetime, new_end: datetime, lowest: int = 0,
            progress: Callable[[str], None] = print) -> int:
    """The source as it is at `new_end` rather than `end`: the sessions from `lowest` on that may have changed
    since (entered in the last two days, or new) written again, each row as the source would have it, its
    `updated_at` where it changed; rows that did not change come back identical. Returns how many sessions
    were written."""
    first = max(lowest, int((end - LONGEST_STAY - start).total_seconds() // step))
    last = int((new_end - start).total_seconds() // step) + 1
    with psycopg.connect(url) as conn:
        for table, prefix in (("payment_attempts", "A"), ("invoices", "I"), ("parking_sessions", "B")):
            key = {"payment_attempts": "attempt_id", "invoices": "invoice_id", "parking_sessions": "session_id"}[table]
            conn.execute(f"DELETE FROM billing.{table} WHERE {key} >= %s", (f"{prefix}{first:010d}",))
    extend(url, first, last, start, step, sites, new_end, progress)
    return last - first
