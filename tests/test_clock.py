"""revwatch.clock: the one place "now" is asked. A pin and REVWATCH_NOW set it, child processes
continue the same clock, and no product SQL asks the server for the time instead."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from revwatch import clock

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("revwatch", "collectors", "metrics", "pages", "demoworld", "app.py")
# the server's own clock, in SQL (a Python call such as clock.now() is not `now()` on its own)
SERVER_CLOCK = re.compile(r"(?<![.\w])(?<!def )now\(\)|\bcurrent_(?:date|time|timestamp)\b|\blocaltimestamp\b"
                          r"|\b(?:clock|statement|transaction)_timestamp\s*\(|\b(?-i:LOCALTIME)\b", re.IGNORECASE)


def test_parse_instant_accepts_iso_instants_and_dates():
    want = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    assert clock.parse_instant("2026-11-01T00:30:00Z") == want
    assert clock.parse_instant("2026-11-01 00:30") == want  # naive means UTC
    assert clock.parse_instant("2026-10-31T17:30:00-07:00") == want
    assert clock.parse_instant("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 instant"):
        clock.parse_instant("yesterday")


def test_a_pin_stops_the_clock_and_comes_back():
    at = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    before = clock.now()
    with clock.pinned(at):
        assert clock.now() == at and clock.is_set()
        assert clock.today() == date(2027, 1, 1)
        assert clock.today("America/Los_Angeles") == date(2026, 12, 31)  # still New Year's Eve there
        with clock.pinned(at + timedelta(hours=1)):
            assert clock.now() == at + timedelta(hours=1)
        assert clock.now() == at
    assert clock.now() >= before
    with pytest.raises(ValueError, match="aware"), clock.pinned(datetime(2027, 1, 1)):  # noqa: DTZ001 (refused)
        pass


def test_a_pin_given_in_another_zone_reads_as_utc():
    with clock.pinned(datetime(2026, 11, 1, 1, 30, tzinfo=timezone(timedelta(hours=-8)))):
        assert clock.now() == datetime(2026, 11, 1, 9, 30, tzinfo=UTC) and clock.now().tzinfo == UTC


def test_revwatch_now_sets_the_process_clock():
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVWATCH_NOW")}
    env["REVWATCH_NOW"] = "2026-11-30T23:30:00Z"
    out = subprocess.run([sys.executable, "-c", "from revwatch import clock; print(clock.now().isoformat(), clock.is_set())"],
                         env=env, capture_output=True, text=True, check=True, timeout=60)
    now, is_set = out.stdout.split()
    start = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert start <= datetime.fromisoformat(now) < start + timedelta(seconds=60) and is_set == "True"


def test_a_child_process_continues_the_clock_rather_than_starting_it_over():
    """The worker and dashboard that `revwatch up` starts read the clock of the command that started them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVWATCH_NOW")}
    env["REVWATCH_NOW"] = "2027-01-01T00:30:00Z"
    script = ("import subprocess, sys, time\nfrom revwatch import clock\nclock.now()\ntime.sleep(2)\n"
              "out = subprocess.run([sys.executable, '-c', 'from revwatch import clock; print(clock.now().isoformat())'],"
              " capture_output=True, text=True, check=True)\nprint(out.stdout.strip())")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, timeout=60)
    grandchild = datetime.fromisoformat(out.stdout.strip())
    start = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    assert start + timedelta(seconds=2) <= grandchild < start + timedelta(seconds=60)


def test_a_bad_revwatch_now_is_refused_with_its_value():
    env = {**os.environ, "REVWATCH_NOW": "soon"}
    env.pop("REVWATCH_NOW_SINCE", None)
    out = subprocess.run([sys.executable, "-c", "import revwatch.clock"], env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode != 0 and "REVWATCH_NOW='soon' is not an ISO 8601 instant" in out.stderr


def _checked_files() -> list[Path]:
    """The product's code and the tests' (this file quotes what it looks for)."""
    files: list[Path] = []
    for name in (*PRODUCT, "tests"):
        path = ROOT / name
        files += [path] if path.is_file() else [*path.rglob("*.py"), *path.rglob("*.sql")]
    return [f for f in files if "migrations/versions" not in f.as_posix() and f.name not in ("clock.py", "test_clock.py")]


def test_no_query_asks_the_server_for_the_time():
    """Record stamps, windows and ages get `:now` / `:as_of` from revwatch.clock, and the tests' rows their
    times from the clock or their world (server defaults in the migrations stay as a fallback for rows
    written by hand)."""
    found = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}" for f in _checked_files()
             for n, line in enumerate(f.read_text().splitlines(), 1) if SERVER_CLOCK.search(line)]
    assert not found, "\n".join(found)


def test_the_guard_sees_what_it_guards_against():
    assert SERVER_CLOCK.search("WHERE at > now() - interval '1 day'")
    assert SERVER_CLOCK.search("SELECT CURRENT_DATE") and SERVER_CLOCK.search("finished_at = clock_timestamp()")
    assert SERVER_CLOCK.search("SELECT LOCALTIME")
    assert not SERVER_CLOCK.search("at = clock.now()") and not SERVER_CLOCK.search("CAST(:now AS timestamptz)")
    assert not SERVER_CLOCK.search("from demoworld.localtime import local_day")
    assert len(_checked_files()) > 100
