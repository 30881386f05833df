"""The reconciliation's identifiers: item keys and the payout and revenue references, built and
parsed in Python and in SQL here only, so the job that writes them (collectors/compute) and the
reads that parse them (metrics/figures) cannot drift apart.

Item keys (`recon_items.item_key`, unique per stage):

  payment           attempt:<attempt_id>            refund, refund_journal  refund:<refund_id>
  gateway_payment,  <gateway>:<charge or PSP ref>   balance_entry           txn:<balance transaction id>
  gateway_refund    <gateway>:<refund or merchant ref>
  payout, payout_journal  payout:<gateway>:<Stripe payout id | Adyen batch number>
  bank_credit       bank:<file sha256>:<line number>
  revenue_day       rev:<site_id>:<YYYY-MM-DD>:<currency>
  ledger_entry      gl:<GL reference, or 'journal <journal id>' when it has none>

References the other side carries: a payout's bank text and journal name `po_…` (Stripe) or
`ADYEN-<batch>`; a revenue day's journal `REV-<site_id>-<YYYY-MM-DD>`. A reference column
listing several records (`right_ref` of a payout matched to two bank lines) joins them with ','.

The SQL fragments are expressions over the column names their comment gives; a statement
splices them in by name (an f-string of constants, never a template filled at run time).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

GATEWAYS = ("stripe", "adyen")
ITEM_TYPES = ("payment", "gateway_payment", "refund", "gateway_refund", "balance_entry", "payout", "bank_credit",
              "payout_journal", "revenue_day", "refund_journal", "ledger_entry")
# how an item that did not match is broken (recon_items.break_type)
BREAK_TYPES = ("missing", "amount_mismatch", "duplicate", "status_mismatch", "currency_mismatch")
SEP = ":"
REFS_SEP = ","
ADYEN_PREFIX = "ADYEN-"
REVENUE_PREFIX = "REV-"
NO_REFERENCE = "journal "  # a ledger_entry key's reference when the posting has none: 'journal <id>'

# ---------------------------------------------------------------- SQL: build
# over bank_lines (file_sha256, line_number)
BANK_KEY_SQL = "('bank:' || file_sha256 || ':' || line_number)"
# over stripe_payouts p
STRIPE_PAYOUT_KEY_SQL = "('payout:stripe:' || p.id)"
# over a row with batch_number (adyen_settlement_lines, or a batch grouped from it)
ADYEN_PAYOUT_KEY_SQL = "('payout:adyen:' || batch_number)"
ADYEN_REFERENCE_SQL = "('ADYEN-' || batch_number)"
# over rows with site_id, local_date, currency
REVENUE_KEY_SQL = "('rev:' || site_id || ':' || to_char(local_date, 'YYYY-MM-DD') || ':' || currency)"
REVENUE_REFERENCE_SQL = "('REV-' || site_id || '-' || to_char(local_date, 'YYYY-MM-DD'))"

# ---------------------------------------------------------------- SQL: parse
# over recon_items.item_key of a payout: its gateway; the Stripe payout id or the Adyen batch number (as text)
PAYOUT_GATEWAY_OF_KEY_SQL = "split_part(item_key, ':', 2)"
PAYOUT_REF_OF_KEY_SQL = "split_part(item_key, ':', 3)"
ADYEN_BATCH_OF_KEY_SQL = "CAST(split_part(item_key, ':', 3) AS int)"
# over a GL reference `ref`: the Adyen batch it names (NULL for any other reference)
ADYEN_BATCH_OF_REFERENCE_SQL = "CAST(substring(ref FROM '^ADYEN-([0-9]{1,9})$') AS int)"
# over a GL reference `ref`: the site and local day a revenue journal names (NULL for any other)
REVENUE_SITE_OF_REFERENCE_SQL = "substring(ref FROM '^REV-(.+)-[0-9]{4}-[0-9]{2}-[0-9]{2}$')"
REVENUE_DAY_OF_REFERENCE_SQL = "CAST(substring(ref FROM '^REV-.+-([0-9]{4}-[0-9]{2}-[0-9]{2})$') AS date)"

_ADYEN_REFERENCE = re.compile(r"^ADYEN-([0-9]{1,9})$")
_REVENUE_REFERENCE = re.compile(r"^REV-(.+)-([0-9]{4}-[0-9]{2}-[0-9]{2})$", re.DOTALL)  # "." as in SQL


def _part(value: object, what: str) -> str:
    """One part of a key: text without the separator (the SQL parse splits on every one)."""
    text = str(value)
    if not text or SEP in text:
        raise ValueError(f"{what} {text!r} cannot be part of a reconciliation key: empty or containing {SEP!r}")
    return text


# ---------------------------------------------------------------- Python: build
def attempt_key(attempt_id: str) -> str:
    return f"attempt:{attempt_id}"


def refund_key(refund_id: str) -> str:
    return f"refund:{refund_id}"


def gateway_key(gateway: str, reference: str) -> str:
    return f"{gateway}:{reference}"


def txn_key(txn_id: str) -> str:
    return f"txn:{txn_id}"


def ledger_key(reference: str) -> str:
    return f"gl:{reference}"


def bank_key(file_sha256: str, line_number: int) -> str:
    return f"bank:{_part(file_sha256, 'file hash')}:{int(line_number)}"


def payout_key(gateway: str, ref: str | int) -> str:
    """`payout:stripe:po_1`, `payout:adyen:42`: the payout at S2-S4."""
    if gateway not in GATEWAYS:
        raise ValueError(f"unknown gateway {gateway!r}; one of {GATEWAYS}")
    return f"payout:{gateway}:{_part(ref, 'payout reference')}"


def revenue_key(site_id: str, local_date: date | str, currency: str) -> str:
    day = local_date.isoformat() if isinstance(local_date, date) else str(local_date)
    return f"rev:{site_id}:{day}:{currency}"


def payout_reference(gateway: str, ref: str | int) -> str:
    """The reference a bank line or a journal carries for a payout: `po_…`, or `ADYEN-<batch>`."""
    return str(ref) if gateway == "stripe" else f"{ADYEN_PREFIX}{ref}"


def revenue_reference(site_id: str, local_date: date | str) -> str:
    day = local_date.isoformat() if isinstance(local_date, date) else str(local_date)
    return f"{REVENUE_PREFIX}{site_id}-{day}"


def join_refs(values: Iterable[str]) -> str:
    return REFS_SEP.join(values)


# ---------------------------------------------------------------- Python: parse
def split_key(item_key: str) -> tuple[str, str]:
    """(prefix, the rest): `attempt:pa_1` -> ("attempt", "pa_1")."""
    prefix, _, rest = item_key.partition(SEP)
    return prefix, rest


class BankKey(NamedTuple):
    file_sha256: str
    line_number: int


def parse_bank_key(item_key: str) -> BankKey | None:
    """`bank:<sha256>:<line>` -> (sha256, line); None for anything else."""
    parts = item_key.split(SEP)
    if len(parts) == 3 and parts[0] == "bank" and parts[1] and parts[2].isdigit():
        return BankKey(parts[1], int(parts[2]))
    return None


class PayoutRef(NamedTuple):
    gateway: str
    ref: str  # the Stripe payout id, or the Adyen batch number as text


def parse_payout_key(item_key: str) -> PayoutRef | None:
    """`payout:stripe:po_1` -> ("stripe", "po_1"); `payout:adyen:42` -> ("adyen", "42"); None for anything else."""
    parts = item_key.split(SEP)
    if len(parts) == 3 and parts[0] == "payout" and parts[1] in GATEWAYS and parts[2]:
        return PayoutRef(parts[1], parts[2])
    return None


def parse_payout_reference(reference: str) -> PayoutRef | None:
    """`po_1` -> ("stripe", "po_1"); `ADYEN-42` -> ("adyen", "42"); None for any other reference."""
    if reference.startswith("po_"):
        return PayoutRef("stripe", reference)
    m = _ADYEN_REFERENCE.match(reference)
    return PayoutRef("adyen", str(int(m.group(1)))) if m else None


class RevenueDay(NamedTuple):
    site_id: str
    local_date: str  # YYYY-MM-DD
    currency: str | None = None


def parse_revenue_key(item_key: str) -> RevenueDay | None:
    """`rev:<site>:<day>:<currency>` -> (site, day, currency); the site may hold the separator."""
    prefix, rest = split_key(item_key)
    body, _, currency = rest.rpartition(SEP)
    site, _, day = body.rpartition(SEP)
    if prefix != "rev" or not site or not currency or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day):
        return None
    return RevenueDay(site, day, currency)


def parse_revenue_reference(reference: str) -> RevenueDay | None:
    """`REV-<site>-<YYYY-MM-DD>` -> (site, day)."""
    m = _REVENUE_REFERENCE.match(reference)
    return RevenueDay(m.group(1), m.group(2)) if m else None


def split_refs(value: str | None) -> list[str]:
    """A reference column listing several records (comma-joined) as a list."""
    return [r.strip() for r in (value or "").split(REFS_SEP) if r.strip()]
