"""Read queries behind the Health page: are the jobs running, are the sources fresh, what was
quarantined, and which database and time-zone rules decide the figures?

Everything reads the run log (`job_runs`), `sync_state`, `source_files`, `quarantine` and the
newest row of each source copy through an index (`job_runs (job, started_at)`, each copy's date
column), so the page costs the same at a million runs as at a hundred: per-job figures are
LATERAL index scans bounded by a LIMIT or a time range, never a scan of the whole log.

Times are judged against an explicit `as_of` (the page passes now), so tests get exact figures.

The job list is `JOB_CATALOGUE`, a copy of `collectors.jobs.JOBS` (name, kind): metrics must not
import collectors (DESIGN: pages → metrics → plumbing), and tests/test_health_page.py keeps the
copy equal to the real catalogue. Jobs found in the run log but not in the catalogue are shown
too. The scheduler's configured intervals are not read for the same reason; each job's
*observed* interval (median gap between its recent starts) stands in.
"""
from __future__ import annotations

import importlib.metadata
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from metrics.figures.query import Db, read_frame, read_rows

# name, kind: the same as collectors.jobs.JOBS (a test keeps them equal)
JOB_CATALOGUE: tuple[tuple[str, str], ...] = (
    ("ingest-billing", "ingest"),
    ("ingest-stripe", "ingest"),
    ("ingest-adyen", "ingest"),
    ("ingest-bank", "ingest"),
    ("ingest-ledger", "ingest"),
    ("ingest-fx", "ingest"),
    ("rollup-sessions", "compute"),
    ("rollup-invoices", "compute"),
    ("rollup-payments", "compute"),
    ("rollup-invoice-outcomes", "compute"),
    ("rollup-refunds", "compute"),
    ("rollup-disputes", "compute"),
    ("match-gateway-payments", "compute"),
    ("classify-billing", "compute"),
    ("reconcile", "compute"),
)
OUTCOMES = ("running", "succeeded", "failed", "skipped", "abandoned")
FAILED = ("failed", "abandoned")  # a run that did not finish its work (abandoned: its worker died)
DURATION_SAMPLE = 50              # p50/p95 and the observed interval over this many recent runs
FAILURE_LOOKBACK = timedelta(days=30)  # the last failure is looked for this far back (bounded index scan)
STALE_FACTOR = 3                  # a job is stale when its last success is this many observed intervals old
MIN_STALE_AFTER = timedelta(minutes=15)


# ---------------------------------------------------------------- jobs
_ALL_JOBS = """
    WITH RECURSIVE seen(job) AS (  -- the distinct jobs of the run log, one index probe each
        (SELECT job FROM job_runs ORDER BY job LIMIT 1)
        UNION ALL
        SELECT (SELECT r.job FROM job_runs r WHERE r.job > s.job ORDER BY r.job LIMIT 1) FROM seen s
        WHERE s.job IS NOT NULL),
    catalogue AS (
        SELECT c.job, c.kind, c.pos FROM unnest(CAST(:jobs AS text[]), CAST(:kinds AS text[]))
            WITH ORDINALITY AS c(job, kind, pos)),
    all_jobs AS (
        SELECT job, kind, pos FROM catalogue
        UNION ALL
        SELECT s.job, NULL, NULL FROM seen s
        WHERE s.job IS NOT NULL AND s.job NOT IN (SELECT job FROM catalogue))"""


def _catalogue_params() -> dict[str, Any]:
    return {"jobs": [j for j, _ in JOB_CATALOGUE], "kinds": [k for _, k in JOB_CATALOGUE]}


@dataclass(frozen=True)
class LastRun:
    run_id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    rows_read: int
    rows_written: int
    error: str | None

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


@dataclass(frozen=True)
class JobHealth:
    """One job as the run log shows it at `as_of`. Durations in seconds; p50/p95 over the
    last `sampled_runs` succeeded runs (continuous percentiles, as numpy's default)."""

    job: str
    kind: str | None               # None: in the run log but not in the catalogue
    as_of: datetime
    last: LastRun | None           # the newest run started by as_of
    last_success_at: datetime | None  # finished_at of the newest succeeded run
    last_failure_at: datetime | None  # started_at of the newest failed/abandoned run (FAILURE_LOOKBACK)
    last_failure_error: str | None
    runs_24h: int                  # runs started in (as_of - 24 h, as_of]
    failures_24h: int              # of which failed or abandoned
    p50_seconds: float | None
    p95_seconds: float | None
    sampled_runs: int
    interval_seconds: float | None  # observed: median gap between the starts of its recent non-skipped runs

    @property
    def success_age(self) -> timedelta | None:
        return self.as_of - self.last_success_at if self.last_success_at else None

    @property
    def status(self) -> str:
        """never run | running | failing | skipped | no success | stale | ok"""
        if self.last is None:
            return "never run"
        if self.last.outcome == "running":
            return "running"
        if self.last.outcome in FAILED:
            return "failing"
        if self.last_success_at is None:
            return "skipped" if self.last.outcome == "skipped" else "no success"
        if self.interval_seconds:
            allowed = max(timedelta(seconds=self.interval_seconds * STALE_FACTOR), MIN_STALE_AFTER)
            age = self.success_age  # not None: last_success_at is set
            if age is not None and age > allowed:
                return "stale"
        return "skipped" if self.last.outcome == "skipped" else "ok"


