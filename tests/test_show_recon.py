"""`revwatch show breaks | close | health` on hand-built worlds: the json rows equal the figures
worked out below by hand, and equal what the Reconciliation and Health pages show (the same
metrics/ query functions, and the Reconciliation page itself through AppTest); csv and table
carry the same rows (bad arguments: tests/test_show.py).

Reconciliation: the October 2026 world of tests/worlds/recon.py (build_october + build_sources; its
docstring tabulates every item). Health: the run log of tests/worlds/ops.py (build), written
relative to revwatch.clock's now. Ages are judged by the CLI at its own now, so the expected rows
are worked out for the instants just before and just after the command and must equal one (the
October world's tests pin the clock at its AS_OF, so both are that instant).
"""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from metrics.faces import show_format
from metrics.figures import health as hl
from metrics.figures import reconciliation as rc
from revwatch import clock
from revwatch.cli import main
from revwatch.money import format_money
from revwatch.schedule import CATALOGUE, REPORT_JOB, intervals
from revwatch.settings import load_settings
from tests.worlds.computed import all_computed
from tests.worlds.ops import SCHEDULE, build
from tests.worlds.recon import AS_OF, october_world

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants

PAGE = "pages/reconciliation.py"
# when the open breaks' items occurred (build_october: every item at 12:00 UTC)
OCCURRED = {"a3": datetime(2026, 10, 1, 12, tzinfo=UTC), "bank9": datetime(2026, 10, 25, 12, tzinfo=UTC),
            "a5": datetime(2026, 10, 30, 12, tzinfo=UTC), "a9": datetime(2026, 11, 3, 12, tzinfo=UTC)}


def age(key: str, now: datetime) -> int:
    """Whole days from the item to `now`, floored (as the SQL: not today's date minus the item's)."""
    return max(0, (now - OCCURRED[key]) // timedelta(days=1))


def bucket(days: int) -> str:
    return "0–7" if days <= 7 else "8–30" if days <= 30 else "31–60" if days <= 60 else ">60"


@pytest.fixture(scope="module")
def recon_world(make_world):
    world = october_world(make_world)
    all_computed(world)  # its figures known (tests/test_show_states.py: not computed yet)
    return world


@pytest.fixture
def recon(recon_world, pin_clock):
    """The October world, its figures judged as of its own instant (the default close month is October)."""
    pin_clock(AS_OF)
    return recon_world


@pytest.fixture(scope="module")
def ops(make_world):
    w = make_world()
    w.now = clock.now().replace(microsecond=0)
    build(w, w.now)
    return w


def invoke(world, *args):
    env = {"DATABASE_URL": world.url, "REVWATCH_DATA_DIR": str(world.cfg.revwatch_data_dir), "WORKER_SCHEDULE": SCHEDULE}
    return CliRunner(env=env).invoke(main, ["show", *args])


def show(world, *args):
    """The json rows, and the instants just before and after the command ran."""
    before = clock.now()
    result = invoke(world, *args, "--format", "json")
    after = clock.now()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), before, after


def check_formats(world, args, rows, clock=()):
    """csv: the json rows as text; table (--wide): header, rule and one line per row (or "(nothing found)"), the
    header of money and durations without `_minor` and `_seconds`.
    `clock`: columns measured against the command's own clock.now, which moves between invocations."""
    def text(r):
        return {k: "" if v is None else str(v) for k, v in r.items() if k not in clock}
    as_csv = list(csv.DictReader(io.StringIO(invoke(world, *args, "--format", "csv").stdout)))
    assert [text(r) for r in as_csv] == [text(r) for r in rows]
    lines = invoke(world, *args, "--format", "table", "--wide").stdout.rstrip("\n").splitlines()
    if not rows:
        assert lines == ["(nothing found)"]
        return
    cols = list(rows[0])
    assert len(lines) == len(rows) + 2
    assert lines[0].split() == [show_format.header(c, cols, money=c.endswith("_minor")) for c in cols]
    assert not any(h.endswith(("_minor", "_seconds")) for h in lines[0].split())
    assert set(lines[1].replace(" ", "")) == {"-"}


