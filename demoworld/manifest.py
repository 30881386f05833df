"""The manifest: what the world holds and, for each injected incident, its exact ground truth.

Every figure is counted from the generated arrays (the rows written), never estimated.
Times are ISO-8601 UTC strings; windows are half-open [start, end); money is integer minor
units and is never summed across currencies.

Top level: `params` (days, sites, scale, seed, end), `period` {start, end}, `totals`
{sessions, invoices, payment_attempts, refunds} (row counts), `conventions` (how to read
the data), `incidents` (list). Each incident: `id`, `description`, `site_ids` (sites
involved; [] for gateway-wide incidents), `start`, `end`, `expected`:

rate_plan_old_price -- sessions at the site entered in [start, end) (the 3 days after its
    plan change) were billed with the superseded, cheaper plan.
    sessions: invoiced sessions affected (each has exactly one invoice);
    currency; rate_plan_billed / rate_plan_expected: plan ids;
    billed_subtotal_minor, expected_subtotal_minor, billed_tax_minor, expected_tax_minor,
    billed_minor (total as invoiced), expected_minor (shadow-rated total),
    difference_minor = expected_minor - billed_minor (> 0: under-billed).

missed_tax_change -- the jurisdiction's rate changed on `effective_from` (local date; start
    = that local midnight, end = end of the world); billing kept the old rate for every
    session entered on or after that date at the jurisdiction's sites.
    jurisdiction, effective_from (YYYY-MM-DD), old_rate, new_rate (numeric text);
    sessions (invoiced sessions affected, one invoice each), currency, and the same
    billed_/expected_ subtotal, tax and total keys and difference_minor as above
    (subtotals are equal; only tax differs).

duplicate_invoices -- a retry bug on one day (invoices issued in [start, end)) issued a
    second non-void invoice (new id, same session and amounts).
    invoices: duplicate invoices (= sessions with two non-void invoices);
    charged_invoices: duplicates with a succeeded attempt; double_charged_sessions: sessions
    whose original and duplicate both have a succeeded attempt;
    by_currency: {CUR: {invoices, total_minor (sum of the duplicates' total_minor),
    charged_invoices, charged_minor, double_charged_sessions, double_charged_minor (the
    second charge: one invoice total per such session)}}.

gate_sync_outage -- the site's gate sync was down over [start, end): billable sessions that
    exited then were never invoiced (no invoice, no attempts).
    sessions: billable (minutes > grace) sessions exited in the window, none invoiced;
    currency; billed_minor (0); expected_subtotal_minor, expected_tax_minor,
    expected_minor (shadow-rated total missing); difference_minor = expected_minor.

processing_error_spike -- on one gateway over [start, end) a large share of attempts failed
    with the gateway's processing-error code (soft, so retried later).
    gateway, failure_code;
    attempts: every attempt row of that gateway with attempted_at in the window, any status;
    failed_with_code: of those, status 'failed' with that failure_code (includes the few
    such errors that happen anyway);
    retried: of those failed, how many have a later attempt on the same invoice;
    recovered: of those failed, how many invoices ended 'paid'.

unknown_attempts -- gateway timeouts over [start, end) on the other gateway: attempts with
    status 'unknown', failure_code and gateway_reference NULL, never retried; their invoices
    stay 'open'. These are all the 'unknown' attempts in the world.
    gateway; attempts: count; invoices_open: invoices left open by them;
    amount_minor: {CUR: sum of their amount_minor}; by_currency: {CUR: {attempts, amount_minor}}.

issuer_decline_spike -- over [start, end) the issuers of one card brand declined a large
    share of its attempts, on both gateways (soft: retried later).
    brand; attempts: card attempts of that brand with attempted_at in the window (any gateway,
    any status); declined: of those, status 'failed' with the gateway's issuer-decline code
    (including the few such declines that happen anyway);
    by_gateway: {stripe|adyen: {failure_code ('do_not_honor' / 'Refused'), attempts, declined}};
    by_currency: {CUR: {attempts, declined, declined_minor (sum of amount_minor declined)}}.

dispute_surge -- one site (site_ids) got many disputes opened in [start, end): every Stripe
    dispute on a charge of that site created in the window, and every Adyen `Chargeback` line
    for an attempt of that site with Creation Date in the window, belongs to it (the usual
    trickle of disputes elsewhere and at other times is not part of it).
    site_id; reason (the Stripe disputes' reason); disputes (both gateways);
    stripe_disputes; adyen_chargebacks;
    by_currency: {CUR: {disputes, amount_minor}};
    by_gateway: {stripe|adyen: {CUR: {disputes, amount_minor}}}.

unrecorded_success -- attempts billing recorded 'failed' whose gateway object succeeded: the
    Stripe charge (id = gateway_reference) is 'succeeded', or the Adyen file has a `Settled`
    line for the PSP reference. The customer was charged; billing does not know. (The
    'unknown' attempts of unknown_attempts never reached a gateway and have no gateway object.)
    attempts; attempt_ids (sorted); by_gateway: {stripe|adyen: {attempts,
    by_currency: {CUR: {attempts, amount_minor}}}}.

gateway_double_charge -- charges the gateway made with no attempt in billing: a Stripe charge
    whose metadata.attempt_id is not in payment_attempts, or an Adyen `Settled` line whose
    Merchant Reference is unknown. Each repeats a real, recorded charge of the same invoice
    (metadata.invoice_id) seconds later; the customer paid twice.
    charges; invoice_ids (the invoices charged twice, sorted);
    by_gateway: {stripe|adyen: {charges, references (charge ids / PSP references, sorted),
    attempt_ids (the unknown ones, sorted), by_currency: {CUR: {charges, amount_minor}}}}.

malformed_adyen_lines -- one Adyen file holds garbled copies of some of its own Settled lines
    (a reader must reject them; every other line of the file is good and the MerchantPayout
    line counts only the good ones).
    file_name; batch_number; merchant_account; currency;
    lines: [{line (1-based, header = line 1), reason (bad_decimal: '12,50'; missing_column:
    20 fields instead of 21; unknown_currency: currency 'UDS'), psp_reference (of the
    good line it garbles)}]; malformed (count); good_lines (data lines that parse, header
    excluded); good_by_type: {Type: count}; payout_minor (the batch's MerchantPayout Net Debit).

payout_missing_in_bank -- a paid Stripe payout never reached the bank (no credit on any
    bank file; its GL journal is booked as usual). start/end: the bank day it was due.
    gateway; payout_reference (the Stripe payout id; for Adyen, here and below,
    `ADYEN-<batch_number>`, the GL reference); currency; amount_minor; arrival_date
    (YYYY-MM-DD, the bank day).

deposit_short_bank_fee -- another payout's credit arrived short: the bank kept a fee.
    start/end: the bank day. gateway; payout_reference; currency; payout_minor (the payout
    and its GL journal); deposited_minor (the bank credit); bank_fee_minor (the difference).

bank_credit_without_reference -- another payout's credit text carries no reference
    (`STRIPE TRANSFER` / `ADYEN TRANSFER`); no other payout of its currency within five days
    either side has its amount, so it matches on amount and date. start/end: the bank day.
    gateway; payout_reference; currency; amount_minor; bank_date (YYYY-MM-DD).

payout_booked_twice -- one payout's journal was posted twice: a second journal (new id, the
    same lines and reference) a day later. start: the first posting day; end: the end of the
    second's. payout_reference; currency; amount_minor (the payout amount); journal_ids
    [first, duplicate].

refund_not_booked -- a succeeded refund has no GL journal. start: its created_at; end: the
    end of the day its journal was due (the UTC day after created_at).
    refund_id; currency; amount_minor.

revenue_day_missing -- one site's local day of revenue has no GL journal. site_ids: the site;
    start/end: the local day's midnights (UTC instants). site_id; local_date (YYYY-MM-DD);
    currency; subtotal_minor; tax_minor; total_minor (what the journal would hold, over
    non-void invoices issued that local day); reference (`REV-<site_id>-<local_date>`).

fx_rate_missing -- one day's rate of one non-reporting currency is absent from the FX file
    (only in worlds with such a currency). start/end: that UTC day. currency; date.

The seven reconciliation incidents above (recon.py) take four different payouts (never the
failed Stripe payout, the one carrying its amount back, or the malformed Adyen file's batch),
a refund and a site-day no other incident touches, and an FX date none of them uses; each is
picked in the middle third of the world where it can be (a world too small to hold one is left
without it). Bank, GL and FX conventions: bank.py, ledger.py, fx.py, transfers.py.

Incidents never share a session: each takes only sessions no earlier incident claimed
(void/reissued invoices and refunds avoid them too), so each figure above stands alone. The
gateway incidents (unrecorded_success, gateway_double_charge, dispute_surge) take attempts
outside every other incident's window and sessions, on invoices without refunds, and never
the same invoice twice; the malformed lines copy lines no other incident involves.

`gateways` (top level): object counts of the gateway side: stripe {charges, refunds,
disputes, balance_transactions, payouts, failed_payout (its id)}, adyen {files, lines (data
lines, garbled ones included), settled, chargebacks}.

`recon` (top level): the reconciliation sources: reporting_currency; bank {accounts: {CUR:
{account, format}}, files, bai2_files, camt053_files, first_day, last_day (bank days with a
file), entries, payout_credits}; gl {exports, first_day, last_day, journals, lines,
accounts: {cash, clearing, revenue, tax, fees, refunds: account number}}; fx {rows,
currencies, first_day, last_day}.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from demoworld.billing import DUPLICATE, NORMAL
from demoworld.gateways import A_CHARGEBACK, A_PAYOUT, A_SETTLED, ADYEN_TYPES, DISPUTE_REASONS
from demoworld.localtime import local_midnight
from demoworld.params import DAY, iso
from demoworld.payments import BRANDS, CARD, CODES, DECLINE_CODES, FAILED, GATEWAYS, PAID, SPIKE_CODES, STRIPE, UNKNOWN
from demoworld.world import CITIES, rate_text

if TYPE_CHECKING:
    from demoworld.adyen import Report
    from demoworld.gateways import Gateways
    from demoworld.pipeline import Recon, World

CONVENTIONS = {
    "money": "integer minor units per ISO 4217 currency; never summed across currencies",
    "windows": "half-open [start, end), UTC",
    "tax_rates.effective_to": "exclusive: the day the next rate takes effect (NULL = open)",
    "rate_plans.effective_to": "exclusive: the instant the next plan takes effect (NULL = open)",
    "expected_amounts": "shadow rating of SOURCES.md section 1",
    "bank": "one file per bank business day (Mon-Fri, UTC dates); Stripe payouts arrive on arrival_date "
            "(type 165, 'STRIPE PAYOUT <po_id>'), Adyen batches the next business day after their close "
            "(type 169, 'ADYEN BATCH <n>')",
    "gl": "one export per UTC day; revenue per site-local day posted the next day, payouts on their bank day, "
          "refunds the day after created_at; debit/credit decimal strings in major units",
    "fx": "rate_to_reporting: reporting-currency units per one unit of the currency, 6 decimals, every day",
}


def _sum(x: np.ndarray) -> int:
    return int(np.asarray(x, dtype=np.int64).sum())


def _amounts(billed_sub, billed_tax, exp_sub, exp_tax) -> dict:
    billed = _sum(billed_sub) + _sum(billed_tax)
    expected = _sum(exp_sub) + _sum(exp_tax)
    return {"billed_subtotal_minor": _sum(billed_sub), "expected_subtotal_minor": _sum(exp_sub),
            "billed_tax_minor": _sum(billed_tax), "expected_tax_minor": _sum(exp_tax),
            "billed_minor": billed, "expected_minor": expected, "difference_minor": expected - billed}


def _mispriced(w: World, mask: np.ndarray) -> tuple[int, np.ndarray, dict]:
    """Invoices of the sessions in `mask`, checked to be exactly one NORMAL invoice each."""
    inv = np.flatnonzero(mask[w.invoices.session])
    if inv.size != int(mask.sum()) or (w.invoices.kind[inv] != NORMAL).any():
        raise AssertionError("an incident session does not have exactly one invoice")
    s = w.invoices.session[inv]
    return inv.size, s, _amounts(w.invoices.subtotal[inv], w.invoices.tax[inv], w.rated.subtotal[s], w.rated.tax[s])


def old_price(w: World) -> dict:
    p = w.plan
    n, _s, amounts = _mispriced(w, w.billed.old_price)
    after = np.flatnonzero(w.plans.site == p.old_price_site)
    return {
        "id": "rate_plan_old_price",
        "description": "After the site's rate plan changed, billing kept pricing sessions with the old, "
                       "cheaper plan for three days.",
        "site_ids": [w.sites.site_id[p.old_price_site]],
        "start": iso(p.plan_change_at), "end": iso(p.old_price_until),
        "expected": {"sessions": n, "currency": w.sites.currency[p.old_price_site],
                     "rate_plan_billed": w.plans.plan_id[after[0]], "rate_plan_expected": w.plans.plan_id[after[1]],
                     **amounts},
    }


def missed_tax(w: World) -> dict:
    p = w.plan
    j = p.missed_tax_jurisdiction
    n, _s, amounts = _mispriced(w, w.billed.missed_tax)
    zone = next(c.timezone for c in CITIES if c.jurisdiction == j)
    sites = [sid for sid, sj in zip(w.sites.site_id, w.sites.jurisdiction, strict=True) if sj == j]
    return {
        "id": "missed_tax_change",
        "description": f"The {j} tax rate changed; billing kept charging the old rate from that date on.",
        "site_ids": sites,
        "start": iso(local_midnight(zone, p.missed_tax_on)), "end": iso(w.period.end),
        "expected": {"jurisdiction": j, "effective_from": p.missed_tax_on.isoformat(),
                     "old_rate": rate_text(p.missed_tax_old), "new_rate": rate_text(p.missed_tax_new),
                     "sessions": n, "currency": next(c.currency for c in CITIES if c.jurisdiction == j), **amounts},
    }


def duplicates(w: World) -> dict:
    inv = w.invoices
    dup = np.flatnonzero(inv.kind == DUPLICATE)
    sess = inv.session[dup]
    original = np.flatnonzero((inv.kind == NORMAL) & np.isin(inv.session, sess))
    if original.size != dup.size:
        raise AssertionError("a duplicated session lacks its single original invoice")
    orig_paid = np.zeros(w.sessions.site.size, dtype=bool)
    orig_paid[inv.session[original]] = w.collection.status[original] == PAID  # indexed by session
    paid = w.collection.status[dup] == PAID
    double = paid & orig_paid[sess]
    by = {}
    for c in sorted(set(inv.currency[dup].tolist())):
        m = inv.currency[dup] == c
        tot = inv.total[dup]
        by[w.currencies[c]] = {"invoices": int(m.sum()), "total_minor": _sum(tot[m]),
                               "charged_invoices": int((m & paid).sum()), "charged_minor": _sum(tot[m & paid]),
                               "double_charged_sessions": int((m & double).sum()),
                               "double_charged_minor": _sum(tot[m & double])}
    lo, hi = w.duplicate_window
    return {
        "id": "duplicate_invoices",
        "description": "A retry bug in invoicing issued a second invoice for some sessions; "
                       "both were charged where both payments went through.",
        "site_ids": sorted({w.sites.site_id[s] for s in w.sessions.site[sess].tolist()}),
        "start": iso(lo), "end": iso(hi),
        "expected": {"invoices": int(dup.size), "charged_invoices": int(paid.sum()),
                     "double_charged_sessions": int(double.sum()), "by_currency": by},
    }


def outage(w: World) -> dict:
    p = w.plan
    m = w.billed.outage
    s = np.flatnonzero(m)
    if np.isin(w.invoices.session, s).any():
        raise AssertionError("an outage session was invoiced")
    exp_sub, exp_tax = w.rated.subtotal[s], w.rated.tax[s]
    return {
        "id": "gate_sync_outage",
        "description": "The site's gate sync was down: sessions that exited during the window were never invoiced.",
        "site_ids": [w.sites.site_id[p.outage_site]],
        "start": iso(p.outage_start), "end": iso(p.outage_end),
        "expected": {"sessions": int(s.size), "currency": w.sites.currency[p.outage_site], "billed_minor": 0,
                     "expected_subtotal_minor": _sum(exp_sub), "expected_tax_minor": _sum(exp_tax),
                     "expected_minor": _sum(exp_sub) + _sum(exp_tax),
                     "difference_minor": _sum(exp_sub) + _sum(exp_tax)},
    }


def spike(w: World) -> dict:
    a, win = w.attempts, w.spike
    code = CODES.index(SPIKE_CODES[win.gateway])
    m = (a.gateway == win.gateway) & (a.attempted >= win.start) & (a.attempted < win.end)
    failed = np.flatnonzero(m & (a.status == FAILED) & (a.code == code))
    last_number = np.zeros(w.invoices.kind.size, dtype=np.int64)
    np.maximum.at(last_number, a.invoice, a.number)
    retried = last_number[a.invoice[failed]] > a.number[failed]
    recovered = w.collection.status[a.invoice[failed]] == PAID
    return {
        "id": "processing_error_spike",
        "description": f"{GATEWAYS[win.gateway]} returned processing errors for a large share of attempts "
                       "for two hours; the declines were soft and retried later.",
        "site_ids": [],
        "start": iso(win.start), "end": iso(win.end),
        "expected": {"gateway": GATEWAYS[win.gateway], "failure_code": CODES[code], "attempts": int(m.sum()),
                     "failed_with_code": int(failed.size), "retried": int(retried.sum()),
                     "recovered": int(recovered.sum())},
    }


def unknown(w: World) -> dict:
    a, win = w.attempts, w.unknown
    u = np.flatnonzero(a.status == UNKNOWN)
    if ((a.attempted[u] < win.start) | (a.attempted[u] >= win.end) | (a.gateway[u] != win.gateway)).any():
        raise AssertionError("an unknown attempt outside the incident")
    by = {}
    for c in sorted(set(a.currency[u].tolist())):
        m = a.currency[u] == c
        by[w.currencies[c]] = {"attempts": int(m.sum()), "amount_minor": _sum(a.amount[u][m])}
    still_open = w.collection.status[a.invoice[u]] != PAID
    return {
        "id": "unknown_attempts",
        "description": f"{GATEWAYS[win.gateway]} timed out: attempts stuck in status unknown, "
                       "never retried, their invoices left open.",
        "site_ids": [],
        "start": iso(win.start), "end": iso(win.end),
        "expected": {"gateway": GATEWAYS[win.gateway], "attempts": int(u.size),
                     "invoices_open": int(still_open.sum()),
                     "amount_minor": {c: v["amount_minor"] for c, v in by.items()}, "by_currency": by},
    }


def _by_currency(w: World, cur: np.ndarray, amount: np.ndarray, count_key: str) -> dict:
    out = {}
    for c in sorted(set(cur.tolist())):
        m = cur == c
        out[w.currencies[c]] = {count_key: int(m.sum()), "amount_minor": _sum(amount[m])}
    return out


def decline_spike(w: World) -> dict:
    a, win = w.attempts, w.decline
    m = (a.method == CARD) & (a.brand == win.brand) & (a.attempted >= win.start) & (a.attempted < win.end)
    code = np.array([CODES.index(c) for c in DECLINE_CODES])[a.gateway]
    declined = m & (a.status == FAILED) & (a.code == code)
    by_gateway = {GATEWAYS[g]: {"failure_code": DECLINE_CODES[g], "attempts": int((m & (a.gateway == g)).sum()),
                                "declined": int((declined & (a.gateway == g)).sum())} for g in (0, 1)}
    by_currency = {}
    for c in sorted(set(a.currency[m].tolist())):
        mc = a.currency == c
        by_currency[w.currencies[c]] = {"attempts": int((m & mc).sum()), "declined": int((declined & mc).sum()),
                                        "declined_minor": _sum(a.amount[declined & mc])}
    return {
        "id": "issuer_decline_spike",
        "description": f"Issuers of {BRANDS[win.brand]} cards declined a large share of attempts for three hours "
                       "(do_not_honor on Stripe, Refused on Adyen); the declines were soft and retried later.",
        "site_ids": [],
        "start": iso(win.start), "end": iso(win.end),
        "expected": {"brand": BRANDS[win.brand], "attempts": int(m.sum()), "declined": int(declined.sum()),
                     "by_gateway": by_gateway, "by_currency": by_currency},
    }


def dispute_surge(w: World, g: Gateways) -> dict:
    inc, a = g.incidents, w.attempts
    att = inc.dispute_attempt[inc.dispute_surge]
    gw = a.gateway[att]
    s0, s1 = inc.surge_window
    site = w.plan.surge_site
    return {
        "id": "dispute_surge",
        "description": "One site's customers opened many disputes (chargebacks) over two days: a fraud wave "
                      "on cards used there.",
        "site_ids": [w.sites.site_id[site]],
        "start": iso(s0), "end": iso(s1),
        "expected": {"site_id": w.sites.site_id[site], "reason": DISPUTE_REASONS[0], "disputes": int(att.size),
                     "stripe_disputes": int((gw == STRIPE).sum()), "adyen_chargebacks": int((gw != STRIPE).sum()),
                     "by_currency": _by_currency(w, a.currency[att], a.amount[att], "disputes"),
                     "by_gateway": {GATEWAYS[k]: _by_currency(w, a.currency[att][gw == k], a.amount[att][gw == k],
                                                              "disputes") for k in (0, 1)}},
    }


def unrecorded_success(w: World, g: Gateways) -> dict:
    a, u = w.attempts, g.incidents.unrecorded
    by_gateway = {}
    for k in (0, 1):
        x = u[a.gateway[u] == k]
        by_gateway[GATEWAYS[k]] = {"attempts": int(x.size),
                                   "by_currency": _by_currency(w, a.currency[x], a.amount[x], "attempts")}
    return {
        "id": "unrecorded_success",
        "description": "Billing recorded some attempts as failed although the gateway charged the customer.",
        "site_ids": [],
        "start": iso(w.period.start), "end": iso(w.period.end),
        "expected": {"attempts": int(u.size), "attempt_ids": sorted(x.decode() for x in a.attempt_id[u].tolist()),
                     "by_gateway": by_gateway},
    }


def double_charge(w: World, g: Gateways) -> dict:
    a, inc = w.attempts, g.incidents
    d = inc.double_of
    by_gateway = {}
    for k in (0, 1):
        m = a.gateway[d] == k
        x = d[m]
        by_gateway[GATEWAYS[k]] = {
            "charges": int(x.size),
            "references": sorted(r.decode() for r in inc.double_reference[m].tolist()),
            "attempt_ids": sorted(r.decode() for r in inc.double_attempt_id[m].tolist()),
            "by_currency": _by_currency(w, a.currency[x], a.amount[x], "charges")}
    return {
        "id": "gateway_double_charge",
        "description": "The gateways charged some invoices a second time with no attempt recorded in billing.",
        "site_ids": [],
        "start": iso(w.period.start), "end": iso(w.period.end),
        "expected": {"charges": int(d.size),
                     "invoice_ids": sorted(x.decode() for x in w.invoices.invoice_id[a.invoice[d]].tolist()),
                     "by_gateway": by_gateway},
    }


def malformed_lines(w: World, g: Gateways, reports: list[Report]) -> dict:
    from demoworld.adyen import malformed_line_numbers

    mal, lines = g.malformed, g.lines
    rep = next((r for r in reports if r.batch_number == mal.batch), None)
    if rep is None:  # no Adyen settlement at all in this (tiny) world
        return {"id": "malformed_adyen_lines", "description": "No Adyen file in this world.", "site_ids": [],
                "start": iso(w.period.start), "end": iso(w.period.end),
                "expected": {"file_name": None, "batch_number": None, "merchant_account": None, "currency": None,
                             "lines": [], "malformed": 0, "good_lines": 0, "good_by_type": {}, "payout_minor": 0}}
    in_file = lines.batch == mal.batch
    numbers = malformed_line_numbers(lines, mal)
    types = np.bincount(lines.type[in_file], minlength=len(ADYEN_TYPES))
    payout = lines.net_debit[in_file & (lines.type == A_PAYOUT)]
    return {
        "id": "malformed_adyen_lines",
        "description": "One Adyen settlement file holds garbled copies of a few of its lines.",
        "site_ids": [],
        "start": iso(rep.batch_day), "end": iso(rep.batch_day + 86_400),
        "expected": {"file_name": rep.file_name, "batch_number": rep.batch_number,
                     "merchant_account": rep.merchant_account, "currency": rep.currency,
                     "lines": [{"line": n, "reason": why, "psp_reference": lines.psp[r].decode()}
                               for n, why, r in zip(numbers, mal.reason, mal.after_row.tolist(), strict=True)],
                     "malformed": len(numbers), "good_lines": int(in_file.sum()),
                     "good_by_type": {ADYEN_TYPES[t]: int(v) for t, v in enumerate(types) if v},
                     "payout_minor": int(payout[0]) if payout.size and payout[0] >= 0 else 0},
    }


def gateway_totals(g: Gateways, reports: list[Report]) -> dict:
    failed = g.payouts.payout_id[g.failed_payout].decode() if g.failed_payout >= 0 else None
    return {
        "stripe": {"charges": int(g.charges.charge_id.size), "refunds": int(g.refunds.refund_id.size),
                   "disputes": int(g.disputes.dispute_id.size),
                   "balance_transactions": int(g.txns.txn_id.size), "payouts": int(g.payouts.payout_id.size),
                   "failed_payout": failed},
        "adyen": {"files": len(reports), "lines": sum(r.lines for r in reports),
                  "settled": int((g.lines.type == A_SETTLED).sum()),
                  "chargebacks": int((g.lines.type == A_CHARGEBACK).sum())},
    }


def _day(epoch_s: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(epoch_s) // DAY)).isoformat()


def recon_incidents(w: World, r: Recon) -> list[dict]:
    t, p = r.transfers, r.plan
    refs = t.reference
    out = []

    def payout(row: int) -> dict:
        return {"gateway": GATEWAYS[int(t.gateway[row])], "payout_reference": refs[row],
                "currency": w.currencies[int(t.currency[row])]}

    def bank_day(row: int) -> dict:
        d = int(t.bank_day[row])
        return {"site_ids": [], "start": iso(d), "end": iso(d + DAY)}

    if p.missing >= 0:
        out.append({"id": "payout_missing_in_bank",
                    "description": "A paid Stripe payout never reached the bank account (the ledger booked it).",
                    **bank_day(p.missing),
                    "expected": {**payout(p.missing), "amount_minor": int(t.amount[p.missing]),
                                 "arrival_date": _day(t.bank_day[p.missing])}})
    if p.short >= 0:
        amount = int(t.amount[p.short])
        out.append({"id": "deposit_short_bank_fee",
                    "description": "A payout reached the bank short: the bank kept a fee from the deposit.",
                    **bank_day(p.short),
                    "expected": {**payout(p.short), "payout_minor": amount, "deposited_minor": amount - p.bank_fee,
                                 "bank_fee_minor": p.bank_fee}})
    if p.unreferenced >= 0:
        out.append({"id": "bank_credit_without_reference",
                    "description": "The bank passed a payout on without its reference: only amount and date match it.",
                    **bank_day(p.unreferenced),
                    "expected": {**payout(p.unreferenced), "amount_minor": int(t.amount[p.unreferenced]),
                                 "bank_date": _day(t.bank_day[p.unreferenced])}})
    if p.twice >= 0 and r.ledger.twice is not None:
        d = int(t.bank_day[p.twice])
        out.append({"id": "payout_booked_twice",
                    "description": "A payout's journal was posted twice in the general ledger, a day apart.",
                    "site_ids": [], "start": iso(d), "end": iso(d + 2 * DAY),
                    "expected": {"payout_reference": refs[p.twice], "currency": w.currencies[int(t.currency[p.twice])],
                                 "amount_minor": int(t.amount[p.twice]), "journal_ids": list(r.ledger.twice)}})
    if p.refund >= 0:
        rf = w.refunds
        created = int(rf.created[p.refund])
        out.append({"id": "refund_not_booked",
                    "description": "A refund the gateway paid out was never booked in the general ledger.",
                    "site_ids": [], "start": iso(created), "end": iso(created // DAY * DAY + 2 * DAY),
                    "expected": {"refund_id": rf.refund_id[p.refund].decode(),
                                 "currency": w.currencies[int(w.invoices.currency[rf.invoice[p.refund]])],
                                 "amount_minor": int(rf.amount[p.refund])}})
    if p.revenue >= 0:
        rev, k = r.revenue, p.revenue
        site = int(rev.site[k])
        sid, zone = w.sites.site_id[site], w.sites.timezone[site]
        local = date(1970, 1, 1) + timedelta(days=int(rev.local_day[k]))
        out.append({"id": "revenue_day_missing",
                    "description": "A site's day of parking revenue was never posted to the general ledger.",
                    "site_ids": [sid], "start": iso(local_midnight(zone, local)),
                    "end": iso(local_midnight(zone, local + timedelta(days=1))),
                    "expected": {"site_id": sid, "local_date": local.isoformat(),
                                 "currency": w.currencies[int(rev.currency[k])], "subtotal_minor": int(rev.subtotal[k]),
                                 "tax_minor": int(rev.tax[k]), "total_minor": int(rev.total[k]),
                                 "reference": f"REV-{sid}-{local.isoformat()}"}})
    if p.fx_currency >= 0:
        out.append({"id": "fx_rate_missing",
                    "description": "One day's exchange rate of one currency is missing from the rates file.",
                    "site_ids": [], "start": iso(p.fx_day), "end": iso(p.fx_day + DAY),
                    "expected": {"currency": w.currencies[p.fx_currency], "date": _day(p.fx_day)}})
    return out


def recon_totals(w: World, r: Recon) -> dict:
    from demoworld.bank import CAMT_CURRENCIES, account_number
    from demoworld.ledger import ACCOUNTS, CASH, CLEARING, FEES, REFUNDS, REVENUE, TAX
    from demoworld.recon import REPORTING_CURRENCY

    files, cal, led = r.bank_files, r.cal, r.ledger
    entries = [e for s in r.statements for e in s.entries]
    return {
        "reporting_currency": REPORTING_CURRENCY,
        "bank": {"accounts": {c: {"account": account_number(c), "format": "camt053" if c in CAMT_CURRENCIES else "bai2"}
                              for c in w.currencies},
                 "files": len(files), "bai2_files": sum(f.format == "bai2" for f in files),
                 "camt053_files": sum(f.format == "camt053" for f in files),
                 "first_day": _day(cal.bank_days[0]) if cal.bank_days.size else None,
                 "last_day": _day(cal.bank_days[-1]) if cal.bank_days.size else None,
                 "entries": len(entries), "payout_credits": sum(e.transfer >= 0 for e in entries)},
        "gl": {"exports": len(r.exports), "first_day": _day(cal.first_day), "last_day": _day(cal.last_export_day),
               "journals": int(led.journal_id.size), "lines": int(led.line_no.size),
               "accounts": {role: ACCOUNTS[k][0] for role, k in (("cash", CASH), ("clearing", CLEARING),
                            ("revenue", REVENUE), ("tax", TAX), ("fees", FEES), ("refunds", REFUNDS))}},
        "fx": {"rows": int(r.rates.day.size),
               "currencies": sorted({w.currencies[c] for c in r.rates.currency.tolist()}),
               "first_day": _day(int(cal.days[0])), "last_day": _day(cal.last_day)},
    }


def build(w: World, params_json: dict, g: Gateways, reports: list[Report], recon: Recon) -> dict:
    return {
        "params": params_json,
        "period": {"start": iso(w.period.start), "end": iso(w.period.end)},
        "totals": {"sessions": int(w.sessions.site.size), "invoices": int(w.invoices.kind.size),
                   "payment_attempts": int(w.attempts.invoice.size), "refunds": int(w.refunds.invoice.size)},
        "gateways": gateway_totals(g, reports),
        "recon": recon_totals(w, recon),
        "conventions": CONVENTIONS,
        "incidents": [old_price(w), missed_tax(w), duplicates(w), outage(w), spike(w), unknown(w),
                      decline_spike(w), dispute_surge(w, g), unrecorded_success(w, g), double_charge(w, g),
                      malformed_lines(w, g, reports), *recon_incidents(w, recon)],
    }