def job_health(db: Db, as_of: datetime, sample: int = DURATION_SAMPLE) -> tuple[JobHealth, ...]:
    """Every catalogue job (never run ones too), then any other job of the run log, by name."""
    sql = _ALL_JOBS + """
        SELECT a.job, a.kind,
               l.run_id, l.started_at, l.finished_at, l.outcome, l.rows_read, l.rows_written, l.error,
               ok.finished_at, bad.started_at, bad.error,
               coalesce(c.runs, 0), coalesce(c.failures, 0),
               d.p50, d.p95, coalesce(d.n, 0), g.gap
        FROM all_jobs a
        LEFT JOIN LATERAL (
            SELECT run_id, started_at, finished_at, outcome, rows_read, rows_written, error FROM job_runs r
            WHERE r.job = a.job AND r.started_at <= :as_of ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) l ON true
        LEFT JOIN LATERAL (
            SELECT finished_at FROM job_runs r
            WHERE r.job = a.job AND r.started_at <= :as_of AND r.outcome = 'succeeded'
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) ok ON true
        LEFT JOIN LATERAL (
            SELECT started_at, error FROM job_runs r
            WHERE r.job = a.job AND r.started_at <= :as_of AND r.started_at > :failure_since
              AND r.outcome = ANY(CAST(:failed AS text[]))
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) bad ON true
        LEFT JOIN LATERAL (
            SELECT count(*) AS runs, count(*) FILTER (WHERE r.outcome = ANY(CAST(:failed AS text[]))) AS failures
            FROM job_runs r WHERE r.job = a.job AND r.started_at > :day_ago AND r.started_at <= :as_of) c ON true
        LEFT JOIN LATERAL (
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s.secs) AS p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY s.secs) AS p95, count(*) AS n
            FROM (SELECT extract(epoch FROM r.finished_at - r.started_at)::float8 AS secs FROM job_runs r
                  WHERE r.job = a.job AND r.started_at <= :as_of AND r.outcome = 'succeeded'
                    AND r.finished_at IS NOT NULL
                  ORDER BY r.started_at DESC, r.run_id DESC LIMIT :sample) s) d ON true
        LEFT JOIN LATERAL (
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY y.gap) AS gap
            FROM (SELECT extract(epoch FROM x.started_at - lag(x.started_at) OVER (ORDER BY x.started_at))::float8 AS gap
                  FROM (SELECT r.started_at FROM job_runs r
                        WHERE r.job = a.job AND r.started_at <= :as_of AND r.outcome <> 'skipped'
                        ORDER BY r.started_at DESC, r.run_id DESC LIMIT :sample) x) y
            WHERE y.gap IS NOT NULL) g ON true
        ORDER BY a.pos NULLS LAST, a.job"""
    params = {**_catalogue_params(), "as_of": as_of, "day_ago": as_of - timedelta(hours=24),
              "failure_since": as_of - FAILURE_LOOKBACK, "failed": list(FAILED), "sample": sample}
    out = []
    for (job, kind, run_id, started, finished, outcome, read, written, error, ok_at, bad_at, bad_error,
         runs, failures, p50, p95, n, gap) in read_rows(db, sql, params)[1]:
        last = LastRun(run_id, started, finished, outcome, read, written, error) if run_id is not None else None
        out.append(JobHealth(job, kind, as_of, last, ok_at, bad_at, bad_error, int(runs), int(failures),
                             p50, p95, int(n), gap))
    return tuple(out)


def known_jobs(db: Db) -> list[str]:
    """The catalogue's jobs, then any other job of the run log."""
    return [j for (j,) in read_rows(db, _ALL_JOBS + " SELECT job FROM all_jobs ORDER BY pos NULLS LAST, job",
                                _catalogue_params())[1]]


