"""The plumbing every figure module reads through: what the user narrowed a page to (`Filters`),
the site scope and date range as SQL fragments, and one read shaped as rows or a DataFrame.

Values are bound parameters, never formatted into SQL; local days are decided by PostgreSQL
(`AT TIME ZONE sites.timezone`), never by Python.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

if TYPE_CHECKING:
    import pandas as pd

Db = Connection | Engine


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the page to. Dates are local dates, both ends included;
    empty `regions` / `site_ids` mean "all" (a site must match both when both are given)."""

    start: date
    end: date
    regions: tuple[str, ...] = ()
    site_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        object.__setattr__(self, "regions", tuple(sorted(self.regions)))
        object.__setattr__(self, "site_ids", tuple(sorted(self.site_ids)))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The equal-length range just before this one, same sites."""
        return Filters(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.regions, self.site_ids)

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "regions": list(self.regions), "site_ids": list(self.site_ids)}


# Rollup rows (alias r) of the sites in scope. With no site filter everything counts, including
# rows of an unknown site (an invoice whose session is missing), so totals stay complete.
SCOPE = """(
    (cardinality(CAST(:regions AS text[])) = 0 AND cardinality(CAST(:site_ids AS text[])) = 0)
    OR r.site_id IN (
        SELECT s.site_id FROM sites s
        WHERE (cardinality(CAST(:regions AS text[])) = 0 OR s.region = ANY(CAST(:regions AS text[])))
          AND (cardinality(CAST(:site_ids AS text[])) = 0 OR s.site_id = ANY(CAST(:site_ids AS text[])))))"""

IN_RANGE = "r.local_date BETWEEN :start AND :end"


READ_TIMEOUT_MS = 30_000  # a face's read that takes longer is cancelled, not left to hold the page


@contextmanager
def snapshot(engine: Engine, timeout_ms: int = READ_TIMEOUT_MS) -> Iterator[Connection]:
    """One read-only REPEATABLE READ transaction with a statement timeout: every figure a face
    reads in it comes from the same moment (totals agree with their breakdowns), nothing in it
    can write, and a slow query is cancelled instead of holding the page or the scrape."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_ms))})
            yield conn


def read_rows(db: Db, sql: str, params: Mapping[str, Any]) -> tuple[list[str], list[tuple]]:
    """Run one read in the caller's transaction (or, given an engine, in a snapshot of its own):
    column names, rows."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return read_rows(conn, sql, params)
    result = db.execute(text(sql), dict(params))
    return list(result.keys()), [tuple(r) for r in result.fetchall()]


def read_frame(db: Db, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
    """A read shaped as a DataFrame (columns kept even when there are no rows)."""
    columns, data = read_rows(db, sql, params)
    import pandas as pd  # here, not at import: a face that reads no frame (show overview) never loads it

    return pd.DataFrame(data, columns=columns)


def ratio(numerator: int, denominator: int) -> float | None:
    """A ratio computed at read time; None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def ratio_column(df: pd.DataFrame, name: str, numerator: str, denominator: str) -> pd.DataFrame:
    """`ratio` per row of a frame, into column `name` (NaN where the denominator is 0); returns `df`."""
    df[name] = df[numerator] / df[denominator].where(df[denominator] > 0)
    return df
