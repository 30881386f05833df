"""A site whose `timezone` is not a zone stops no job for the other sites (issue 15, point 3):
PostgreSQL raises on `AT TIME ZONE 'Mars/Olympus'`, so every job that dates a site's rows reads the
zone through revwatch/rules/site_zones.sql. Each rollup keeps the site's rows under the site, in their
UTC hour, dated by the UTC day (nothing drops out of a total); `classify-billing` marks each of its
sessions `unrated` with the reason. A real zone beside it (Tokyo) is still dated by its own day.
The world: tests/worlds/billing.py's, plus tests/worlds/odd_billing.py's sites MZ and TK."""
from __future__ import annotations

from datetime import date

import pytest

from collectors.jobs import JOBS
from tests.worlds.billing import WANT, H, T, build, judged_rows
from tests.worlds.computed import all_computed
from tests.worlds.odd_billing import BAD_ZONE, add_zone_sites

UTC_DAY, TOKYO_DAY = date(2026, 3, 1), date(2026, 3, 2)
WINDOW = (T - 24 * H, T + 48 * H)
PROBLEM = f'site timezone "{BAD_ZONE}" is not a time zone'


@pytest.fixture(scope="module")
def world(make_world):
    w = build(make_world())
    add_zone_sites(w)
    all_computed(w)
    return w


def _run(world, job):
    stats = JOBS[job].run(world.engine, world.cfg, *WINDOW)
    assert stats.outcome == "succeeded", job
    return stats


def _by_site(world, table: str, count: str) -> dict[str, dict[date, int]]:
    out: dict[str, dict[date, int]] = {}
    for site, day, n in world.sql(f"SELECT site_id, local_date, sum({count})::int FROM {table} GROUP BY 1, 2"):
        out.setdefault(site, {})[day] = n
    return out


@pytest.mark.parametrize(("job", "table", "count"), [
    ("rollup-sessions", "rollup_sessions", "sessions"),
    ("rollup-invoices", "rollup_invoices", "invoices"),
    ("rollup-invoice-outcomes", "rollup_invoice_outcomes", "invoices"),
    ("rollup-payments", "rollup_payments", "attempts"),
])
def test_each_rollup_keeps_the_site_by_the_utc_day_and_the_others_by_theirs(world, job, table, count):
    _run(world, job)
    got = _by_site(world, table, count)
    if job == "rollup-payments":  # the one attempt, on Z1's invoice
        assert got == {"MZ": {UTC_DAY: 1}}
        return
    assert got["MZ"] == {UTC_DAY: 2 if job == "rollup-sessions" else 1}  # Z1 (and Z2's session), by the UTC day
    assert got["TK"] == {TOKYO_DAY: 1}  # K1 entered / was invoiced at 19:00 / 21:00 UTC: the next day in Tokyo
    # every source row is counted once
    source = {"rollup_sessions": "parking_sessions", "rollup_invoices": "invoices",
              "rollup_invoice_outcomes": "invoices"}[table]
    assert sum(sum(d.values()) for d in got.values()) == world.sql(f"SELECT count(*) FROM {source}")[0][0]


def test_classify_marks_the_sessions_unrated_and_judges_every_other_site(world):
    _run(world, "classify-billing")
    cols = ("class", "problem", "billable", "expected_subtotal_minor", "expected_total_minor", "local_date",
            "billed_total_minor", "difference_minor")
    with world.engine.connect() as conn:  # findings, and the sessions counted correct judged again
        found = {sid: tuple(r[c] for c in cols) for sid, r in judged_rows(conn).items()}
    assert found["Z1"] == ("unrated", PROBLEM, True, 600, None, UTC_DAY, 660, None)
    assert found["Z2"] == ("unrated", PROBLEM, True, 600, None, UTC_DAY, 0, None)
    assert found["K1"] == ("correct", None, True, 600, 660, TOKYO_DAY, 660, 0)
    assert {s: (r[0], r[6], r[7]) for s, r in found.items() if s in WANT} == WANT  # site S1 as ever


def test_the_other_payment_rollups_run_too(world):
    for job in ("rollup-refunds", "rollup-disputes"):
        _run(world, job)



def test_the_billing_accuracy_page_and_show_list_the_reason(world, page_for, monkeypatch):
    import json

    from click.testing import CliRunner

    from revwatch.cli import main

    for job in ("rollup-sessions", "rollup-invoices", "classify-billing"):
        _run(world, job)
    at = page_for(world, "pages/billing_accuracy.py")
    listed = next(t.value for t in at.dataframe if "problem" in t.value.columns and "Z1" in set(t.value["session_id"]))
    assert listed.set_index("session_id").loc["Z1", "problem"] == PROBLEM
    drill = at.selectbox(key="drill_session")
    drill.set_value(next(o for o in drill.options if o.startswith("Z1 "))).run()
    assert not at.exception, [e.value for e in at.exception]
    monkeypatch.setenv("DATABASE_URL", world.url)
    out = CliRunner().invoke(main, ["show", "misbilled", "--from", "2026-03-01", "--to", "2026-03-01", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert {r["session_id"]: r["problem"] for r in json.loads(out.output)}["Z2"] == PROBLEM


def test_every_other_job_and_face_that_dates_a_site_day_goes_on(world, page_for):
    """Gateway matching, reconciliation (its revenue days), the Overview (revenue to date, the
    site's hourly invoices) and Trace read the zone the same way: nothing raises on the bad site."""
    for job in ("rollup-sessions", "rollup-invoices", "rollup-payments", "match-gateway-payments", "reconcile"):
        assert JOBS[job].run(world.engine, world.cfg, *WINDOW).outcome == "succeeded", job
    from metrics.figures import overview
    from metrics.figures.query import Filters
    from metrics.figures.trace import trace

    f = Filters(UTC_DAY, TOKYO_DAY)
    assert overview.revenue_to_date(world.engine, f, T + 24 * H)  # every currency's periods, none raised
    assert not overview.hourly_site_invoices(world.engine, f, "MZ").empty  # by UTC hours for the bad zone
    (session,) = world.sql("SELECT session_id FROM parking_sessions WHERE site_id = 'MZ' LIMIT 1")[0]
    assert trace(world.engine, session) is not None
    at = page_for(world, "pages/overview.py")
    assert not at.exception