BUCKETS = (300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400)  # seconds
MAX_POINTS = 200  # per job on the duration chart


def bucket_seconds(days: int) -> int:
    """The smallest bucket that keeps `days` within MAX_POINTS buckets."""
    return next((b for b in BUCKETS if days * 86400 / b <= MAX_POINTS), BUCKETS[-1])


def run_durations(db: Db, as_of: datetime, days: int = 7) -> pd.DataFrame:
    """job, bucket (start, UTC), runs, failures, p50_seconds, max_seconds: the finished, not
    skipped runs started in the last `days` days, per job and time bucket (`bucket_seconds`), so
    the chart has at most MAX_POINTS points per job however often the jobs run."""
    sql = _ALL_JOBS + """
        SELECT a.job, to_timestamp(floor(extract(epoch FROM r.started_at) / :bucket) * :bucket) AS bucket,
               count(*)::bigint AS runs,
               count(*) FILTER (WHERE r.outcome = ANY(CAST(:failed AS text[])))::bigint AS failures,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - r.started_at)) AS p50_seconds,
               max(extract(epoch FROM r.finished_at - r.started_at))::float8 AS max_seconds
        FROM all_jobs a
        CROSS JOIN LATERAL (
            SELECT started_at, finished_at, outcome FROM job_runs r
            WHERE r.job = a.job AND r.started_at > :since AND r.started_at <= :as_of
              AND r.finished_at IS NOT NULL AND r.outcome <> 'skipped') r
        GROUP BY a.job, a.pos, 2
        ORDER BY 2, a.pos NULLS LAST, a.job"""
    return read_frame(db, sql, {**_catalogue_params(), "as_of": as_of, "since": as_of - timedelta(days=days),
                            "bucket": bucket_seconds(days), "failed": list(FAILED)})


RUN_LOG_COLUMNS = ["run_id", "job", "started_at", "finished_at", "seconds", "outcome", "rows_read", "rows_written",
                   "window_start", "window_end", "error"]


def run_log(db: Db, jobs: tuple[str, ...] = (), outcomes: tuple[str, ...] = (), limit: int = 500) -> pd.DataFrame:
    """The newest `limit` runs of the chosen jobs (empty: all) with the chosen outcomes (empty: all),
    newest first; each job's runs read through its (job, started_at) index."""
    sql = _ALL_JOBS + """
        SELECT r.run_id, a.job, r.started_at, r.finished_at,
               extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds, r.outcome,
               r.rows_read, r.rows_written, r.window_start, r.window_end, r.error
        FROM all_jobs a
        CROSS JOIN LATERAL (
            SELECT * FROM job_runs r
            WHERE r.job = a.job
              AND (cardinality(CAST(:outcomes AS text[])) = 0 OR r.outcome = ANY(CAST(:outcomes AS text[])))
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT :limit) r
        WHERE cardinality(CAST(:chosen AS text[])) = 0 OR a.job = ANY(CAST(:chosen AS text[]))
        ORDER BY r.started_at DESC, r.run_id DESC LIMIT :limit"""
    return read_frame(db, sql, {**_catalogue_params(), "chosen": list(jobs), "outcomes": list(outcomes), "limit": limit})


# ---------------------------------------------------------------- sources
# How old each source's newest data may be before it is stale. Files arrive daily and banks,
# ledgers and rate feeds skip weekends and holidays, so their thresholds are days.
THRESHOLDS: dict[str, timedelta] = {
    "billing": timedelta(hours=2),
    "stripe": timedelta(hours=6),
    "adyen": timedelta(days=2),
    "bank": timedelta(days=4),
    "gl": timedelta(days=4),
    "fx": timedelta(days=4),
}


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
    return tuple(SourceFreshness(s, what, newest, detail, as_of, THRESHOLDS[s]) for s, what, newest, detail in found)


def _newest_file(db: Db, source: str) -> tuple[datetime | None, str | None]:
    rows = read_rows(db, "SELECT ingested_at, file_name FROM source_files WHERE source = :s ORDER BY ingested_at DESC LIMIT 1",
                 {"s": source})[1]
    return rows[0] if rows else (None, None)


def sync_states(db: Db) -> pd.DataFrame:
    """source, table_name, watermark: every watermark and job cutoff kept in sync_state."""
    return read_frame(db, "SELECT source, table_name, watermark FROM sync_state ORDER BY source, table_name", {})


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


# ---------------------------------------------------------------- database and tz database
@dataclass(frozen=True)
class TzProbe:
    """A rule change of one tz database release, seen as one zone's UTC offset at one instant."""

    release: str
    zone: str
    at: datetime
    offset: timedelta  # with the change; without it the offset differs (or the zone is unknown)
    change: str