# ---------------------------------------------------------------- breaks
def expected_breaks(ids, now):
    """The four open breaks, biggest at stake in USD first: bank9 999; a3 500; a9 ¥700 x 0.0065 (2 Nov,
    the latest JPY rate) = 455; a5 EUR 0.50 x 1.07 (2 Nov) = 53.5 -> 54. Resolved ch_x, written-off
    ady7 and cleared a1 are not open."""
    def row(key, stage, typ, cur, amount, usd, left, right, gateway, site, month):
        item_type = "bank_credit" if key.startswith("bank") else "payment"
        return dict(break_id=ids[key], stage=stage, item_type=item_type, break_type=typ, currency=cur, break_amount_minor=amount,
                    at_stake_minor=amount, at_stake_reporting_minor=usd, reporting_currency="USD",
                    age_days=age(key, now), left_ref=left, right_ref=right, state="open", item_status="break",
                    gateway=gateway, site_id=site, accounting_month=month)
    return [row("bank9", "S3", "missing", "USD", 999, 999, None, "bank:sha1:9", None, None, "2026-10-01"),
            row("a3", "S1", "missing", "USD", 500, 500, "a3", None, "stripe", "W1", "2026-10-01"),
            row("a9", "S1", "missing", "JPY", 700, 455, "a9", None, "stripe", "J1", "2026-11-01"),
            row("a5", "S1", "amount_mismatch", "EUR", 50, 54, "a5", "PSP5", "adyen", "E1", "2026-10-01")]


def test_breaks(recon, page_for):
    rows, t0, t1 = show(recon, "breaks")
    assert rows in (expected_breaks(recon.ids, t0), expected_breaks(recon.ids, t1))
    # the page's query function, same arguments
    q = rc.breaks(recon.engine, rc.BreakFilters(limit=None), "USD", t1)
    assert [(r["break_id"], r["at_stake_reporting_minor"]) for r in rows] == list(
        zip(q["break_id"], q["at_stake_reporting_minor"], strict=True))
    # what the Reconciliation page lists
    shown = next(d.value for d in page_for(recon, PAGE).dataframe if "at stake (USD)" in d.value.columns)
    assert list(shown["break_id"]) == [r["break_id"] for r in rows]
    assert list(shown["break amount"]) == [format_money(r["break_amount_minor"], r["currency"]) for r in rows]
    assert list(shown["at stake (USD)"]) == [format_money(r["at_stake_reporting_minor"], "USD") for r in rows]
    assert list(shown["age_days"]) == [r["age_days"] for r in rows]
    check_formats(recon, ["breaks"], rows)


# ---------------------------------------------------------------- close
def share(stage, cur, items, matched, reconciled, amount, reconciled_minor):
    return dict(month="2026-10", stage=stage, currency=cur, items=items, matched_items=matched,
                matched_share=matched / items, reconciled_items=reconciled, item_share=reconciled / items,
                amount_minor=amount, reconciled_minor=reconciled_minor, amount_share=reconciled_minor / amount,
                ready=False, reasons=9, signed_off_at=None, signed_off_by=None, items_at_sign_off=None,
                reconciled_items_at_sign_off=None, amount_minor_at_sign_off=None, reconciled_minor_at_sign_off=None)


