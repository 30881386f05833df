"""Month-close sign-off (issue 18; metrics/actions/month_signoff.py, metrics/figures/reconciliation/close_signoff.py)
against real PostgreSQL and the hand-built October world (tests/worlds/recon.py), judged as of 5 Nov 2026.

A controller signs a month off when it is ready, or with a reason for each unmet check; the sign-off freezes the
close figures append-only with their hash in the audit chain; afterwards a late bank line, a reopened break or a
re-rated session shows as an after-close adjustment against the snapshot."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from metrics.actions import break_workflow as wf
from metrics.actions import month_signoff as so
from metrics.figures.reconciliation import close_signoff as cs
from metrics.figures.reconciliation.month_close import CloseThresholds
from revwatch import audit
from revwatch.identity import NotPermitted
from tests.people import ANA, CARL, person
from tests.worlds.recon import AS_OF, OCT, add_item, add_rate, october_world, t

TH = CloseThresholds(Decimal("0.999"), Decimal("0.9999"), 100_000, 30, "USD")
LAX = CloseThresholds(Decimal("0"), Decimal("0"), 10**12, 10_000, "USD")  # no share, amount or age limit
KIM = person("kim", "controller")


@pytest.fixture
def world(make_world):
    return october_world(make_world)


def _sign(w, who, th=TH, overrides=None, month=OCT, as_of=AS_OF):
    with w.engine.begin() as conn:
        return so.sign_off(conn, month, who, th, overrides, as_of)


def _why_all(snap_reasons) -> dict[str, str]:
    return {so.reason_key(r): f"accepted: {r['check']}" for r in snap_reasons}


def test_a_month_not_ready_is_signed_off_only_with_a_reason_for_each_unmet_check(world):
    w = world
    with pytest.raises(NotPermitted, match=r"\(analyst\) may not sign off 2026-10"):
        _sign(w, ANA)
    reasons = cs.close_snapshot(w.engine, OCT, TH, AS_OF)["reasons"]
    assert len(reasons) >= 3  # shares below the thresholds, no S4 items, a 35-day-old break
    with pytest.raises(so.SignOffRefused, match="not ready; to sign it off anyway, say why for each unmet check"):
        _sign(w, CARL)
    partial = dict(list(_why_all(reasons).items())[:-1])
    with pytest.raises(so.SignOffRefused, match=re.escape(reasons[-1]["text"])):
        _sign(w, CARL, overrides=partial)
    assert w.sql("SELECT count(*) FROM month_signoffs")[0][0] == 0

    s = _sign(w, CARL, overrides=_why_all(reasons))
    assert (s.month, s.signed_by, s.ready, s.reporting_currency) == (OCT, CARL.actor, False, "USD")
    assert [o["why"] for o in s.override] == [f"accepted: {r['check']}" for r in reasons]
    assert [o["text"] for o in s.override] == [r["text"] for r in reasons]
    (stored, digest, ready), = w.sql("SELECT snapshot, snapshot_sha256, ready FROM month_signoffs")
    assert stored == s.snapshot and digest == cs.snapshot_hash(stored) == s.snapshot_sha256 and ready is False
    # the frozen figures: per stage and currency, the unreconciled money with its rate and date, breaks by age
    stages = {(r["stage"], r["currency"]): r for r in stored["stages"]}
    assert (stages[("S1", "USD")]["items"], stages[("S1", "USD")]["amount_minor"]) == (5, 5000)
    eur = next(r for r in stored["unreconciled"] if r["currency"] == "EUR")
    assert (eur["unreconciled_minor"], eur["rate"], eur["rate_date"], eur["reporting_minor"]) == (
        50, "1.09", "2026-10-30", 55)
    assert stored["unreconciled_reporting_minor"] == 1554
    assert {(r["currency"], r["bucket"]): r["breaks"] for r in stored["age_buckets"]}[("USD", "31–60")] == 1
    assert {b["break_id"]: b["state"] for b in stored["breaks"]}[w.ids["ch_x"]] == "resolved"
    # its hash is in the audit chain, which still verifies
    (actor, target, detail), = w.sql("SELECT actor, target, detail FROM audit_log WHERE action = 'close.sign_off'")
    assert (actor, target, detail["snapshot_sha256"], detail["ready"]) == (CARL.actor, "month:2026-10", digest, False)
    assert [o["why"] for o in detail["override"]] == [o["why"] for o in s.override]
    with w.engine.connect() as conn:
        assert audit.verify(conn).ok

    assert cs.after_close(w.engine, OCT, TH, AS_OF).adjustments == ()  # nothing changed since
    with pytest.raises(so.SignOffRefused, match=r"signed off by carl@example.com .* nothing has changed since"):
        _sign(w, KIM, overrides=_why_all(reasons))


def test_a_ready_month_needs_no_override_and_a_running_month_cannot_be_signed(world):
    w = world
    with w.engine.begin() as conn:  # the ledger stage, so every stage has items; the month's last day has a rate
        add_item(conn, "S4", "journal:J1", "payout", "matched", "USD", 2700, t("2026-10-14"))
        add_rate(conn, date(2026, 10, 31), "EUR", "1.09")
    s = _sign(w, CARL, th=LAX)
    assert s.ready and s.override == []
    with pytest.raises(so.SignOffRefused, match="2026-11: the month has not ended yet"):
        _sign(w, CARL, th=LAX, month=date(2026, 11, 1))
    assert cs.after_close(w.engine, date(2026, 11, 1), LAX, AS_OF) is None  # never signed off


def test_changes_after_the_sign_off_show_as_adjustments_against_the_snapshot(world):
    w = world
    reasons = cs.close_snapshot(w.engine, OCT, TH, AS_OF)["reasons"]
    _sign(w, CARL, overrides=_why_all(reasons))
    later = AS_OF + timedelta(days=3)
    # a reopened break: ch_x (USD 12.00, resolved) is open again
    with w.engine.begin() as conn:
        wf.reopen(conn, w.ids["ch_x"], ANA, "the attempt was not re-keyed after all")
    # a late bank line: an October bank credit nobody expected
    with w.engine.begin() as conn:
        add_item(conn, "S3", "bank:sha1:77", "bank_credit", "break", "USD", 4_500, t("2026-10-30"), break_type="missing",
                 missing_side="payout", break_amount_minor=4_500)
        w.late = conn.exec_driver_sql("INSERT INTO recon_breaks (stage, item_key, state, opened_at) VALUES"
                                      " ('S3', 'bank:sha1:77', 'open', '2026-11-07') RETURNING break_id").scalar()
    ac = cs.after_close(w.engine, OCT, TH, later)
    got = {(a.area, a.scope, a.figure): (a.at_sign_off, a.now, a.change) for a in ac.adjustments}
    assert got[("break", f"break {w.ids['ch_x']}", "state")] == ("resolved", "open", None)
    assert got[("stage", "S1 USD", "resolved_items")] == (1, 0, -1)
    assert got[("stage", "S1 USD", "open_items")] == (1, 2, 1)
    assert got[("stage", "S1 USD", "reconciled_minor")] == (4200, 3000, -1200)
    assert got[("stage", "S3 USD", "items")] == (2, 3, 1)
    assert got[("stage", "S3 USD", "amount_minor")] == (3699, 8199, 4500)
    assert got[("break", f"break {w.late}", "state")] == (None, "open", None)  # a break the sign-off never saw
    assert got[("break", f"break {w.late}", "at_stake_minor")] == (0, 4500, 4500)
    assert got[("unreconciled", "USD", "unreconciled_minor")] == (1499, 7199, 5700)
    assert ac.unreconciled_change_minor == 5700
    texts = [a.text for a in ac.adjustments]
    assert "S3 payout ↔ bank, USD: amount USD 36.99 → USD 81.99" in texts
    assert f"break {w.ids['ch_x']}: state resolved → open" in texts
    # nothing else moved: the EUR and JPY figures, the rates
    assert not [a for a in ac.adjustments if a.currency in ("EUR", "JPY")]
    # having seen them, a controller may sign again: the newest sign-off is the one compared
    reasons = cs.close_snapshot(w.engine, OCT, TH, later)["reasons"]
    _sign(w, person("kim", "controller"), overrides=_why_all(reasons), as_of=later)
    assert cs.after_close(w.engine, OCT, TH, later).adjustments == ()
    assert w.sql("SELECT count(*) FROM month_signoffs")[0][0] == 2


def test_a_re_rated_session_shows_in_the_billing_figures():
    """Pure: the billing section of two snapshots (a session re-rated after the sign-off)."""
    then = {"billing": [{"currency": "USD", "billable": 10, "correct": 9, "findings": 1, "leakage_minor": 250,
                         "overcharge_minor": 0}]}
    now = {"billing": [{"currency": "USD", "billable": 10, "correct": 10, "findings": 0, "leakage_minor": 0,
                        "overcharge_minor": 0}]}
    got = [(a.area, a.figure, a.change, a.text) for a in cs.adjustments(then, now)]
    assert got == [("billing", "correct", 1, "billing accuracy, USD: correct 9 → 10"),
                   ("billing", "findings", -1, "billing accuracy, USD: findings 1 → 0"),
                   ("billing", "leakage_minor", -250, "billing accuracy, USD: leakage USD 2.50 → USD 0.00")]


def test_the_sign_off_table_is_append_only(world):
    w = world
    reasons = cs.close_snapshot(w.engine, OCT, TH, AS_OF)["reasons"]
    _sign(w, CARL, overrides=_why_all(reasons))
    for statement in ("UPDATE month_signoffs SET ready = true", "DELETE FROM month_signoffs",
                      "TRUNCATE month_signoffs"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            w.sql(statement)
    assert w.sql("SELECT count(*) FROM month_signoffs")[0][0] == 1


def test_the_weekly_report_lists_what_moved_in_signed_off_months(world, pin_clock):
    """The report's after-close section reads after_close: none signed, signed and unchanged, then changed."""
    from metrics.faces import weekly_report as face
    from metrics.figures import weekly_report as reports

    pin_clock(AS_OF)
    w, week = world, "2026-W45"

    def report(whole: bool = False):
        """The figures, and the report's after-close section (the whole HTML, charts drawn by Chromium, once)."""
        f = reports.figures(w.engine, week, w.cfg, AS_OF)
        return f, face.render_html(f) if whole else face._after_close(f)

    f, html = report()
    assert (f.signed_off_months, f.after_close) == (0, ()) and "No month has been signed off yet." in html
    reasons = cs.close_snapshot(w.engine, OCT, TH, AS_OF)["reasons"]
    _sign(w, CARL, th=CloseThresholds.of(w.cfg), overrides=_why_all(reasons))
    f, html = report()
    assert f.after_close == () and "None: nothing has changed in the 1 signed-off month since their sign-off." in html
    with w.engine.begin() as conn:
        wf.reopen(conn, w.ids["ch_x"], ANA, "not re-keyed after all")
    f, html = report(whole=True)
    ac = cs.after_close(w.engine, OCT, CloseThresholds.of(w.cfg), AS_OF)
    (a,) = f.after_close
    assert (a["month"], a["signed_by"], a["adjustments"], a["unreconciled_change_minor"]) == (
        "2026-10", CARL.actor, len(ac.adjustments), 1200)
    assert list(a["lines"]) == [x.text for x in ac.adjustments[:reports.AFTER_CLOSE_LINES]]
    assert len(ac.adjustments) > reports.AFTER_CLOSE_LINES  # so the report says it lists the first ones
    assert "<b>2026-10</b>, signed off by carl@example.com" in html
    assert "unreconciled moved by USD 12.00" in html
    assert f"The first {reports.AFTER_CLOSE_LINES} of {len(ac.adjustments)} changes" in html


def test_metrics_count_the_adjustments_the_page_lists(world, pin_clock):
    """/metrics: revwatch_close_adjustments{month} is len(after_close(...).adjustments), 0 once signed, none before."""
    from prometheus_client import CollectorRegistry

    from metrics.faces.exporter import register
    from tests.worlds.recon import ran

    pin_clock(AS_OF)
    w = world
    ran(w)  # the reconciliation's figures are known: its families are served

    def gauge() -> dict[str, float]:
        registry = CollectorRegistry()
        register(registry, w.engine, w.cfg)
        return {s.labels["month"]: s.value for m in registry.collect() for s in m.samples
                if s.name == "revwatch_close_adjustments"}

    assert gauge() == {}
    reasons = cs.close_snapshot(w.engine, OCT, TH, AS_OF)["reasons"]
    _sign(w, CARL, overrides=_why_all(reasons))
    assert gauge() == {"2026-10": 0}
    with w.engine.begin() as conn:
        wf.reopen(conn, w.ids["ch_x"], ANA, "not re-keyed after all")
    assert gauge() == {"2026-10": len(cs.after_close(w.engine, OCT, None, AS_OF).adjustments)} != {"2026-10": 0}
