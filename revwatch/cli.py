"""The `revwatch` command: wires settings, database, demo world, collectors and dashboard."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from revwatch import clock
from revwatch.settings import SettingsError, load_settings


def _cfg():
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _engine(cfg):
    from revwatch.db import product_engine

    return product_engine(cfg)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Revwatch: revenue observability, from parking session to accounting close."""


# ------------------------------------------------------------------ db
@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending Alembic migration to the product database."""
    from revwatch.migrate import upgrade

    upgrade(_engine(_cfg()))
    click.echo("database is at the newest schema")


@db.command("grant-dashboard")
@click.argument("role")
def db_grant_dashboard(role: str) -> None:
    """Let ROLE (made by your DBA) read everything and write only the dashboard's actions; set
    DASHBOARD_DATABASE_URL to connect the dashboard as it."""
    from revwatch.roles import NoSuchRole, grant_dashboard

    try:
        with _engine(_cfg()).begin() as conn:
            grant_dashboard(conn, role)
    except NoSuchRole as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{role} may read every product table and write only the dashboard's actions")


# ------------------------------------------------------------------ demo
@main.command()
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650), help="Days of history.")
@click.option("--sites", default=40, show_default=True, type=click.IntRange(1, 10_000), help="Number of parking sites.")
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.001, 1000), help="Volume multiplier (1 = ~500 sessions per site a day).")
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed: same seed, same world.")
@click.option("--end", type=click.DateTime(), default=None, help="Last instant of the world (UTC); default now.")
def demo(days: int, sites: int, scale: float, seed: int, end: datetime | None) -> None:
    """(Re)generate the demo world into the billing database, and reset what was copied from the old one."""
    cfg = _cfg()
    from revwatch.migrate import upgrade

    engine = _engine(cfg)
    upgrade(engine)
    manifest = generate_demo(cfg, engine, days=days, sites=sites, scale=scale, seed=seed, end=_utc(end))
    totals = manifest.get("totals", {})
    click.echo(f"demo world written: {', '.join(f'{k} {v:,}' for k, v in totals.items())}")
    click.echo(f"manifest: {cfg.demo_dir / 'manifest.json'}")


def generate_demo(cfg, engine, **params) -> dict:
    from demoworld import DemoParams, generate
    from revwatch.db import billing_url, libpq_url
    from revwatch.store import reset_source_copies

    manifest = generate(libpq_url(billing_url(cfg)), DemoParams(**params), out_dir=cfg.demo_dir, progress=click.echo)
    reset_source_copies(engine)
    return manifest


# ------------------------------------------------------------------ collect
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
def _sources(cfg):
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


def run_jobs(cfg, engine, names: list[str], start=None, end=None, progress: bool = True) -> list:
    from collectors.jobs import JOBS

    steps = _steps(names, start, end)
    results = []
    with _sources(cfg) as cfg, click.progressbar(steps, label="collect", show_pos=True, hidden=not progress,
                           item_show_func=lambda s: s and s[0]) as bar:
        for name, s, e in bar:
            try:
                results.append((name, JOBS[name].run(engine, cfg, s, e)))
            except Exception as exc:  # recorded in job_runs; the operator gets one readable line
                raise click.ClickException(f"{name} failed: {str(exc).splitlines()[0]}") from exc
    return results


@main.command()
@click.argument("jobs", nargs=-1)
@click.option("--from", "start", type=click.DateTime(), help="Window start (UTC): backfill from here.")
@click.option("--to", "end", type=click.DateTime(), help="Window end (UTC, exclusive); default now.")
@click.option("--list", "list_jobs", is_flag=True, help="List the jobs and exit.")
def collect(jobs: tuple[str, ...], start: datetime | None, end: datetime | None, list_jobs: bool) -> None:
    """Run jobs once (all of them, in order, when none is named), e.g. a backfill with --from/--to."""
    from collectors.jobs import JOBS

    if list_jobs:
        for job in JOBS.values():
            click.echo(f"{job.name:18} {job.kind:8} {job.description}")
        return
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        raise click.BadParameter(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(JOBS)}", param_hint="JOBS")
    start, end = _utc(start), _utc(end)
    if start is not None and end is None:
        end = clock.now()
    if start is not None and end is not None and end <= start:  # end is set whenever start is
        raise click.BadParameter("--to must be after --from")
    cfg = _cfg()
    engine = _engine(cfg)
    from revwatch.migrate import upgrade

    upgrade(engine)
    if start is not None and end is not None:  # a re-run or backfill is an operator's action: audit log first
        from revwatch import audit

        with engine.begin() as conn:
            audit.append(conn, os.environ.get("USER") or "cli", "job.backfill", ",".join(jobs) or "all",
                         {"jobs": list(jobs) or list(JOBS), "window_start": start.isoformat(),
                          "window_end": end.isoformat()})
    started = time.monotonic()
    results = run_jobs(cfg, engine, list(jobs) or list(JOBS), start, end)
    for name, stats in results:
        click.echo(f"{name:18} {stats.outcome:9} read {stats.rows_read:>12,}  written {stats.rows_written:>12,}")
    click.echo(f"done in {time.monotonic() - started:.1f} s")


# ------------------------------------------------------------------ worker
def _schedule_checked(cfg) -> dict[str, int]:
    from collectors.scheduler import intervals

    try:
        return intervals(cfg)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "stripe"):  # a line per scheduled run, a line per API request
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def _stop_on_signals(stopping):
    """SIGTERM and SIGINT (Ctrl-C) set `stopping` instead of killing the process mid-run."""
    handlers = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _metrics_server(cfg, engine):
    """Serve /metrics from a registry of our own: the process's own metrics, and Revwatch's
    (metrics.faces.exporter) once that module exists. None when METRICS_PORT is 0."""
    if not cfg.metrics_port:
        return None
    import importlib.util

    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, start_http_server

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    if importlib.util.find_spec("metrics.faces.exporter") is not None:
        from metrics.faces.exporter import register

        register(registry, engine, cfg)
    try:
        server, _ = start_http_server(cfg.metrics_port, cfg.metrics_host, registry=registry)
    except OSError as exc:
        raise click.ClickException(f"METRICS_PORT: cannot serve on {cfg.metrics_host}:{cfg.metrics_port}"
                                   f" ({exc.strerror or exc}); set METRICS_PORT to a free port, or 0 to serve none") from None
    click.echo(f"Revwatch metrics: http://{cfg.metrics_host}:{cfg.metrics_port}/metrics")
    return server


@main.command()
@click.option("--once", is_flag=True, help="Run every job once, in catalogue order, then exit (cron, tests).")
def worker(once: bool) -> None:
    """Run the collectors on their schedule (WORKER_SCHEDULE) and serve /metrics; SIGTERM or Ctrl-C stops it cleanly.

    Several workers may run against one database: they share the schedule, and each run happens once.
    """
    cfg = _cfg()
    schedule = _schedule_checked(cfg)
    engine = _engine(cfg)
    from collectors.scheduler import Worker
    from revwatch.migrate import upgrade

    upgrade(engine)
    _logging()
    from revwatch import audit

    with engine.begin() as conn:  # a changed configuration is recorded once, a restart with the same adds nothing
        audit.record_settings(conn, cfg)
    with _sources(cfg) as cfg:
        work = Worker(engine, cfg)
        with _stop_on_signals(work.stopping):
            if once:
                _once(work)
            else:
                _scheduled(work, cfg, engine, schedule)


def _once(work) -> None:
    started = time.monotonic()
    results = work.run_once()
    for name, stats in results:
        click.echo(f"{name:24} {stats.outcome:9} read {stats.rows_read:>12,}  written {stats.rows_written:>12,}")
    click.echo(f"done in {time.monotonic() - started:.1f} s")
    failed = [name for name, stats in results if stats.outcome == "failed"]
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)} (errors in job_runs)")


def _scheduled(work, cfg, engine, schedule: dict[str, int]) -> None:
    server = _metrics_server(cfg, engine)
    try:
        work.start()
        every = sorted(set(schedule.values()))
        click.echo(f"worker: {len(schedule)} jobs scheduled, every {', '.join(f'{s} s' for s in every)}"
                   f" (WORKER_SCHEDULE); SIGTERM or Ctrl-C stops it")
        while not work.stopping.wait(1.0):
            pass
        click.echo("worker stopping: no new runs; the current ones finish")
        finished = work.stop()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    if not finished:
        click.echo(f"worker stopped: runs still going after {cfg.worker_shutdown_seconds} s"
                   " (WORKER_SHUTDOWN_SECONDS) were abandoned; their transactions roll back")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # the job threads cannot be interrupted; ending the process rolls their work back
    click.echo("worker stopped")


# ------------------------------------------------------------------ audit
@main.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk the audit chain; exit 1 naming the first altered, deleted or reordered entry."""
    from revwatch import audit as log

    engine = _engine(_cfg())
    with engine.connect() as conn:
        result = log.verify(conn)
    if result.ok:
        click.echo(f"audit log intact: {result.checked} entries")
        return
    click.echo(f"audit log BROKEN at seq {result.first_bad_seq} ({result.problem}): {result.message}"
               f" ({result.checked} entries verified before it)")
    sys.exit(1)


