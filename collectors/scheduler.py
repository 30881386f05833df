"""The worker: APScheduler runs the job catalogue on intervals, the schedule persisted in PostgreSQL.

The intervals are `revwatch.schedule.intervals(cfg)` (catalogue defaults, WORKER_SCHEDULE overrides),
the same the Health page and the exporter's revwatch_job_interval_seconds read.

- **One shared schedule.** Jobs live in the product database (APScheduler's own table
  `apscheduler_jobs`, outside our schema and migrations), one per catalogue job with the job's
  name as id, added with `replace_existing`: every worker and every restart share one schedule.
  A restart keeps each job's persisted next run time (an overdue job runs once at once:
  `coalesce`), so restarting workers does not push the schedule back.
- **Each run once.** A worker runs a job only under the job's run lock (collectors/runlocks.py, which
  `revwatch collect` takes too), held across the whole run, run-log rows included: two runs never
  overlap one job, and a worker that finds the lock taken records a `skipped` run. Inside, the
  job still takes its own transaction lock (`try_job_lock`).
- **Runs nobody finishes.** A run left `running` by a process that died (SIGKILL, crash, lost
  machine) or cut off by a database restart is closed as `abandoned` once no one holds its locks:
  every job at a worker's start, and each job again just before a worker runs it. A run a restart
  cut is normally recorded `failed` with the reason by itself (revwatch.runlog.recorded_run).
- **Surviving the database.** A restart never leaves the worker alive and idle: the scheduler's loop
  outlives a job store failing mid-pass, the job store's engine checks connections before use, and a
  watchdog (collectors/watchdog.py) restarts the scheduler when its thread died or no job starts;
  when that does not help it sets `gave_up`, and `revwatch worker` exits non-zero for its supervisor.
- **Stopping.** `stop()` takes no new runs and waits up to WORKER_SHUTDOWN_SECONDS for the
  current ones; each job's work is transactional (commits or rolls back whole). Runs still going
  after that are recorded `abandoned` and the caller ends the process, which rolls them back.
  Runs that were due but had not started wait for their next interval.
- **Lanes** (revwatch/schedule.py LANES): billing, stripe, files and reconcile each run on threads of
  their own, WORKER_THREADS a lane (1 by default; jobs due together run most frequent first), so the
  present stays fresh while the past loads: the Stripe first load or a full reconcile never holds back
  the billing ingest and the computes over it. Jobs of two lanes running at once is safe (each is
  transactional and locked); a first load into an empty table drops and rebuilds its indexes, which a
  job of another lane reading those tables could deadlock with, so a compute job whose input's first
  load is running is recorded `skipped` (once a wait), saying it waits for that load, and tries again
  within WAIT_RETRY_SECONDS (its interval may be minutes).
- A failing job is logged in one line and recorded in `job_runs`; it never stops the scheduler.
- **A run that outlasts its interval** (a first load, a long reconcile): its next runs are skipped until it
  ends. The worker says so once per run, at INFO ("ingest-stripe is still running (since 08:12 UTC): its next
  runs are skipped until it ends"), instead of APScheduler's "maximum number of running instances reached"
  WARNING at every interval (filtered out of the scheduler's own logger, `apscheduler.scheduler.revwatch`).
- **Run now.** People with the engineer role ask for a job to run now on the Health page (a row of
  `job_run_requests`); every REQUEST_POLL_SECONDS a worker takes the waiting requests (each once, whichever
  worker first) and runs each job at once on its lane, under its run lock like any run.
- **The weekly report** is a cron job (REPORT_CRON) whose function the caller passes in
  (`report_job`): it reads figures, and collectors never import metrics; the CLI wires it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, create_engine, text

from collectors import runlocks as locks
from collectors.jobs import JOBS, Job
from collectors.run_requests import run_requested
from collectors.runlocks import abandon_dead_runs
from collectors.watchdog import Watchdog, first_line
from revwatch import clock
from revwatch.runlog import RunStats, mark_abandoned
from revwatch.schedule import CATALOGUE, DEFAULT_LANE, REPORT_CRON, REPORT_JOB, intervals
from revwatch.settings import Settings

log = logging.getLogger("revwatch.worker")
# the worker's schedulers log here (a child of APScheduler's own logger, so its level settings apply)
SCHEDULER_LOG = logging.getLogger("apscheduler.scheduler.revwatch")
MAX_INSTANCES_TEXT = "maximum number of running instances reached"  # APScheduler's WARNING at every skipped run


class _SkippedRunFilter(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances reached" WARNING: the worker says it once
    per run itself (Worker._still_running)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return MAX_INSTANCES_TEXT not in str(record.msg)


if not any(isinstance(f, _SkippedRunFilter) for f in SCHEDULER_LOG.filters):
    SCHEDULER_LOG.addFilter(_SkippedRunFilter())

TABLE = "apscheduler_jobs"
START_LOCK_KEY = "hashtext('revwatch.worker.start'), 0"  # one worker at a time sets the schedule up
# How late a run may still start (waiting for a thread, or for a worker to come back): an hour, or
# one interval when longer. With coalescing the run handed over is the latest one due, so an
# overdue job always runs once as soon as a worker gets to it.
MISFIRE_GRACE_SECONDS = 3600
STORE_RETRY_SECONDS = 2     # the job store failed (its database away): the scheduler's loop tries again after this
WAIT_RETRY_SECONDS = 10     # a compute job that waited for its input's first load tries again this soon
REQUESTS_JOB = "revwatch run requests"  # looks for jobs people asked to run now (the Health page)
REQUEST_POLL_SECONDS = 5

# The weekly report's job, the scheduled report build (the CLI passes metrics.faces.weekly_report.run_job):
# the worker runs it without importing metrics, which collectors never do.
ReportJob = Callable[[Engine, Settings], RunStats]


# ------------------------------------------------------------------ what the job store refers to
_thread = threading.local()


def _bind(worker: Worker) -> None:
    """Thread-pool initializer: the pool's threads run this worker's jobs."""
    _thread.worker = worker


def scheduled_run(name: str) -> None:
    """What each persisted job calls (by reference, so it pickles): run `name` on this thread's worker."""
    worker = getattr(_thread, "worker", None)
    if worker is None:
        log.error("%s: called outside a worker's thread pool; not run", name)
        return
    worker.run(name)