CLOSE = [
    share("S1", "EUR", 2, 1, 1, 3700, 3000),   # a4 matched 3000; a5 700 open
    share("S1", "USD", 5, 2, 3, 5000, 4200),   # a1 1000 + a2 2000 matched, ch_x 1200 resolved; a3 open, a6 expected
    share("S2", "EUR", 1, 0, 1, 2900, 2900),   # ady7 written off: explained
    share("S2", "USD", 1, 1, 1, 2700, 2700),   # po_1 reconstructed
    share("S3", "USD", 2, 1, 1, 3699, 2700),   # po_1 in the bank; bank9 999 open
]
# month close: rates of 31 Oct, else the latest earlier (EUR: 1.09 of 30 Oct; USD converts at 1)
UNRECONCILED = [
    dict(month="2026-10", currency="EUR", open_breaks=1, unreconciled_minor=50, rate=Decimal("1.09"),
         rate_date="2026-10-30", exact_rate=False, reporting_currency="USD", reporting_minor=55),  # 0.545 half up
    dict(month="2026-10", currency="USD", open_breaks=2, unreconciled_minor=1499, rate=Decimal(1),
         rate_date="2026-10-31", exact_rate=True, reporting_currency="USD", reporting_minor=1499),  # a3 500 + bank9 999
]


def expected_ages(now):
    """Open October breaks per currency (those with one) and age bucket: EUR a5 50; USD a3 500, bank9 999."""
    at = {}
    for key, cur, minor in (("a5", "EUR", 50), ("a3", "USD", 500), ("bank9", "USD", 999)):
        n, m = at.get((cur, bucket(age(key, now))), (0, 0))
        at[(cur, bucket(age(key, now)))] = (n + 1, m + minor)
    return [dict(month="2026-10", currency=c, bucket=b, breaks=at.get((c, b), (0, 0))[0],
                 at_stake_minor=at.get((c, b), (0, 0))[1]) for c in ("EUR", "USD") for b in rc.AGE_BUCKETS]


def expected_reasons(now):
    """Every threshold missed (default settings: 99.9% items, 99.99% amount, USD 1,000, 30 days)."""
    def r(check, scope, measured, limit, text):
        return dict(month="2026-10", check=check, scope=scope, measured=measured, limit=limit, text=text)
    oldest = age("a3", now)
    items, amount = "close_min_matched_share", "close_min_amount_share"
    return [
        r("items", "S4", 0, None, "S4 ledger: no items in 2026-10"),
        r(items, "S1 EUR", 0.5, 0.999, "S1 billing ↔ gateway, EUR: at least 99.9 % of items must be matched or explained;"
                                       " 50 % are (1 of 2)"),
        r(amount, "S1 EUR", 30 / 37, 0.9999, "S1 billing ↔ gateway, EUR: at least 99.99 % of the amount must be matched or"
                                             " explained; 81.1 % is (EUR 30.00 of EUR 37.00)"),
        r(items, "S1 USD", 0.6, 0.999, "S1 billing ↔ gateway, USD: at least 99.9 % of items must be matched or explained;"
                                       " 60 % are (3 of 5)"),
        r(amount, "S1 USD", 0.84, 0.9999, "S1 billing ↔ gateway, USD: at least 99.99 % of the amount must be matched or"
                                          " explained; 84 % is (USD 42.00 of USD 50.00)"),
        r(items, "S3 USD", 0.5, 0.999, "S3 payout ↔ bank, USD: at least 99.9 % of items must be matched or explained;"
                                       " 50 % are (1 of 2)"),
        r(amount, "S3 USD", 2700 / 3699, 0.9999, "S3 payout ↔ bank, USD: at least 99.99 % of the amount must be matched"
                                                 " or explained; 73 % is (USD 27.00 of USD 36.99)"),
        r("fx_rate", "EUR", "2026-10-31", None, "No EUR rate for 2026-10-31, the day the close converts at: converted"
                                                " at the rate of 2026-10-30"),
        r("close_max_break_age_days", "2026-10", oldest, 30,
          f"No open break may be older than 30 days; the oldest is {oldest} days old"),  # a3, 1 Oct
    ]