def _utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


# One visible change per release, oldest first, from the releases' NEWS; each checked against a
# tz database with and without it.
TZ_PROBES: tuple[TzProbe, ...] = (
    TzProbe("2022b", "Asia/Tehran", _utc("2023-07-01T12:00"), timedelta(hours=3, minutes=30),
            "Iran no longer observes DST after 2022"),
    TzProbe("2022f", "America/Mexico_City", _utc("2023-07-01T12:00"), timedelta(hours=-6),
            "Mexico no longer observes DST"),
    TzProbe("2022g", "America/Ciudad_Juarez", _utc("2023-07-01T12:00"), timedelta(hours=-6),
            "new zone America/Ciudad_Juarez"),
    TzProbe("2023a", "Africa/Cairo", _utc("2023-07-01T12:00"), timedelta(hours=3), "Egypt observes DST again"),
    TzProbe("2023d", "America/Scoresbysund", _utc("2024-07-01T12:00"), timedelta(hours=-1),
            "Ittoqqortoormiit moves to -02/-01"),
    TzProbe("2024a", "Asia/Almaty", _utc("2024-07-01T12:00"), timedelta(hours=5), "Kazakhstan unifies on UTC+5"),
    TzProbe("2024b", "Asia/Choibalsan", _utc("2000-01-01T00:00"), timedelta(hours=8),
            "Asia/Choibalsan becomes an alias of Asia/Ulaanbaatar"),
    TzProbe("2025a", "America/Asuncion", _utc("2025-07-01T12:00"), timedelta(hours=-3),
            "Paraguay adopts permanent -03"),
    TzProbe("2025b", "America/Coyhaique", _utc("2025-07-01T12:00"), timedelta(hours=-3),
            "new zone America/Coyhaique (Aysén, permanent -03)"),
    TzProbe("2026a", "Europe/Chisinau", _utc("2025-03-30T00:30"), timedelta(hours=2),
            "Moldova uses EU transition times since 2022"),
    TzProbe("2026b", "America/Vancouver", _utc("2026-11-15T12:00"), timedelta(hours=-7),
            "British Columbia stays on -07 (no fall back in 2026)"),
    TzProbe("2026c", "America/Edmonton", _utc("2026-11-15T12:00"), timedelta(hours=-6),
            "Alberta moves to permanent -06"),
)


def reflected_release(offsets: tuple[timedelta | None, ...], probes: tuple[TzProbe, ...] = TZ_PROBES) -> str | None:
    """The newest release whose change, and every older probed change, the offsets show: a lower
    bound of the tz database's version. None: not even the oldest probed change."""
    newest = None
    for probe, got in zip(probes, offsets, strict=True):
        if got != probe.offset:
            break
        newest = probe.release
    return newest


@dataclass(frozen=True)
class TzSide:
    """One engine's tz database: its exact version where a tzdata.zi says it, else only the probes."""

    engine: str                        # "PostgreSQL" or "Python (zoneinfo)"
    version: str | None                # exact, e.g. "2025b"
    source: str                        # where the rules come from, and how the version was found
    offsets: tuple[timedelta | None, ...]  # per probe; None: zone unknown

    @property
    def at_least(self) -> str | None:
        return reflected_release(self.offsets)


@dataclass(frozen=True)
class DatabaseInfo:
    version: str          # SELECT version()
    server_version: str   # e.g. "15.20 (Debian 15.20-0+deb12u1)"
    timezone: str         # the session's TimeZone setting
    zone_count: int       # rows of pg_timezone_names
    postgres_tz: TzSide
    python_tz: TzSide

    @property
    def disagreements(self) -> tuple[TzProbe, ...]:
        """Probes where PostgreSQL and Python put a zone at different offsets."""
        return tuple(p for p, a, b in zip(TZ_PROBES, self.postgres_tz.offsets, self.python_tz.offsets, strict=True) if a != b)


_VERSION_LINE = re.compile(r"^#\s*version\s+(\S+)", re.MULTILINE)


def _zi_version(head: str | None) -> str | None:
    m = _VERSION_LINE.search(head or "")
    return m.group(1) if m else None


def _try_scalar(conn: Connection, sql: str, params: dict | None = None) -> Any:
    """A statement that may be refused (privileges): its value, or None, the transaction intact."""
    try:
        with conn.begin_nested():
            return conn.execute(text(sql), params or {}).scalar()
    except DBAPIError:
        return None