# ------------------------------------------------------------------ dashboard / up
@contextmanager
def _child(proc: subprocess.Popen, timeout: float):
    """A child process for the duration of the block: SIGTERM at the end, SIGKILL if it lingers."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def dashboard_environment(cfg, database_url: str) -> dict[str, str]:
    """The dashboard's environment: its own least-privilege connection when one is configured."""
    env = dict(os.environ, DATABASE_URL=cfg.dashboard_database_url or database_url)
    env.pop("DASHBOARD_DATABASE_URL", None)
    return env


def app_script() -> Path:
    """The dashboard's entry script: the `app` module installed with Revwatch (the wheel's top-level app.py, or
    the checkout's in an editable install), as the import system finds it; its pages are installed beside it."""
    import importlib.util

    spec = importlib.util.find_spec("app")
    if spec is None or spec.origin is None:
        raise click.ClickException("the dashboard (app.py) is not installed: reinstall Revwatch (pip install .)")
    return Path(spec.origin)


def streamlit_flags() -> list[str]:
    """The dashboard's server and theme options, revwatch/streamlit.toml (installed with the package), as
    `streamlit run` flags: Streamlit reads a config.toml only in the current directory's or the script's
    .streamlit/, and the dashboard runs in the user's directory. A list goes as JSON, as Streamlit parses it."""
    import json
    import tomllib
    from importlib.resources import files

    def flags(prefix: str, table: dict[str, object]) -> list[str]:
        found: list[str] = []
        for key, value in table.items():
            if isinstance(value, dict):
                found += flags(f"{prefix}{key}.", value)
            else:
                found.append(f"--{prefix}{key}={json.dumps(value) if isinstance(value, bool | list) else value}")
        return found

    return flags("", tomllib.loads(files("revwatch").joinpath("streamlit.toml").read_text(encoding="utf-8")))


