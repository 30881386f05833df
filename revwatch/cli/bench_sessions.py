"""`revwatch bench --sessions N` (issue 17): a synthetic billing world (demoworld/bench_world.py) timed at a
tenth of its history and at all of it, with the traffic the same, in one table: first load (rows/s), full
classify, each rollup, full reconcile, two incremental cycles of five minutes of traffic (the first after
a load pays for it: hint bits, autovacuum, cold pages; the second is the steady state) and a cycle with
nothing new at both sizes (and the ratio between the steady ones), each `show` topic (the queries behind
the pages), /metrics read live, the figure sections kept, a cold and a warm scrape from them, and the peak
memory of each step (revwatch's process and the busiest PostgreSQL backend).

A measurement, not a test: it asserts nothing. It REPLACES the configured database's billing schema and
the product's copies.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from revwatch import clock
from revwatch.runlog import RunStats
from revwatch.settings import Settings

CYCLE = timedelta(minutes=5)
BILLING_JOBS = ("ingest-billing", "classify-billing", "rollup-sessions", "rollup-invoices", "rollup-payments",
                "rollup-invoice-outcomes", "rollup-refunds")


@dataclass
class Row:
    step: str
    seconds: float
    rows: int | None = None
    note: str = ""
    peak_mib: tuple[int, int] = (0, 0)  # revwatch, the busiest PostgreSQL backend

    def line(self) -> str:
        rate = f"{self.rows / self.seconds:>12,.0f}" if self.rows and self.seconds > 0 else " " * 12
        rows = f"{self.rows:>12,}" if self.rows is not None else " " * 12
        return (f"{self.step:48} {self.seconds:9.2f} {rows} {rate} {self.peak_mib[0]:>7,} {self.peak_mib[1]:>7,}"
                f"  {self.note}")


HEADER = f"{'step':48} {'seconds':>9} {'rows':>12} {'rows/s':>12} {'MiB rw':>7} {'MiB pg':>7}"


# ---------------------------------------------------------------- peak memory (Linux: VmHWM, reset by clear_refs)
def _postgres_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def _reset_peak(pid: int | str) -> None:
    with suppress(OSError):  # not ours to reset (another user's backend): its peak is since it started
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak_mib(pid: int | str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


@contextmanager
def _peak(row: Row) -> Iterator[None]:
    pids = _postgres_pids()
    _reset_peak("self")
    for pid in pids:
        _reset_peak(pid)
    yield
    row.peak_mib = (_peak_mib("self"), max((_peak_mib(p) for p in pids), default=0))


def _timed(step: str, work: Callable[[], tuple[int | None, str]]) -> Row:
    row = Row(step, 0.0)
    with _peak(row):
        t0 = time.perf_counter()
        row.rows, row.note = work()
        row.seconds = time.perf_counter() - t0
    return row


# ---------------------------------------------------------------- the steps
@dataclass
class Bench:
    cfg: Settings
    engine: Engine
    url: str
    sessions: int
    per_day: int
    sites: int
    end: datetime = field(default_factory=lambda: clock.now().replace(second=0, microsecond=0))

    def __post_init__(self) -> None:
        from demoworld.bench_world import step_seconds

        self.step = step_seconds(self.per_day)
        self.start = self.end - timedelta(seconds=self.step * self.sessions)  # session 0 enters here

    def job(self, name: str) -> Callable[[], tuple[int | None, str]]:
        from collectors.jobs import JOBS

        def run() -> tuple[int | None, str]:
            stats: RunStats = JOBS[name].run(self.engine, self.cfg, None, None)
            window = f" {stats.window_start:%Y-%m-%d %H:%M}–{stats.window_end:%Y-%m-%d %H:%M}" if stats.window_start else ""
            return stats.rows_read, f"{stats.outcome}, written {stats.rows_written:,}{window}"
        return run

    def cycle(self, label: str, new_traffic: bool, lowest: int) -> Iterator[Row]:
        """Five minutes of traffic (or none) to the sessions from `lowest` on, then every billing job once;
        their total last."""
        from demoworld.bench_world import advance

        if new_traffic:
            old_end, self.end = self.end, self.end + CYCLE
            advance(self.url, self.start, self.step, self.sites, old_end, self.end, lowest, progress=lambda _: None)
        total = Row(f"{label}: every billing job", 0.0)
        for name in BILLING_JOBS:
            row = _timed(f"  {name}", self.job(name))
            total.seconds += row.seconds
            total.peak_mib = (max(total.peak_mib[0], row.peak_mib[0]), max(total.peak_mib[1], row.peak_mib[1]))
            yield row
        yield total


def run_sessions_benchmark(cfg: Settings, engine: Engine, sessions: int, per_day: int, sites: int) -> Iterator[str]:
    from demoworld import bench_world
    from revwatch.db import billing_url, libpq_url
    from revwatch.store import reset_source_copies

    url = libpq_url(billing_url(cfg))
    b = Bench(cfg, engine, url, sessions, per_day, sites)
    tenth = sessions // 10
    yield f"bench world: {sessions:,} sessions, {per_day:,} a day ({sessions / per_day:,.0f} days), {sites} sites"
    yield HEADER
    traffic: list[float] = []
    # the newest tenth of the history first, then the older nine tenths beside it: the same traffic
    for size, first, last in ((tenth, sessions - tenth, sessions), (sessions, 0, sessions - tenth)):
        label = f"{size / 1e6:g} M"

        def write(first: int = first, last: int = last) -> tuple[int | None, str]:
            if last == sessions:
                bench_world.create(url, sessions, per_day, sites, b.end, write_from=first, progress=lambda _: None)
            else:
                bench_world.extend(url, first, last, b.start, b.step, sites, b.end, progress=lambda _: None)
            return last - first, "sessions written"
        yield _timed(f"world {label}: write", write).line()
        reset_source_copies(engine)
        for name in ("ingest-billing", "classify-billing", *BILLING_JOBS[2:], "reconcile", "work-queue"):
            yield _timed(f"{label}: first {name}", b.job(name)).line()
        # the first cycle after a load pays for it (hint bits, autovacuum, cold pages); the second is the steady state
        steady = 0.0
        for what, new_traffic in (("+5 minutes of traffic, first after the load", True),
                                  ("+5 minutes of traffic", True), ("nothing new", False)):
            rows = list(b.cycle(f"{label} cycle, {what}", new_traffic, first if last == sessions else 0))
            yield from (r.line() for r in rows)
            steady = rows[-1].seconds if new_traffic else steady
        traffic.append(steady)
        yield _timed(f"{label}: reconcile after the cycles", b.job("reconcile")).line()
        yield _timed(f"{label}: work-queue after the cycles", b.job("work-queue")).line()
    if traffic[0] > 0:
        yield (f"a cycle of 5 minutes of traffic (the second) at {sessions / 1e6:g} M history / at {tenth / 1e6:g} M:"
               f" {traffic[1] / traffic[0]:.2f}x")
    yield from (r.line() for r in _reads(cfg, engine))


def _reads(cfg: Settings, engine: Engine) -> Iterator[Row]:
    """Each `show` topic as the command runs it (the pages' figure functions), then two /metrics scrapes. The
    modules are imported first, as a dashboard has them: a topic's time is its queries, not a first import."""
    from metrics.faces import exporter, show, show_topics  # noqa: F401

    def topic(figures: Callable[..., object]) -> Callable[[], tuple[int | None, str]]:
        return lambda: (len(figures(engine, show.Options(cfg=cfg))), "rows")  # type: ignore[arg-type]
    for name, figures in show.TOPICS.items():
        yield _timed(f"show {name}", topic(figures))
    from metrics.faces import exporter_snapshot

    def keep() -> tuple[int | None, str]:
        return len(exporter_snapshot.refresh(engine)), "sections kept (the worker, after the jobs feeding them)"

    def scrape(label: str) -> Callable[[], tuple[int | None, str]]:
        def read() -> tuple[int | None, str]:  # a new collector: nothing in memory, as after a restart
            collector = exporter.RevwatchCollector(engine, cfg, cache_seconds=0)
            return len(collector.snapshot().families), label
        return read
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM figure_snapshots")
    yield _timed("/metrics scrape, nothing kept (read live)", scrape("families"))
    yield _timed("keep the /metrics figure sections", keep)
    for which in ("cold", "warm"):
        yield _timed(f"/metrics scrape, {which}", scrape("families, from the kept sections"))
