"""The `revwatch` command end to end on a real database (in-process through click's runner)."""
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from revwatch.cli import main


@pytest.fixture
def cli(make_world, monkeypatch):
    world = make_world()
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))

    def run(*args):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        return result

    run.world = world
    return run


def test_demo_then_collect_then_backfill(cli):
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    demo = cli("demo", "--days", "7", "--sites", "3", "--scale", "0.05", "--seed", "5", "--end", "2026-11-20 12:00:00")
    assert demo.exit_code == 0, demo.output
    manifest = json.loads((cli.world.cfg.revwatch_data_dir / "demo" / "manifest.json").read_text())
    assert manifest["period"]["end"].startswith("2026-11-20T12:00")

    first = cli("collect")
    assert first.exit_code == 0, first.output
    for job in ("ingest-billing", "rollup-sessions", "rollup-invoices", "rollup-payments"):
        assert job in first.output
    sessions = cli.world.sql("SELECT count(*) FROM billing.parking_sessions")[0][0]
    assert cli.world.sql("SELECT sum(sessions) FROM rollup_sessions")[0][0] == sessions > 0
    # with no gateway configured, a demo world's own Stripe API and Adyen files are read
    gateway_runs = dict(cli.world.sql("SELECT job, outcome FROM job_runs WHERE job IN ('ingest-stripe', 'ingest-adyen')"))
    assert gateway_runs == {"ingest-stripe": "succeeded", "ingest-adyen": "succeeded"}
    assert cli.world.sql("SELECT count(*) FROM stripe_charges")[0][0] == cli.world.sql("SELECT count(*) FROM demo.stripe_charges")[0][0] > 0
    assert cli.world.sql("SELECT count(*) FROM source_files WHERE source = 'adyen'")[0][0] == len(
        list((cli.world.cfg.revwatch_data_dir / "demo" / "adyen").glob("*.csv"))) > 0

    backfill = cli("collect", "rollup-sessions", "--from", "2026-11-18 00:00:00", "--to", "2026-11-20 12:00:00")
    assert backfill.exit_code == 0, backfill.output
    windows = cli.world.sql(
        "SELECT window_start, window_end FROM job_runs WHERE job = 'rollup-sessions' AND window_start >= '2026-11-18'"
        " AND outcome = 'succeeded' ORDER BY run_id DESC LIMIT 3"
    )
    assert sorted(windows) == [
        (datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)),
        (datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)),
        (datetime(2026, 11, 20, tzinfo=UTC), end),
    ]
    assert cli.world.sql("SELECT sum(sessions) FROM rollup_sessions")[0][0] == sessions

    # a new world replaces the old one, and what was copied from the old one goes with it
    assert cli("demo", "--days", "7", "--sites", "2", "--scale", "0.05", "--seed", "6", "--end", "2026-11-20 12:00:00").exit_code == 0
    assert cli.world.sql("SELECT count(*) FROM parking_sessions")[0][0] == 0
    assert cli("collect").exit_code == 0
    assert cli.world.sql("SELECT count(*) FROM parking_sessions")[0][0] == cli.world.sql("SELECT count(*) FROM billing.parking_sessions")[0][0]


def test_collect_rejects_unknown_jobs_and_bad_windows(cli):
    bad = CliRunner().invoke(main, ["collect", "nope"])
    assert bad.exit_code == 2 and "unknown job" in bad.output and "ingest-billing" in bad.output
    backwards = CliRunner().invoke(main, ["collect", "--from", "2026-11-20", "--to", "2026-11-19"])
    assert backwards.exit_code == 2 and "--to must be after --from" in backwards.output
    listing = cli("collect", "--list")
    assert listing.exit_code == 0 and "rollup-payments" in listing.output


def test_a_failing_job_exits_nonzero_with_one_readable_line(cli):
    result = CliRunner().invoke(main, ["collect", "ingest-billing"])  # no billing schema in this database
    assert result.exit_code == 1
    assert "ingest-billing failed" in result.output and "billing" in result.output
    assert cli.world.sql("SELECT outcome FROM job_runs WHERE job = 'ingest-billing'") == [("failed",)]


def _commands(group, path=()):
    """Every command path of the click tree, groups included: ("db",), ("db", "upgrade"), ..."""
    for name, command in group.commands.items():
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_has_help():
    paths = list(_commands(main))
    assert {p[0] for p in paths} == {"audit", "bench", "collect", "dashboard", "db", "demo", "report", "show", "up",
                                     "worker"}
    for path in [(), *paths]:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, (path, result.output)


def test_the_console_script_and_python_m_run_the_same_group():
    """`revwatch` (pyproject's entry point) and `python -m revwatch.cli` (how `up` starts its worker)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "revwatch"
    for cmd in ([str(script), "--help"], [sys.executable, "-P", "-m", "revwatch.cli", "worker", "--help"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
        assert out.startswith("Usage: revwatch "), (cmd, out)
