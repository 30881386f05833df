"""The weekly leadership report on the shared demo world: figures equal the metric queries,
the PDF and HTML carry them, builds keep their history, the e-mail arrives, the CLI and the page.

Its layers are tested where they live: the figures (metrics/figures/weekly_report.py), building,
reading back and sending (metrics/actions/weekly_report.py, the job weekly_report_job.py) and the
rendering (metrics/faces/weekly_report.py, whose `build` the callers use)."""
from __future__ import annotations

import contextlib
import email
import html
import io
import json
import socket
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from metrics.actions import weekly_report as reports
from metrics.faces import weekly_report as wr
from metrics.figures import billing_accuracy, overview, payments, reconciliation
from metrics.figures import weekly_report as wf
from metrics.figures.query import Filters
from revwatch.money import chart_amount, format_money
from tests.worlds.demo import q


def _week(world) -> str:
    """The first ISO week lying wholly inside the demo world's period."""
    start = datetime.fromisoformat(world.manifest["period"]["start"]).date() + timedelta(days=1)
    monday = start + timedelta(days=(7 - start.weekday()) % 7)
    end = datetime.fromisoformat(world.manifest["period"]["end"]).date()
    assert monday + timedelta(days=6) < end, "the demo world holds no whole week"
    return wf.week_of(monday)


@pytest.fixture(scope="module")
def week(demo_world) -> str:
    return _week(demo_world)


@pytest.fixture(scope="module")
def built(demo_world, week):
    """Two builds of the same week (history): their ids."""
    first = wr.build(demo_world.engine, week, demo_world.cfg, built_by="test")
    second = wr.build(demo_world.engine, week, demo_world.cfg, built_by="test-again")
    return first, second


def test_week_parsing():
    assert wf.parse_week("2026-W47") == date(2026, 11, 16)
    assert wf.last_complete_week(date(2026, 11, 27)) == "2026-W47"
    for bad in ("2026-47", "2026-W60", "W47", "", "2026-W4"):
        with pytest.raises(ValueError, match="is not an ISO week like 2026-W47"):
            wf.parse_week(bad)


@pytest.mark.dates  # the week wholly inside a world that ends at the clock's hour
def test_figures_equal_the_metric_queries(demo_world, week):
    f = reports.figures(demo_world.engine, week, demo_world.cfg)
    start = wf.parse_week(week)
    flt = Filters(start, start + timedelta(days=6))
    with demo_world.engine.connect() as db:
        daily = overview.daily_revenue(db, flt)
        per_cur = {c: int(v) for c, v in daily.groupby("currency")["total_minor"].sum().items()}
        head = payments.headline(db, flt)
        acc = billing_accuracy.accuracy(db, flt, by="site_id")
        lo = billing_accuracy.leakage_overcharge(db, flt, by="site_id")
        totals = billing_accuracy.accuracy_totals(db, flt)
        brk = reconciliation.breaks(db, reconciliation.BreakFilters(states=("open",), limit=wf.TOP_BREAKS),
                                    demo_world.cfg.reporting_currency)
    assert per_cur and {r.currency: r.total_minor for r in f.revenue if r.total_minor} == per_cur
    assert f.success_rate == head.success_rate and f.attempts == head.attempts > 0
    assert f.recovered_minor == head.recovered_minor
    assert (f.billable, f.correct) == (int(acc["billable"].sum()), int(acc["correct"].sum()))
    assert f.billable > 0 and f.accuracy == billing_accuracy.overall_accuracy(totals) == f.correct / f.billable
    assert f.leakage_minor == {t.currency: t.leakage_minor for t in totals if t.currency}
    assert f.leakage_minor == {c: int(v) for c, v in lo.groupby("currency")["leakage_minor"].sum().items()}
    assert f.overcharge_minor == {c: int(v) for c, v in lo.groupby("currency")["overcharge_minor"].sum().items()}
    assert [b["break_id"] for b in f.open_breaks] == [int(x) for x in brk["break_id"]]
    assert f.open_breaks_total >= len(f.open_breaks) > 0
    # conversion: each currency with its rate, the total their sum
    for r in f.revenue:
        if r.rate is not None:
            assert r.reporting_minor == reconciliation.to_reporting(r.total_minor, r.currency, r.rate,
                                                                    demo_world.cfg.reporting_currency)
    if f.revenue_reporting_minor is not None:
        assert f.revenue_reporting_minor == sum(r.reporting_minor for r in f.revenue)
    assert f.alerts is None and "ALERTMANAGER_URL" in f.alerts_note  # degrades without alerting
    assert f.to_json()["iso_week"] == week