# The dashboard and the worker run in the user's directory: its .streamlit/secrets.toml is the dashboard's, and
# relative paths in the settings mean the same as for this process. -P keeps that directory off their import path,
# where a metrics/ or app.py of the user's would shadow Revwatch's.
def _dashboard_process(cfg, database_url: str) -> subprocess.Popen:
    env = dashboard_environment(cfg, database_url)
    cmd = [
        sys.executable, "-P", "-m", "streamlit", "run", str(app_script()), *streamlit_flags(),
        "--server.port", str(cfg.dashboard_port), "--server.address", cfg.dashboard_host,
    ]
    return subprocess.Popen(cmd, env=env)


def _worker_process(database_url: str) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=database_url)
    return subprocess.Popen([sys.executable, "-P", "-m", "revwatch.cli", "worker"], env=env)


@contextmanager
def _dashboard(cfg, database_url: str):
    """The dashboard as a child process for the duration of the block; Ctrl-C ends both cleanly."""
    proc = _dashboard_process(cfg, database_url)
    click.echo(f"Revwatch dashboard: http://{cfg.dashboard_host}:{cfg.dashboard_port}  (Ctrl-C stops)")
    try:
        with _child(proc, timeout=15):
            yield proc
    except KeyboardInterrupt:
        click.echo("stopping…")


