"""The long-running processes: `revwatch worker` (the collectors on their schedule, the weekly report,
/metrics), `revwatch dashboard` (Streamlit) and `revwatch up` (both as children, stopped together; a worker
that exits non-zero, e.g. its watchdog gave up after the database went away, is started again)."""
from __future__ import annotations

import faulthandler
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import Engine

from revwatch.cli.collect import generate_demo, sources
from revwatch.cli.common import engine, settings
from revwatch.cli.metrics_server import metrics_server
from revwatch.identity import auth_configured, local_mode_refusal
from revwatch.runlog import recorded_run
from revwatch.schedule import AUTO_EXPLAIN_JOB, follow_ups
from revwatch.settings import Settings, SettingsError

if TYPE_CHECKING:
    from collectors.scheduler import ReportJob, Worker


# ------------------------------------------------------------------ worker
def checked_schedule(cfg: Settings) -> dict[str, int]:
    """The configured intervals (revwatch.schedule), a bad WORKER_SCHEDULE a one-line error before anything runs."""
    from revwatch.schedule import intervals

    try:
        return intervals(cfg)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def report_job() -> ReportJob:
    """The weekly report's scheduled job (metrics/actions/weekly_report_job.py, rendered by its face). The
    CLI wires it into the worker: it reads figures, and collectors never import metrics."""
    from metrics.faces import weekly_report

    return weekly_report.run_job


def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "stripe"):  # a line per scheduled run, a line per API request
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def stop_on_signals(stopping: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT (Ctrl-C) set `stopping` instead of killing the process mid-run.

    The handler only writes a byte to a pipe; a thread of its own sets the event. A handler runs on the main thread
    between two bytecodes, maybe while that thread holds the event's lock (inside `stopping.wait()`, or inside the
    `set()` of a first signal when a second comes: Ctrl-C reaches `revwatch up`'s whole group, then up sends
    SIGTERM): setting the event there took that lock again and hung the worker for good."""
    read_end, write_end = os.pipe()

    def relay() -> None:
        if os.read(read_end, 1):  # b"": the block ended without a signal
            stopping.set()

    relaying = threading.Thread(target=relay, name="stop-on-signal", daemon=True)
    relaying.start()
    handlers = {sig: signal.signal(sig, lambda *_: os.write(write_end, b"s")) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        os.close(write_end)
        relaying.join()
        os.close(read_end)


@click.command()
@click.option("--once", is_flag=True, help="Run every job once, in catalogue order, then exit (cron, tests).")
def worker(once: bool) -> None:
    """Run the collectors on their schedule (WORKER_SCHEDULE) and serve /metrics; SIGTERM or Ctrl-C stops it cleanly.

    Several workers may run against one database: they share the schedule, and each run happens once.
    """
    if sys.__stderr__ is not None:  # its supervisor asks where a stop hangs (_child); the process's own stderr
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    cfg = settings()
    schedule = checked_schedule(cfg)
    product = engine(cfg)
    from collectors.runlocks import name_connections
    from collectors.scheduler import Worker
    from revwatch.migrate import upgrade

    name_connections(product, "worker")
    upgrade(product)
    _logging()
    from revwatch import audit

    with product.begin() as conn:  # a changed configuration is recorded once, a restart with the same adds nothing
        audit.record_settings(conn, cfg)
    with sources(cfg) as cfg:
        work = Worker(product, cfg, report_job=report_job(), after_run=after_job(product, cfg))
        with stop_on_signals(work.stopping):
            if once:
                _once(work)
            else:
                run_scheduled(work, cfg, product, schedule)


def after_job(product: Engine, cfg: Settings) -> Callable[[str], None]:
    """The worker's `after_run` (collectors never import metrics, the CLI wires it): the follow-ups
    (revwatch.schedule.FOLLOW_UPS), after the work-queue job the auto-explain rules AUTO_EXPLAIN_RULES enables
    (metrics/actions/auto_explain.py); after any job, the /metrics
    figure sections it feeds are kept (metrics/faces/exporter_snapshot.py), so a scrape reads them in one small read."""
    from metrics.actions import auto_explain
    from metrics.faces import exporter_snapshot

    enabled = follow_ups(cfg)

    def after(job: str) -> None:
        if enabled.get(AUTO_EXPLAIN_JOB) == job:
            explain()
        exporter_snapshot.refresh_after(product, job)

    def explain() -> None:
        """A run of its own in job_runs (Health, /metrics, CollectorFailing): a failure is never only a log line.
        The run it follows succeeded regardless; the rules try again after its next run."""
        try:
            with recorded_run(product, AUTO_EXPLAIN_JOB) as stats, product.begin() as conn:
                explained = auto_explain.apply_enabled(conn, cfg.auto_explain_rules)
                stats.rows_written = sum(explained.values())
            logging.getLogger("revwatch.auto_explain").info("auto-explain rules applied: %s", explained)
        except Exception:
            logging.getLogger("revwatch.auto_explain").exception("auto-explain rules failed; nothing was applied")

    return after


def _once(work: Worker) -> None:
    started = time.monotonic()
    results = work.run_once()
    for name, stats in results:
        click.echo(f"{name:24} {stats.outcome:9} read {stats.rows_read:>12,}  written {stats.rows_written:>12,}")
    click.echo(f"done in {time.monotonic() - started:.1f} s")
    failed = [name for name, stats in results if stats.outcome == "failed"]
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)} (errors in job_runs)")


# `revwatch worker`'s exit code when its watchdog gave up (the schedule stuck, in-place restarts did not help):
# its supervisor (`revwatch up`, systemd's Restart=on-failure) starts it again.
EXIT_STUCK = 3


def run_scheduled(work: Worker, cfg: Settings, product: Engine, schedule: dict[str, int]) -> None:
    """Serve /metrics and run the schedule until `work.stopping` is set; then let the current runs finish.
    When the worker's watchdog gave up (`work.gave_up`), the process ends with EXIT_STUCK."""
    server = metrics_server(cfg, product)
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
    if work.gave_up:
        click.echo(f"worker stuck: {work.gave_up}; exiting (code {EXIT_STUCK}) for its supervisor to start it"
                   " again", err=True)
    elif not finished:
        click.echo(f"worker stopped: runs still going after {cfg.worker_shutdown_seconds} s"
                   " (WORKER_SHUTDOWN_SECONDS) were abandoned; their transactions roll back")
    if work.gave_up or not finished:
        sys.stdout.flush()
        sys.stderr.flush()
        # the job threads cannot be interrupted; ending the process rolls their work back
        os._exit(EXIT_STUCK if work.gave_up else 0)
    click.echo("worker stopped")


