"""The manifest's reconciliation side: the incidents seen in the Stripe payouts, the bank statements,
the GL exports and the FX rates, and what those sources hold. Each `expected`:

payout_short_of_entries -- (stage S2) a paid Stripe payout paid out less than the nets of the
    balance entries listed with it (`payout=po_…`): one charge listed with it was not paid. The
    bank credit and the GL journal carry the payout's (short) amount, so only the payout's
    reconstruction breaks. start/end: the UTC day the payout was created. gateway ('stripe');
    payout_reference; currency; payout_minor (its amount); entries_net_minor (the nets of its
    entries); short_minor = entries_net_minor - payout_minor; entry (the balance transaction of
    the charge not paid); entries (balance transactions listed with it, its own excluded).

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

These eight incidents (picked in recon.py) take five different payouts (never the
failed Stripe payout, the one carrying its amount back, or the malformed Adyen file's batch),
a refund and a site-day no other incident touches, and an FX date none of them uses; each is
picked in the middle third of the world where it can be (a world too small to hold one is left
without it). Bank, GL and FX conventions: bank.py, ledger.py, fx.py, transfers.py.

`recon` (top level): the reconciliation sources: reporting_currency; bank {accounts: {CUR:
{account, format}}, files, bai2_files, camt053_files, first_day, last_day (bank days with a
file), entries, payout_credits}; gl {exports, first_day, last_day, journals, lines,
accounts: {cash, clearing, revenue, tax, fees, refunds: account number}}; fx {rows,
currencies, first_day, last_day}.
"""
from __future__ import annotations

from datetime import date, timedelta

from demoworld.bank import CAMT_CURRENCIES, account_number
from demoworld.gateways import T_PAYOUT, Gateways
from demoworld.ledger import ACCOUNTS, CASH, CLEARING, FEES, REFUNDS, REVENUE, TAX
from demoworld.localtime import local_midnight
from demoworld.params import DAY, iso
from demoworld.payments import GATEWAYS
from demoworld.recon import REPORTING_CURRENCY
from demoworld.simulated import Recon, World


def _day(epoch_s: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(epoch_s) // DAY)).isoformat()


def short_of_entries(w: World, r: Recon, g: Gateways) -> dict:
    s2, po, txns = g.short_payout, g.payouts, g.txns
    row = r.plan.short_of_entries
    listed = (txns.payout == po.payout_id[s2.row]) & (txns.type != T_PAYOUT)
    net = int((txns.amount[listed] - txns.fee[listed]).sum())
    day = int(po.created[s2.row]) // DAY * DAY
    return {"id": "payout_short_of_entries",
            "description": "A Stripe payout paid out less than the nets of the balance entries listed with it.",
            "site_ids": [], "start": iso(day), "end": iso(day + DAY),
            "expected": {"gateway": GATEWAYS[int(r.transfers.gateway[row])], "payout_reference": r.transfers.reference[row],
                         "currency": w.currencies[int(po.currency[s2.row])], "payout_minor": int(po.amount[s2.row]),
                         "entries_net_minor": net, "short_minor": s2.short, "entry": s2.entry.decode(),
                         "entries": int(listed.sum())}}


def recon_incidents(w: World, r: Recon, g: Gateways) -> list[dict]:
    t, p = r.transfers, r.plan
    refs = t.reference
    out = [short_of_entries(w, r, g)] if p.short_of_entries >= 0 and g.short_payout.row >= 0 else []

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