def _squash(s: str) -> str:
    return "".join(s.split())


def test_pdf_and_html_carry_the_headline_figures(demo_world, week, built):
    from pypdf import PdfReader

    rep = reports.report(demo_world.engine, built[1])
    f = reports.figures(demo_world.engine, week, demo_world.cfg)
    assert rep.html.count('src="data:image/png;base64,iVBORw0KGgo') == 2  # PNG magic, base64
    reader = PdfReader(io.BytesIO(rep.pdf))
    assert len(reader.pages) >= 1
    pdf_text = "".join("".join(p.extract_text() for p in reader.pages).split())  # text extraction drops some spaces
    for r in f.revenue:
        if r.total_minor:
            assert _squash(format_money(r.total_minor, r.currency)) in pdf_text
            assert format_money(r.total_minor, r.currency) in rep.html
    assert f"{f.success_rate:.2%}" in pdf_text
    assert f"{f.accuracy:.2%}" in pdf_text and f"{f.correct:,} of {f.billable:,} billable sessions" in rep.html
    assert _squash(format_money(f.revenue_reporting_minor, f.reporting_currency)) in pdf_text
    assert week in pdf_text
    assert rep.figures["revenue"] == f.to_json()["revenue"]


def test_history_newest_build_is_current(demo_world, week, built):
    first, second = built
    hist = reports.history(demo_world.engine, week)
    assert {first, second} <= set(hist["report_id"])
    assert next(iter(hist["report_id"])) == second
    assert reports.current(demo_world.engine, week).report_id == second


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_email_arrives_with_the_pdf(demo_world, built):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = demo_world.cfg.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port,
                                                "report_recipients": "ceo@example.com, cfo@example.com"})
        rep = reports.report(demo_world.engine, built[0])
        assert reports.send(demo_world.engine, rep, cfg) == ["ceo@example.com", "cfo@example.com"]
    finally:
        controller.stop()
    assert len(received) == 1 and sorted(received[0].rcpt_tos) == ["ceo@example.com", "cfo@example.com"]
    msg = email.message_from_bytes(received[0].content, policy=email.policy.default)
    pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_content() == rep.pdf
    assert msg.get_body(("html",)).get_content().startswith("<!doctype html>")
    again = reports.report(demo_world.engine, built[0])
    assert again.emailed_to == "ceo@example.com, cfo@example.com" and again.emailed_at is not None


def test_cli_bad_week_is_one_line(monkeypatch):
    from revwatch.cli import main

    result = CliRunner().invoke(main, ["report", "weekly", "--week", "2026-47"])
    assert result.exit_code != 0
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "2026-47" in lines[0] and "ISO week" in lines[0]


def test_cli_writes_the_files_and_stores_a_build(demo_world, week, tmp_path, monkeypatch):
    from revwatch.cli import main

    monkeypatch.setenv("DATABASE_URL", demo_world.url)
    before = len(reports.history(demo_world.engine, week))
    result = CliRunner().invoke(main, ["report", "weekly", "--week", week, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"weekly-{week}.pdf").read_bytes().startswith(b"%PDF")
    assert "data:image/png" in (tmp_path / f"weekly-{week}.html").read_text()
    assert len(reports.history(demo_world.engine, week)) == before + 1


def test_reports_page_renders_a_built_report(demo_world, week, built, page_for):
    at = page_for(demo_world, "pages/reports.py")
    assert not at.exception
    assert at.selectbox(key="report_week").value == week or week in at.selectbox(key="report_week").options
    at.selectbox(key="report_week").set_value(week).run()
    assert not at.exception
    assert any("report_id" in str(df.value.columns.tolist()) or len(df.value) >= 2 for df in at.dataframe)
    at.button(key="report_build").click().run()  # built by the person using the page (local mode: the OS user)
    assert not at.exception
    from revwatch.identity import local_identity
    assert reports.current(demo_world.engine, week).built_by == local_identity().actor


def test_worker_schedules_the_report_monday_0700_in_report_timezone(make_world):
    from zoneinfo import ZoneInfo

    from collectors.jobs import Job
    from collectors.scheduler import REQUESTS_JOB, Worker
    from revwatch.runlog import RunStats
    from revwatch.schedule import REPORT_JOB

    world = make_world()
    cfg = world.cfg.model_copy(update={"report_timezone": "Europe/Amsterdam", "worker_schedule": "tick=3600"})
    jobs = {"tick": Job("tick", "compute", "does nothing", lambda engine, cfg, start, end: RunStats())}
    worker = Worker(world.engine, cfg, jobs, report_job=wr.run_job)  # as the CLI wires it
    worker.start()
    try:
        nxt = worker.next_run_times()[REPORT_JOB].astimezone(ZoneInfo("Europe/Amsterdam"))
        assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 7, 0)
        assert sorted(world.sql("SELECT id FROM apscheduler_jobs")) == [(REQUESTS_JOB,), ("tick",), (REPORT_JOB,)]
    finally:
        worker.stop(10)
    plain = Worker(world.engine, cfg, jobs)  # a test's own catalogue: no report job unless asked
    assert plain.report_job is None


