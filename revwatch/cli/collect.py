"""`revwatch demo` (a demo world) and `revwatch collect` (jobs once, or a backfill), and the sources
the collectors read (the configured ones, else a demo world's own), which the worker shares."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import click
from sqlalchemy import Engine

from revwatch import clock
from revwatch.cli.common import as_utc, engine, settings
from revwatch.settings import Settings


@click.command()
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650), help="Days of history.")
@click.option("--sites", default=40, show_default=True, type=click.IntRange(1, 10_000), help="Number of parking sites.")
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.001, 1000), help="Volume multiplier (1 = ~500 sessions per site a day).")
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed: same seed, same world.")
@click.option("--end", type=click.DateTime(), default=None, help="Last instant of the world (UTC); default now.")
def demo(days: int, sites: int, scale: float, seed: int, end: datetime | None) -> None:
    """(Re)generate the demo world into the billing database, and reset what was copied from the old one."""
    cfg = settings()
    from revwatch.migrate import upgrade

    product = engine(cfg)
    upgrade(product)
    manifest = generate_demo(cfg, product, days=days, sites=sites, scale=scale, seed=seed, end=as_utc(end))
    totals = manifest.get("totals", {})
    click.echo(f"demo world written: {', '.join(f'{k} {v:,}' for k, v in totals.items())}")
    click.echo(f"manifest: {cfg.demo_dir / 'manifest.json'}")


def generate_demo(cfg: Settings, product: Engine, **params) -> dict:
    from demoworld import DemoParams, generate
    from revwatch.db import billing_url, libpq_url
    from revwatch.store import reset_source_copies

    manifest = generate(libpq_url(billing_url(cfg)), DemoParams(**params), out_dir=cfg.demo_dir, progress=click.echo)
    reset_source_copies(product)
    return manifest


def _steps(names: list[str], start: datetime | None, end: datetime | None) -> list[tuple[str, datetime | None, datetime | None]]:
    """Split a backfill into one step per job and day, so progress shows and each day commits alone."""
    from collectors.jobs import JOBS

    steps: list[tuple[str, datetime | None, datetime | None]] = []
    for name in names:
        if JOBS[name].kind == "compute" and start is not None and end is not None:
            day = start
            while day < end:
                steps.append((name, day, min(day + timedelta(days=1), end)))
                day += timedelta(days=1)
        else:
            steps.append((name, start, end))
    return steps


@contextmanager
def sources(cfg: Settings) -> Iterator[Settings]:
    """Collectors read the configured sources; on a demo world with no source configured, the
    demo's own (its Stripe API served locally, its Adyen, bank, ledger and FX files)."""
    from revwatch.db import billing_engine, billing_url, libpq_url
    from revwatch.store import has_demo_world

    configured = (cfg.stripe_api_key, cfg.stripe_api_base, cfg.adyen_reports_dir, cfg.bank_statements_dir,
                  cfg.gl_exports_dir, cfg.fx_rates_path)
    if any(configured) or not has_demo_world(billing_engine(cfg)):
        yield cfg
        return
    from demoworld import demo_sources

    with demo_sources(libpq_url(billing_url(cfg)), cfg.demo_dir) as overrides:
        yield cfg.model_copy(update=overrides)


# How long `revwatch collect` waits for a job's lock by default: a killed run's backend lets it go within
# seconds (collectors/runlocks.py), a worker's run of the job may take longer.
LOCK_WAIT_SECONDS = 60


def run_jobs(cfg: Settings, product: Engine, names: list[str], start=None, end=None, progress: bool = True,
             wait: float = LOCK_WAIT_SECONDS) -> list:
    """Run each job (each day of a backfill) under its run lock, as a worker does, after closing the runs
    killed processes left 'running'. A job whose lock stays taken for `wait` s, or that found it taken, is
    an error naming the holder: never a `skipped` with nothing done."""
    from collectors.jobs import JOBS
    from collectors.runlocks import LockHeld, abandon_dead_runs, run_locked

    abandon_dead_runs(product)
    steps = _steps(names, start, end)
    results = []
    with sources(cfg) as cfg, click.progressbar(steps, label="collect", show_pos=True, hidden=not progress,
                                                item_show_func=lambda s: s and s[0]) as bar:
        for name, s, e in bar:
            try:
                stats = run_locked(product, JOBS[name], cfg, s, e, wait)
            except LockHeld as exc:
                raise click.ClickException(str(exc)) from None
            except Exception as exc:  # recorded in job_runs; the operator gets one readable line
                raise click.ClickException(f"{name} failed: {str(exc).splitlines()[0]}") from exc
            if stats.locked:  # its lock taken between our check and its start, by a process without the run lock
                raise click.ClickException(f"{name} not run: another process took its lock (see job_runs)")
            results.append((name, stats))
    return results


@click.command()
@click.argument("jobs", nargs=-1)
@click.option("--from", "start", type=click.DateTime(), help="Window start (UTC): backfill from here.")
@click.option("--to", "end", type=click.DateTime(), help="Window end (UTC, exclusive); default now.")
@click.option("--list", "list_jobs", is_flag=True, help="List the jobs and exit.")
@click.option("--wait", default=LOCK_WAIT_SECONDS, show_default=True, type=click.IntRange(0, 86400),
              help="Seconds to wait for a job another process is running (or a killed run's backend still holds).")
def collect(jobs: tuple[str, ...], start: datetime | None, end: datetime | None, list_jobs: bool, wait: int) -> None:
    """Run jobs once (all of them, in order, when none is named), e.g. a backfill with --from/--to.

    Runs left 'running' by a killed run are closed as abandoned first. A job another process holds is
    waited for up to --wait seconds, then the command fails naming the holder (exit code 1)."""
    from collectors.jobs import JOBS

    if list_jobs:
        for job in JOBS.values():
            click.echo(f"{job.name:18} {job.kind:8} {job.description}")
        return
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        raise click.BadParameter(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(JOBS)}", param_hint="JOBS")
    start, end = as_utc(start), as_utc(end)
    if start is not None and end is None:
        end = clock.now()
    if start is not None and end is not None and end <= start:  # end is set whenever start is
        raise click.BadParameter("--to must be after --from")
    cfg = settings()
    product = engine(cfg)
    from collectors.runlocks import name_connections
    from revwatch.migrate import upgrade

    name_connections(product, "collect")
    upgrade(product)
    if start is not None and end is not None:  # a re-run or backfill is an operator's action: audit log first
        from revwatch import audit

        with product.begin() as conn:
            audit.append(conn, os.environ.get("USER") or "cli", "job.backfill", ",".join(jobs) or "all",
                         {"jobs": list(jobs) or list(JOBS), "window_start": start.isoformat(),
                          "window_end": end.isoformat()})
    started = time.monotonic()
    results = run_jobs(cfg, product, list(jobs) or list(JOBS), start, end, wait=wait)
    for name, stats in results:
        click.echo(f"{name:18} {stats.outcome:9} read {stats.rows_read:>12,}  written {stats.rows_written:>12,}")
    click.echo(f"done in {time.monotonic() - started:.1f} s")