def _serve(cfg, database_url: str) -> None:
    with _dashboard(cfg, database_url) as proc:
        proc.wait()


@main.command()
def dashboard() -> None:
    """Serve the Streamlit dashboard."""
    cfg = _cfg()
    from revwatch.db import product_url

    _serve(cfg, product_url(cfg))


@main.command()
@click.option("--demo/--no-demo", "with_demo", default=True, show_default=True, help="Generate the demo world when the billing database is empty.")
def up(with_demo: bool) -> None:
    """Everything at once: database, migrations, demo world if empty, the worker (collectors on their schedule, /metrics), dashboard."""
    cfg = _cfg()
    _schedule_checked(cfg)
    from revwatch.db import billing_engine, product_url
    from revwatch.migrate import upgrade
    from revwatch.store import billing_is_empty

    url = product_url(cfg)
    engine = _engine(cfg)
    click.echo("database: " + ("DATABASE_URL" if cfg.database_url else f"embedded PostgreSQL in {cfg.pg_data_dir}"))
    upgrade(engine)
    if with_demo and billing_is_empty(billing_engine(cfg)):
        click.echo("billing database is empty: generating the demo world (about a minute)")
        generate_demo(cfg, engine, days=60, sites=40, scale=1.0, seed=7, end=None)
    with _dashboard(cfg, url) as dash, _child(_worker_process(url), timeout=cfg.worker_shutdown_seconds + 15) as work:
        click.echo("the worker runs the collectors on their schedule (all at once on a first start);"
                   " the pages fill in as they finish")
        while dash.poll() is None and work.poll() is None:
            time.sleep(0.5)
        if work.returncode:
            raise click.ClickException(f"the worker stopped (exit code {work.returncode}); stopping the dashboard too")


# ------------------------------------------------------------------ report
@main.group()
def report() -> None:
    """The weekly leadership report."""


@report.command("weekly")
@click.option("--week", default=None, help="ISO week, e.g. 2026-W47; default the last complete week.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory the HTML and PDF are written to.")
@click.option("--send", "send_mail", is_flag=True, help="E-mail it to REPORT_RECIPIENTS (SMTP_* settings).")
def report_weekly(week: str | None, out_dir: Path, send_mail: bool) -> None:
    """Build the week's report (stored as a new build), write weekly-<week>.html/.pdf, optionally e-mail it."""
    from metrics.faces import weekly_report as wr

    week = week or wr.last_complete_week()
    try:
        wr.parse_week(week)
    except ValueError as exc:
        raise click.ClickException(f"--week: {exc}") from None
    cfg = _cfg()
    engine = _engine(cfg)
    report_id = wr.build(engine, week, cfg, built_by=f"cli:{os.environ.get('USER', 'unknown')}")
    built = wr.report(engine, report_id)
    if built is None:
        raise click.ClickException(f"report {report_id} for {week} was built but cannot be read back")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"weekly-{built.iso_week}.html").write_text(built.html, encoding="utf-8")
    (out_dir / f"weekly-{built.iso_week}.pdf").write_bytes(built.pdf)
    click.echo(f"report {built.report_id} for {built.iso_week}: {out_dir / f'weekly-{built.iso_week}'}.html/.pdf")
    if send_mail:
        try:
            to = wr.send(engine, built, cfg)
        except (ValueError, OSError) as exc:
            raise click.ClickException(f"not sent: {exc}") from None
        click.echo(f"e-mailed to {', '.join(to)}")


# ------------------------------------------------------------------ show
SHOW_TOPICS = ("overview", "payments", "declines", "billing", "misbilled", "breaks", "close", "health", "refunds",
               "disputes")


def _date_option(ctx, param, value):
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _month_option(ctx, param, value):
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month (YYYY-MM)") from None


def _currency_option(ctx, param, value):
    if value is None:
        return None
    from revwatch.money import CURRENCY_EXPONENTS

    if value.upper() not in CURRENCY_EXPONENTS:
        raise click.BadParameter(f"unknown currency {value!r}")
    return value.upper()


