"""The manifest's incidents that billing's own tables show: pricing and invoicing (old plan,
missed tax change, duplicate invoices, gate sync outage) and payment attempts (processing-error
spike, unknown attempts, issuer-decline spike). Each `expected`, counted from the rows written:

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
"""
from __future__ import annotations

import numpy as np

from demoworld.billing import DUPLICATE, NORMAL
from demoworld.localtime import local_midnight
from demoworld.params import iso
from demoworld.payments import BRANDS, CARD, CODES, DECLINE_CODES, FAILED, GATEWAYS, PAID, SPIKE_CODES, UNKNOWN
from demoworld.simulated import World
from demoworld.world import CITIES, rate_text


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