def test_close(recon, page_for):
    rows, _, t1 = show(recon, "close", "--month", "2026-10")
    assert rows == CLOSE
    cr = rc.close_readiness(recon.engine, date(2026, 10, 1), recon.cfg, t1)  # the page's query, same arguments
    assert [[r[c] for c in ("stage", "currency", "items", "reconciled_items", "reconciled_minor")] for r in rows] == \
        cr.shares[["stage", "currency", "items", "reconciled_items", "reconciled_minor"]].values.tolist()
    assert not cr.ready and len(cr.reasons) == rows[0]["reasons"]
    check_formats(recon, ["close", "--month", "2026-10"], rows)

    by_currency, _, _ = show(recon, "close", "--month", "2026-10", "--by", "currency")
    assert [dict(r, rate=Decimal(r["rate"])) for r in by_currency] == UNRECONCILED  # exact text, any scale
    assert [r["reporting_minor"] for r in by_currency] == [int(v) for v in cr.unreconciled["reporting_minor"]]
    check_formats(recon, ["close", "--month", "2026-10", "--by", "currency"], by_currency)
    table = invoke(recon, "close", "--month", "2026-10", "--by", "currency", "--format", "table").output
    eur = next(line.split() for line in table.splitlines() if line.split()[:2] == ["2026-10", "EUR"])
    # EUR 0.50 at 1.09 is USD 0.55 in the reporting column; an inexact rate says "no", not "0.00%"
    assert eur[-4:] == ["no", "USD", "USD", "0.55"] and "1.09" in eur, eur

    ages, t0, t1 = show(recon, "close", "--month", "2026-10", "--by", "age")
    assert ages in (expected_ages(t0), expected_ages(t1))
    check_formats(recon, ["close", "--month", "2026-10", "--by", "age"], ages)

    reasons, t0, t1 = show(recon, "close", "--month", "2026-10", "--by", "reasons")
    assert reasons in (expected_reasons(t0), expected_reasons(t1))
    assert [r["text"] for r in reasons] == [r.text for r in cr.reasons]
    check_formats(recon, ["close", "--month", "2026-10", "--by", "reasons"], reasons)
    table = invoke(recon, "close", "--month", "2026-10", "--by", "reasons", "--format", "table").output
    limits = [r for r in reasons if r["limit"] in (0.999, 30)]  # as set, never rounded away in the table
    assert {r["limit"] for r in limits} == {0.999, 30}
    assert all(isinstance(r["limit"], int) for r in limits if r["limit"] == 30)  # days stay whole in json too
    for r in limits:
        assert any(f" {r['limit']} " in line and r["scope"] in line for line in table.splitlines()), r

    # EUR is used from 20 Oct (a4); every day after has a rate but Saturday 31 Oct
    gaps, _, _ = show(recon, "close", "--month", "2026-10", "--by", "fx_gaps")
    assert gaps == [dict(currency="EUR", rate_date="2026-10-31", weekday="Sat", month="2026-10")]
    check_formats(recon, ["close", "--month", "2026-10", "--by", "fx_gaps"], gaps)
    assert show(recon, "close", "--month", "2026-09", "--by", "fx_gaps")[0] == []
    check_formats(recon, ["close", "--month", "2026-09", "--by", "fx_gaps"], [])

    # the page's month close (October: the latest month that has ended) says the same
    at = page_for(recon, PAGE)
    (verdict,) = [e.value for e in at.error]
    assert verdict.startswith("Oct 2026 is not ready to close")
    from pages.common import markdown as md  # the page writes each sentence as literal text in its Markdown

    assert [line[2:] for line in verdict.splitlines() if line.startswith("- ")] == [md.text(r["text"]) for r in reasons]
    total = sum(r["reporting_minor"] for r in by_currency)  # 55 + 1499
    assert {m.label: m.value for m in at.metric}["Unreconciled · USD"] == format_money(total, "USD") == "USD 15.54"


