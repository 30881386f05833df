"""The operator's bank statements (SOURCES.md §4): one account per currency, one file per bank
business day, BAI2 for every account but the Canadian one, which the bank reports as ISO 20022
camt.053. Entries are simulated per (account, day) with a few draws each; files are stored in
demo.bank_files and written to `out_dir/bank/`.

Conventions (what readers may rely on, beyond SOURCES.md):
- Accounts: USD `4401237788` (BAI2), CAD `0038812047` (camt.053); any other currency gets a
  BAI2 account of its own (`account_number`). Days are UTC dates; bank days are Monday to
  Friday from the world's first day up to the last business day fully over at the world's
  end; every bank day has a file for every account, entries or not.
- BAI2 (`bai2_<YYYYMMDD>.txt`, written with the `bai2` library): 01 file header (sender
  121000358, receiver PARKCO, created the bank day at 23:30, file id YYYYMMDD); one 02
  group (as-of the bank day, time 2400, modifier 4: final same-day); per account one 03
  record with the account number, currency and two status items (010 opening ledger, 015
  closing ledger; signed integers in minor units), then one 16 record per entry: type code,
  amount (unsigned integer, minor units), funds type 0, bank reference (unique), empty
  customer reference, and the entry's text; 49/98/99 trailers carry the control totals (sum
  of every amount in the 03 and 16 records of the account, group, file) and record counts.
  Lines end in a newline; records never exceed 80 characters (no 88 continuations).
- camt.053.001.02 (`camt053_<YYYYMMDD>.xml`): one `Stmt` per camt account and day with
  `Acct/Id/Othr/Id`, `Acct/Ccy`, opening (OPBD) and closing (CLBD) balances, `TxsSummry`
  (entry count and sums, credits and debits), then one `Ntry` per entry: `NtryRef` (the bank
  reference), `Amt Ccy=` (decimal, major units), `CdtDbtInd` (CRDT/DBIT), `Sts` BOOK,
  `BookgDt/Dt` and `ValDt/Dt` (the bank day), `BkTxCd/Prtry/Cd` (the BAI2 type code, issuer
  BAI), `AddtlNtryInf` (the text).
- Gateway payouts (transfers.py) arrive as credits on their bank day: Stripe type 165, text
  `STRIPE PAYOUT <po_id>`; Adyen type 169, text `ADYEN BATCH <batch_number>`. A failed
  Stripe payout never arrives; a payout whose bank day has no file is not in the bank yet.
- Other activity, never a payout: a monthly account analysis fee on the first business day
  of each month (698 `ACCOUNT ANALYSIS FEE`), and each day 0-2 other credits (301 deposits,
  399 miscellaneous) and 1-3 debits (475 checks, 495 outgoing wires) with unrelated texts;
  no other credit has the amount of any payout of its currency.
- Incidents (recon.py): one payout missing, one arriving short by a bank fee, one whose text
  is `STRIPE TRANSFER` / `ADYEN TRANSFER` (no reference).
"""
from __future__ import annotations

import zlib
from datetime import date, time, timedelta
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import escape

import numpy as np
from bai2 import bai2, models
from bai2.constants import AsOfDateModifier, FundsType, GroupStatus, TypeCodes

from demoworld.adyen import EXPONENT
from demoworld.params import DAY, stream
from demoworld.payments import STRIPE
from demoworld.transfers import Calendar, Transfers
from demoworld.writer import replace_files, stored_files

ACCOUNT_NUMBERS = {"USD": "4401237788", "CAD": "0038812047"}
CAMT_CURRENCIES = frozenset({"CAD"})
BANK_ID = "121000358"
CUSTOMER_ID = "PARKCO"
BIC = "DEMOCATTXXX"
PAYOUT_CODE = {STRIPE: 165}  # anything else (Adyen): 169
ADYEN_CODE = 169
FEE_CODE = 698
CREDITS = ((301, "COUNTER DEPOSIT BRANCH {n:04d}", 2_000, 60_000), (301, "REMOTE DEPOSIT CAPTURE", 500, 20_000),
           (399, "INSURANCE CLAIM SETTLEMENT", 200, 15_000), (399, "VENDOR REBATE CITYWIDE SUPPLY", 50, 5_000))
