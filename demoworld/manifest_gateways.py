"""The manifest's gateway side: the incidents seen in Stripe's objects and Adyen's files, and
the counts of those objects. Each `expected`, counted from the rows written:

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

`gateways` (top level): object counts of the gateway side: stripe {charges, refunds,
disputes, balance_transactions, payouts, failed_payout (its id)}, adyen {files, lines (data
lines, garbled ones included), settled, chargebacks}.
"""
from __future__ import annotations

import numpy as np

from demoworld.adyen import Report, malformed_line_numbers
from demoworld.gateways import A_CHARGEBACK, A_PAYOUT, A_SETTLED, ADYEN_TYPES, DISPUTE_REASONS, Gateways
from demoworld.params import iso
from demoworld.payments import GATEWAYS, STRIPE
from demoworld.simulated import World


def _sum(x: np.ndarray) -> int:
    return int(np.asarray(x, dtype=np.int64).sum())


def _by_currency(w: World, cur: np.ndarray, amount: np.ndarray, count_key: str) -> dict:
    out = {}
    for c in sorted(set(cur.tolist())):
        m = cur == c
        out[w.currencies[c]] = {count_key: int(m.sum()), "amount_minor": _sum(amount[m])}
    return out


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
