"""Adyen's Settlement details report: one CSV file per settlement batch, the columns of
SOURCES.md §3 in Adyen's names and order, rendered from gateways.AdyenLines with numpy
(no per-field Python formatting), stored in demo.adyen_reports and written to disk."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from demoworld.gateways import (
    A_FEE,
    A_PAYOUT,
    ADYEN_METHODS,
    ADYEN_TYPES,
    BAD_CURRENCY,
    COMPANY_ACCOUNT,
    AdyenLines,
    Batches,
    Malformed,
)
from demoworld.writer import encode_ts, replace_files, stored_files

COLUMNS = ("Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method",
           "Creation Date", "TimeZone", "Type", "Modification Reference", "Gross Currency", "Gross Debit (GC)",
           "Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)", "Net Credit (NC)",
           "Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)", "Batch Number")
HEADER = ",".join(COLUMNS).encode()
TIMEZONE = "UTC"
EXPONENT = {"USD": 2, "CAD": 2, "EUR": 2, "JPY": 0}
_FRAC = np.array([f"{i:02d}".encode() for i in range(100)])


class Report(NamedTuple):
    batch_number: int
    file_name: str
    merchant_account: str
    currency: str
    batch_day: int  # UTC midnight, epoch s
    closed_at: int
    lines: int  # data lines, header excluded
    content: str


def file_name(batch: int) -> str:
    return f"settlement_detail_report_batch_{batch}.csv"


def merchant_account(currency: str) -> str:
    return f"{COMPANY_ACCOUNT}{currency}"


def adyen_reports_dir(out_dir: Path | str) -> Path:
    """Where generate(out_dir=...) puts the Adyen files."""
    return Path(out_dir) / "adyen"


def decimal_text(minor: np.ndarray, currency: np.ndarray, currencies: tuple[str, ...]) -> np.ndarray:
    """Minor units -> major-unit decimal strings by each currency's exponent; -1 -> b''."""
    minor = np.asarray(minor, dtype=np.int64)
    out = np.full(minor.size, b"", dtype="S24")
    for c, code in enumerate(currencies):
        exp = EXPONENT[code]
        m = (currency == c) & (minor >= 0)
        v = minor[m]
        if exp == 0:
            out[m] = v.astype("S24")
        elif exp == 2:
            out[m] = np.char.add(np.char.add((v // 100).astype("S22"), b"."), _FRAC[v % 100])
        else:
            raise ValueError(f"exponent {exp} not supported")
    return out


def render(lines: AdyenLines, batches: Batches, malformed: Malformed, currencies: tuple[str, ...]) -> list[Report]:
    n = lines.batch.size
    cur = np.array([c.encode() for c in currencies])[lines.currency]
    merchant = np.array([merchant_account(c).encode() for c in currencies])[lines.currency]
    method = np.array([m.encode() for m in ADYEN_METHODS] + [b""])[np.where(lines.method < 0, len(ADYEN_METHODS),
                                                                             lines.method)]
    has_gross = (lines.type != A_PAYOUT) & (lines.type != A_FEE)
    fields = [
        np.full(n, COMPANY_ACCOUNT.encode()), merchant, lines.psp, lines.merchant_ref, method,
        encode_ts(lines.created).astype("S19"), np.full(n, TIMEZONE.encode()),
        np.array([t.encode() for t in ADYEN_TYPES])[lines.type], lines.mod_ref, cur,
        decimal_text(lines.gross_debit, lines.currency, currencies),
        decimal_text(lines.gross_credit, lines.currency, currencies),
        np.where(has_gross, b"1", b""), cur,
        decimal_text(lines.net_debit, lines.currency, currencies),
        decimal_text(lines.net_credit, lines.currency, currencies),
        decimal_text(lines.commission, lines.currency, currencies),
        decimal_text(lines.markup, lines.currency, currencies),
        decimal_text(lines.scheme, lines.currency, currencies),
        decimal_text(lines.interchange, lines.currency, currencies),
        lines.batch.astype("S12"),
    ]
    cols = [f.tolist() for f in fields]
    rows = list(map(b",".join, zip(*cols, strict=True)))
    # garbled copies, each right after the line it copies
    extra: dict[int, bytes] = {}
    for r, why in zip(malformed.after_row.tolist(), malformed.reason, strict=True):
        f = [c[r] for c in cols]
        if why == "bad_decimal":
            k = COLUMNS.index("Gross Credit (GC)")
            f[k] = b'"' + f[k].replace(b".", b",") + b'"'
        elif why == "missing_column":
            del f[COLUMNS.index("Interchange (NC)")]
        elif why == "unknown_currency":
            f[COLUMNS.index("Gross Currency")] = f[COLUMNS.index("Net Currency")] = BAD_CURRENCY.encode()
        extra[r] = b",".join(f)
    bounds = [*np.searchsorted(lines.batch, batches.number, side="left").tolist(), n]
    out = []
    for i, number in enumerate(batches.number.tolist()):
        lo, hi = bounds[i], bounds[i + 1]
        body = rows[lo:hi]
        if number == malformed.batch:
            body = []
            for r in range(lo, hi):
                body.append(rows[r])
                if r in extra:
                    body.append(extra[r])
        content = (HEADER + b"\n" + b"\n".join(body) + b"\n").decode()
        code = currencies[int(batches.currency[i])]
        out.append(Report(number, file_name(number), merchant_account(code), code, int(batches.day[i]),
                          int(batches.closed_at[i]), len(body), content))
    return out


def malformed_line_numbers(lines: AdyenLines, malformed: Malformed) -> list[int]:
    """1-based line numbers (header = line 1) of the garbled copies in their file."""
    rows = np.flatnonzero(lines.batch == malformed.batch)
    out = []
    for k, r in enumerate(malformed.after_row.tolist()):
        position = int(np.searchsorted(rows, r)) + 1  # data line of the original, 1-based
        out.append(1 + position + k + 1)  # header, the lines up to the original, earlier copies, itself
    return out


def write_files(reports: list[Report], directory: Path | str) -> list[Path]:
    return replace_files([(r.file_name, r.content) for r in reports], directory, ("settlement_detail_report_batch_*.csv",))


def write_adyen_reports(libpq_url: str, directory: Path | str) -> list[Path]:
    """Re-materialise the Adyen files of the world in `libpq_url` into `directory`."""
    return replace_files(stored_files(libpq_url, "demo.adyen_reports"), directory,
                         ("settlement_detail_report_batch_*.csv",))
