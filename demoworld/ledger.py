"""The general ledger's daily exports (SOURCES.md §5): the journals the company's ERP posted
for revenue, gateway payouts and refunds, plus some unrelated activity. Pure numpy for the
journals; the CSV text rendered column-wise; files stored in demo.gl_exports and written to
`out_dir/gl/`.

Conventions (what readers may rely on, beyond SOURCES.md):
- One CSV per day, `gl_export_<YYYYMMDD>.csv`, for every UTC day from the world's first day
  up to the last day fully over at the world's end; it holds the journals posted that day
  (header only when there are none). Header
  `journal_id,line,posted_date,account,account_name,debit,credit,currency,memo,reference`;
  `debit`/`credit` are decimal strings in major units by the currency's ISO 4217 exponent
  (`1234.50`; JPY `1234`), the other side empty. Lines of a journal are numbered from 1 and
  every journal balances in its one currency. Journal ids `JE-000001`, ... are unique,
  increasing with (posted_date, kind, key). No field holds a comma or a quote.
- Accounts are the defaults of revwatch/settings.py: cash 1010, gateway clearing 1150,
  parking revenue 4000, sales tax payable 2300, processing fees 6150, refunds 4050.
- Revenue, per (site, site-local date of `invoices.issued_at`, currency), over every invoice
  whose status is not `void`: debit clearing sum(total_minor), credit revenue
  sum(subtotal_minor), credit tax sum(tax_minor); `reference = REV-<site_id>-<YYYY-MM-DD>`
  (the local date), posted the next date (local date + 1), once the local day is over and
  only when that posting day has an export. The local date is the site's IANA timezone's
  (what PostgreSQL's `issued_at AT TIME ZONE sites.timezone` gives).
- Payouts (transfers.py): each Stripe payout paid or in_transit and each Adyen batch with a
  Net Debit MerchantPayout: debit cash = amount, debit fees = its fees, credit clearing =
  amount + fees; `reference` = the Stripe payout id or `ADYEN-<batch_number>`; posted on the
  payout's bank day (Stripe `arrival_date`; Adyen the next business day after the batch's
  close), when that day has an export.
- Refunds: each billing refund with status `succeeded`: debit refunds = amount, credit
  clearing = amount; `reference` = the refund_id; posted the UTC day after `created_at`.
- Unrelated activity on other accounts (to be ignored): rent on the first of each month
  (6100 Rent Expense / 2000 Accounts Payable, each currency), payroll every Friday (6000
  Salaries and Wages / 1020 Cash - Payroll Account, in USD); references
  `RENT-<YYYY-MM>-<CUR>` and `PAYROLL-<YYYY-MM-DD>`.
- Incidents (recon.py): one payout journal posted a second time a day later under a new id
  (payout_booked_twice), one succeeded refund with no journal (refund_not_booked), one
  site's local day of revenue with no journal (revenue_day_missing).
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np

from demoworld.adyen import decimal_text
from demoworld.localtime import local_day
from demoworld.params import DAY, stream
from demoworld.payments import REFUND_STATUSES, STRIPE, VOID
from demoworld.transfers import Calendar, Transfers, sum_by
from demoworld.writer import replace_files, stored_files

HEADER = "journal_id,line,posted_date,account,account_name,debit,credit,currency,memo,reference"
# (number, name): the roles first, in revwatch/settings.py's defaults, then the unrelated accounts
ACCOUNTS = (("1010", "Cash - Operating Bank"), ("1150", "Gateway Clearing"), ("4000", "Parking Revenue"),
            ("2300", "Sales Tax Payable"), ("6150", "Payment Processing Fees"), ("4050", "Refunds and Allowances"),
            ("1020", "Cash - Payroll Account"), ("6000", "Salaries and Wages"), ("6100", "Rent Expense"),
            ("2000", "Accounts Payable"))
CASH, CLEARING, REVENUE, TAX, FEES, REFUNDS, PAYROLL_CASH, WAGES, RENT, PAYABLE = range(len(ACCOUNTS))
K_REVENUE, K_PAYOUT, K_REFUND, K_OTHER = range(4)  # journal kinds, in posting order within a day
SUCCEEDED = REFUND_STATUSES.index("succeeded")
FRIDAY = 4  # (day number + 3) % 7, Monday = 0


def gl_exports_dir(out_dir: Path | str) -> Path:
    """Where generate(out_dir=...) puts the GL exports."""
    return Path(out_dir) / "gl"


def file_name(day: int) -> str:
    return f"gl_export_{_date(day).strftime('%Y%m%d')}.csv"


def _date(epoch_s: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(epoch_s) // DAY)


def iso_dates(day_numbers: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 -> b'YYYY-MM-DD' (S10), one date conversion per distinct day."""
    u, inv = np.unique(np.asarray(day_numbers, dtype=np.int64), return_inverse=True)
    text = np.array([(date(1970, 1, 1) + timedelta(days=int(d))).isoformat().encode() for d in u], dtype="S10")
    return text[inv.reshape(-1)] if u.size else np.zeros(0, dtype="S10")


