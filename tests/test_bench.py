"""The benchmark, runnable as `pytest -m bench -s` (excluded from the normal suite: minutes, not seconds).

It prints the figures; it asserts only that the work was complete, never how fast it was.
"""
import pytest

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
