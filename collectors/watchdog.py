"""The worker's watchdog: a database restart must never leave the worker alive and idle.

APScheduler runs the schedule on one thread of its own; an error it does not expect ends that thread
without a word while the process goes on serving /metrics. Every WATCH_SECONDS a watchdog thread
looks for
- the scheduler not running (a restart of it that failed, the database still away),
- the scheduler's thread dead,
- no run handed over for `stall_after` seconds (STALL_INTERVALS of the smallest configured interval,
  never under STALL_FLOOR_SECONDS) while none is going in this process, and none started by any
  worker in the run log either (several workers share one schedule: another may have taken them).

It then restarts the scheduler in place (a new one on the shared job store; runs going on the old one
finish on their own). When that has brought no job start for GIVE_UP_SECONDS it gives up: `gave_up`
says why and `stopping` is set, and `revwatch worker` exits non-zero so that its supervisor (`revwatch
up`, systemd's Restart=on-failure) starts a new process.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED
from sqlalchemy import Engine, text

from revwatch import clock

log = logging.getLogger("revwatch.worker")

WATCH_SECONDS = 2.0       # how often the watchdog looks
STALL_INTERVALS = 2       # "no job started" after this many of the smallest interval: the Health page's "stuck"
STALL_FLOOR_SECONDS = 30  # factor (metrics.catalogue.STALE_AFTER_INTERVALS, a test keeps them equal); never sooner
GIVE_UP_SECONDS = 300     # trouble in-place restarts did not clear for this long: the process exits for its supervisor


def first_line(exc: BaseException) -> str:
    """An error in one line: the driver's own message, without SQLAlchemy's echo of the SQL."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


class Watchdog:
    """The watchdog half of collectors.scheduler.Worker, which provides what is declared here and `_open()`
    (a new scheduler, started). `watch()` is the watchdog thread's loop; `busy()` wraps each run handed over."""

    engine: Engine
    intervals: dict[str, int]
    stopping: threading.Event
    scheduler: Any  # the APScheduler scheduler, None before start() or after a failed restart
    _store_engine: Engine | None
    _control: threading.Lock

    def _open(self) -> None:
        raise NotImplementedError

    def watch_init(self) -> None:
        self._activity = threading.Lock()
        self._started = False  # start() succeeded once: from then on the schedule should run
        self._running = 0      # runs going in this process
        self._last_start = self._opened = 0.0  # (monotonic) the newest run handed over; the newest scheduler start
        self.stall_after = (max(STALL_FLOOR_SECONDS, STALL_INTERVALS * min(self.intervals.values()))
                            if self.intervals else float("inf"))
        self.restarts = 0
        self.gave_up: str | None = None  # why the watchdog gave up (the process should exit non-zero)

    @contextmanager
    def busy(self) -> Iterator[None]:
        """A run handed over by the scheduler: started now, going until the block ends."""
        with self._activity:
            self._running += 1
            self._last_start = time.monotonic()
        try:
            yield
        finally:
            with self._activity:
                self._running -= 1

    def opened(self) -> None:
        """A scheduler was (re)started just now: the time without a job start counts from here."""
        self._opened = time.monotonic()

    def problem(self) -> str | None:
        """What keeps the schedule from running, or None."""
        scheduler = self.scheduler
        if not self._started or self.stopping.is_set():
            return None
        if scheduler is None or scheduler.state == STATE_STOPPED:
            return "the scheduler is not running"
        thread = getattr(scheduler, "_thread", None)  # APScheduler's loop (BackgroundScheduler.start)
        if thread is None or not thread.is_alive():
            return "the scheduler's thread died"
        with self._activity:
            idle = time.monotonic() - max(self._last_start, self._opened) if self._running == 0 else 0.0
        if scheduler.state != STATE_PAUSED and idle > self.stall_after and not self._started_elsewhere():
            return f"no job started for {idle:.0f} s"
        return None

    def _started_elsewhere(self) -> bool:
        """Whether the run log has a run of a scheduled job started within `stall_after` (by another worker)."""
        try:
            with self.engine.connect() as conn:
                newest = conn.execute(text(
                    "SELECT max(l.started_at) FROM unnest(CAST(:jobs AS text[])) AS c(job) CROSS JOIN LATERAL"
                    " (SELECT started_at FROM job_runs r WHERE r.job = c.job ORDER BY started_at DESC LIMIT 1) l"),
                    {"jobs": list(self.intervals)}).scalar()
        except Exception:  # the database away: nobody is starting anything
            return False
        return newest is not None and clock.now() - newest <= timedelta(seconds=self.stall_after)

    def restart(self) -> None:
        """Shut the scheduler down (not waiting for its runs, which finish on their own) and start a new one."""
        with self._control:
            if self.stopping.is_set():
                return
            old, engine, self.scheduler = self.scheduler, self._store_engine, None
            if old is not None and old.state != STATE_STOPPED:
                stopper = threading.Thread(target=_quietly, args=(old.shutdown,), daemon=True)
                stopper.start()
                stopper.join(5)  # its thread may be dead or stuck: never wait on it for long
            if engine is not None:
                engine.dispose()
            self.restarts += 1
            self._open()

    def watch(self) -> None:
        """The watchdog thread: look every WATCH_SECONDS until `stopping`; restart, or give up."""
        trouble_since: float | None = None
        while not self.stopping.wait(WATCH_SECONDS):
            if trouble_since is not None and self._last_start > trouble_since:
                log.warning("worker: recovered, jobs are starting again")
                trouble_since = None
            problem = self.problem()
            if problem is None:
                continue
            trouble_since = trouble_since or time.monotonic()
            if time.monotonic() - trouble_since > GIVE_UP_SECONDS:
                self.gave_up = f"{problem}, and restarting the scheduler did not help for {GIVE_UP_SECONDS} s"
                log.error("worker: %s; giving up", self.gave_up)
                self.stopping.set()
                return
            log.error("worker: %s; restarting the scheduler", problem)
            try:
                self.restart()
            except Exception as exc:  # the database still away: the next look tries again
                log.error("worker: the scheduler did not restart: %s", first_line(exc))


def _quietly(shutdown: Callable[[bool], None]) -> None:
    try:
        shutdown(False)  # not waiting for its runs
    except Exception as exc:
        log.debug("the old scheduler's shutdown: %s", exc)