def _postgres_tz(conn: Connection, server_version: str) -> TzSide:
    zones = [p.zone for p in TZ_PROBES]
    rows = conn.execute(text("""
        SELECT CASE WHEN n.name IS NULL THEN NULL ELSE (p.at AT TIME ZONE p.zone) - (p.at AT TIME ZONE 'UTC') END
        FROM unnest(CAST(:zones AS text[]), CAST(:ats AS timestamptz[])) WITH ORDINALITY AS p(zone, at, i)
        LEFT JOIN pg_timezone_names n ON n.name = p.zone
        ORDER BY p.i"""), {"zones": zones, "ats": [p.at for p in TZ_PROBES]}).all()
    offsets = tuple(r[0] for r in rows)
    # Built with --with-system-tzdata, PostgreSQL reads that directory, whose tzdata.zi names its
    # version; both look-ups need superuser (or pg_read_server_files) and are skipped otherwise.
    configure = _try_scalar(conn, "SELECT setting FROM pg_config WHERE name = 'CONFIGURE'")
    if configure is None:
        return TzSide("PostgreSQL", None, "build options not readable with this role (pg_config needs superuser): "
                                          "version inferred from the probes only", offsets)
    m = re.search(r"--with-system-tzdata=([^'\s]+)", configure)
    if not m:
        return TzSide("PostgreSQL", None, f"PostgreSQL's own copy, bundled with {server_version} (its release notes "
                                          "name the tzdata release): version inferred from the probes", offsets)
    folder = m.group(1)
    head = _try_scalar(conn, "SELECT pg_read_file(:p, 0, 200)", {"p": f"{folder}/tzdata.zi"})
    version = _zi_version(head)
    how = f"{folder}/tzdata.zi on the server" if version else f"{folder} (its tzdata.zi not readable with this role)"
    return TzSide("PostgreSQL", version, f"system tz database {how}", offsets)


def _python_offsets() -> tuple[timedelta | None, ...]:
    out = []
    for p in TZ_PROBES:
        try:
            out.append(p.at.astimezone(zoneinfo.ZoneInfo(p.zone)).utcoffset())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            out.append(None)
    return tuple(out)


def _package_tzdata() -> tuple[str | None, str | None]:
    """The `tzdata` package's version and the IANA release in it, if installed."""
    try:
        version = importlib.metadata.version("tzdata")
    except importlib.metadata.PackageNotFoundError:
        return None, None
    try:
        import importlib.resources as resources

        head = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text()[:200]
    except (OSError, ModuleNotFoundError):
        head = None
    return version, _zi_version(head)


def python_tz() -> TzSide:
    """Python's zoneinfo reads the first TZPATH folder holding a zone, else the tzdata package."""
    offsets = _python_offsets()
    package, release = _package_tzdata()
    package_note = f"; the tzdata package {package} ({release or 'release unknown'}) is installed" if package else ""
    for folder in zoneinfo.TZPATH:
        if (Path(folder) / "UTC").is_file():
            zi = Path(folder) / "tzdata.zi"
            head = zi.read_text(errors="replace")[:200] if zi.is_file() else None
            version = _zi_version(head)
            where = f"{zi}" if version else f"{folder} (no readable tzdata.zi)"
            used = " but only used for zones missing there" if package else ""
            return TzSide("Python (zoneinfo)", version, f"system tz database {where}{package_note}{used}", offsets)
    if package:
        return TzSide("Python (zoneinfo)", release, f"the tzdata package {package} (no system tz database)", offsets)
    return TzSide("Python (zoneinfo)", None, "no tz database found", offsets)


def database_info(conn: Connection) -> DatabaseInfo:
    version, server_version, tz, zones = conn.execute(text(
        "SELECT version(), current_setting('server_version'), current_setting('TimeZone'),"
        " (SELECT count(*) FROM pg_timezone_names)")).one()
    return DatabaseInfo(version, server_version, tz, int(zones), _postgres_tz(conn, server_version), python_tz())


def probe_table(info: DatabaseInfo) -> pd.DataFrame:
    """release, change, zone, at, expected and each engine's offset, for the page."""
    def show(d: timedelta | None) -> str:
        if d is None:
            return "unknown zone"
        minutes = int(d.total_seconds() // 60)
        return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    return pd.DataFrame([{"release": p.release, "change": p.change, "zone": p.zone, "at (UTC)": f"{p.at:%Y-%m-%d %H:%M}",
                          "with the change": show(p.offset), "PostgreSQL": show(a), "Python": show(b)}
                         for p, a, b in zip(TZ_PROBES, info.postgres_tz.offsets, info.python_tz.offsets, strict=True)])