def test_close_of_a_signed_off_month_shows_the_snapshot_beside_now_and_its_adjustments(make_world, pin_clock):
    """Issue 18: after the sign-off a reopened break moves S1 USD; `show close` shows the frozen figures beside
    today's, `--by adjustments` lists exactly what the page's after_close lists."""
    from metrics.actions import break_workflow as wf
    from metrics.actions import month_signoff as so
    from tests.people import ANA, CARL

    pin_clock(AS_OF)
    w = october_world(make_world)
    all_computed(w)
    th = rc.CloseThresholds.of(w.cfg)
    reasons = rc.close_snapshot(w.engine, date(2026, 10, 1), th, AS_OF)["reasons"]
    with w.engine.begin() as conn:
        signed = so.sign_off(conn, date(2026, 10, 1), CARL, th, {so.reason_key(r): "CFO: accepted" for r in reasons})
    unchanged, _, _ = show(w, "close", "--month", "2026-10")
    assert [(r["items"], r["items_at_sign_off"], r["reconciled_minor"], r["reconciled_minor_at_sign_off"])
            for r in unchanged] == [(c["items"], c["items"], c["reconciled_minor"], c["reconciled_minor"]) for c in CLOSE]
    assert {(r["signed_off_by"], r["signed_off_at"]) for r in unchanged} == {(CARL.actor, signed.signed_at.isoformat())}
    assert show(w, "close", "--month", "2026-10", "--by", "adjustments")[0] == []

    with w.engine.begin() as conn:
        wf.reopen(conn, w.ids["ch_x"], ANA, "not re-keyed after all")
    rows, _, _ = show(w, "close", "--month", "2026-10")
    s1 = next(r for r in rows if (r["stage"], r["currency"]) == ("S1", "USD"))
    assert (s1["reconciled_items"], s1["reconciled_items_at_sign_off"]) == (2, 3)
    assert (s1["reconciled_minor"], s1["reconciled_minor_at_sign_off"]) == (3000, 4200)
    check_formats(w, ["close", "--month", "2026-10"], rows)
    adjusted, _, _ = show(w, "close", "--month", "2026-10", "--by", "adjustments")
    page = rc.after_close(w.engine, date(2026, 10, 1), th, AS_OF)
    assert [(r["area"], r["scope"], r["figure"], r["at_sign_off"], r["now"], r["change"], r["text"]) for r in adjusted] \
        == [(a.area, a.scope, a.figure, a.at_sign_off, a.now, a.change, a.text) for a in page.adjustments]
    assert ("break", f"break {w.ids['ch_x']}", "state", "resolved", "open") in [
        (r["area"], r["scope"], r["figure"], r["at_sign_off"], r["now"]) for r in adjusted]
    check_formats(w, ["close", "--month", "2026-10", "--by", "adjustments"], adjusted)


# ---------------------------------------------------------------- health
def _at(s):
    return None if s is None else datetime.fromisoformat(s)


def expected_jobs(now, as_of):
    """The run log of tests/worlds/ops.py (build), judged at `as_of` (the CLI's now, a moment after `now`)."""
    m, h = timedelta(minutes=1), timedelta(hours=1)
    ran = {  # job: last started, outcome, seconds, last success finished, runs 24h, failures 24h, status
        "ingest-billing": (now - 5 * m, "succeeded", 2.5, now - 5 * m + timedelta(seconds=2.5), 12, 1, "ok"),
        "ingest-adyen": (now - 10 * m, "skipped", 0.1, None, 2, 0, "skipped"),
        "rollup-sessions": (now - m, "running", None, now - 9 * m + timedelta(seconds=3), 2, 0, "running"),
        "match-gateway-payments": (now - h, "succeeded", 8.0, now - h + timedelta(seconds=8), 3, 1, "ok"),  # abandoned 2 h ago
        "classify-billing": (now - 10 * h - timedelta(seconds=24), "succeeded", 4.0, now - 10 * h - timedelta(seconds=20),
                             5, 0, "stale"),  # hourly job silent for 10 h
        "reconcile": (now - 30 * m, "failed", 42.0, now - 3 * h + timedelta(seconds=40), 3, 2, "failing"),
        "legacy-export": (now - 72 * h, "succeeded", 5.0, now - 72 * h + timedelta(seconds=5), 0, 0, "ok"),  # 3 days ago
    }
    out = []
    for job, kind in [*((s.name, s.kind) for s in CATALOGUE.values()), (REPORT_JOB, "report"), ("legacy-export", None)]:
        started, outcome, secs, ok, runs, fails, status = ran.get(job, (None, None, None, None, 0, 0, "never run"))
        out.append(dict(job=job, kind=kind, status=status, last_started_at=started, last_outcome=outcome,
                        last_duration_seconds=secs, last_success_at=ok,
                        success_age_seconds=(as_of - ok).total_seconds() if ok else None,
                        runs_24h=runs, failures_24h=fails))
    return out