# ------------------------------------------------------------------ dashboard / up
@contextmanager
def _child(proc: subprocess.Popen, timeout: float, name: str, dumps_stacks: bool = False) -> Iterator[subprocess.Popen]:
    """A child process for the duration of the block: SIGTERM at the end, SIGKILL if it lingers, said (with its
    threads' stacks first when it `dumps_stacks` on SIGUSR1: where a stop hangs is then in the output)."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                click.echo(f"the {name} did not stop within {timeout:.0f} s; killing it", err=True)
                if dumps_stacks:
                    proc.send_signal(signal.SIGUSR1)
                    time.sleep(1)
                proc.kill()
                proc.wait()


def dashboard_environment(cfg: Settings, database_url: str) -> dict[str, str]:
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


def streamlit_command() -> list[str]:
    """How the dashboard's Streamlit server is started: its command line, every request routed through app.py
    (revwatch/cli/streamlit_server.py)."""
    return [sys.executable, "-P", "-m", "revwatch.cli.streamlit_server"]


def streamlit_flags() -> list[str]:
    """The dashboard's server and theme options, revwatch/streamlit.toml (installed with the package), as
    `streamlit run` flags: Streamlit reads a config.toml only in the current directory's or the script's
    .streamlit/, and the dashboard runs in the user's directory. A list goes as JSON, as Streamlit parses it."""
    import json
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
def secrets_files() -> tuple[Path, ...]:
    """Where Streamlit reads secrets from by default (`secrets.files`): the user's, then the directory's."""
    return Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"


def provider_configured(paths: Sequence[Path] | None = None) -> bool:
    """Whether the dashboard will have an identity provider: a sign-in `[auth]` table (identity.auth_configured)
    in one of Streamlit's secrets files."""
    for path in secrets_files() if paths is None else paths:
        try:
            auth = tomllib.loads(path.read_text(encoding="utf-8")).get("auth")
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if auth_configured(auth):
            return True
    return False


def refuse_open_local_mode(cfg: Settings) -> None:
    """Stop before anything starts when the dashboard would serve the network without sign-in (issue 18)."""
    refusal = local_mode_refusal(cfg.dashboard_host, provider_configured())
    if refusal:
        raise click.ClickException(refusal)