DEBITS = ((475, "CHECK {n}", 100, 25_000), (495, "WIRE OUT CITYWIDE FACILITIES LLC", 5_000, 90_000),
          (495, "WIRE OUT GATE SYSTEMS INC", 2_000, 40_000), (475, "CHECK {n}", 300, 8_000))
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def account_number(currency: str) -> str:
    return ACCOUNT_NUMBERS.get(currency) or f"77{zlib.crc32(currency.encode()) % 10**8:08d}"


def bank_statements_dir(out_dir: Path | str) -> Path:
    """Where generate(out_dir=...) puts the bank files."""
    return Path(out_dir) / "bank"


def _date(epoch_s: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(epoch_s) // DAY)


class Entry(NamedTuple):
    currency: int
    day: int  # UTC midnight of the bank day
    code: int  # BAI2 type code
    amount: int  # minor units, > 0
    credit: bool
    text: str
    bank_ref: str
    transfer: int  # row in Transfers, -1 for other activity


class Statement(NamedTuple):
    currency: int
    day: int
    opening: int
    closing: int
    entries: list[Entry]


def simulate(currencies: tuple[str, ...], t: Transfers, cal: Calendar, plan, seed: int) -> list[Statement]:
    """One statement per (account, bank day), in (day, currency) order. `plan` is
    recon.ReconPlan: the missing, short and unreferenced payouts."""
    rng = stream(seed, "bank")
    arrive = t.arrives(cal)
    if plan.missing >= 0:
        arrive[plan.missing] = False
    texts = t.bank_text
    payouts: dict[tuple[int, int], list[int]] = {}
    for r in np.flatnonzero(arrive).tolist():
        payouts.setdefault((int(t.currency[r]), int(t.bank_day[r])), []).append(r)
    balance = {c: int(rng.integers(1_000_000, 3_000_000)) * 10 ** EXPONENT[code] for c, code in enumerate(currencies)}
    check = 10_001
    out = []
    for day in cal.bank_days.tolist():
        d = _date(day)
        first_of_month = not any((d - timedelta(days=k)).weekday() < 5 for k in range(1, d.day))
        for c, code in enumerate(currencies):
            unit = 10 ** EXPONENT[code]
            taken = set(t.amount[t.currency == c].tolist())  # other credits never look like a payout
            lines: list[tuple[int, int, bool, str, int]] = []  # code, amount, credit, text, transfer
            for r in payouts.get((c, day), []):
                amount = int(t.amount[r]) - (plan.bank_fee if r == plan.short else 0)
                gw = int(t.gateway[r])
                text = texts[r] if r != plan.unreferenced else ("STRIPE TRANSFER" if gw == STRIPE else "ADYEN TRANSFER")
                lines.append((PAYOUT_CODE.get(gw, ADYEN_CODE), amount, True, text, r))
            for k in rng.choice(len(CREDITS), size=int(rng.integers(0, 3))).tolist():
                type_code, text, lo, hi = CREDITS[k]
                amount = int(rng.integers(lo, hi)) * unit + int(rng.integers(0, unit))
                while amount in taken:
                    amount += 1
                lines.append((type_code, amount, True, text.format(n=int(rng.integers(1, 9999))), -1))
            if first_of_month:
                lines.append((FEE_CODE, int(rng.integers(45, 180)) * unit + int(rng.integers(0, unit)), False,
                              "ACCOUNT ANALYSIS FEE", -1))
            for k in rng.choice(len(DEBITS), size=int(rng.integers(1, 4))).tolist():
                type_code, text, lo, hi = DEBITS[k]
                amount = int(rng.integers(lo, hi)) * unit + int(rng.integers(0, unit))
                if "{n}" in text:
                    text, check = text.format(n=check), check + 1
                lines.append((type_code, amount, False, text, -1))
            ymd = d.strftime("%y%m%d")
            entries = [Entry(c, day, tc, amt, cr, text, f"{ymd}{c}{i + 1:04d}", r)
                       for i, (tc, amt, cr, text, r) in enumerate(lines)]
            opening = balance[c]
            balance[c] = opening + sum(e.amount if e.credit else -e.amount for e in entries)
            out.append(Statement(c, day, opening, balance[c], entries))
    return out


class BankFile(NamedTuple):
    file_name: str
    format: str  # bai2 | camt053
    day: int
    accounts: str  # account numbers, comma-separated
    entries: int
    content: str


def _bai2(day: int, statements: list[Statement], currencies: tuple[str, ...]) -> str:
    d = _date(day)
    accounts = []
    for s in statements:
        code = currencies[s.currency]
        details = [models.TransactionDetail(type_code=TypeCodes[str(e.code)], amount=e.amount,
                                            funds_type=FundsType.immediate_availability, bank_reference=e.bank_ref,
                                            customer_reference=None, text=e.text) for e in s.entries]
        header = models.AccountIdentifier(customer_account_number=account_number(code), currency=code, summary_items=[
            models.Summary(type_code=TypeCodes["010"], amount=s.opening),
            models.Summary(type_code=TypeCodes["015"], amount=s.closing)])
        accounts.append(models.Account(header=header, children=details))
    group = models.Group(header=models.GroupHeader(
        ultimate_receiver_id=CUSTOMER_ID, originator_id=BANK_ID, group_status=GroupStatus.update, as_of_date=d,
        as_of_time=time.max, currency=currencies[statements[0].currency],
        as_of_date_modifier=AsOfDateModifier.final_same_day), children=accounts)
    f = models.Bai2File(header=models.Bai2FileHeader(
        sender_id=BANK_ID, receiver_id=CUSTOMER_ID, creation_date=d, creation_time=time(23, 30),
        file_id=d.strftime("%Y%m%d"), physical_record_length=80, block_size=None, version_number=2),
        children=[group])
    text = bai2.write(f) + "\n"
    if max(map(len, text.splitlines())) > 80:  # a continuation record would split a reference
        raise AssertionError("a BAI2 record longer than 80 characters")
    return text


def _major(minor: int, currency: str) -> str:
    exp = EXPONENT[currency]
    sign, v = ("-" if minor < 0 else ""), abs(int(minor))
    return f"{sign}{v}" if exp == 0 else f"{sign}{v // 10 ** exp}.{v % 10 ** exp:0{exp}d}"


def _camt(day: int, statements: list[Statement], currencies: tuple[str, ...], seq: int) -> str:
    d = _date(day).isoformat()
    ymd = _date(day).strftime("%Y%m%d")
    x = ['<?xml version="1.0" encoding="UTF-8"?>',
         f'<Document xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
         "  <BkToCstmrStmt>",
         "    <GrpHdr>", f"      <MsgId>CAMT053-{ymd}</MsgId>", f"      <CreDtTm>{d}T23:30:00</CreDtTm>",
         "    </GrpHdr>"]
    for s in statements:
        code = currencies[s.currency]
        acct = account_number(code)
        cr = [e for e in s.entries if e.credit]
        db = [e for e in s.entries if not e.credit]
        net = sum(e.amount for e in cr) - sum(e.amount for e in db)
        x += ["    <Stmt>", f"      <Id>STMT-{acct}-{ymd}</Id>", f"      <ElctrncSeqNb>{seq}</ElctrncSeqNb>",
              f"      <CreDtTm>{d}T23:30:00</CreDtTm>",
              f"      <FrToDt><FrDtTm>{d}T00:00:00</FrDtTm><ToDtTm>{d}T23:59:59</ToDtTm></FrToDt>",
              "      <Acct>", f"        <Id><Othr><Id>{acct}</Id></Othr></Id>", f"        <Ccy>{code}</Ccy>",
              f"        <Nm>ParkCo Operating {code}</Nm>",
              f"        <Svcr><FinInstnId><BIC>{BIC}</BIC></FinInstnId></Svcr>", "      </Acct>"]
        for tp, amount in (("OPBD", s.opening), ("CLBD", s.closing)):
            x += ["      <Bal>", f"        <Tp><CdOrPrtry><Cd>{tp}</Cd></CdOrPrtry></Tp>",
                  f'        <Amt Ccy="{code}">{_major(abs(amount), code)}</Amt>',
                  f"        <CdtDbtInd>{'CRDT' if amount >= 0 else 'DBIT'}</CdtDbtInd>",
                  f"        <Dt><Dt>{d}</Dt></Dt>", "      </Bal>"]
        x += ["      <TxsSummry>",
              f"        <TtlNtries><NbOfNtries>{len(s.entries)}</NbOfNtries>"
              f"<Sum>{_major(sum(e.amount for e in s.entries), code)}</Sum>"
              f"<TtlNetNtryAmt>{_major(abs(net), code)}</TtlNetNtryAmt>"
              f"<CdtDbtInd>{'CRDT' if net >= 0 else 'DBIT'}</CdtDbtInd></TtlNtries>",
              f"        <TtlCdtNtries><NbOfNtries>{len(cr)}</NbOfNtries>"
              f"<Sum>{_major(sum(e.amount for e in cr), code)}</Sum></TtlCdtNtries>",
              f"        <TtlDbtNtries><NbOfNtries>{len(db)}</NbOfNtries>"
              f"<Sum>{_major(sum(e.amount for e in db), code)}</Sum></TtlDbtNtries>",
              "      </TxsSummry>"]
        for e in s.entries:
            x += ["      <Ntry>", f"        <NtryRef>{e.bank_ref}</NtryRef>",
                  f'        <Amt Ccy="{code}">{_major(e.amount, code)}</Amt>',
                  f"        <CdtDbtInd>{'CRDT' if e.credit else 'DBIT'}</CdtDbtInd>", "        <Sts>BOOK</Sts>",
                  f"        <BookgDt><Dt>{d}</Dt></BookgDt>", f"        <ValDt><Dt>{d}</Dt></ValDt>",
                  f"        <AcctSvcrRef>{e.bank_ref}</AcctSvcrRef>",
                  f"        <BkTxCd><Prtry><Cd>{e.code}</Cd><Issr>BAI</Issr></Prtry></BkTxCd>",
                  f"        <AddtlNtryInf>{escape(e.text)}</AddtlNtryInf>", "      </Ntry>"]
        x.append("    </Stmt>")
    x += ["  </BkToCstmrStmt>", "</Document>"]
    return "\n".join(x) + "\n"


def render(statements: list[Statement], currencies: tuple[str, ...]) -> list[BankFile]:
    """The files, in (day, format) order: per bank day one BAI2 file over the BAI2 accounts and
    one camt.053 file over the camt accounts (where the world has such accounts)."""
    by_day: dict[int, list[Statement]] = {}
    for s in statements:
        by_day.setdefault(s.day, []).append(s)
    out = []
    for seq, (day, group) in enumerate(sorted(by_day.items()), start=1):
        ymd = _date(day).strftime("%Y%m%d")
        bai = [s for s in group if currencies[s.currency] not in CAMT_CURRENCIES]
        camt = [s for s in group if currencies[s.currency] in CAMT_CURRENCIES]
        for fmt, mine, name in (("bai2", bai, f"bai2_{ymd}.txt"), ("camt053", camt, f"camt053_{ymd}.xml")):
            if not mine:
                continue
            content = _bai2(day, mine, currencies) if fmt == "bai2" else _camt(day, mine, currencies, seq)
            out.append(BankFile(name, fmt, day, ",".join(account_number(currencies[s.currency]) for s in mine),
                                sum(len(s.entries) for s in mine), content))
    return out


PATTERNS = ("bai2_*.txt", "camt053_*.xml")  # the files a world writes (and a new one replaces)


def write_files(files: list[BankFile], directory: Path | str) -> list[Path]:
    return replace_files([(f.file_name, f.content) for f in files], directory, PATTERNS)


def rows(files: list[BankFile]) -> list[tuple]:
    """demo.bank_files rows."""
    return [(f.file_name, f.format, _date(f.day), f.accounts, f.entries, f.content) for f in files]


def write_bank_files(libpq_url: str, directory: Path | str) -> list[Path]:
    """Re-materialise the bank files of the world in `libpq_url` into `directory` (none when
    the world predates them)."""
    return replace_files(stored_files(libpq_url, "demo.bank_files"), directory, PATTERNS)

