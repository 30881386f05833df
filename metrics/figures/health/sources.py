"""Source freshness, watermarks and quarantine: is each source's newest data recent, and what was set aside?

Each source's newest row is read through an index on its date column (one row, never a scan), so
the cost does not grow with the copies. Ages are judged against an explicit `as_of` and each source's
threshold (metrics.catalogue.SOURCE_FRESHNESS_THRESHOLDS).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from metrics.catalogue import SOURCE_FRESHNESS_THRESHOLDS
from metrics.figures.query import Db, read_frame, read_rows

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SourceFreshness:
    source: str                       # billing, stripe, adyen, bank, gl, fx
    what: str                         # which figure: "watermark invoices", "newest settlement line", ...
    newest: datetime | date | None    # a date for date-only sources (bank, ledger, rates)
    detail: str | None                # where it came from (table, file and line, journal, currencies)
    as_of: datetime
    threshold: timedelta

    @property
    def age(self) -> timedelta | None:
        """For a date: whole days from that (UTC) date to as_of's UTC date."""
        if self.newest is None:
            return None
        if isinstance(self.newest, datetime):
            return self.as_of - self.newest
        return timedelta(days=(self.as_of.astimezone(UTC).date() - self.newest).days)

    @property
    def badge(self) -> str:
        """ok | stale | no data"""
        age = self.age
        return "no data" if age is None else ("stale" if age > self.threshold else "ok")


def source_freshness(db: Db, as_of: datetime) -> tuple[SourceFreshness, ...]:
    """Billing watermarks (sync_state), the newest Stripe object, the newest Adyen file and
    settlement line, bank statement date, GL posting date and FX rate date. A source with no
    data still gets its row ('no data')."""
    found: list[tuple[str, str, Any, str | None]] = []
    marks = read_rows(db, "SELECT table_name, watermark FROM sync_state WHERE source = 'billing' ORDER BY table_name", {})[1]
    found += [("billing", f"watermark {t}", w, "sync_state") for t, w in marks] or [("billing", "watermark", None, None)]
    stripe = read_rows(db, """
        SELECT t, created FROM (
            (SELECT 'charge' AS t, created FROM stripe_charges ORDER BY created DESC LIMIT 1) UNION ALL
            (SELECT 'refund', created FROM stripe_refunds ORDER BY created DESC LIMIT 1) UNION ALL
            (SELECT 'dispute', created FROM stripe_disputes ORDER BY created DESC LIMIT 1) UNION ALL
            (SELECT 'balance transaction', created FROM stripe_balance_transactions ORDER BY created DESC LIMIT 1) UNION ALL
            (SELECT 'payout', created FROM stripe_payouts ORDER BY created DESC LIMIT 1)) s
        ORDER BY created DESC LIMIT 1""", {})[1]
    found.append(("stripe", "newest object created", *(stripe[0][::-1] if stripe else (None, None))))
    found.append(("adyen", "newest report taken in", *_newest_file(db, "adyen")))
    line = read_rows(db, """
        SELECT l.created_at, coalesce(f.file_name, l.file_sha256) || ' line ' || l.line_number
        FROM adyen_settlement_lines l LEFT JOIN source_files f ON f.sha256 = l.file_sha256
        ORDER BY l.created_at DESC LIMIT 1""", {})[1]
    found.append(("adyen", "newest settlement line", *(line[0] if line else (None, None))))
    bank = read_rows(db, "SELECT bank_date, account || ' ' || currency FROM bank_lines ORDER BY bank_date DESC LIMIT 1", {})[1]
    found.append(("bank", "newest statement date", *(bank[0] if bank else (None, None))))
    gl = read_rows(db, "SELECT posted_date, 'journal ' || journal_id FROM gl_lines ORDER BY posted_date DESC LIMIT 1", {})[1]
    found.append(("gl", "newest posting date", *(gl[0] if gl else (None, None))))
    fx = read_rows(db, """
        SELECT rate_date, string_agg(currency, ', ' ORDER BY currency) FROM fx_rates
        WHERE rate_date = (SELECT max(rate_date) FROM fx_rates) GROUP BY rate_date""", {})[1]
    found.append(("fx", "newest rate date", *(fx[0] if fx else (None, None))))
    return tuple(SourceFreshness(s, what, newest, detail, as_of, SOURCE_FRESHNESS_THRESHOLDS[s])
                 for s, what, newest, detail in found)


def _newest_file(db: Db, source: str) -> tuple[datetime | None, str | None]:
    rows = read_rows(db, "SELECT ingested_at, file_name FROM source_files WHERE source = :s ORDER BY ingested_at DESC LIMIT 1",
                 {"s": source})[1]
    return rows[0] if rows else (None, None)


def sync_states(db: Db) -> pd.DataFrame:
    """source, table_name, watermark, advice: every watermark and job cutoff kept in sync_state, and what
    ingest asks of the source's owners for each table (an index it lacks; empty when nothing)."""
    return read_frame(db, "SELECT source, table_name, watermark, advice FROM sync_state ORDER BY source, table_name", {})


# ---------------------------------------------------------------- quarantine
def quarantine_counts(db: Db, as_of: datetime, days: int = 7) -> pd.DataFrame:
    """source, lines, files, newest: records quarantined per source in (as_of - days, as_of]."""
    sql = """
        SELECT source, count(*)::bigint AS lines, count(DISTINCT file_sha256)::bigint AS files, max(created_at) AS newest
        FROM quarantine WHERE created_at > :since AND created_at <= :as_of
        GROUP BY source ORDER BY source"""
    return read_frame(db, sql, {"since": as_of - timedelta(days=days), "as_of": as_of})


def latest_quarantined(db: Db, limit: int = 50) -> pd.DataFrame:
    """created_at, source, file_name, line_number, reason of the newest quarantined records (their
    text stays out of the page: a raw source line may carry identifiers)."""
    sql = """
        SELECT created_at, source, file_name, line_number, reason FROM quarantine
        ORDER BY created_at DESC, quarantine_id DESC LIMIT :limit"""
    return read_frame(db, sql, {"limit": limit})
