"""`revwatch show` says what it knows: known, not computed yet (stderr says why, exit EXIT_NOT_COMPUTED, the rows
still printed) or nothing found; `--help` lists the topics; tables fit a 120-column terminal (less important
columns left out and named on stderr, `--wide` prints them all), money under headers without `_minor` and
durations rounded, in `table` format only (csv and json keep every column in minor units and seconds)."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from click.testing import CliRunner

from metrics.faces import show as sh
from metrics.faces import show_format as sf
from metrics.figures import reconciliation as rc
from metrics.figures.readiness import TOPIC_JOBS
from revwatch import clock
from revwatch.cli import main
from revwatch.cli.common import EXIT_NOT_COMPUTED
from revwatch.cli.show import SHOW_TOPICS
from tests.worlds.computed import all_computed


def invoke(world, *args):
    env = {"DATABASE_URL": world.url, "REVWATCH_DATA_DIR": str(world.cfg.revwatch_data_dir)}
    return CliRunner(env=env).invoke(main, ["show", *args])


def _run(world, job: str, at: datetime, rows: int = 0) -> None:
    world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_written)"
              " VALUES (%s, %s, %s, 'succeeded', %s)", (job, at, at + timedelta(seconds=5), rows))


# ---------------------------------------------------------------- three states
def test_not_computed_yet_exits_with_its_code_and_says_why(make_world):
    """A fresh database where billing was ingested but nothing computed: the payments figures are not computed
    yet. The (empty) rows still print on stdout, the reason goes to stderr, the exit code is EXIT_NOT_COMPUTED."""
    world = make_world()
    _run(world, "ingest-billing", clock.now() - timedelta(minutes=5), rows=120)
    for fmt, out in (("json", "[]"), ("csv", None), ("table", sf.NOT_COMPUTED_YET)):
        result = invoke(world, "payments", "--format", fmt)
        assert result.exit_code == EXIT_NOT_COMPUTED == 4, result.output
        assert result.stderr == ("Not computed yet: rollup-payments has not run yet. The figures above may be "
                                 "incomplete until it has.\n")
        if out is not None:
            assert result.stdout == out + "\n"
        else:  # csv: the header only, nothing else on stdout
            assert list(csv.reader(io.StringIO(result.stdout))) == [list(sh.TOPICS["payments"](world.engine, sh.Options()).columns)]
    # health is not a computed figure: exit 0
    assert invoke(world, "health").exit_code == 0
    # a computation that ran before the data arrived does not make it known either
    _run(world, "rollup-payments", clock.now() - timedelta(minutes=10))
    result = invoke(world, "payments")
    assert result.exit_code == EXIT_NOT_COMPUTED
    assert "rollup-payments has not run since the billing data arrived" in result.stderr


def test_nothing_found_only_once_known(make_world):
    world = make_world()
    all_computed(world)
    for topic in SHOW_TOPICS:
        result = invoke(world, topic)
        assert result.exit_code == 0 and "Not computed yet" not in result.stderr, (topic, result.output)
        if topic not in ("health", "overview", "close", "actions"):  # these list every KPI, job, stage or action type
            assert result.stdout == sf.NOTHING_FOUND + "\n", (topic, result.stdout)
        for fmt in ("json", "csv"):
            machine = invoke(world, topic, "--format", fmt)
            assert machine.exit_code == 0 and machine.stderr == ""
            assert sf.NOTHING_FOUND not in machine.stdout
    assert invoke(world, "breaks", "--format", "json").stdout == "[]\n"


def test_rows_of_a_topic_not_computed_yet_still_print(demo_world):
    """The demo world's figures are known; as of a moment before reconcile's first run they are not, and the
    rows the store holds print all the same (exit code and stderr say they may be partial)."""
    (first,) = demo_world.sql("SELECT min(started_at) FROM job_runs WHERE job = 'reconcile'")[0]
    rows = sh.breaks(demo_world.engine, sh.Options(cfg=demo_world.cfg))
    assert len(rows) > 0
    assert sh.state(demo_world.engine, "breaks", sh.Options()).known
    before = sh.state(demo_world.engine, "breaks", sh.Options(as_of=first - timedelta(seconds=1)))
    assert not before.known and "reconcile has not run yet" in before.reasons
    assert sh.state(demo_world.engine, "health", sh.Options()) is None


def test_every_topic_has_a_readiness_topic():
    assert set(sh.READINESS) == set(sh.TOPICS) == set(SHOW_TOPICS)
    assert {t for t in sh.READINESS.values() if t is not None} <= set(TOPIC_JOBS)
    assert sh.READINESS["health"] is None


# ---------------------------------------------------------------- help
def test_help_lists_every_topic_with_one_line_and_the_exit_codes():
    result = CliRunner().invoke(main, ["show", "--help"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for topic, text in SHOW_TOPICS.items():
        assert any(line.split() == [topic, *text.split()] for line in lines), topic
    assert f"{EXIT_NOT_COMPUTED} the figures, not computed yet" in " ".join(result.stdout.split())


# ---------------------------------------------------------------- tables for people
def _table_args(world):
    month = max(rc.months(world.engine)).strftime("%Y-%m")
    for topic in sh.TOPICS:
        for by in (None, *sh.GROUPINGS.get(topic, ())):
            yield [topic, *(["--by", by] if by else []), *(["--month", month] if topic == "close" else [])]


def test_every_table_fits_120_columns_and_wide_shows_every_column(demo_world):
    widest = {}
    for args in _table_args(demo_world):
        result = invoke(demo_world, *args)
        assert result.exit_code == 0, (args, result.output)
        lines = result.stdout.splitlines()
        widest[" ".join(args)] = max(len(line) for line in lines)
        columns = next(csv.reader(io.StringIO(invoke(demo_world, *args, "--format", "csv").stdout)))
        if lines == [sf.NOTHING_FOUND]:
            assert invoke(demo_world, *args, "--format", "json").stdout == "[]\n"
            continue
        if "Left out to fit" in result.stderr:
            left_out = result.stderr.split("columns: ", 1)[1].split(" (--wide")[0].split(", ")
            assert set(left_out) <= set(columns) and "--wide shows them" in result.stderr
            wide = invoke(demo_world, *args, "--wide")
            assert wide.exit_code == 0 and wide.stderr == ""
            assert len(wide.stdout.splitlines()[0].split()) == len(columns)
            assert len(lines[0].split()) == len(columns) - len(left_out)
        else:
            assert len(lines[0].split()) == len(columns), (args, result.stderr)
    assert all(w <= 120 for w in widest.values()), {k: w for k, w in widest.items() if w > 120}
    breaks = invoke(demo_world, "breaks")
    assert "Left out to fit 120 columns: state, item_status" in breaks.stderr  # the least important first


def test_money_headers_lose_minor_only_in_the_table():
    df = pd.DataFrame([{"currency": "USD", "recovered": 2, "recovered_minor": 123456, "amount_minor": -5,
                        "success_rate": -0.00001, "last_duration_seconds": 43.1934}])
    table = sf.table(df).text.splitlines()
    assert table[0].split() == ["currency", "recovered", "recovered_amount", "amount", "success_rate",
                                "last_duration"]
    assert table[2].split() == ["USD", "2", "USD", "1,234.56", "USD", "-0.05", "0.00%", "43", "s"]  # never -0.00%
    assert "_minor" not in table[0]
    # csv and json: the minor units and seconds, under their own names
    assert json.loads(sf.render(df, "json"))[0]["recovered_minor"] == 123456
    assert sf.render(df, "csv").splitlines()[0] == ",".join(df.columns)
    # a column some row of which has no currency stays minor units under its `_minor` name
    mixed = pd.DataFrame([{"currency": None, "amount_minor": 5}, {"currency": "USD", "amount_minor": 7}])
    assert sf.table(mixed).text.splitlines()[0].split() == ["currency", "amount_minor"]


@pytest.mark.parametrize(("seconds", "text"), [
    (0.05, "0.05 s"), (4.25, "4.2 s"), (43.1934, "43 s"), (119.6, "120 s"), (300, "5 min"), (7500, "2 h 5 min"),
    (3 * 86400 + 4 * 3600 + 59, "3 d 4 h")])
def test_durations_rounded_for_people(seconds, text):
    assert sf.duration_text(seconds) == text


def test_health_table_rounds_durations_and_names_instants_in_utc(demo_world):
    result = invoke(demo_world, "health", "--wide")
    head, _, *rows = result.stdout.splitlines()
    assert "last_duration" in head.split() and "last_duration_seconds" not in head
    assert "None" not in result.stdout and "nan" not in result.stdout
    durations = json.loads(invoke(demo_world, "health", "--format", "json").stdout)
    assert any(r["last_duration_seconds"] % 1 for r in durations)  # seconds with fractions in json …
    started = durations[0]["last_started_at"]
    assert f"{datetime.fromisoformat(started).astimezone(UTC):%Y-%m-%d %H:%M} UTC" in rows[0]
    for line in rows:  # … rounded in the table: at most two decimals, then "s"
        for word in line.split():
            if word.replace(".", "").isdigit() and "." in word:
                assert len(word.split(".")[1]) <= 2, line


def test_long_text_is_wrapped_to_fit_never_cut():
    df = pd.DataFrame([{"job": "reconcile", "error": "the bank file " * 30}])
    t = sf.table(df)
    lines = t.text.splitlines()
    assert t.wrapped == ("error",) and t.left_out == () and max(len(line) for line in lines) <= sf.TABLE_WIDTH
    assert len(lines) > 3 and lines[2].startswith("reconcile") and lines[3].startswith(" " * len("reconcile"))
    assert " ".join(" ".join(line.split()) for line in lines[2:]) == "reconcile " + " ".join(("the bank file " * 30).split())
    assert sf.table(df, width=None).wrapped == () and len(sf.table(df, width=None).text.splitlines()) == 3
