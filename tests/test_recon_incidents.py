"""Every reconciliation incident of the demo world, collected end to end (files ingested, then the
reconcile job), is found as one break of the right stage, type and amount, and shown so on the
Reconciliation page; the unreferenced deposit matches on amount and date; the missing FX rate is
named by the month close."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from metrics.figures import reconciliation as q
from revwatch.money import format_money

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants

PAGE = "pages/reconciliation.py"


def _payout_key(reference: str) -> str:
    return f"payout:adyen:{reference[6:]}" if reference.startswith("ADYEN-") else f"payout:stripe:{reference}"


def _incidents(world) -> dict[str, dict]:
    return {i["id"]: i["expected"] for i in world.manifest["incidents"]}


def _expected_breaks(world) -> dict[tuple[str, str], tuple]:
    """(stage, item key) -> (break type, missing side, amount at stake, currency) from the manifest."""
    inc = _incidents(world)
    out = {}
    e = inc["payout_short_of_entries"]
    out[("S2", _payout_key(e["payout_reference"]))] = ("amount_mismatch", None, e["short_minor"], e["currency"])
    e = inc["payout_missing_in_bank"]
    out[("S3", _payout_key(e["payout_reference"]))] = ("missing", "bank", e["amount_minor"], e["currency"])
    e = inc["deposit_short_bank_fee"]
    out[("S3", _payout_key(e["payout_reference"]))] = ("amount_mismatch", None, e["bank_fee_minor"], e["currency"])
    e = inc["payout_booked_twice"]
    out[("S4", _payout_key(e["payout_reference"]))] = ("duplicate", None, e["amount_minor"], e["currency"])
    e = inc["refund_not_booked"]
    out[("S4", f"refund:{e['refund_id']}")] = ("missing", "ledger", e["amount_minor"], e["currency"])
    e = inc["revenue_day_missing"]
    out[("S4", f"rev:{e['site_id']}:{e['local_date']}:{e['currency']}")] = (
        "missing", "ledger", e["total_minor"], e["currency"])
    return out


def test_each_incident_is_one_break_of_the_right_stage_type_and_amount(demo_world):
    assert demo_world.sql("SELECT count(*) FROM bank_lines")[0][0] > 0, "bank files were not ingested"
    assert demo_world.sql("SELECT count(*) FROM gl_lines")[0][0] > 0, "GL exports were not ingested"
    for (stage, key), want in _expected_breaks(demo_world).items():
        rows = demo_world.sql("SELECT status, break_type, missing_side, break_amount_minor, currency FROM recon_items"
                              " WHERE stage = %s AND item_key = %s", (stage, key))
        assert rows == [("break", *want)], (stage, key)
        assert demo_world.sql("SELECT state FROM recon_breaks WHERE stage = %s AND item_key = %s",
                              (stage, key)) == [("open",)]
    # the payout missing in the bank is booked in the ledger as usual; the short deposit's payout too
    inc = _incidents(demo_world)
    for name in ("payout_missing_in_bank", "deposit_short_bank_fee"):
        key = _payout_key(inc[name]["payout_reference"])
        assert demo_world.sql("SELECT status FROM recon_items WHERE stage = 'S4' AND item_key = %s", (key,)) == [
            ("matched",)], name


def test_reconcile_opens_exactly_the_s2_break_of_the_payout_short_of_its_entries(demo_world):
    """S2 (payouts against the entries they itemize) finds the injected payout, short by the injected
    amount, and nothing else; the bank and the ledger took the payout as paid, so S3 and S4 match it.
    With it every stage S1-S4 has a break on the demo world."""
    e = _incidents(demo_world)["payout_short_of_entries"]
    key = _payout_key(e["payout_reference"])
    rows = demo_world.sql("SELECT item_key, break_type, break_amount_minor, amount_minor, counter_amount_minor,"
                          " (detail ->> 'net_minor')::bigint, (detail ->> 'entries')::int, currency"
                          " FROM recon_items WHERE stage = 'S2' AND status = 'break'")
    assert rows == [(key, "amount_mismatch", e["short_minor"], e["payout_minor"], e["entries_net_minor"],
                     e["entries_net_minor"], e["entries"], e["currency"])]
    assert demo_world.sql("SELECT item_key, state FROM recon_breaks WHERE stage = 'S2'") == [(key, "open")]
    assert demo_world.sql("SELECT status FROM recon_items WHERE stage = 'S2' AND item_key = %s",
                          (f"txn:{e['entry']}",)) == [("matched",)]  # the unpaid charge is listed with the payout
    for stage in ("S3", "S4"):
        assert demo_world.sql("SELECT status FROM recon_items WHERE stage = %s AND item_key = %s",
                              (stage, key)) == [("matched",)], stage
    stages = demo_world.sql("SELECT DISTINCT stage FROM recon_breaks WHERE state = 'open' ORDER BY 1")
    assert [s for (s,) in stages] == ["S1", "S2", "S3", "S4"]


def test_the_unreferenced_deposit_matches_on_amount_and_date(demo_world):
    e = _incidents(demo_world)["bank_credit_without_reference"]
    rows = demo_world.sql("SELECT status, match_rule, counter_amount_minor, detail -> 'bank_dates' ->> 0"
                          " FROM recon_items WHERE stage = 'S3' AND item_key = %s",
                          (_payout_key(e["payout_reference"]),))
    assert rows == [("matched", "amount_date", e["amount_minor"], e["bank_date"])]


def test_the_missing_fx_rate_is_named_by_the_month_close(demo_world):
    e = _incidents(demo_world)["fx_rate_missing"]
    day = date.fromisoformat(e["date"])
    close = q.close_readiness(demo_world.engine, day.replace(day=1), demo_world.cfg)
    gaps = set(close.fx_gaps[["currency", "rate_date"]].itertuples(index=False, name=None))
    assert gaps == {(e["currency"], day)}
    named = any(r.check == "fx_rate" and e["date"] in r.text for r in close.reasons)
    assert named == (day == close.as_of.date() or (day.month != (day + timedelta(days=1)).month))


def test_the_reconciliation_page_shows_each_incident_break(demo_world, page_for):
    at = page_for(demo_world, PAGE)
    for (stage, key), (break_type, _side, amount, currency) in _expected_breaks(demo_world).items():
        at.multiselect(key="break_types").set_value([break_type]).run()
        table = next(d.value for d in at.dataframe if "item_key" in d.value.columns and "break_type" in d.value.columns)
        row = table[(table["stage"] == stage) & (table["item_key"] == key)]
        assert len(row) == 1, (stage, key)
        assert row.iloc[0]["break_type"] == break_type.replace("_", " ") and row.iloc[0]["currency"] == currency
        assert row.iloc[0]["break amount"] == format_money(amount, currency)


def test_a_second_run_changes_nothing(demo_world):
    from collectors.jobs import JOBS

    before = demo_world.sql("SELECT stage, item_key, status, fingerprint FROM recon_items ORDER BY 1, 2")
    stats = JOBS["reconcile"].run(demo_world.engine, demo_world.cfg, None, None)
    assert stats.rows_written == 0
    assert demo_world.sql("SELECT stage, item_key, status, fingerprint FROM recon_items ORDER BY 1, 2") == before


def test_payouts_missing_in_the_bank_is_one_figure_for_the_alert_the_page_and_the_list(demo_world, page_for):
    """The number PayoutMissingInBank fires on (the exporter's sample) is payouts_missing_in_bank(), and
    the break list filtered to that kind of break (item type payout) lists exactly those breaks."""
    from prometheus_client import CollectorRegistry

    from metrics.faces.exporter import register

    registry = CollectorRegistry()
    register(registry, demo_world.engine, demo_world.cfg)
    scraped = [s for m in registry.collect() for s in m.samples]

    def sample(name: str) -> dict[tuple[str, str], float]:
        return {(s.labels["gateway"], s.labels["currency"]): s.value for s in scraped if s.name == name and s.value}

    figure = q.payouts_missing_in_bank(demo_world.engine)
    assert figure, "the demo world has a payout missing in the bank"
    assert sample("revwatch_recon_payouts_missing_in_bank") == {(r.gateway, r.currency): r.breaks for r in figure}
    assert sample("revwatch_recon_payouts_missing_in_bank_minor") == {
        (r.gateway, r.currency): r.at_stake_minor for r in figure}
    total = sum(r.breaks for r in figure)
    listed = q.breaks(demo_world.engine, q.BreakFilters(stages=("S3",), item_types=("payout",),
                                                        break_types=("missing",), limit=None))
    assert len(listed) == total == len(q.breaks(demo_world.engine, q.PAYOUT_MISSING_IN_BANK.filters()))
    per_cell = listed.groupby(["gateway", "currency"])["at_stake_minor"].agg(["count", "sum"])
    assert {key: (int(n), int(minor)) for key, (n, minor) in per_cell.iterrows()} == {
        (r.gateway, r.currency): (r.breaks, r.at_stake_minor) for r in figure}
    e = _incidents(demo_world)["payout_missing_in_bank"]
    assert _payout_key(e["payout_reference"]) in set(listed["item_key"])

    # the page shows the same number, and lists the same breaks
    at = page_for(demo_world, PAGE)
    shown = next(m for m in at.metric if m.label == "Payouts missing in the bank")
    assert shown.value == f"{total:,}"
    at.button(key="list_missing_payouts").click().run()
    assert not at.exception, [x.value for x in at.exception]
    table = next(d.value for d in at.dataframe if "item_key" in d.value.columns and "break_type" in d.value.columns)
    assert sorted(table["item_key"]) == sorted(listed["item_key"])


def test_ledger_postings_wait_for_the_source_they_reference(make_world):
    """GL exports in, Adyen reports not delivered yet: the ADYEN-<batch> payout journals are
    expected, not breaks (the README's timing window), and they match once the reports come."""
    from collectors.jobs import JOBS
    from tests.worlds.demo import SMALL_WORLD

    world = make_world(demo=SMALL_WORLD, collect=False)
    for name, job in JOBS.items():
        if name != "ingest-adyen":
            job.run(world.engine, world.cfg, None, None)
    adyen_postings = """SELECT status, count(*) FROM recon_items
                        WHERE stage = 'S4' AND item_type = 'ledger_entry' AND right_ref LIKE 'ADYEN-%' GROUP BY 1"""
    waiting = dict(world.sql(adyen_postings))
    assert waiting and set(waiting) == {"expected"}, waiting

    for name in ("ingest-adyen", "reconcile"):
        JOBS[name].run(world.engine, world.cfg, None, None)
    assert dict(world.sql(adyen_postings)).get("break", 0) == 0  # none broke; they are judged against the batches
