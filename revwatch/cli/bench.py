"""`revwatch bench`: the demo world at a given scale, then ingest, each rollup and each
`revwatch show` topic timed.

A measurement, not a test: it prints figures for the issue notes and asserts nothing. Part of the
CLI because it wires everything (the demo world, collectors, metrics), which plumbing never imports.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import click
from sqlalchemy import Engine

from revwatch.cli.common import engine, settings


@click.command()
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650))
@click.option("--sites", default=40, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.001, 1000))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--sessions", type=click.IntRange(1000), default=None,
              help="A synthetic world of this many sessions instead of the demo world, timed at a tenth and "
                   "at all of that history (revwatch/cli/bench_sessions.py).")
@click.option("--per-day", default=27_400, show_default=True, type=click.IntRange(100),
              help="With --sessions: sessions a day (the traffic; the history is sessions / per-day days).")
def bench(days: int, sites: int, scale: float, seed: int, sessions: int | None, per_day: int) -> None:
    """Benchmark (not a test): demo world at a scale, then ingest and rollups timed, rows/s printed.

    Uses the configured database: it REPLACES the billing schema and the product's copies.
    """
    cfg = settings()
    product = engine(cfg)
    from revwatch.migrate import upgrade

    upgrade(product)
    if sessions is not None:
        from revwatch.cli.bench_sessions import run_sessions_benchmark

        lines = run_sessions_benchmark(cfg, product, sessions=sessions, per_day=per_day, sites=sites)
    else:
        lines = run_benchmark(cfg, product, days=days, sites=sites, scale=scale, seed=seed)
    for line in lines:
        click.echo(line)


def run_benchmark(cfg, engine: Engine, **params) -> Iterator[str]:
    from collectors.jobs import JOBS
    from demoworld import DemoParams, demo_sources, generate
    from revwatch.db import billing_url, libpq_url
    from revwatch.store import reset_source_copies

    t0 = time.perf_counter()
    manifest = generate(libpq_url(billing_url(cfg)), DemoParams(**params), out_dir=cfg.demo_dir)
    took = time.perf_counter() - t0
    totals = manifest["totals"]
    rows = sum(totals.values())
    yield f"demo        {took:8.1f} s  {rows:>12,} rows  {rows / took:>10,.0f} rows/s   ({', '.join(f'{k} {v:,}' for k, v in totals.items())})"
    reset_source_copies(engine)
    with demo_sources(libpq_url(billing_url(cfg)), cfg.demo_dir) as gateways:
        yield from _timed_jobs(cfg.model_copy(update=gateways), engine, JOBS)


def _timed_jobs(cfg, engine: Engine, jobs) -> Iterator[str]:
    for name, job in jobs.items():
        t0 = time.perf_counter()
        stats = job.run(engine, cfg, None, None)
        took = time.perf_counter() - t0
        yield (f"{name:16} {took:6.1f} s  read {stats.rows_read:>12,}  written {stats.rows_written:>10,}"
               f"  {stats.rows_read / took:>10,.0f} rows/s  ({stats.outcome})")
    t0 = time.perf_counter()
    stats = jobs["ingest-billing"].run(engine, cfg, None, None)
    yield f"ingest re-run (nothing new) {time.perf_counter() - t0:6.1f} s  read {stats.rows_read:,}  written {stats.rows_written:,}"
    if "reconcile" in jobs:
        yield from _incremental_reconcile(cfg, engine, jobs["reconcile"])
    yield from _timed_show(cfg, engine)


def _timed_show(cfg, engine: Engine) -> Iterator[str]:
    """Each `revwatch show` topic as the command runs it by default (the last 30 days with data)."""
    from metrics.faces import show

    for topic, figures in show.TOPICS.items():
        for by in (None, *show.GROUPINGS.get(topic, ())):
            t0 = time.perf_counter()
            rows = figures(engine, show.Options(by=by, cfg=cfg))
            label = f"show {topic}" + (f" --by {by}" if by else "")
            yield f"{label:32} {time.perf_counter() - t0:6.2f} s  {len(rows):>8,} rows"


def _incremental_reconcile(cfg, engine: Engine, job) -> Iterator[str]:
    """The steady state: the newest hour of every source changed (as an ingest would queue it)."""
    from sqlalchemy import text

    from collectors.compute.reconciliation import JOB, READS
    from collectors.compute.windows import queue_recompute

    with engine.begin() as conn:
        newest = conn.execute(text("SELECT max(attempted_at) FROM payment_attempts")).scalar_one()
        for table in READS:
            queue_recompute(conn, table, [JOB], newest - timedelta(hours=1), newest)
    for label in ("reconcile, newest hour changed", "reconcile, nothing new"):
        t0 = time.perf_counter()
        stats = job.run(engine, cfg, None, None)
        yield f"{label:32} {time.perf_counter() - t0:6.1f} s  judged {stats.rows_read:>10,}  written {stats.rows_written:>8,}"
