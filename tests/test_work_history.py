"""Time to resolution, measured from the audit trail (issue 19): a simulated history of breaks and work items, with
assignments, resolutions by people, by the job and by a rule, and a reopening, gives exactly the median and p90
worked out by hand (nearest rank), per work type and month, per team, week by week, and the last 7 days against
the 7 before."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from metrics.figures import work_history as wh

AS_OF = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
H, D = timedelta(hours=1), timedelta(days=1)
PERSON, RULE = "ana@example.com <idp|ana>", "rule:duplicate_voided@1"


def nov(day: int) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC)


# break id -> its events (offset from its opening, action, actor)
BREAKS = {
    1: (nov(2), [(2 * H, "assigned", PERSON), (D, "resolved", PERSON)]),
    2: (nov(3), [(4 * H, "assigned", PERSON), (3 * D, "resolved", PERSON)]),
    3: (nov(4), [(2 * D, "cleared", "reconcile")]),
    4: (nov(5), [(H, "assigned", PERSON), (5 * D, "resolved", PERSON), (6 * D, "reopened", "reconcile")]),
    5: (nov(6), [(8 * H, "assigned", PERSON), (9 * H, "commented", PERSON)]),  # still open
    6: (nov(20), [(4 * D, "resolved", PERSON)]),
    7: (nov(26), [(2 * D, "written_off", PERSON)]),
}
# over-billed work items, opened 1 December
ITEMS = {"ses_a": [(6 * H, "resolved", RULE)], "ses_b": [(H, "assigned", PERSON), (30 * H, "resolved", PERSON)]}


@pytest.fixture
def world(make_world):
    w = make_world()
    with w.engine.begin() as conn:
        def event(table, column, ref, at, action, actor):
            conn.execute(text(f"INSERT INTO {table} ({column}, at, actor, action) VALUES (:ref, :at, :actor, :action)"),
                         {"ref": ref, "at": at, "actor": actor, "action": action})

        for break_id, (opened, events) in BREAKS.items():
            event("recon_break_events", "break_id", break_id, opened, "opened", "reconcile")
            for offset, action, actor in events:
                event("recon_break_events", "break_id", break_id, opened + offset, action, actor)
        opened = datetime(2026, 12, 1, tzinfo=UTC)
        for key, events in ITEMS.items():
            item = conn.execute(text("""
                INSERT INTO work_items (work_type, source_key, state, currency, amount_minor, customer_minor,
                                        company_minor, occurred_at, opened_at, trace_id, detail, fingerprint)
                VALUES ('over_billed', :k, 'resolved', 'USD', 100, 100, 0, :at, :at, :k, '{}', 'f')
                RETURNING item_id"""), {"k": key, "at": opened}).scalar_one()
            event("work_item_events", "item_id", item, opened, "opened", "work-queue")
            for offset, action, actor in events:
                event("work_item_events", "item_id", item, opened + offset, action, actor)
    return w


def test_median_and_p90_per_type_month_and_team_by_nearest_rank(world):
    with world.engine.connect() as conn:
        r = wh.resolution_report(conn, AS_OF)
    groups = {(g.work_type, g.period): g.stats for g in r.by_type}
    assert set(groups) == {("break", date(2026, 11, 1)), ("over_billed", date(2026, 12, 1))}
    brk = groups[("break", date(2026, 11, 1))]
    # assigned after 1, 2, 4, 8 h; resolved after 1, 2 (written off), 2 (cleared), 3, 4, 5 days
    assert (brk.items, brk.assigned, brk.resolved, brk.reopened, brk.automatic) == (7, 4, 6, 1, 1)
    assert (brk.assign_p50, brk.assign_p90) == (2 * H, 8 * H)
    assert (brk.resolve_p50, brk.resolve_p90) == (2 * D, 5 * D)
    assert brk.reopened_share == pytest.approx(1 / 6) and brk.automatic_share == pytest.approx(1 / 6)
    over = groups[("over_billed", date(2026, 12, 1))]
    assert (over.resolved, over.resolve_p50, over.resolve_p90, over.automatic_share) == (2, 6 * H, 30 * H, 0.5)
    assert (over.assigned, over.assign_p50) == (1, H)
    teams = {(g.team, g.period): g.stats for g in r.by_team}
    assert teams[("billing operations", date(2026, 12, 1))] == over
    assert teams[("finance", date(2026, 11, 1))] == brk


def test_weekly_trend_and_the_last_seven_days_against_the_seven_before(world):
    with world.engine.connect() as conn:
        r = wh.resolution_report(conn, AS_OF)
    assert r.since == datetime(2026, 9, 14, tzinfo=UTC)  # the Monday 11 weeks before this week's
    weeks = {(p.work_type, p.week): p for p in r.trend}
    assert len(r.trend) == 12 * 6 and len({p.week for p in r.trend}) == 12
    late_nov = weeks[("break", date(2026, 11, 23))]  # resolved on the 24th (4 d) and the 28th (2 d)
    assert (late_nov.resolved, late_nov.resolve_p50, late_nov.resolve_p90) == (2, 2 * D, 4 * D)
    assert (weeks[("break", date(2026, 11, 30))].resolved, weeks[("break", date(2026, 11, 30))].resolve_p50) == (0, None)
    assert weeks[("over_billed", date(2026, 11, 30))].resolve_p50 == 6 * H
    change = {c.work_type: c for c in r.change}
    assert (change["over_billed"].resolved, change["over_billed"].median, change["over_billed"].previous_median) == (
        2, 6 * H, None)
    # breaks: 28 Nov (2 d) in the last 7 days; 24 Nov (4 d) in the 7 before
    assert (change["break"].median, change["break"].previous_median) == (2 * D, 4 * D)


def test_only_items_active_in_the_window_are_read(world):
    with world.engine.connect() as conn:
        later = wh.resolution_report(conn, AS_OF + timedelta(weeks=20))
    assert later.by_type == [] and all(p.resolved == 0 for p in later.trend)


def test_show_queue_by_resolution_team_and_trend_prints_the_same_figures(world, pin_clock):
    import json

    from click.testing import CliRunner

    from revwatch.cli import main

    pin_clock(AS_OF)

    def show(*args):
        env = {"DATABASE_URL": world.url, "REVWATCH_DATA_DIR": str(world.cfg.revwatch_data_dir)}
        result = CliRunner(env=env).invoke(main, ["show", "queue", *args, "--format", "json"])
        assert result.exit_code in (0, 4), result.output  # 4: the work queue's jobs have not run in this world
        return json.loads(result.stdout)

    rows = {(r["work_type"], r["month"]): r for r in show("--by", "resolution")}
    brk = rows[("break", "2026-11")]
    assert (brk["resolved"], brk["resolve_p50_hours"], brk["resolve_p90_hours"], brk["assign_p50_hours"]) == (
        6, 48.0, 120.0, 2.0)
    assert (brk["reopened"], brk["resolved_without_a_person"]) == (1, 1)
    teams = {(r["team"], r["month"]): r for r in show("--by", "team")}
    assert teams[("billing operations", "2026-12")]["resolve_p90_hours"] == 30.0
    trend = show("--by", "trend", "--type", "break")
    assert len(trend) == 12 and {r["work_type"] for r in trend} == {"break"}
    assert [r["resolve_p50_hours"] for r in trend if r["week"] == "2026-11-23"] == [48.0]


def test_metrics_serve_the_window_s_distribution_of_time_to_resolve(world, pin_clock):
    from prometheus_client import CollectorRegistry

    from metrics.faces.exporter import register
    from revwatch.settings import load_settings
    from tests.worlds.work_queue import ran

    pin_clock(AS_OF)
    ran(world, AS_OF)  # the work queue known: its families are served
    registry = CollectorRegistry()
    register(registry, world.engine, load_settings(database_url=world.url))

    def bucket(work_type, le):
        return registry.get_sample_value("revwatch_work_resolve_seconds_bucket", {"work_type": work_type, "le": le})

    # first resolved in the 28 days after 4 Nov 12:00: breaks 2 (3 d), 3 (2 d), 4 (5 d), 6 (4 d), 7 (2 d); not 1 (3 Nov)
    assert [bucket("break", le) for le in ("86400.0", "172800.0", "432000.0", "+Inf")] == [0, 2, 5, 5]
    assert registry.get_sample_value("revwatch_work_resolve_seconds_gsum", {"work_type": "break"}) == 16 * 86400
    assert [bucket("over_billed", le) for le in ("3600.0", "14400.0", "86400.0", "172800.0")] == [0, 0, 1, 2]
    assert registry.get_sample_value("revwatch_work_resolve_seconds_gcount", {"work_type": "refund_stuck"}) == 0


def test_the_weekly_report_and_the_page_say_the_same_sentences(world, pin_clock, page_for):
    from metrics.faces.weekly_report import render_html
    from metrics.figures.weekly_report import figures
    from revwatch.settings import load_settings

    pin_clock(AS_OF)
    with world.engine.connect() as conn:
        f = figures(conn, "2026-W48", load_settings(database_url=world.url), AS_OF)
        page_lines = [wh.change_sentence(c) for c in wh.resolution_report(conn, AS_OF).change]
    # the week 23-29 November: breaks 6 (4 d) and 7 (2 d, written off) resolved in it, none the week before
    assert f.resolution == ("Reconciliation break: median time to resolve 2.0 days (2 resolved in the last 7 days),"
                            " none the 7 days before.",)
    assert f.work_queue is None  # the queue's jobs never ran in this world: not known, never "0 open"
    html = render_html(f)
    assert f.resolution[0] in html and "Not computed yet: the work queue" in html
    # the page, as of 2 December: the last 7 days are 25 Nov - 2 Dec
    assert page_lines[0] == ("Reconciliation break: median time to resolve 2.0 days (1 resolved in the last 7 days),"
                             " down from 4.0 days.")
    assert page_lines[2] == ("Over-billed session: median time to resolve 6.0 h (2 resolved in the last 7 days, 1 without"
                             " a person), none the 7 days before.")
    at = page_for(world, "pages/work_queue.py")
    shown = " ".join(m.value for m in at.markdown)
    assert page_lines[0] in shown and page_lines[2] in shown
    table = next(d.value for d in at.dataframe if "Median resolve" in d.value.columns)
    brk = table[table["Type"] == "Reconciliation break"].iloc[0]
    assert (brk["Median resolve"], brk["p90 resolve"], brk["Reopened"], brk["Automatic"]) == (
        "2.0 days", "5.0 days", "17%", "17%")