def scheduled_requests() -> None:
    """The persisted job that takes people's "run now" requests: each job asked for runs at once on its lane."""
    worker = getattr(_thread, "worker", None)
    if worker is None or worker.stopping.is_set():
        return
    worker.take_requests()


def scheduled_report() -> None:
    """The weekly report's persisted job (REPORT_CRON in REPORT_TIMEZONE): this thread's worker's `report_job`."""
    worker = getattr(_thread, "worker", None)
    if worker is None or worker.stopping.is_set() or worker.report_job is None:
        return
    with worker.busy():
        try:
            worker.report_job(worker.engine, worker.cfg)
        except Exception as exc:  # recorded in job_runs; the scheduler goes on
            log.error("%s failed: %s", REPORT_JOB, first_line(exc))


# ------------------------------------------------------------------ the worker
class _Scheduler(BackgroundScheduler):
    """APScheduler 3's background scheduler, except that
    - once shut down it takes no due job from the shared store: its loop makes one last pass after
      shutdown, which would advance a due job's next run time (for every worker) while its executor
      can no longer run it;
    - a pass the job store fails half-way (its database restarting: `update_job` or `get_next_run_time`
      raising OperationalError ends APScheduler's own thread) is tried again in STORE_RETRY_SECONDS; a
      job whose new next run time was not saved is then due again, a harmless second (locked) run."""

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        try:
            return super()._process_jobs()
        except Exception as exc:
            log.warning("scheduler: the job store failed (%s); trying again in %d s", first_line(exc),
                        STORE_RETRY_SECONDS)
            return STORE_RETRY_SECONDS


