"""The benchmark, runnable as `pytest -m bench -s` (excluded from the normal suite: minutes, not seconds).

It prints the figures; it asserts only that the work was complete, never how fast it was.
"""
import pytest

from metrics.faces import exporter_snapshot
from revwatch.cli.bench import run_benchmark


@pytest.mark.bench
def test_benchmark_at_a_million_sessions(make_world):
    world = make_world()
    lines = list(run_benchmark(world.cfg, world.engine, days=60, sites=40, scale=1.0, seed=7))
    print("\n".join(lines))
    sessions = world.sql("SELECT count(*) FROM billing.parking_sessions")[0][0]
    assert sessions > 1_000_000
    assert world.sql("SELECT sum(sessions) FROM rollup_sessions")[0][0] == sessions
    assert "written 0" in next(line for line in lines if line.startswith("reconcile, nothing new"))
    assert sum(line.startswith("show ") for line in lines) >= 10


def test_the_sessions_bench_runs_every_step_on_a_small_world(make_world):
    """`revwatch bench --sessions N` at a size that takes seconds: every step of its table is there and the work
    it times is complete (a smoke test: the figures are for `--sessions 10000000`)."""
    from revwatch.cli.bench_sessions import run_sessions_benchmark

    world = make_world()
    lines = list(run_sessions_benchmark(world.cfg, world.engine, sessions=4000, per_day=2000, sites=4))
    steps = [line.split("  ")[0].strip() for line in lines[2:]]
    for size in ("0.0004 M", "0.004 M"):
        assert f"{size}: first ingest-billing" in steps and f"{size}: first reconcile" in steps
        assert f"{size} cycle, +5 minutes of traffic, first after the load: every billing job" in steps
        assert f"{size} cycle, +5 minutes of traffic: every billing job" in steps
        assert f"{size} cycle, nothing new: every billing job" in steps
    assert any(line.startswith("a cycle of 5 minutes of traffic (the second) at 0.004 M history / at 0.0004 M:") for line in lines)
    assert {"/metrics scrape, nothing kept (read live)", "keep the /metrics figure sections", "/metrics scrape, cold",
            "/metrics scrape, warm"} <= set(steps)
    assert sum(step.startswith("show ") for step in steps) >= 5
    sessions = world.sql("SELECT count(*) FROM billing.parking_sessions")[0][0]
    assert world.sql("SELECT count(*) FROM parking_sessions")[0][0] == sessions >= 4000
    assert world.sql("SELECT count(*) FROM figure_snapshots")[0][0] == len(exporter_snapshot.SECTION_JOBS) == 5