class Revenue(NamedTuple):
    """Revenue per (site, local date, currency) the ledger books: local days over, with a
    posting day that has an export. Sorted by (site, local_day, currency)."""

    site: np.ndarray
    local_day: np.ndarray  # days since 1970-01-01 (the site-local date)
    currency: np.ndarray
    subtotal: np.ndarray
    tax: np.ndarray
    total: np.ndarray
    invoices: np.ndarray  # how many invoices the day sums

    @property
    def post_day(self) -> np.ndarray:
        """UTC midnight of the posting date (the local date + 1)."""
        return (self.local_day + 1) * DAY


def invoice_local_days(w) -> np.ndarray:
    """Each invoice's site-local issue date (days since 1970-01-01)."""
    site = w.sessions.site[w.invoices.session]
    return local_day(w.clock, w.sites.zone[site], w.invoices.issued)


def revenue_days(w, cal: Calendar) -> Revenue:
    inv = w.invoices
    keep = np.flatnonzero(w.collection.status != VOID)
    site = w.sessions.site[inv.session[keep]]
    lday = invoice_local_days(w)[keep]
    cur = inv.currency[keep]
    lo = int(lday.min()) if lday.size else 0
    span = int(lday.max()) - lo + 1 if lday.size else 1
    ncur = len(w.currencies)
    key = (site.astype(np.int64) * ncur + cur) * span + (lday - lo)
    u, idx = np.unique(key, return_inverse=True)
    idx = idx.reshape(-1)
    n = u.size
    g_site, rest = u // (ncur * span), u % (ncur * span)
    g_cur, g_day = rest // span, rest % span + lo
    sub = sum_by(idx, inv.subtotal[keep], n)
    tax = sum_by(idx, inv.tax[keep], n)
    count = np.bincount(idx, minlength=n)
    nsites = len(w.sites.site_id)
    end_day = local_day(w.clock, w.sites.zone, np.full(nsites, w.period.end, dtype=np.int64))
    ok = (g_day < end_day[g_site]) & ((g_day + 1) * DAY <= cal.last_export_day)
    order = np.lexsort((g_cur[ok], g_day[ok], g_site[ok]))
    return Revenue(g_site[ok][order], g_day[ok][order], g_cur[ok][order], sub[ok][order], tax[ok][order],
                   (sub + tax)[ok][order], count[ok][order])


class Ledger(NamedTuple):
    """Journal lines in journal-id order; journal-level arrays indexed by journal row."""

    journal_id: np.ndarray  # S9 per journal
    post_day: np.ndarray  # per journal, UTC midnight
    kind: np.ndarray  # per journal
    currency: np.ndarray  # per journal
    reference: np.ndarray  # S per journal
    memo: np.ndarray  # S per journal
    line_journal: np.ndarray  # per line: journal row
    line_no: np.ndarray
    account: np.ndarray  # per line: ACCOUNTS index
    debit: np.ndarray  # minor units, -1 = empty
    credit: np.ndarray
    twice: tuple[str, str] | None  # payout_booked_twice: (first, duplicate) journal ids


class _Part(NamedTuple):
    post_day: np.ndarray
    kind: int
    key: np.ndarray  # order within (post_day, kind)
    currency: np.ndarray
    reference: np.ndarray
    memo: np.ndarray
    account: np.ndarray  # (J, k)
    debit: np.ndarray  # (J, k), -1 empty
    credit: np.ndarray


