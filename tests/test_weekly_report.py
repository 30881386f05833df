"""The weekly leadership report on the shared demo world: figures equal the metric queries,
the PDF and HTML carry them, builds keep their history, the e-mail arrives, the CLI and the page.

Its layers are tested where they live: the figures (metrics/figures/weekly_report.py), building,
reading back and sending (metrics/actions/weekly_report.py, the job weekly_report_job.py) and the
rendering (metrics/faces/weekly_report.py, whose `build` the callers use)."""
from __future__ import annotations

import email
import io
import socket
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner

from metrics.actions import weekly_report as reports
from metrics.faces import weekly_report as wr
from metrics.figures import billing_accuracy, overview, payments, reconciliation
from metrics.figures import weekly_report as wf
from metrics.figures.query import Filters
from revwatch.money import format_money


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
    assert len(f.incidents) >= len(f.open_breaks)
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
    assert at.button(key="report_build")


def test_worker_schedules_the_report_monday_0700_in_report_timezone(make_world):
    from zoneinfo import ZoneInfo

    from collectors.jobs import Job
    from collectors.scheduler import Worker
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
        assert sorted(world.sql("SELECT id FROM apscheduler_jobs")) == [("tick",), (REPORT_JOB,)]
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
