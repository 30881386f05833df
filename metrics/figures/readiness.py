"""Is a figure known yet? Known, not computed yet (why, and how far along), or nothing found: three states.

A figure is *known* once every job it depends on (the compute jobs of its topic and the ingest jobs they
read, `revwatch.schedule` JobSpec.inputs) has succeeded, and each compute job has succeeded in a run that
started after its inputs first brought data. Otherwise it is *not computed yet*, and the reasons say which
job has not succeeded yet (running since when, or why its last run failed), which computation has not run
since a source's data arrived ("reconcile has not run since the bank statements arrived"), and how far a
Stripe first load has reached into the selected days. Only a known figure with no rows is "nothing found".

A source that is not configured (its job skipped with "… is not set") blocks nothing: its part of the figure
is absent because there is no such source, which the Health page says.

Reads the run log through its (job, started_at) index: a few index probes per job, never a scan.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

from metrics.figures.health.loads import first_loads
from metrics.figures.job_runs import DONE
from metrics.figures.query import Db, read_rows
from revwatch.schedule import CATALOGUE

# Each topic (a page section, a `show` topic, an exporter family) and the compute jobs its figures come from.
TOPIC_JOBS: dict[str, tuple[str, ...]] = {
    "overview": ("rollup-sessions", "rollup-invoices", "rollup-payments", "rollup-invoice-outcomes"),
    "payments": ("rollup-payments",),
    "declines": ("rollup-payments",),
    "gateway_mismatches": ("match-gateway-payments",),
    "billing_accuracy": ("classify-billing",),
    "refunds": ("rollup-refunds",),
    "disputes": ("rollup-disputes",),
    "reconciliation": ("reconcile",),
    "trace": ("ingest-billing", "ingest-stripe", "ingest-adyen"),
    # the work queue gathers the findings of these (and reads the open breaks)
    "work_queue": ("match-gateway-payments", "classify-billing", "reconcile", "work-queue"),
}
TOPIC_JOBS["weekly_report"] = tuple(dict.fromkeys(j for jobs in TOPIC_JOBS.values() for j in jobs))

# What each ingest job brings, for people: "reconcile has not run since the bank statements arrived".
SOURCE_NAMES = {
    "ingest-billing": "the billing data", "ingest-stripe": "the Stripe objects", "ingest-adyen": "the Adyen reports",
    "ingest-bank": "the bank statements", "ingest-ledger": "the GL exports", "ingest-fx": "the exchange rates",
}
NOT_CONFIGURED = "is not set"  # the skip reason of a job whose source is not configured (collectors/ingest)

State = Literal["known", "not computed yet"]


@dataclass(frozen=True)
class Readiness:
    topic: str
    state: State
    reasons: tuple[str, ...]  # empty when known

    @property
    def known(self) -> bool:
        return self.state == "known"

    @property
    def message(self) -> str:
        """'Not computed yet: reconcile has not run since the bank statements arrived; …' ('' when known)."""
        return "" if self.known else "Not computed yet: " + "; ".join(self.reasons) + "."


@dataclass(frozen=True)
class _Job:
    name: str
    last_outcome: str | None
    last_started: datetime | None
    last_error: str | None
    success_started: datetime | None  # the newest DONE run's start
    first_data_finished: datetime | None  # the first DONE run that wrote rows: when its source's data arrived


def jobs_of(topic: str) -> tuple[str, ...]:
    """The topic's compute jobs, then the ingest jobs they read, in catalogue order."""
    compute = TOPIC_JOBS[topic]
    inputs = {i for j in compute for i in (CATALOGUE[j].inputs if j in CATALOGUE else ())}
    return tuple(j for j in CATALOGUE if j in inputs or j in compute)