def _lines(n: int, spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """spec: [(account, debit array or None, credit array or None)] -> (J, k) arrays."""
    acc = np.array([[a for a, _, _ in spec]] * n, dtype=np.int64).reshape(n, len(spec))
    empty = np.full(n, -1, dtype=np.int64)
    deb = np.stack([empty if d is None else np.asarray(d, dtype=np.int64) for _, d, _ in spec], axis=1) if n else \
        np.zeros((0, len(spec)), dtype=np.int64)
    cre = np.stack([empty if c is None else np.asarray(c, dtype=np.int64) for _, _, c in spec], axis=1) if n else \
        np.zeros((0, len(spec)), dtype=np.int64)
    return acc, deb, cre


def _text(values) -> np.ndarray:
    return np.array([v.encode() for v in values], dtype="S64") if len(values) else np.zeros(0, dtype="S64")


def simulate(w, t: Transfers, rev: Revenue, cal: Calendar, plan, seed: int) -> Ledger:
    """The journals; `plan` is recon.ReconPlan (which journals the incidents drop or repeat)."""
    rng = stream(seed, "ledger")
    parts: list[_Part] = []
    site_ids = np.array([s.encode() for s in w.sites.site_id])

    # revenue, one journal per booked (site, local date, currency), but the missing one
    keep = np.ones(rev.site.size, dtype=bool)
    if plan.revenue >= 0:
        keep[plan.revenue] = False
    r = np.flatnonzero(keep)
    dates = iso_dates(rev.local_day[r])
    ref = np.char.add(np.char.add(np.char.add(b"REV-", site_ids[rev.site[r]]), b"-"), dates)
    acc, deb, cre = _lines(r.size, [(CLEARING, rev.total[r], None), (REVENUE, None, rev.subtotal[r]),
                                    (TAX, None, rev.tax[r])])
    parts.append(_Part(rev.post_day[r], K_REVENUE, np.arange(r.size), rev.currency[r], ref,
                       np.char.add(b"Parking revenue ", np.char.add(np.char.add(site_ids[rev.site[r]], b" "), dates)),
                       acc, deb, cre))

    # payouts, and the one booked twice
    p = np.flatnonzero(t.booked(cal))
    refs = np.array([x.encode() for x in t.reference], dtype="S40") if t.gateway.size else np.zeros(0, "S40")
    memo = np.array([(f"Stripe payout {x}" if g == STRIPE else f"Adyen batch {b} payout").encode()
                     for g, x, b in zip(t.gateway.tolist(), t.reference, t.batch.tolist(), strict=True)], dtype="S64") \
        if t.gateway.size else np.zeros(0, "S64")
    rows = p
    post = t.bank_day[p]
    if plan.twice >= 0:
        rows = np.concatenate([p, [plan.twice]])
        post = np.concatenate([post, [t.bank_day[plan.twice] + DAY]])
    acc, deb, cre = _lines(rows.size, [(CASH, t.amount[rows], None), (FEES, t.fees[rows], None),
                                       (CLEARING, None, t.amount[rows] + t.fees[rows])])
    parts.append(_Part(post, K_PAYOUT, np.arange(rows.size), t.currency[rows], refs[rows], memo[rows],
                       acc, deb, cre))

    # refunds that succeeded, but the one never booked
    rf = w.refunds
    post = rf.created // DAY * DAY + DAY
    ok = (rf.status == SUCCEEDED) & (post <= cal.last_export_day)
    if plan.refund >= 0:
        ok[plan.refund] = False
    x = np.flatnonzero(ok)
    acc, deb, cre = _lines(x.size, [(REFUNDS, rf.amount[x], None), (CLEARING, None, rf.amount[x])])
    parts.append(_Part(post[x], K_REFUND, np.arange(x.size), w.invoices.currency[rf.invoice[x]], rf.refund_id[x],
                       np.full(x.size, b"Customer refund"), acc, deb, cre))

    # unrelated activity: rent on the first of each month, payroll every Friday
    days = cal.export_days
    dn = days // DAY
    firsts = days[[_date(d).day == 1 for d in days.tolist()]]
    ncur = len(w.currencies)
    rent_day = np.repeat(firsts, ncur)
    rent_cur = np.tile(np.arange(ncur), firsts.size)
    rent_amt = rng.integers(1_800_000, 2_600_000, rent_day.size) // 100 * 100
    fridays = days[(dn + 3) % 7 == FRIDAY]
    pay_amt = rng.integers(4_000_000, 6_500_000, fridays.size)
    o_day = np.concatenate([rent_day, fridays])
    payroll_cur = w.currencies.index("USD") if "USD" in w.currencies else 0
    o_cur = np.concatenate([rent_cur, np.full(fridays.size, payroll_cur, dtype=np.int64)])
    o_ref = _text([f"RENT-{_date(d):%Y-%m}-{w.currencies[c]}" for d, c in zip(rent_day.tolist(), rent_cur.tolist(), strict=True)]
                  + [f"PAYROLL-{_date(d).isoformat()}" for d in fridays.tolist()])
    o_memo = _text(["Monthly rent all sites"] * rent_day.size + ["Weekly payroll"] * fridays.size)
    amt = np.concatenate([rent_amt, pay_amt])
    is_rent = np.arange(amt.size) < rent_day.size
    acc = np.where(is_rent[:, None], np.array([[RENT, PAYABLE]]), np.array([[WAGES, PAYROLL_CASH]]))
    deb = np.stack([amt, np.full(amt.size, -1)], axis=1).astype(np.int64)
    cre = np.stack([np.full(amt.size, -1), amt], axis=1).astype(np.int64)
    parts.append(_Part(o_day, K_OTHER, np.arange(o_day.size), o_cur, o_ref, o_memo, acc.reshape(-1, 2), deb, cre))

    # journals in (posted day, kind, key) order, those posted after the last export dropped
    post = np.concatenate([q.post_day for q in parts]).astype(np.int64)
    kind = np.concatenate([np.full(q.post_day.size, q.kind) for q in parts])
    key = np.concatenate([q.key for q in parts]).astype(np.int64)
    part = np.concatenate([np.full(q.post_day.size, i) for i, q in enumerate(parts)])
    row = np.concatenate([np.arange(q.post_day.size) for q in parts])
    inside = (post >= cal.first_day) & (post <= cal.last_export_day)
    order = np.flatnonzero(inside)[np.lexsort((key[inside], kind[inside], post[inside]))]
    nj = order.size
    journal_id = np.char.add(b"JE-", np.char.zfill(np.arange(1, nj + 1).astype("S6"), 6))
    cur = np.concatenate([q.currency for q in parts]).astype(np.int64)[order]
    reference = np.concatenate([q.reference.astype("S64") for q in parts])[order]
    memo = np.concatenate([q.memo.astype("S64") for q in parts])[order]
    line_journal, line_no, account, debit, credit = [], [], [], [], []
    for i, q in enumerate(parts):
        mine = np.flatnonzero(part[order] == i)  # journal rows (in id order) of this part
        src = row[order][mine]
        k = q.account.shape[1]
        line_journal.append(np.repeat(mine, k))
        line_no.append(np.tile(np.arange(1, k + 1), mine.size))
        account.append(q.account[src].reshape(-1))
        debit.append(q.debit[src].reshape(-1))
        credit.append(q.credit[src].reshape(-1))
    lj = np.concatenate(line_journal)
    ln = np.concatenate(line_no)
    lorder = np.lexsort((ln, lj))
    twice = None
    if plan.twice >= 0:
        hits = np.flatnonzero((kind[order] == K_PAYOUT) & (reference == refs[plan.twice]))
        if hits.size == 2:
            twice = (journal_id[hits[0]].decode(), journal_id[hits[1]].decode())
    return Ledger(journal_id, post[order], kind[order], cur, reference, memo, lj[lorder], ln[lorder],
                  np.concatenate(account)[lorder], np.concatenate(debit)[lorder], np.concatenate(credit)[lorder],
                  twice)


class Export(NamedTuple):
    file_name: str
    day: int  # UTC midnight of the posting date
    journals: int
    lines: int
    content: str


def render(led: Ledger, cal: Calendar, currencies: tuple[str, ...]) -> list[Export]:
    j = led.line_journal
    cur = led.currency[j]
    names = np.array([f"{n},{name}".encode() for n, name in ACCOUNTS])
    codes = np.array([c.encode() for c in currencies])
    fields = [led.journal_id[j], led.line_no.astype("S4"), iso_dates(led.post_day[j] // DAY), names[led.account],
              decimal_text(led.debit, cur, currencies), decimal_text(led.credit, cur, currencies), codes[cur],
              led.memo[j], led.reference[j]]
    cols = [f.tolist() for f in fields]
    rows = list(map(b",".join, zip(*cols, strict=True)))
    line_day = led.post_day[j]
    out = []
    for day in cal.export_days.tolist():
        lo, hi = np.searchsorted(line_day, [day, day + DAY])
        body = rows[lo:hi]
        content = (HEADER.encode() + b"\n" + b"".join(r + b"\n" for r in body)).decode()
        nj = int(np.unique(j[lo:hi]).size)
        out.append(Export(file_name(day), day, nj, int(hi - lo), content))
    return out


def write_files(exports: list[Export], directory: Path | str) -> list[Path]:
    return replace_files([(e.file_name, e.content) for e in exports], directory, ("gl_export_*.csv",))


def rows(exports: list[Export]) -> list[tuple]:
    """demo.gl_exports rows."""
    return [(e.file_name, _date(e.day), e.journals, e.lines, e.content) for e in exports]


def write_gl_exports(libpq_url: str, directory: Path | str) -> list[Path]:
    """Re-materialise the GL exports of the world in `libpq_url` into `directory` (none when
    the world predates them)."""
    return replace_files(stored_files(libpq_url, "demo.gl_exports"), directory, ("gl_export_*.csv",))
