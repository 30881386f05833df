"""The exporter's figure sections kept between scrapes, so that /metrics answers cold with small reads (issue 17).

The payment, dispute, billing and reconciliation families are sums over rollups and items that grow with
history: at millions of sessions a cold scrape read for seconds. The worker keeps each section in
`figure_snapshots` after every run of a job that feeds it (`refresh`, wired by the CLI as the worker's
`after_run`, and run by `revwatch collect` at its end); a scrape serves a section from there when it is
current (`current`), else reads it as before. The values are the same functions' (exporter_figures.py),
computed in one REPEATABLE READ snapshot, so a kept section is what a live read would have said then.

A kept section is current while
- no run of a job it reads (`SECTION_JOBS`) finished after it was taken. Its `frontier` is a run id: the
  first of those jobs' runs still running when it was taken, less one, else the newest run. A run that
  finishes later has a larger id, whether it was running then or started after;
- for reconciliation and the close, no break event came after it (`last_event`): people resolve and reopen
  breaks between the job's runs; for the close, no month was signed off since it was taken either;
- the scrape falls in the UTC hour it was taken in: the billing window starts at an hour and this
  month's figures change with the month. The oldest open break's age, the one figure that moves
  with the clock within the hour, is served aged by the time since.
A section whose sites change (a new site's currency at 0) follows at the next run of its job.
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from metrics.faces import exporter_figures as ef
from metrics.figures.query import READ_TIMEOUT_MS
from revwatch import clock

log = logging.getLogger(__name__)

SECTION_JOBS: dict[str, tuple[str, ...]] = {
    "payment figures": ("rollup-payments",),
    "dispute figures": ("rollup-disputes", "rollup-payments"),  # the networks are the payments' card brands
    "billing figures": ("classify-billing",),
    "reconciliation figures": ("reconcile",),
    # a signed-off month moves with the items, the billing judgment and the rates
    "close figures": ("reconcile", "classify-billing", "ingest-fx"),
}
AGING = "revwatch_recon_oldest_open_break_age_seconds"

Kept = dict[str, dict[str, list]]  # section -> family name -> [[sample name, labels, value], …]

_FRONTIER = """
    SELECT coalesce((SELECT min(run_id) - 1 FROM job_runs WHERE finished_at IS NULL AND job = ANY(CAST(:jobs AS text[]))),
                    (SELECT max(run_id) FROM job_runs), 0)"""
_LAST_EVENT = "SELECT coalesce(max(event_id), 0) FROM recon_break_events"
_KEEP = """
    INSERT INTO figure_snapshots (section, taken_at, frontier, last_event, families)
    VALUES (:section, :taken_at, :frontier, :last_event, CAST(:families AS jsonb))
    ON CONFLICT (section) DO UPDATE SET taken_at = excluded.taken_at, frontier = excluded.frontier,
        last_event = excluded.last_event, families = excluded.families"""
# the kept sections still current: no run of their jobs finished after the frontier, no break event after
_CURRENT = """
    SELECT s.section, s.taken_at, s.families FROM figure_snapshots s
    JOIN unnest(CAST(:sections AS text[]), CAST(:jobs AS text[])) AS j(section, jobs) ON j.section = s.section
    WHERE s.taken_at >= :hour
      AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.run_id > s.frontier AND r.finished_at IS NOT NULL
                        AND r.job = ANY(string_to_array(j.jobs, ',')))
      AND (s.section NOT IN ('reconciliation figures', 'close figures')
           OR s.last_event >= (SELECT coalesce(max(event_id), 0) FROM recon_break_events))
      AND (s.section <> 'close figures'
           OR NOT EXISTS (SELECT 1 FROM month_signoffs m WHERE m.signed_at >= s.taken_at))"""


def sections_fed_by(job: str | None) -> list[str]:
    """The sections a run of `job` changes (every section for None)."""
    return [s for s, jobs in SECTION_JOBS.items() if job is None or job in jobs]


def refresh(engine: Engine, job: str | None = None, timeout_ms: int = READ_TIMEOUT_MS) -> list[str]:
    """Compute and keep the sections `job` feeds (all for None), in one snapshot; return their names."""
    sections = sections_fed_by(job)
    if not sections:
        return []
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_ms))})
            frontiers = {s: conn.execute(text(_FRONTIER), {"jobs": list(SECTION_JOBS[s])}).scalar_one() for s in sections}
            last_event = conn.execute(text(_LAST_EVENT)).scalar_one()
            now = clock.now()
            for section, families in _compute(conn, sections, now).items():
                conn.execute(text(_KEEP), {"section": section, "taken_at": now, "frontier": frontiers[section],
                                           "last_event": last_event, "families": json.dumps(families)})
    return sections


def refresh_after(engine: Engine, job: str) -> None:
    """The worker's `after_run`: keep the sections `job` feeds; a failure is one log line (the scrape then reads
    the section live, as the kept one is no longer current)."""
    try:
        refresh(engine, job)
    except Exception as exc:
        log.warning("revwatch exporter: keeping the figures %s feeds failed (%s); /metrics reads them live",
                    job, " ".join(str(exc).split())[:200])


def current(conn: Connection, now: datetime) -> Kept:
    """The kept sections still current at `now`, read in the scrape's snapshot; the age of the oldest open
    break moved on by the time since each was taken."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    rows = conn.execute(text(_CURRENT), {"sections": list(SECTION_JOBS), "hour": hour,
                                         "jobs": [",".join(jobs) for jobs in SECTION_JOBS.values()]}).all()
    kept: Kept = {}
    for section, taken_at, families in rows:
        since = max((now - taken_at).total_seconds(), 0.0)
        if AGING in families:
            families[AGING] = [[n, labels, value + since if value > 0 else value] for n, labels, value in families[AGING]]
        kept[section] = families
    return kept


def _compute(conn: Connection, sections: list[str], now: datetime) -> Kept:
    """The sections' families as a live scrape reads them (exporter_figures.read_section), whatever the readiness;
    the payments are read once, also for the card networks the disputes need."""
    fam = ef.figure_shapes()
    needs_payments = {"payment figures", "dispute figures"} & set(sections)
    networks = ef.read_section(conn, fam, "payment figures", now) if needs_payments else None
    for section in sections:
        if section != "payment figures":
            ef.read_section(conn, fam, section, now, networks)
    return {section: {name: [[s.name, dict(s.labels), s.value] for s in fam[name].samples]
                      for name in ef.GATED[section][1]} for section in sections}