class Worker(Watchdog):
    """Runs `jobs` (the catalogue) on `engine` with `cfg`: on a schedule after `start()`, or once each by `run_once()`.

    `report_job`, when given, is also scheduled as REPORT_JOB (REPORT_CRON in REPORT_TIMEZONE); without
    it a worker leaves that job out of the shared schedule. `after_run`, when given, is called with a job's
    name after each run of it that succeeded (the CLI keeps the /metrics figures with it); it must not raise."""

    def __init__(self, engine: Engine, cfg: Settings, jobs: Mapping[str, Job] | None = None, threads: int | None = None,
                 report_job: ReportJob | None = None, after_run: Callable[[str], None] | None = None):
        self.engine, self.cfg = engine, cfg
        self.report_job = report_job
        self.after_run = after_run
        self.jobs = dict(JOBS if jobs is None else jobs)
        self.intervals = intervals(cfg, self.jobs)
        self.threads = threads or cfg.worker_threads
        self.stopping = threading.Event()  # set: no new runs
        self.scheduler: _Scheduler | None = None
        self._store_engine: Engine | None = None
        self._inflight: dict[str, datetime] = {}  # job -> when (by the clock) its current run took the worker lock
        self._inflight_lock = threading.Lock()
        self._overrun: set[str] = set()  # jobs whose current run outlasted its interval, already said so
        self._control = threading.Lock()  # start, restart and stop one at a time
        self.watch_init()

    # -------------------------------------------------------------- one run
    def run(self, name: str) -> RunStats | None:
        """Run one job under the worker lock; never raises. None when stopping or not a job."""
        if self.stopping.is_set():
            return None
        job = self.jobs.get(name)
        if job is None:
            log.warning("%s is not in this worker's catalogue; not run", name)
            return None
        began = time.monotonic()
        try:
            with self.busy(), locks.lock_session(self.engine) as lock:
                got = locks.try_lock(lock, locks.WORKER_LOCK_KEY, name)
                since = clock.now()
                if not got:
                    why = f"{name} is already running in another process (a worker or revwatch collect)"
                    stats = locks.record_skipped(self.engine, name, why)
                    log.info("%s skipped: running in another process", name)
                    return stats
                try:
                    locks.sweep(lock, name, since - locks.RECENT)
                    loading = locks.first_loads_running(self.engine, CATALOGUE[name].inputs if name in CATALOGUE else ())
                    if loading:
                        why = f"waiting for the first load of {', '.join(loading)}: {name} runs once its data is in"
                        self._run_soon(name)
                        if locks.last_run(self.engine, name) == ("skipped", why):
                            return RunStats(outcome="skipped")  # said once a wait: one line in the run log
                        log.info("%s skipped: %s", name, why)
                        return locks.record_skipped(self.engine, name, why)
                    with self._inflight_lock:
                        self._inflight[name] = since
                    try:
                        stats = job.run(self.engine, self.cfg, None, None)
                    finally:
                        with self._inflight_lock:
                            self._inflight.pop(name, None)
                finally:
                    locks.unlock(lock, locks.WORKER_LOCK_KEY, name)
        except Exception as exc:  # recorded in job_runs by recorded_run; the scheduler goes on
            log.error("%s failed after %.1f s: %s", name, time.monotonic() - began, first_line(exc))
            log.debug("%s failed", name, exc_info=True)
            return RunStats(outcome="failed")
        log.info("%s %s in %.1f s: read %d, written %d", name, stats.outcome, time.monotonic() - began,
                 stats.rows_read, stats.rows_written)
        if self.after_run is not None and stats.outcome == "succeeded":
            self.after_run(name)
        return stats

    def take_requests(self) -> list[str]:
        """Run each job people asked for at once, as a one-off run of its lane (collectors/run_requests.py)."""
        return run_requested(self.engine, self.jobs, lambda name: self._run_soon(name, seconds=0))

    def _run_soon(self, name: str, seconds: float = WAIT_RETRY_SECONDS) -> None:
        """Run `name` once more within `seconds` (its interval may be minutes: reconcile's is five), as a
        one-off job of its lane (`<name> retry`): the interval job's next run time is the scheduler's to set."""
        scheduler = self.scheduler
        if scheduler is None or not scheduler.running:
            return
        try:
            scheduler.add_job(scheduled_run, DateTrigger(clock.wall() + timedelta(seconds=seconds)),
                              args=[name], id=f"{name} retry", name=f"{name} retry", replace_existing=True,
                              executor=self.jobs[name].lane, misfire_grace_time=MISFIRE_GRACE_SECONDS)
        except Exception as exc:  # the job store unreachable: it runs at its interval instead
            log.debug("%s: could not schedule a retry: %s", name, first_line(exc))

    def run_once(self) -> list[tuple[str, RunStats]]:
        """Every job once, in catalogue order (stops early when `stopping` is set)."""
        abandon_dead_runs(self.engine)
        results = []
        for name in self.jobs:
            stats = self.run(name)
            if stats is None:
                break
            results.append((name, stats))
        return results

    # -------------------------------------------------------------- the schedule
    def start(self) -> None:
        """Close dead runs, put the schedule in the shared job store, start running it, and watch it."""
        with self._control:
            self._open()
            self._started = True
        threading.Thread(target=self.watch, name="revwatch-watchdog", daemon=True).start()

    def _open(self) -> None:
        store_engine = self._store_engine = create_engine(self.engine.url, pool_size=2, max_overflow=2,
                                                          pool_pre_ping=True, pool_recycle=600)
        lanes = sorted({DEFAULT_LANE, *(job.lane for job in self.jobs.values())})
        scheduler = self.scheduler = _Scheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=store_engine, tablename=TABLE)},
            executors={lane: ThreadPoolExecutor(self.threads, pool_kwargs={
                "initializer": _bind, "initargs": (self,), "thread_name_prefix": f"revwatch-{lane}"})
                for lane in lanes},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
            timezone=UTC, jobstore_retry_interval=STORE_RETRY_SECONDS, logger=SCHEDULER_LOG,
        )
        scheduler.add_listener(self._still_running, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        try:
            with locks.lock_session(self.engine) as conn:
                conn.execute(text(f"SELECT pg_advisory_lock({START_LOCK_KEY})"))  # the table is created once
                try:
                    closed = abandon_dead_runs(self.engine)
                    scheduler.start(paused=True)
                    self._schedule()
                finally:
                    conn.execute(text(f"SELECT pg_advisory_unlock({START_LOCK_KEY})"))
        except BaseException:
            self.scheduler = None
            if scheduler.running:
                scheduler.shutdown(wait=False)
            store_engine.dispose()
            raise
        if closed:
            log.warning("%d run(s) left running by a process that stopped marked abandoned", closed)
        self.opened()
        scheduler.resume()

    def _still_running(self, event: JobEvent) -> None:
        """Once per run that outlasts its interval: INFO that its next runs are skipped until it ends."""
        with self._inflight_lock:
            if event.code != EVENT_JOB_MAX_INSTANCES:
                self._overrun.discard(event.job_id)  # that run ended: a next overrun is said again
                return
            if event.job_id in self._overrun:
                return
            self._overrun.add(event.job_id)
            since = self._inflight.get(event.job_id)
        started = f" (since {since.astimezone(UTC):%H:%M} UTC)" if since is not None else ""
        log.info("%s is still running%s: its next runs are skipped until it ends", event.job_id, started)

    def _scheduler(self) -> _Scheduler:
        """The APScheduler scheduler, once start() made it."""
        if self.scheduler is None:
            raise RuntimeError("the worker's schedule is not started (call start() first)")
        return self.scheduler

    def _schedule(self) -> None:
        scheduler = self._scheduler()
        now = clock.wall()  # APScheduler's timers run on the real clock
        # A new job runs now. New jobs queue up most frequent first, then in catalogue order: with
        # the defaults the billing ingest, the compute jobs over it, then the slower sources.
        order = sorted(self.intervals, key=lambda name: (self.intervals[name], list(self.intervals).index(name)))
        for name, seconds in self.intervals.items():
            trigger = IntervalTrigger(seconds=seconds, timezone=UTC)
            first = now + timedelta(milliseconds=order.index(name))
            try:
                existing = scheduler.get_job(name)
            except Exception:  # a job pickled by code that no longer loads: replaced below
                existing = None
            if existing is not None and existing.next_run_time is not None:
                if getattr(existing.trigger, "interval", None) == trigger.interval:
                    first = existing.next_run_time  # a restart keeps the shared schedule
                else:
                    first = min(existing.next_run_time, now + trigger.interval)
            scheduler.add_job(scheduled_run, trigger, args=[name], id=name, name=name, replace_existing=True,
                              next_run_time=first, misfire_grace_time=max(seconds, MISFIRE_GRACE_SECONDS),
                              executor=self.jobs[name].lane)
        reporting = self.report_job is not None
        if reporting:
            from zoneinfo import ZoneInfo

            scheduler.add_job(scheduled_report, CronTrigger(**REPORT_CRON, timezone=ZoneInfo(self.cfg.report_timezone)),
                              id=REPORT_JOB, name=REPORT_JOB, replace_existing=True,
                              misfire_grace_time=MISFIRE_GRACE_SECONDS)
        scheduler.add_job(scheduled_requests, IntervalTrigger(seconds=REQUEST_POLL_SECONDS, timezone=UTC),
                          id=REQUESTS_JOB, name=REQUESTS_JOB, replace_existing=True, executor=DEFAULT_LANE,
                          misfire_grace_time=REQUEST_POLL_SECONDS)
        for job in scheduler.get_jobs():
            retry = job.id.endswith(" retry") and job.id.removesuffix(" retry") in self.intervals
            kept = job.id == REQUESTS_JOB or (reporting and job.id == REPORT_JOB)
            if job.id not in self.intervals and not retry and not kept:  # dropped
                scheduler.remove_job(job.id)

    def next_run_times(self) -> dict[str, datetime | None]:
        """The next run of each scheduled job (the look for "run now" requests, every few seconds, left out)."""
        return {job.id: job.next_run_time for job in self._scheduler().get_jobs() if job.id != REQUESTS_JOB}

    def stop(self, timeout: float | None = None) -> bool:
        """Take no new runs; wait up to `timeout` s (WORKER_SHUTDOWN_SECONDS) for the current ones.

        True when they all finished. False when some were still going: they are recorded
        abandoned, and the caller must end the process (which rolls their transactions back).
        """
        self.stopping.set()
        timeout = self.cfg.worker_shutdown_seconds if timeout is None else timeout
        with self._control:
            scheduler = self.scheduler
        finished = True
        if scheduler is not None and scheduler.running:
            scheduler.pause()
            stopper = threading.Thread(target=scheduler.shutdown, name="revwatch-worker-stop", daemon=True)
            stopper.start()
            stopper.join(timeout)
            finished = not stopper.is_alive()
        if self._store_engine is not None and finished:
            self._store_engine.dispose()
        if not finished:
            self._abandon_inflight()
        return finished

    def _abandon_inflight(self) -> None:
        with self._inflight_lock:
            inflight = dict(self._inflight)
        with locks.lock_session(self.engine) as conn:
            for name, since in inflight.items():
                if mark_abandoned(conn, name, since):
                    log.warning("%s: still running at shutdown, abandoned (its transaction rolls back)", name)