class _Problem(click.ClickException):
    """A wrong argument, said in one line (`Error: …`, exit 2 as click's usage errors)."""

    exit_code = 2


class _OneLineUsageErrors(click.Command):
    """Usage errors as one line, without the usage text: a script's log keeps the line that matters."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _Problem(exc.format_message()) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _Problem(exc.format_message()) from None


@main.command(cls=_OneLineUsageErrors)
@click.argument("topic", type=click.Choice(SHOW_TOPICS), metavar="TOPIC")
@click.option("--from", "start", callback=_date_option, help="First local day (YYYY-MM-DD); default 30 days before --to.")
@click.option("--to", "end", callback=_date_option, help="Last local day, included (YYYY-MM-DD); default the last day with data.")
@click.option("--site", "sites", multiple=True, help="Site id (repeatable).")
@click.option("--region", "regions", multiple=True, help="Region name (repeatable).")
@click.option("--currency", callback=_currency_option, help="Only rows in this ISO 4217 currency.")
@click.option("--by", help="Another grouping: payments method|brand|site|region|decline_class; refunds "
              "reason|day; disputes currency|reason; close currency|age|reasons|fx_gaps; health source.")
@click.option("--month", callback=_month_option, help="close: accounting month (YYYY-MM).")
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True)
def show(topic, start, end, sites, regions, currency, by, month, fmt) -> None:
    """Print a page's figures (the same metrics/ queries): table for people, csv or json for machines."""
    import psycopg
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from metrics.faces import show as sh

    if start is not None and end is not None and end < start:
        raise click.BadParameter(f"{end} is before --from {start}", param_hint="--to")
    given = {"--from": start, "--to": end, "--site": sites, "--region": regions, "--currency": currency}
    for name in sh.NOT_NARROWED_BY.get(topic, ()):
        if given[name]:
            raise click.BadParameter(f"{topic} cannot be narrowed by {name}", param_hint=name)
    if month is not None and topic != "close":
        raise click.BadParameter(f"--month applies to close only, not {topic}", param_hint="--month")
    if by is not None and by not in sh.GROUPINGS.get(topic, ()):
        choices = ", ".join(sh.GROUPINGS.get(topic, ())) or "none"
        raise click.BadParameter(f"{topic} cannot be grouped by {by!r} (choices: {choices})", param_hint="--by")
    cfg = _cfg()
    options = sh.Options(start=start, end=end, site_ids=tuple(sites), regions=tuple(regions), currency=currency,
                         by=by, month=month, cfg=cfg)
    try:
        rows = sh.TOPICS[topic](_engine(cfg), options)
    except ValueError as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    except OperationalError as exc:  # one line for a script's log, never a traceback
        raise click.ClickException(f"cannot reach the database: {str(exc.orig).splitlines()[0]}") from None
    except ProgrammingError as exc:
        if isinstance(exc.orig, psycopg.errors.UndefinedTable):
            raise click.ClickException("the database has no Revwatch tables yet: run `revwatch db upgrade`") from None
        raise
    if currency and "currency" not in rows.columns:
        raise click.BadParameter(f"{topic}{f' --by {by}' if by else ''} rows have no currency to narrow by",
                                 param_hint="--currency")
    click.echo(sh.render(rows, fmt))


# ------------------------------------------------------------------ bench
@main.command()
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 3650))
@click.option("--sites", default=40, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.001, 1000))
@click.option("--seed", default=7, show_default=True, type=int)
def bench(days: int, sites: int, scale: float, seed: int) -> None:
    """Benchmark (not a test): demo world at a scale, then ingest and rollups timed, rows/s printed.

    Uses the configured database: it REPLACES the billing schema and the product's copies.
    """
    from revwatch.bench import run_benchmark

    cfg = _cfg()
    engine = _engine(cfg)
    from revwatch.migrate import upgrade

    upgrade(engine)
    for line in run_benchmark(cfg, engine, days=days, sites=sites, scale=scale, seed=seed):
        click.echo(line)


if __name__ == "__main__":
    main()