def test_scheduled_build_once_per_week(demo_world, week):
    from metrics.actions import weekly_report_job as job
    from revwatch.schedule import REPORT_JOB

    monday_after = wf.parse_week(week) + timedelta(days=7)
    now = datetime(monday_after.year, monday_after.month, monday_after.day, 7, tzinfo=UTC)
    assert job.JOB == REPORT_JOB == "weekly-report"
    first = wr.run_job(demo_world.engine, demo_world.cfg, now=now)  # the job with the face's rendering
    assert first.outcome == "succeeded" and reports.current(demo_world.engine, week).built_by == job.BUILT_BY
    again = job.run(demo_world.engine, demo_world.cfg, now=now, render=wr.render)
    assert again.outcome == "skipped"


# ---------------------------------------------------------------- one report, the same numbers as `revwatch show`
@pytest.fixture
def show(demo_world, monkeypatch):
    """`revwatch show TOPIC ARGS --format json` in-process on the demo world, as rows."""
    from revwatch.cli import main

    monkeypatch.setenv("DATABASE_URL", demo_world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(demo_world.cfg.revwatch_data_dir))

    def run(topic: str, *args: str) -> list[dict]:
        result = CliRunner().invoke(main, ["show", topic, *args, "--format", "json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    return run


def _as_of(world) -> datetime:
    """The demo world's AS_OF: the instant its collection finished (its data ends at the hour before)."""
    ((at,),) = q(world.libpq, "SELECT max(finished_at) FROM job_runs")
    assert at >= datetime.fromisoformat(world.manifest["period"]["end"])
    return at


def _oldest_open_age(world, month: date) -> int:
    c = reconciliation.close_readiness(world.engine, month, world.cfg)
    assert c.oldest_open_age_days is not None, "the demo world's month has open breaks"
    return c.oldest_open_age_days


@pytest.mark.dates  # the last complete week as of the world's end: month and year ends, ISO week 53
def test_report_equals_show_for_the_same_week(demo_world, show, pin_clock, monkeypatch):
    """Every figure of the last complete week's report is what `revwatch show` gives for that week,
    the month-close checks (count and list) included, and the rendered report prints those figures.

    The close is judged at one moment on both faces (now: ages and break states are today's); a report
    that judged it at the week's end dropped the check an old break fails when the break crossed
    close_max_break_age_days after the week (the user's "6 checks" against show's 7). A limit one day
    under the oldest open break's age makes that check one of the reasons here."""
    pin_clock(_as_of(demo_world))
    week = wf.last_complete_week()
    start, end = wf.parse_week(week), wf.parse_week(week) + timedelta(days=6)
    month = reconciliation.month_start(end)
    limit = _oldest_open_age(demo_world, month) - 1
    assert limit >= 0
    monkeypatch.setenv("CLOSE_MAX_BREAK_AGE_DAYS", str(limit))
    cfg = demo_world.cfg.model_copy(update={"close_max_break_age_days": limit})
    f = reports.figures(demo_world.engine, week, cfg)
    span = ("--from", str(start), "--to", str(end))

    # the month close: verdict, every check missed (count and list), the money unreconciled
    reasons = show("close", "--month", f"{month:%Y-%m}", "--by", "reasons")
    assert list(f.close_reasons) == [r["text"] for r in reasons]
    assert "close_max_break_age_days" in {r["check"] for r in reasons}
    shares = show("close", "--month", f"{month:%Y-%m}")
    assert {(r["ready"], r["reasons"]) for r in shares} == {(f.close_ready, len(f.close_reasons))}
    assert {(r["stage"], r["currency"]): (r["items"], r["matched_items"]) for r in shares} == {
        (s["stage"], s["currency"]): (s["items"], s["matched"]) for s in f.recon_stages}
    unreconciled = show("close", "--month", f"{month:%Y-%m}", "--by", "currency")
    assert f.unreconciled_reporting_minor == sum(r["reporting_minor"] for r in unreconciled)

    # open breaks: the report's biggest are show's first rows, its count show's rows, its ages show's
    listed = show("breaks")
    assert f.open_breaks_total == len(listed)
    fields = ("break_id", "stage", "break_type", "currency", "at_stake_minor", "at_stake_reporting_minor", "age_days")
    assert [{k: b[k] for k in fields} for b in f.open_breaks] == [{k: r[k] for k in fields} for r in listed[:wf.TOP_BREAKS]]
    by_id = {r["break_id"]: r for r in listed}
    opened = [b for b in f.week_breaks if b["state"] == "open"]
    assert opened and all({k: b[k] for k in fields} == {k: by_id[b["break_id"]][k] for k in fields} for b in opened)

    # payments: the Overview's KPIs and the Payments rows over the same days
    kpis = {r["kpi"]: r for r in show("overview", *span)}
    rate = kpis["success_rate"]
    assert (rate["value"], rate["numerator"], rate["denominator"]) == (f.success_rate, f.succeeded, f.attempts)
    assert rate["previous"] == (f.previous_success_rate if f.previous_complete else None)
    assert kpis["payment_attempts"]["value"] == f.attempts
    rows = show("payments", *span)
    assert (sum(r["attempts"] for r in rows), sum(r["succeeded"] for r in rows)) == (f.attempts, f.succeeded)
    assert sum(r["recovered"] for r in rows) == f.recovered
    recovered: dict[str, int] = {}
    daily: dict[str, list[int]] = {}
    for r in rows:
        recovered[r["currency"]] = recovered.get(r["currency"], 0) + r["recovered_minor"]
        day = daily.setdefault(r["local_date"], [0, 0])
        day[0] += r["attempts"]
        day[1] += r["succeeded"]
    assert {c: v for c, v in recovered.items() if v} == f.recovered_minor
    assert {k: tuple(v) for k, v in daily.items() if v[0]} == {str(d): (a, s) for d, a, s in f.daily_success}

    # billing accuracy and disputes, per currency
    billing = [r for r in show("billing", *span) if r["class"] == "all"]
    assert (sum(r["billable"] for r in billing), sum(r["correct"] for r in billing)) == (f.billable, f.correct)
    assert {r["currency"]: r["leakage_minor"] for r in billing} == f.leakage_minor
    assert {r["currency"]: r["overcharge_minor"] for r in billing} == f.overcharge_minor
    keys = ("currency", "disputes", "amount_minor", "won", "lost", "open")
    assert [{k: r[k] for k in keys} for r in show("disputes", "--by", "currency", *span)] == list(f.disputes)

    # revenue has no `show` topic over a range: the report's is the Overview's daily revenue figure
    daily_revenue = overview.daily_revenue(demo_world.engine, Filters(start, end))
    assert {r.currency: r.total_minor for r in f.revenue if r.total_minor} == {
        c: int(v) for c, v in daily_revenue.groupby("currency")["total_minor"].sum().items()}

    # the week's worst payment windows: the Payments page's functions, each costed
    eps = payments.episodes(payments.worst_hours(demo_world.engine, Filters(start, end)))
    assert f.failure_windows_total == len(eps)
    assert [(w.gateway, w.start, w.end, w.failed) for w in f.failure_windows] == [
        (e.gateway, e.start, e.end, e.failed) for e in eps[:wf.WORST_WINDOWS]]
    for w in f.failure_windows:
        cost = payments.failed_cost(demo_world.engine, Filters(start, end), w.start, w.end, w.gateway)
        assert {c.currency: (c.failed_minor, c.recovered_minor, c.unpaid_minor) for c in w.cost} == {
            r.currency: (int(r.failed_minor), int(r.recovered_minor), int(r.unpaid_minor)) for r in cost.itertuples()}

    # what the report prints: those very figures, money in major units with its currency
    page = wr.render_html(f)
    text = html.unescape(page)
    assert f"not ready: {len(f.close_reasons)} check(s) missed" in text and not f.close_ready
    assert all(r in text for r in f.close_reasons)
    assert f"{f.success_rate:.2%}" in text and f"{f.succeeded:,} of {f.attempts:,} attempts" in text
    assert f"{f.correct:,} of {f.billable:,} billable sessions" in text
    for b in f.open_breaks + f.week_breaks[:wr.WEEK_BREAKS_SHOWN]:
        assert f"#{b['break_id']}" in text and format_money(b["at_stake_minor"], b["currency"]) in text
    assert (f"The first {wf.TOP_BREAKS} of {f.open_breaks_total} open breaks" if f.open_breaks_total > wf.TOP_BREAKS
            else f"Every one listed ({f.open_breaks_total})") in text  # complete, or says how much is left out
    for w in f.failure_windows:
        for c in w.cost:
            assert format_money(c.unpaid_minor, c.currency) in text
    assert "minor units" not in text and "-0.0%" not in text


@pytest.mark.dates
def test_incidents_are_the_weeks_breaks(demo_world, pin_clock):
    """A break is an incident of the week its item occurred in, or the week it was opened (detected) in:
    one 31 days old is not, one moved into the week is. Changes are rolled back: the world is shared."""
    pin_clock(_as_of(demo_world))
    week = wf.last_complete_week()
    lo = wf.week_open(week)
    with demo_world.engine.connect() as conn:
        before = reports.figures(conn, week, demo_world.cfg)
        ids = {b["break_id"] for b in before.week_breaks}
        assert ids, "the demo world has breaks in its last complete week"
        assert all(lo <= b["occurred_at"] < wf.week_close(week) or lo <= b["opened_at"] < wf.week_close(week)
                   for b in before.week_breaks)
        old = before.week_breaks[0]["break_id"]
        month_ago = lo - timedelta(days=31)

        def move(break_id: int, t: datetime) -> None:  # its item occurred, and it was opened, at t
            conn.execute(text("""UPDATE recon_items i SET occurred_at = :t FROM recon_breaks b
                                 WHERE b.break_id = :id AND i.stage = b.stage AND i.item_key = b.item_key"""),
                         {"t": t, "id": break_id})
            conn.execute(text("UPDATE recon_breaks SET opened_at = :t WHERE break_id = :id"), {"t": t, "id": break_id})

        outside = [int(x) for (x,) in conn.execute(text(
            "SELECT break_id FROM recon_breaks WHERE NOT (break_id = ANY(:ids)) ORDER BY break_id"), {"ids": list(ids)})]
        if outside:
            new = outside[0]
        else:  # on some weekdays every break of the small world is the week's: one is moved out first
            assert len(ids) > 1, "the demo world has two breaks in its last complete week"
            new = max(ids - {old})
            move(new, month_ago)
            ids -= {new}
        move(old, month_ago)
        conn.execute(text("UPDATE recon_breaks SET opened_at = :t WHERE break_id = :id"),
                     {"t": lo + timedelta(days=2), "id": new})
        after = reports.figures(conn, week, demo_world.cfg)
        conn.rollback()
    moved = {b["break_id"]: b for b in after.week_breaks}
    assert old not in moved
    assert new in moved and moved[new]["at_stake_minor"] > 0
    assert set(moved) == ids - {old} | {new}


class _Alertmanager:
    """A stand-in for Alertmanager's API v2 `GET /api/v2/alerts` answering `alerts`."""

    def __init__(self, alerts: list[dict]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = json.dumps(alerts).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path.startswith("/api/v2/alerts") else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _alert(name: str, starts: datetime, ends: datetime, summary: str = "") -> dict:
    iso = "%Y-%m-%dT%H:%M:%S.000Z"
    return {"labels": {"alertname": name, "severity": "page"}, "annotations": {"summary": summary},
            "startsAt": starts.strftime(iso), "endsAt": ends.strftime(iso), "updatedAt": starts.strftime(iso),
            "fingerprint": name, "receivers": [{"name": "pager"}], "status": {"state": "active"}}


def test_alerts_of_the_week_or_why_there_are_none(demo_world, pin_clock):
    pin_clock(_as_of(demo_world))
    week = wf.last_complete_week()
    lo, hi = wf.week_open(week), wf.week_close(week)
    assert reports.week_alerts(demo_world.cfg, week) == wf.NO_ALERTS  # not configured: said, not silently empty
    assert "ALERTMANAGER_URL" in wf.NO_ALERTS.note and wf.NO_ALERTS.lines is None
    refused = reports.week_alerts(demo_world.cfg.model_copy(update={"alertmanager_url": f"http://127.0.0.1:{_free_port()}"}), week)
    assert refused.lines is None and "unreachable" in refused.note
    am = _Alertmanager([_alert("InWeek", lo + timedelta(days=2), hi + timedelta(days=30), "payouts missing"),
                        _alert("Before", lo - timedelta(days=3), lo - timedelta(days=2)),
                        _alert("StillFiring", lo - timedelta(days=1), hi + timedelta(days=30)),
                        _alert("After", hi + timedelta(hours=1), hi + timedelta(days=30)),
                        _alert("Resolved", lo + timedelta(days=1), lo + timedelta(days=1, hours=2))])
    try:
        got = reports.week_alerts(demo_world.cfg.model_copy(update={"alertmanager_url": am.url}), week)
    finally:
        am.close()
    assert got.lines is not None and [a.split(" ")[0] for a in got.lines] == ["StillFiring", "Resolved", "InWeek"]
    assert "still firing: payouts missing" in got.lines[2] and ", resolved " in got.lines[1]
    assert "3 alert(s) from Alertmanager" in got.note


def test_percent_changes_and_the_revenue_chart_for_people(demo_world, week):
    assert wr.change(10_000, 10_000) == "0.0%" and wr.change(99_999, 100_000) == "0.0%"  # never "-0.0%"
    assert wr.change(100_001, 100_000) == "0.0%" and wr.change(9_996, 10_000) == "0.0%"
    assert (wr.change(10_500, 10_000), wr.change(9_680, 10_000), wr.change(1, 0), wr.change(None, 5)) == (
        "+5.0%", "-3.2%", "–", "–")
    assert (wr.points(0.9, 0.9), wr.points(0.90001, 0.9), wr.points(0.8, 0.9)) == ("0.00 pp", "0.00 pp", "-10.00 pp")
    f = reports.figures(demo_world.engine, week, demo_world.cfg)
    fig = wr.revenue_figure(f)
    currencies = sorted({c for _, c, _ in f.daily_revenue})
    assert [t.name for t in fig.data] == currencies and "minor units" not in json.dumps(fig.layout.to_plotly_json())
    for t in fig.data:  # major units of its own currency, one panel each, its axis titled with the currency
        shown = dict(zip(t.x, t.y, strict=True))
        for d, c, total in f.daily_revenue:
            if c == t.name:
                assert shown[f"{d:%a %d %b}"] == chart_amount(total, c)
    titles = {a.title.text for a in (fig.layout[k] for k in fig.layout if k.startswith("yaxis"))}
    assert titles == set(currencies)


@pytest.fixture(scope="module")
def dashboard(demo_world, artifacts):
    """The dashboard on the demo world, served as `revwatch dashboard` serves it: its URL."""
    from tests.processes import served_dashboard

    with served_dashboard(demo_world.url, artifacts / "streamlit-weekly-report-test.log") as url:
        yield url


@pytest.mark.browser
def test_reports_page_previews_the_whole_report(demo_world, dashboard, artifacts):
    """In Chromium, the Reports page's frame is as tall as the report in it: no chart or section is cut off."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from tests.processes import chromium_page

    week = wr.last_complete_week()  # the page's default week, by the same clock
    wr.build(demo_world.engine, week, demo_world.cfg, built_by="browser-test")
    with chromium_page(f"{dashboard}reports") as (page, errors):
        frame = page.locator("iframe").first
        frame.wait_for(state="visible", timeout=90_000)
        report = page.frame_locator("iframe").first
        report.get_by_text("Incidents of the week").wait_for(state="visible", timeout=90_000)
        with contextlib.suppress(PlaywrightTimeout):  # the frame takes its content's height once that is laid out
            page.wait_for_function("() => { const f = document.querySelector('iframe'), d = f.contentDocument;"
                                   " return d && f.getBoundingClientRect().height >= d.documentElement.scrollHeight"
                                   " && d.documentElement.scrollHeight > 1000 }", timeout=20_000)
        content = report.locator("html").evaluate("e => e.scrollHeight")
        box = frame.evaluate("e => e.getBoundingClientRect().height")
        assert box >= content, f"the frame is {box} px tall, the report {content} px: its end is cut off"
        assert report.locator("img").count() == 2
        for img in report.locator("img").all():  # each chart drawn whole inside the frame
            r = img.evaluate("e => [e.naturalHeight, e.getBoundingClientRect().bottom]")
            assert r[0] > 0 and r[1] <= box
        page.set_viewport_size({"width": 1440, "height": min(int(box) + 900, 8000)})
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / f"reports-{week}.png"), full_page=True)
        assert not errors, errors