def test_health(ops):
    rows, t0, t1 = show(ops, "health")
    for r in rows:
        r.update(last_started_at=_at(r["last_started_at"]), last_success_at=_at(r["last_success_at"]))
    billing = rows[0]
    as_of = billing["last_success_at"] + timedelta(seconds=billing["success_age_seconds"])  # the CLI's now
    assert t0 <= as_of <= t1
    assert rows == expected_jobs(ops.now, as_of)
    jobs = hl.job_health(ops.engine, as_of, intervals(load_settings(worker_schedule=SCHEDULE)))  # the page's query, same instant
    assert [(r["job"], r["status"], r["runs_24h"], r["failures_24h"], r["last_success_at"]) for r in rows] == [
        (j.job, j.status, j.runs_24h, j.failures_24h, j.last_success_at) for j in jobs]
    check_formats(ops, ["health"], show(ops, "health")[0], clock=("success_age_seconds",))


def expected_sources(now, as_of):
    today, day = as_of.date(), timedelta(days=1)
    def src(source, what, newest, detail, threshold, status):
        age = (as_of - newest if isinstance(newest, datetime) else timedelta(days=(today - newest).days)) \
            if newest is not None else None
        return dict(source=source, what=what, newest=newest, detail=detail,
                    age_seconds=age.total_seconds() if age is not None else None,
                    threshold_seconds=threshold.total_seconds(), status=status)
    return [
        src("billing", "watermark invoices", now - timedelta(hours=5), "sync_state", timedelta(hours=2), "stale"),
        src("billing", "watermark parking_sessions", now - timedelta(minutes=30), "sync_state", timedelta(hours=2), "ok"),
        src("stripe", "newest object created", now - timedelta(hours=1), "charge", timedelta(hours=6), "ok"),  # ch_1
        src("adyen", "newest report taken in", now - timedelta(hours=26), "settlement_detail_report_batch_7.csv",
            2 * day, "ok"),
        src("adyen", "newest settlement line", now - timedelta(hours=30), "settlement_detail_report_batch_7.csv line 3",
            2 * day, "ok"),
        src("bank", "newest statement date", now.date() - 6 * day, "0975312468 USD", 4 * day, "stale"),
        src("gl", "newest posting date", None, None, 4 * day, "no data"),
        src("fx", "newest rate date", now.date() - day, "CAD, EUR", 4 * day, "ok"),
    ]


def test_health_by_source(ops):
    rows, t0, t1 = show(ops, "health", "--by", "source")
    for r in rows:
        r["newest"] = None if r["newest"] is None else (
            date.fromisoformat(r["newest"]) if len(r["newest"]) == 10 else datetime.fromisoformat(r["newest"]))
    marks = rows[1]  # parking_sessions: its age gives the CLI's now
    as_of = marks["newest"] + timedelta(seconds=marks["age_seconds"])
    assert t0 <= as_of <= t1
    assert rows == expected_sources(ops.now, as_of)
    fresh = hl.source_freshness(ops.engine, as_of)  # the Health page's query at the same instant
    assert [(r["source"], r["what"], r["newest"], r["status"]) for r in rows] == [
        (s.source, s.what, s.newest, s.badge) for s in fresh]
    check_formats(ops, ["health", "--by", "source"], show(ops, "health", "--by", "source")[0], clock=("age_seconds",))