def readiness(db: Db, topic: str, as_of: datetime, since: date | None = None) -> Readiness:
    """The topic's state at `as_of`; `since` (the first selected day) lets a Stripe first load say how far it is."""
    jobs = {j.name: j for j in _read_jobs(db, jobs_of(topic), as_of)}
    reasons: list[str] = []
    loading = {load.job: load for load in first_loads(db, as_of, tuple(jobs), unfinished=True)}
    for j in jobs.values():
        if j.name in loading:  # a first load in chunks, begun again after a new source or stopped half way
            load = loading[j.name]
            reasons.append(f"{j.name} {'is running' if load.running else 'stopped half way through'} its first load:"
                           f" {load.progress}" + ("" if load.running else "; it resumes at its next run"))
        elif j.success_started is None and not _not_configured(j):
            reasons.append(_never_succeeded(db, j, as_of, since))
    for name in TOPIC_JOBS[topic]:
        job = jobs.get(name)
        if job is None or job.success_started is None:
            continue
        ok = job.success_started
        late = [i for i in CATALOGUE[name].inputs if i in jobs and (jobs[i].first_data_finished or ok) > ok]
        if late:
            reasons.append(f"{name} has not run since {_and(SOURCE_NAMES.get(i, i) for i in late)} arrived"
                           + _running_since(job))
    return Readiness(topic, "not computed yet" if reasons else "known", tuple(reasons))


def _not_configured(j: _Job) -> bool:
    return j.last_outcome == "skipped" and NOT_CONFIGURED in (j.last_error or "")


def _never_succeeded(db: Db, j: _Job, as_of: datetime, since: date | None) -> str:
    if j.last_outcome is None:
        return f"{j.name} has not run yet"
    if j.last_outcome == "running":
        progress = _stripe_progress(db, as_of, since) if j.name == "ingest-stripe" else ""
        return f"{j.name} is running its first load{progress}{_running_since(j)}"
    if j.last_outcome in ("failed", "abandoned"):
        first_line = (j.last_error or "no error recorded").splitlines()[0][:160]
        return f"{j.name} has not succeeded yet (its last run {j.last_outcome}: {first_line})"
    if j.last_outcome == "skipped" and j.last_error:  # e.g. waiting for its input's first load (another lane)
        return f"{j.name} has not succeeded yet ({j.last_error.splitlines()[0][:160]})"
    return f"{j.name} has not succeeded yet (its last run was {j.last_outcome})"


def _running_since(j: _Job) -> str:
    if j.last_outcome != "running" or j.last_started is None:
        return ""
    return f" (running since {j.last_started.astimezone(UTC):%d %b %H:%M} UTC)"


def _stripe_progress(db: Db, as_of: datetime, since: date | None) -> str:
    """Stripe lists newest first: the oldest object read so far is how far back the first load has come."""
    rows = read_rows(db, "SELECT created FROM stripe_charges ORDER BY created LIMIT 1", {})[1]
    if not rows:
        return ", nothing read yet"
    reached: datetime = rows[0][0]
    text = f", back to {reached.astimezone(UTC):%d %b %Y}"
    if since is not None:
        start = datetime.combine(since, time(), UTC)
        span = (as_of - start).total_seconds()
        if span > 0:
            share = min(max((as_of - reached).total_seconds() / span, 0.0), 1.0)
            text += f", {int(share * 100)} % of the selected days"
    return text


def _and(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _read_jobs(db: Db, names: tuple[str, ...], as_of: datetime) -> list[_Job]:
    sql = """
        SELECT j.job, l.outcome, l.started_at, l.error, ok.started_at, fd.finished_at
        FROM unnest(CAST(:jobs AS text[])) AS j(job)
        LEFT JOIN LATERAL (
            SELECT outcome, started_at, error FROM job_runs r WHERE r.job = j.job AND r.started_at <= :as_of
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) l ON true
        LEFT JOIN LATERAL (
            SELECT started_at FROM job_runs r
            WHERE r.job = j.job AND r.started_at <= :as_of AND r.outcome = ANY(CAST(:done AS text[]))
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) ok ON true
        LEFT JOIN LATERAL (
            SELECT finished_at FROM job_runs r
            WHERE r.job = j.job AND r.started_at <= :as_of AND r.outcome = ANY(CAST(:done AS text[]))
              AND r.rows_written > 0
            ORDER BY r.started_at, r.run_id LIMIT 1) fd ON true"""
    rows = read_rows(db, sql, {"jobs": list(names), "as_of": as_of, "done": list(DONE)})[1]
    return [_Job(*r) for r in rows]