def _dashboard_process(cfg: Settings, database_url: str) -> subprocess.Popen:
    env = dashboard_environment(cfg, database_url)
    cmd = [
        *streamlit_command(), "run", str(app_script()), *streamlit_flags(),
        "--server.port", str(cfg.dashboard_port), "--server.address", cfg.dashboard_host,
    ]
    return subprocess.Popen(cmd, env=env)


def _worker_process(database_url: str) -> subprocess.Popen:
    # unbuffered: the worker's lines reach up's output (a terminal, a pipe, a journal) as they are written,
    # not lost in a buffer when the process ends abruptly
    env = dict(os.environ, DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-P", "-m", "revwatch.cli", "worker"], env=env)


@contextmanager
def _dashboard(cfg: Settings, database_url: str) -> Iterator[subprocess.Popen]:
    """The dashboard as a child process for the duration of the block; Ctrl-C ends both cleanly, and so does
    SIGTERM (a service manager's stop, `docker stop`): by default it would end this process at once and leave
    its children running."""
    proc = _dashboard_process(cfg, database_url)
    click.echo(f"Revwatch dashboard: http://{cfg.dashboard_host}:{cfg.dashboard_port}  (Ctrl-C stops)")
    before = signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: KeyboardInterrupt
    try:
        with _child(proc, timeout=15, name="dashboard"):
            yield proc
    except KeyboardInterrupt:
        click.echo("stopping…")
    finally:
        signal.signal(signal.SIGTERM, before)


@click.command()
def dashboard() -> None:
    """Serve the Streamlit dashboard."""
    cfg = settings()
    refuse_open_local_mode(cfg)
    from revwatch.db import product_url

    with _dashboard(cfg, product_url(cfg)) as proc:
        proc.wait()


@click.command()
@click.option("--demo/--no-demo", "with_demo", default=True, show_default=True, help="Generate the demo world when the billing database is empty.")
def up(with_demo: bool) -> None:
    """Everything at once: database, migrations, demo world if empty, the worker (collectors on their schedule, /metrics), dashboard."""
    cfg = settings()
    refuse_open_local_mode(cfg)
    checked_schedule(cfg)
    from revwatch.db import billing_engine, product_url
    from revwatch.migrate import upgrade
    from revwatch.store import billing_is_empty

    url = product_url(cfg)
    product = engine(cfg)
    click.echo("database: " + ("DATABASE_URL" if cfg.database_url else f"embedded PostgreSQL in {cfg.pg_data_dir}"))
    upgrade(product)
    if with_demo and billing_is_empty(billing_engine(cfg)):
        click.echo("billing database is empty: generating the demo world (about a minute)")
        generate_demo(cfg, product, days=60, sites=40, scale=1.0, seed=7, end=None)
    with _dashboard(cfg, url) as dash:
        click.echo("the worker runs the collectors on their schedule (all at once on a first start);"
                   " the pages fill in as they finish")
        keep_running(lambda: _worker_process(url), lambda: dash.poll() is None, cfg.worker_shutdown_seconds + 15)


# A worker that fails is started again after RESTART_PAUSES[n] s for its n-th failure in a row (the last
# pause repeats); a worker that ran STEADY_SECONDS before failing starts the count over.
RESTART_PAUSES = (1, 2, 5, 10, 30, 60)
STEADY_SECONDS = 300


def keep_running(start: Callable[[], subprocess.Popen], wanted: Callable[[], bool], stop_timeout: float,
                 pauses: tuple[float, ...] = RESTART_PAUSES) -> int:
    """Run the process `start` makes while `wanted()`; each time it exits non-zero (its watchdog gave up, a
    crash, a database not back yet, a kill) start it again after a growing pause. Returns how many restarts;
    the process's exit code 0 (stopped on purpose) ends the watch."""
    restarts = failures = 0
    while wanted():
        began = time.monotonic()
        with _child(start(), timeout=stop_timeout, name="worker", dumps_stacks=True) as proc:
            while wanted() and proc.poll() is None:
                time.sleep(0.5)
        if proc.returncode == 0 or not wanted():
            break
        failures = 1 if time.monotonic() - began > STEADY_SECONDS else failures + 1
        pause = pauses[min(failures, len(pauses)) - 1]
        click.echo(f"the worker stopped (exit code {proc.returncode}); starting it again in {pause} s", err=True)
        deadline = time.monotonic() + pause
        while wanted() and time.monotonic() < deadline:
            time.sleep(0.2)
        restarts += 1
    return restarts
