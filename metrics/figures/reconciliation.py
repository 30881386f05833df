"""Read queries for the Reconciliation page, over `recon_items` and `recon_breaks`
(collectors/compute/reconciliation.py) plus, for one break or one payout, the source copies by key.

- `funnel`: per stage and currency, items and amounts matched / expected (inside their timing
  window) / break, breaks split into open, resolved and written off;
- `breaks`: the break list (workflow state from `recon_breaks`, figures from `recon_items`);
- `break_detail`: one break's item, its event history and the records on both sides;
- `payouts` / `payout_view`: one payout's reconstruction (S2), bank deposit (S3) and journal (S4);
- `close_readiness`: one accounting month's shares, ageing, unreconciled money in the reporting
  currency (with the rate and its date) and FX gaps, judged against the close thresholds.

Everything is set-based SQL with bound parameters over indexed keys: `recon_items` by
(accounting_month, stage, status) and its primary key, `recon_breaks` by state and
(stage, item_key), the source copies only by their keys for a drill-down. Amounts are the
magnitude of integer minor units (a refund is money that moved too; `break_amount_minor` falls
back to the item's amount when the job left it empty), per currency and never added across
currencies; the only conversion is `to_reporting` (Decimal, half up, with the rate shown).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Engine

from metrics.figures.query import Db, read_rows
from revwatch import clock
from revwatch.money import CURRENCY_EXPONENTS, exponent, format_money, round_half_up
from revwatch.settings import Settings

STAGES = ("S1", "S2", "S3", "S4")
STAGE_LABELS = {"S1": "S1 billing ↔ gateway", "S2": "S2 gateway ↔ payout", "S3": "S3 payout ↔ bank",
                "S4": "S4 ledger"}
SIDES = {"S1": ("billing", "gateway"), "S2": ("gateway", "payout"), "S3": ("payout", "bank"),
         "S4": ("product", "ledger")}
STATUSES = ("matched", "expected", "break")
BREAK_TYPES = ("missing", "amount_mismatch", "duplicate", "status_mismatch", "currency_mismatch")
BREAK_STATES = ("open", "resolved", "written_off", "cleared")
GATEWAYS = ("stripe", "adyen")
AGE_BUCKETS = ("0–7", "8–30", "31–60", ">60")
SORTS = ("amount", "age")
RECON_JOB = "reconcile"

# An item's money at stake, and the workflow class of an item: matched, expected, or a break
# that is open, resolved or written off (a break with no workflow row yet counts as open).
_AT_STAKE = "abs(coalesce(i.break_amount_minor, i.amount_minor))"
_CLASS = """CASE WHEN i.status = 'matched' THEN 'matched' WHEN i.status = 'expected' THEN 'expected'
                 WHEN b.state = 'resolved' THEN 'resolved' WHEN b.state = 'written_off' THEN 'written_off'
                 ELSE 'open' END"""
_BREAK_JOIN = "LEFT JOIN recon_breaks b ON i.status = 'break' AND b.stage = i.stage AND b.item_key = i.item_key"
_AGE = "greatest(0, floor(extract(epoch FROM (CAST(:as_of AS timestamptz) - i.occurred_at)) / 86400))::int"
_ITEM_SCOPE = """
    (cardinality(CAST(:stages AS text[])) = 0 OR i.stage = ANY(CAST(:stages AS text[])))
    AND (cardinality(CAST(:currencies AS text[])) = 0 OR i.currency = ANY(CAST(:currencies AS text[])))
    AND (cardinality(CAST(:gateways AS text[])) = 0 OR i.gateway = ANY(CAST(:gateways AS text[])))
    AND (cardinality(CAST(:site_ids AS text[])) = 0 OR i.site_id = ANY(CAST(:site_ids AS text[])))"""
# the currencies' minor-unit exponents as a relation, for per-currency thresholds and conversion
_EXPONENTS = "unnest(CAST(:cur_codes AS text[]), CAST(:cur_exps AS int[])) AS ex(currency, exp)"


def _frame(db: Db, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """A read as a DataFrame whose money columns (`*_minor`) are exact nullable integers (Int64),
    never floats, even with NULLs among them."""
    cols, rows = read_rows(db, sql, params)
    df = pd.DataFrame(rows, columns=cols)
    for i, c in enumerate(cols):
        if c.endswith("_minor"):
            df[c] = pd.array([r[i] for r in rows], dtype="Int64")
    return df


def _exponent_params() -> dict[str, Any]:
    return {"cur_codes": list(CURRENCY_EXPONENTS), "cur_exps": list(CURRENCY_EXPONENTS.values())}


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


# ---------------------------------------------------------------- filters
@dataclass(frozen=True)
class ReconFilters:
    """Accounting months (first days, both ends included) and optional stage, currency, gateway
    and site lists (empty = all; an item without a gateway or site only passes when that list is empty)."""

    first_month: date
    last_month: date
    stages: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    site_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_month", month_start(self.first_month))
        object.__setattr__(self, "last_month", month_start(self.last_month))
        if self.last_month < self.first_month:
            raise ValueError(f"last month {self.last_month} is before first month {self.first_month}")
        for name in ("stages", "currencies", "gateways", "site_ids"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name))))

    def params(self) -> dict[str, Any]:
        return {"m0": self.first_month, "m1": self.last_month, "stages": list(self.stages),
                "currencies": list(self.currencies), "gateways": list(self.gateways), "site_ids": list(self.site_ids)}


@dataclass(frozen=True)
class BreakFilters:
    """What the break list shows. `states` default open; `min_amount` is in major units of each
    break's own currency (money at stake); ages are whole days from the item's occurred_at to `as_of`."""

    stages: tuple[str, ...] = ()
    break_types: tuple[str, ...] = ()
    states: tuple[str, ...] = ("open",)
    currencies: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    site_ids: tuple[str, ...] = ()
    min_amount: Decimal | None = None
    min_age_days: int | None = None
    max_age_days: int | None = None
    first_month: date | None = None
    last_month: date | None = None
    sort: str = "amount"
    limit: int | None = 500  # None: every break

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"cannot sort breaks by {self.sort!r}; one of {SORTS}")
        bad = set(self.states) - set(BREAK_STATES)
        if bad:
            raise ValueError(f"unknown break states {sorted(bad)}; known {BREAK_STATES}")
        for name in ("stages", "break_types", "states", "currencies", "gateways", "site_ids"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name))))
        if self.min_amount is not None:
            if isinstance(self.min_amount, float):
                raise ValueError("min_amount must be a Decimal or an int, not a float")
            object.__setattr__(self, "min_amount", Decimal(self.min_amount))

    @classmethod
    def of(cls, f: ReconFilters | None, **more: Any) -> BreakFilters:
        """Break filters carrying a page's stage, currency, gateway, site and month choices."""
        if f is None:
            return cls(**more)
        return cls(stages=f.stages, currencies=f.currencies, gateways=f.gateways, site_ids=f.site_ids,
                   first_month=f.first_month, last_month=f.last_month, **more)


# ---------------------------------------------------------------- what has run
def default_close_month(months: list[date], today: date) -> date | None:
    """The month the close view opens on: the latest that has ended, else the newest there is."""
    ended = [m for m in months if month_end(m) < today]
    return max(ended) if ended else max(months, default=None)


def months(db: Db) -> list[date]:
    """Accounting months present in recon_items, oldest first (a skip scan of the month index);
    empty when no reconciliation has run."""
    _, rows = read_rows(db, """
        WITH RECURSIVE m AS (
            SELECT min(accounting_month) AS d FROM recon_items
            UNION ALL
            SELECT (SELECT min(accounting_month) FROM recon_items WHERE accounting_month > m.d)
            FROM m WHERE m.d IS NOT NULL)
        SELECT d FROM m WHERE d IS NOT NULL ORDER BY d""", {})
    return [r[0] for r in rows]


class LastRun(NamedTuple):
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    rows_written: int


def last_run(db: Db, job: str = RECON_JOB) -> LastRun | None:
    """The newest run of the reconciliation job in the run log, if any."""
    _, rows = read_rows(db, """
        SELECT started_at, finished_at, outcome, rows_written FROM job_runs WHERE job = :job
        ORDER BY started_at DESC LIMIT 1""", {"job": job})
    return LastRun(*rows[0]) if rows else None


# ---------------------------------------------------------------- funnel
_COUNTS = f"""
    count(*) AS items,
    count(*) FILTER (WHERE i.status = 'matched') AS matched_items,
    count(*) FILTER (WHERE i.status = 'expected') AS expected_items,
    count(*) FILTER (WHERE i.status = 'break') AS break_items,
    count(*) FILTER (WHERE {_CLASS} = 'open') AS open_items,
    count(*) FILTER (WHERE {_CLASS} = 'resolved') AS resolved_items,
    count(*) FILTER (WHERE {_CLASS} = 'written_off') AS written_off_items,
    coalesce(sum(abs(i.amount_minor)), 0)::bigint AS amount_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'matched'), 0)::bigint AS matched_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'expected'), 0)::bigint AS expected_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'break'), 0)::bigint AS break_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {_CLASS} = 'open'), 0)::bigint AS open_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {_CLASS} = 'resolved'), 0)::bigint AS resolved_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {_CLASS} = 'written_off'), 0)::bigint AS written_off_minor,
    coalesce(sum({_AT_STAKE}) FILTER (WHERE {_CLASS} = 'open'), 0)::bigint AS at_stake_minor"""


def funnel(db: Db, f: ReconFilters) -> pd.DataFrame:
    """Per stage and currency: items, matched/expected/break items (breaks split into open,
    resolved, written_off) and the same as amounts (`*_minor`, magnitudes), plus `at_stake_minor`,
    the money at stake in open breaks."""
    return _frame(db, f"""
        SELECT i.stage, i.currency, {_COUNTS}
        FROM recon_items i {_BREAK_JOIN}
        WHERE i.accounting_month BETWEEN :m0 AND :m1 AND {_ITEM_SCOPE}
        GROUP BY 1, 2 ORDER BY 1, 2""", f.params())


# ---------------------------------------------------------------- breaks
_BREAK_COLUMNS = f"""
    b.break_id, b.state, b.stage, b.item_key, i.item_type, i.status AS item_status, i.break_type, i.missing_side,
    i.gateway, i.site_id, i.currency, i.amount_minor, i.counter_amount_minor, i.break_amount_minor,
    {_AT_STAKE} AS at_stake_minor,
    CASE WHEN i.currency = :rep THEN {_AT_STAKE}
         WHEN fx.rate IS NOT NULL AND ex.exp IS NOT NULL
         THEN round({_AT_STAKE} * fx.rate * power(10::numeric, CAST(:rep_exp AS int) - ex.exp))::bigint END
        AS at_stake_reporting_minor,
    i.left_ref, i.right_ref, i.match_rule, i.occurred_at, {_AGE} AS age_days, i.accounting_month, i.due_at,
    b.opened_at, b.assignee, b.resolution_reason, b.resolved_by, b.resolved_at"""


def breaks(db: Db, f: BreakFilters, reporting_currency: str = "USD", as_of: datetime | None = None) -> pd.DataFrame:
    """Breaks with their workflow state and their item's figures, biggest money at stake first
    (`sort="amount"`: converted to the reporting currency with each currency's latest rate on or
    before `as_of`, then by major units) or oldest first (`sort="age"`), up to `limit`.
    Columns: break_id, state, stage, item_key, item_type, item_status, break_type, missing_side,
    gateway, site_id, currency, amount_minor, counter_amount_minor, break_amount_minor,
    at_stake_minor, at_stake_reporting_minor, left_ref, right_ref, match_rule, occurred_at, age_days,
    accounting_month, due_at, opened_at, assignee, resolution_reason, resolved_by, resolved_at."""
    as_of = as_of or clock.now()
    order = ("at_stake_reporting_minor DESC NULLS LAST, "
             f"{_AT_STAKE} / power(10::numeric, coalesce(ex.exp, 2)) DESC NULLS LAST, b.break_id"
             if f.sort == "amount" else "i.occurred_at ASC NULLS LAST, b.break_id")
    sql = f"""
        WITH fx AS (
            SELECT DISTINCT ON (currency) currency, rate_to_reporting AS rate FROM fx_rates
            WHERE rate_date <= CAST(:as_of AS timestamptz)::date ORDER BY currency, rate_date DESC)
        SELECT {_BREAK_COLUMNS}
        FROM recon_breaks b
        LEFT JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
        LEFT JOIN fx ON fx.currency = i.currency
        LEFT JOIN {_EXPONENTS} ON ex.currency = i.currency
        WHERE b.state = ANY(CAST(:states AS text[]))
          AND (cardinality(CAST(:stages AS text[])) = 0 OR b.stage = ANY(CAST(:stages AS text[])))
          AND (cardinality(CAST(:break_types AS text[])) = 0 OR i.break_type = ANY(CAST(:break_types AS text[])))
          AND (cardinality(CAST(:currencies AS text[])) = 0 OR i.currency = ANY(CAST(:currencies AS text[])))
          AND (cardinality(CAST(:gateways AS text[])) = 0 OR i.gateway = ANY(CAST(:gateways AS text[])))
          AND (cardinality(CAST(:site_ids AS text[])) = 0 OR i.site_id = ANY(CAST(:site_ids AS text[])))
          AND (CAST(:m0 AS date) IS NULL OR i.accounting_month >= CAST(:m0 AS date))
          AND (CAST(:m1 AS date) IS NULL OR i.accounting_month <= CAST(:m1 AS date))
          AND (CAST(:min_amount AS numeric) IS NULL
               OR {_AT_STAKE} >= CAST(:min_amount AS numeric) * power(10::numeric, coalesce(ex.exp, 2)))
          AND (CAST(:min_age AS int) IS NULL OR {_AGE} >= CAST(:min_age AS int))
          AND (CAST(:max_age AS int) IS NULL OR {_AGE} <= CAST(:max_age AS int))
        ORDER BY {order}
        LIMIT :limit"""
    params = {
        "states": list(f.states) or list(BREAK_STATES), "stages": list(f.stages), "break_types": list(f.break_types),
        "currencies": list(f.currencies), "gateways": list(f.gateways), "site_ids": list(f.site_ids),
        "m0": month_start(f.first_month) if f.first_month else None,
        "m1": month_start(f.last_month) if f.last_month else None,
        "min_amount": f.min_amount, "min_age": f.min_age_days, "max_age": f.max_age_days, "limit": f.limit,
        "as_of": as_of, "rep": reporting_currency, "rep_exp": exponent(reporting_currency), **_exponent_params()}
    return _frame(db, sql, params)


# ---------------------------------------------------------------- one break
class Source(NamedTuple):
    """Records of one source copy fetched for a drill-down, under a title saying what they are."""

    title: str
    rows: pd.DataFrame


@dataclass(frozen=True)
class BreakDetail:
    """One break: its workflow row, its item (None when the job no longer lists it), its
    event history (oldest first), and the records on each side from the source copies."""

    brk: dict[str, Any]
    item: dict[str, Any] | None
    events: pd.DataFrame
    left_side: str
    right_side: str
    left: tuple[Source, ...] = ()
    right: tuple[Source, ...] = ()


def refs(value: str | None) -> list[str]:
    """A comma-separated reference column as a list."""
    return [r.strip() for r in (value or "").split(",") if r.strip()]


_ATTEMPT_COLS = ("attempt_id, invoice_id, attempt_number, gateway, gateway_reference, status, failure_code, "
                 "payment_method_type, amount_minor, currency, attempted_at")
_INVOICE_COLS = "invoice_id, session_id, status, currency, subtotal_minor, tax_minor, total_minor, issued_at"
_REFUND_COLS = ("refund_id, invoice_id, attempt_id, gateway, gateway_reference, status, reason, amount_minor, currency, "
                "created_at")
_CHARGE_COLS = ("id, created, status, amount, amount_refunded, currency, failure_code, attempt_id, invoice_id, "
                "balance_transaction")
_STRIPE_REFUND_COLS = "id, created, charge, status, amount, currency, reason, balance_transaction"
_TXN_COLS = "id, created, type, reporting_category, source, amount, fee, net, currency, status, available_on, payout"
_PAYOUT_COLS = "id, created, status, amount, currency, arrival_date, balance_transaction"
_ADYEN_COLS = ("batch_number, line_number, created_at, type, psp_reference, merchant_reference, modification_reference, "
               "payment_method, gross_currency, gross_debit_minor, gross_credit_minor, net_currency, net_debit_minor, "
               "net_credit_minor, commission_minor, markup_minor, scheme_fees_minor, interchange_minor")
_BANK_COLS = ("file_sha256, line_number, bank_date, value_date, account, type_code, direction, amount_minor, currency, "
              "bank_reference, customer_reference, text, payout_refs")
_GL_COLS = "journal_id, line, posted_date, account, account_name, debit_minor, credit_minor, currency, memo, reference"


def _q(db: Db, sql: str, **params: Any) -> pd.DataFrame:
    return _frame(db, sql, params)


def _attempts(db: Db, ids: Sequence[str] = (), gateway_refs: Sequence[str] = ()) -> pd.DataFrame:
    return _q(db, f"""SELECT {_ATTEMPT_COLS} FROM payment_attempts
                      WHERE attempt_id = ANY(CAST(:ids AS text[])) OR gateway_reference = ANY(CAST(:refs AS text[]))
                      ORDER BY attempted_at, attempt_id""", ids=list(ids), refs=list(gateway_refs))


def _invoices(db: Db, ids: list[str]) -> pd.DataFrame:
    return _q(db, f"SELECT {_INVOICE_COLS} FROM invoices WHERE invoice_id = ANY(CAST(:ids AS text[])) ORDER BY issued_at",
              ids=list(ids))


def _refunds(db: Db, ids: Sequence[str] = (), invoice_ids: Sequence[str] = ()) -> pd.DataFrame:
    return _q(db, f"""SELECT {_REFUND_COLS} FROM refunds
                      WHERE refund_id = ANY(CAST(:ids AS text[])) OR invoice_id = ANY(CAST(:inv AS text[]))
                      ORDER BY created_at, refund_id""", ids=list(ids), inv=list(invoice_ids))


def _charges(db: Db, ids: Sequence[str] = (), attempt_ids: Sequence[str] = ()) -> pd.DataFrame:
    return _q(db, f"""SELECT {_CHARGE_COLS} FROM stripe_charges
                      WHERE id = ANY(CAST(:ids AS text[])) OR attempt_id = ANY(CAST(:att AS text[]))
                      ORDER BY created, id""",
              ids=list(ids), att=list(attempt_ids))


def _stripe_refunds(db: Db, ids: list[str]) -> pd.DataFrame:
    return _q(db, f"SELECT {_STRIPE_REFUND_COLS} FROM stripe_refunds WHERE id = ANY(CAST(:ids AS text[])) ORDER BY created",
              ids=list(ids))


def _adyen(db: Db, psp: Sequence[str] = (), merchant: Sequence[str] = (), batches: Sequence[int] = (),
           modification: Sequence[str] = (), around: datetime | None = None, types: Sequence[str] = ()) -> pd.DataFrame:
    """Adyen report lines by PSP reference, merchant reference or batch (indexed); by modification
    reference (not indexed) only within two days of `around` on the created_at index."""
    return _q(db, f"""
        SELECT {_ADYEN_COLS} FROM adyen_settlement_lines
        WHERE (psp_reference = ANY(CAST(:psp AS text[])) OR merchant_reference = ANY(CAST(:mer AS text[]))
               OR batch_number = ANY(CAST(:batches AS int[]))
               OR (CAST(:around AS timestamptz) IS NOT NULL
                   AND created_at BETWEEN CAST(:around AS timestamptz) - interval '2 days'
                                      AND CAST(:around AS timestamptz) + interval '2 days'
                   AND modification_reference = ANY(CAST(:mods AS text[]))))
          AND (cardinality(CAST(:types AS text[])) = 0 OR type = ANY(CAST(:types AS text[])))
        ORDER BY batch_number, created_at, line_number""",
              psp=list(psp), mer=list(merchant), batches=[int(b) for b in batches], mods=list(modification),
              around=around if modification else None, types=list(types))


def _txns(db: Db, ids: Sequence[str] = (), payouts: Sequence[str] = ()) -> pd.DataFrame:
    return _q(db, f"""SELECT {_TXN_COLS} FROM stripe_balance_transactions
                      WHERE id = ANY(CAST(:ids AS text[])) OR payout = ANY(CAST(:po AS text[])) ORDER BY created, id""",
              ids=list(ids), po=list(payouts))


def _stripe_payouts(db: Db, ids: list[str]) -> pd.DataFrame:
    return _q(db, f"SELECT {_PAYOUT_COLS} FROM stripe_payouts WHERE id = ANY(CAST(:ids AS text[])) ORDER BY created",
              ids=list(ids))


def _bank_lines(db: Db, keys: Sequence[str] = (), payout_ref: str | None = None, around: date | None = None) -> pd.DataFrame:
    """Bank lines by their keys `bank:<sha256>:<line>`, plus (given a payout reference and a date)
    the credits within a week of that date whose text names the payout (bank_date index)."""
    shas, lines = [], []
    for k in keys:
        parts = k.split(":")
        if len(parts) == 3 and parts[0] == "bank" and parts[2].lstrip("-").isdigit():
            shas.append(parts[1])
            lines.append(int(parts[2]))
    return _q(db, f"""
        SELECT {_BANK_COLS} FROM bank_lines
        WHERE (file_sha256, line_number) IN (SELECT * FROM unnest(CAST(:shas AS text[]), CAST(:lines AS int[])))
           OR (CAST(:ref AS text) IS NOT NULL AND bank_date BETWEEN CAST(:around AS date) - 3 AND CAST(:around AS date) + 7
               AND CAST(:ref AS text) = ANY(payout_refs))
        ORDER BY bank_date, file_sha256, line_number""",
              shas=shas, lines=lines, ref=payout_ref if around else None, around=around)


def _gl(db: Db, journal_ids: Sequence[str] = (), references: Sequence[str] = ()) -> pd.DataFrame:
    return _q(db, f"""SELECT {_GL_COLS} FROM gl_lines
                      WHERE journal_id = ANY(CAST(:j AS text[])) OR reference = ANY(CAST(:r AS text[]))
                      ORDER BY journal_id, line""", j=list(journal_ids), r=list(references))


def _one_row(d: dict[str, Any] | None, title: str) -> Source:
    return Source(title, pd.DataFrame([d]) if d else pd.DataFrame())


def _payout_ref(item_key: str) -> tuple[str, str] | None:
    """`payout:stripe:po_1` -> ("stripe", "po_1"); `payout:adyen:42` -> ("adyen", "42")."""
    parts = item_key.split(":", 2)
    if len(parts) == 3 and parts[0] == "payout" and parts[1] in GATEWAYS and parts[2]:
        return parts[1], parts[2]
    return None


def bank_reference(gateway: str, ref: str) -> str:
    """The reference a bank line or a journal carries for a payout: `po_…`, or `ADYEN-<batch>`."""
    return ref if gateway == "stripe" else f"ADYEN-{ref}"


def _payout_side(db: Db, gateway: str, ref: str) -> Source:
    if gateway == "stripe":
        return Source("Stripe payout", _stripe_payouts(db, [ref]))
    return Source("Adyen payout line (MerchantPayout)",
                  _adyen(db, batches=[int(ref)] if ref.isdigit() else [], types=["MerchantPayout"]))


def _sides(db: Db, item: dict[str, Any]) -> tuple[tuple[Source, ...], tuple[Source, ...]]:
    """The records on each side of one item, looked up by its references (per item type)."""
    stage, kind, key = item["stage"], item["item_type"], item["item_key"]
    left_refs, right_refs = refs(item.get("left_ref")), refs(item.get("right_ref"))
    left: tuple[Source, ...]
    right: tuple[Source, ...]
    gateway, at = item.get("gateway"), item.get("occurred_at")
    prefix, _, rest = key.partition(":")
    if stage == "S1" and kind == "payment":
        ids = left_refs or ([rest] if prefix == "attempt" else [])
        attempts = _attempts(db, ids)
        left = (Source("Billing payment attempt", attempts),
                Source("Billing invoice", _invoices(db, list(attempts["invoice_id"]))))
        if gateway == "adyen":
            right = (Source("Adyen report lines", _adyen(db, psp=right_refs, merchant=ids)),)
        else:
            right = (Source("Stripe charge", _charges(db, right_refs, ids)),)
        return left, right
    if stage == "S1" and kind == "gateway_payment":
        ref = rest
        named = (item.get("detail") or {}).get("gateway_attempt_id")  # the attempt the gateway's metadata names
        left = (Source("Billing attempts with this reference, or named by the gateway",
                       _attempts(db, left_refs + ([named] if named else []), [ref])),)
        right = ((Source("Adyen report lines", _adyen(db, psp=[ref])),) if prefix == "adyen"
                 else (Source("Stripe charge", _charges(db, [ref])),))
        return left, right
    if stage == "S1" and kind == "refund":
        ids = left_refs or [rest]
        billing = _refunds(db, ids)
        left = (Source("Billing refund", billing),)
        if gateway == "adyen":
            right = (Source("Adyen report lines", _adyen(db, merchant=ids, modification=right_refs, around=at)),)
        else:
            gw = right_refs or [r for r in billing["gateway_reference"] if isinstance(r, str) and r]
            right = (Source("Stripe refund", _stripe_refunds(db, gw)),)
        return left, right
    if stage == "S1" and kind == "gateway_refund":
        if prefix == "adyen":  # keyed by the line's merchant reference (the refund id billing does not have)
            lines = _adyen(db, merchant=[rest], modification=[rest], around=at, types=["Refunded"])
            payment_refs = [p for p in lines["psp_reference"] if isinstance(p, str)]
            right = (Source("Adyen refund line", lines),)
        else:
            gw = _stripe_refunds(db, [rest])
            payment_refs = [c for c in gw["charge"] if isinstance(c, str)]
            right = (Source("Stripe refund", gw),)
        invoices = list(_attempts(db, gateway_refs=payment_refs)["invoice_id"]) if payment_refs else []
        left = (Source("Billing refunds of the refunded payment's invoice", _refunds(db, left_refs, invoices)),)
        return left, right
    if stage == "S2" and kind == "balance_entry":
        txn = _txns(db, [rest])
        payouts = right_refs or [p for p in txn["payout"] if isinstance(p, str)]
        sources = [s for s in txn["source"] if isinstance(s, str)]
        return ((Source("Stripe balance transaction", txn),
                 Source("Its source: Stripe charge", _charges(db, sources)),
                 Source("Its source: Stripe refund", _stripe_refunds(db, sources))),
                (Source("Stripe payout", _stripe_payouts(db, payouts)),))
    if stage in ("S2", "S3", "S4") and (payout_ref := _payout_ref(key)):
        payout_gateway, ref = payout_ref
        payout = _payout_side(db, payout_gateway, ref)
        if stage == "S2":
            entries = (Source("Balance transactions in the payout", _txns(db, payouts=[ref])) if payout_gateway == "stripe" else
                       Source("Adyen batch lines", _adyen(db, batches=[int(ref)] if ref.isdigit() else [])))
            return (entries,), (payout,)
        if stage == "S3":
            arrival = (item.get("detail") or {}).get("arrival_date")
            around = _as_date(arrival) or (at.date() if isinstance(at, datetime) else None)
            return (payout,), (Source("Bank lines", _bank_lines(db, right_refs, bank_reference(payout_gateway, ref), around)),)
        return (payout,), (Source("GL journal lines", _gl(db, right_refs, [bank_reference(payout_gateway, ref)])),)
    if stage == "S3" and kind == "bank_credit":
        bank = _bank_lines(db, [key])
        named = [r for rs in bank["payout_refs"] for r in (rs or [])] if not bank.empty else []
        stripe_ids = [r for r in named if r.startswith("po_")]
        batches = [int(r.split("-", 1)[1]) for r in named if r.startswith("ADYEN-") and r.split("-", 1)[1].isdigit()]
        left = (Source("Stripe payouts the bank text names", _stripe_payouts(db, stripe_ids + left_refs)),
                Source("Adyen payout lines the bank text names", _adyen(db, batches=batches, types=["MerchantPayout"])))
        return left, (Source("Bank line", bank),)
    if stage == "S4" and kind == "revenue_day":
        body, _, cur = rest.rpartition(":")
        site, _, day = body.rpartition(":")
        detail = item.get("detail") or {}
        left = (_one_row({"site_id": site, "local_date": detail.get("local_date", day), "currency": cur,
                          "subtotal_minor": detail.get("subtotal_minor"), "tax_minor": detail.get("tax_minor"),
                          "gl_revenue_minor": detail.get("gl_revenue_minor"), "gl_tax_minor": detail.get("gl_tax_minor")},
                         "Revenue of the local day, product side and as booked (from the reconciliation)"),
                Source("Invoices issued that local day (up to 1,000; void ones do not count)",
                       _day_invoices(db, site, day, cur)))
        return left, (Source("GL journal lines", _gl(db, right_refs, [f"REV-{site}-{day}"])),)
    if stage == "S4" and kind == "refund_journal":
        return ((Source("Billing refund", _refunds(db, left_refs or [rest])),),
                (Source("GL journal lines", _gl(db, right_refs, [rest])),))
    if stage == "S4" and kind == "ledger_entry":
        ref = rest
        if ref.startswith("journal "):  # a posting without a reference, keyed by its journal
            return (), (Source("GL journal lines", _gl(db, [ref[len("journal "):]])),)
        if ref.startswith("po_"):
            left = (Source("Stripe payout", _stripe_payouts(db, [ref])),)
        elif ref.startswith("ADYEN-") and ref[6:].isdigit():
            left = (Source("Adyen payout line", _adyen(db, batches=[int(ref[6:])], types=["MerchantPayout"])),)
        elif ref.startswith("REV-"):
            left = ()
        else:
            left = (Source("Billing refund", _refunds(db, [ref])),)
        return left, (Source("GL journal lines", _gl(db, right_refs, [ref])),)
    return (), ()


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _day_invoices(db: Db, site_id: str, day: str, currency: str) -> pd.DataFrame:
    d = _as_date(day)
    if d is None:
        return pd.DataFrame()
    return _q(db, f"""
        SELECT {', '.join('i.' + c.strip() for c in _INVOICE_COLS.split(','))}
        FROM invoices i JOIN parking_sessions p ON p.session_id = i.session_id JOIN sites s ON s.site_id = p.site_id
        WHERE p.site_id = :site AND i.currency = :cur
          AND i.issued_at >= CAST(:d AS date) - 1 AND i.issued_at < CAST(:d AS date) + 2
          AND (i.issued_at AT TIME ZONE s.timezone)::date = CAST(:d AS date)
        ORDER BY i.issued_at, i.invoice_id LIMIT 1000""", site=site_id, cur=currency, d=d)


def events(db: Db, break_id: int) -> pd.DataFrame:
    """The break's history, oldest first: event_id, at, actor, action, note, detail (JSON text)."""
    df = _q(db, """SELECT event_id, at, actor, action, note, detail FROM recon_break_events
                   WHERE break_id = :id ORDER BY at, event_id""", id=int(break_id))
    df["detail"] = [json.dumps(d, sort_keys=True, default=str) if d is not None else None for d in df["detail"]]
    return df


def break_detail(db: Db, break_id: int) -> BreakDetail | None:
    """Everything the drill-down shows for one break; None when there is no such break."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return break_detail(conn, break_id)
    cols, rows = read_rows(db, "SELECT * FROM recon_breaks WHERE break_id = :id", {"id": int(break_id)})
    if not rows:
        return None
    brk = dict(zip(cols, rows[0], strict=True))
    cols, rows = read_rows(db, "SELECT * FROM recon_items WHERE stage = :s AND item_key = :k",
                       {"s": brk["stage"], "k": brk["item_key"]})
    item = dict(zip(cols, rows[0], strict=True)) if rows else None
    left_side, right_side = SIDES.get(brk["stage"], ("left", "right"))
    left, right = _sides(db, item) if item else ((), ())
    return BreakDetail(brk, item, events(db, break_id), left_side, right_side, left, right)


# ---------------------------------------------------------------- payouts
def payouts(db: Db, f: ReconFilters, limit: int = 500) -> pd.DataFrame:
    """Payouts reconciled in the months (newest first): payout_key, gateway, reference, currency,
    amount_minor, occurred_at, and per stage its status and break type (s2_/s3_/s4_)."""
    return _q(db, """
        WITH k AS (
            SELECT i.item_key, max(i.occurred_at) AS occurred_at FROM recon_items i
            WHERE i.accounting_month BETWEEN :m0 AND :m1 AND i.stage IN ('S2', 'S3', 'S4')
              AND i.item_type IN ('payout', 'payout_journal') AND i.item_key LIKE 'payout:%'
              AND (cardinality(CAST(:currencies AS text[])) = 0 OR i.currency = ANY(CAST(:currencies AS text[])))
              AND (cardinality(CAST(:gateways AS text[])) = 0
                   OR coalesce(i.gateway, split_part(i.item_key, ':', 2)) = ANY(CAST(:gateways AS text[])))
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :limit)
        SELECT k.item_key AS payout_key, split_part(k.item_key, ':', 2) AS gateway,
               regexp_replace(k.item_key, '^payout:[^:]+:', '') AS reference,
               coalesce(s2.currency, s3.currency, s4.currency) AS currency,
               coalesce(s2.amount_minor, s3.amount_minor, s4.amount_minor) AS amount_minor, k.occurred_at,
               s2.status AS s2_status, s2.break_type AS s2_break, s3.status AS s3_status, s3.break_type AS s3_break,
               s4.status AS s4_status, s4.break_type AS s4_break
        FROM k
        LEFT JOIN recon_items s2 ON s2.stage = 'S2' AND s2.item_key = k.item_key
        LEFT JOIN recon_items s3 ON s3.stage = 'S3' AND s3.item_key = k.item_key
        LEFT JOIN recon_items s4 ON s4.stage = 'S4' AND s4.item_key = k.item_key
        ORDER BY k.occurred_at DESC, k.item_key""", **f.params(), limit=int(limit))


@dataclass(frozen=True)
class PayoutView:
    """One payout followed through S2 (reconstruction from its entries), S3 (bank deposit) and
    S4 (journal). `items` are its recon_items rows at those stages; the detail dicts are the
    job's figures (S2: gross/fees/refunds/disputes/adjustments/net_minor; S3: arrival_date,
    bank_dates, bank_amount_minor; S4: cash_minor, fees_minor, journals)."""

    payout_key: str
    gateway: str
    reference: str
    currency: str | None
    amount_minor: int | None
    payout: pd.DataFrame
    items: pd.DataFrame
    reconstruction: dict[str, Any]
    entries: pd.DataFrame
    bank_detail: dict[str, Any]
    bank: pd.DataFrame
    journal_detail: dict[str, Any]
    journal: pd.DataFrame

    def reconstruction_table(self) -> pd.DataFrame:
        """The S2 reconstruction as rows (component, minor): gross, − fees, − refunds, − disputes,
        − adjustments, = reconstructed net, payout amount, difference (payout − net)."""
        d = self.reconstruction
        parts = [("gross", d.get("gross_minor")), ("fees", d.get("fees_minor")), ("refunds", d.get("refunds_minor")),
                 ("disputes", d.get("disputes_minor")), ("adjustments", d.get("adjustments_minor")),
                 ("reconstructed net", d.get("net_minor")), ("payout amount", self.amount_minor)]
        net, amount = d.get("net_minor"), self.amount_minor
        parts.append(("difference (payout − net)", None if net is None or amount is None else int(amount) - int(net)))
        return pd.DataFrame({"component": [p for p, _ in parts],
                             "minor": [None if v is None else int(v) for _, v in parts],
                             "currency": self.currency})


def payout_view(db: Db, payout_key: str) -> PayoutView | None:
    """One payout by its key (`payout:stripe:<po_id>` or `payout:adyen:<batch>`); None for a
    key that is not a payout key or has no item at S2-S4."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return payout_view(conn, payout_key)
    parsed = _payout_ref(payout_key)
    if parsed is None:
        return None
    gw, ref = parsed
    items = _q(db, """SELECT stage, item_type, status, break_type, missing_side, currency, amount_minor,
                             counter_amount_minor, break_amount_minor, left_ref, right_ref, match_rule, occurred_at,
                             due_at, detail FROM recon_items
                      WHERE stage IN ('S2', 'S3', 'S4') AND item_key = :k ORDER BY stage""", k=payout_key)
    if items.empty:
        return None
    by_stage = {r["stage"]: r for r in items.to_dict("records")}
    first = by_stage.get("S2") or next(iter(by_stage.values()))
    s3, s4 = by_stage.get("S3") or {}, by_stage.get("S4") or {}
    batch = [int(ref)] if ref.isdigit() else []
    if gw == "stripe":
        payout, entries = _stripe_payouts(db, [ref]), _txns(db, payouts=[ref])
    else:
        payout = _adyen(db, batches=batch, types=["MerchantPayout"])
        entries = _adyen(db, batches=batch)
        entries = entries[entries["type"] != "MerchantPayout"].reset_index(drop=True)
    arrival = _as_date((s3.get("detail") or {}).get("arrival_date"))
    bank = _bank_lines(db, refs(s3.get("right_ref")), bank_reference(gw, ref),
                       arrival or (first["occurred_at"].date() if isinstance(first["occurred_at"], datetime) else None))
    journal = _gl(db, refs(s4.get("right_ref")), [bank_reference(gw, ref)])
    shown = items.assign(detail=[json.dumps(d, sort_keys=True, default=str) if d is not None else None
                                 for d in items["detail"]])
    return PayoutView(payout_key, gw, ref, first.get("currency"), first.get("amount_minor"), payout, shown,
                      dict(first.get("detail") or {}) if first["stage"] == "S2" else {}, entries,
                      dict(s3.get("detail") or {}), bank, dict(s4.get("detail") or {}), journal)


# ---------------------------------------------------------------- month close
class Rate(NamedTuple):
    """The rate used to convert `currency` into the reporting currency, and the day it is of."""

    currency: str
    rate: Decimal
    rate_date: date
    exact: bool  # the rate is of the wanted day itself (not an earlier one)


def to_reporting(minor: int, currency: str, rate: Decimal, reporting_currency: str) -> int:
    """minor units of `currency` × rate -> minor units of the reporting currency, Decimal, half up."""
    with localcontext() as ctx:
        ctx.prec = 60
        value = Decimal(int(minor)).scaleb(-exponent(currency)) * Decimal(rate)
        return round_half_up(value.scaleb(exponent(reporting_currency)))


def rates_on(db: Db, currencies: list[str], day: date, reporting_currency: str) -> dict[str, Rate]:
    """Per currency, the rate of `day` or else of the latest earlier day (the reporting currency
    converts at 1 on the day itself); a currency with no rate on or before `day` is absent."""
    out = {reporting_currency: Rate(reporting_currency, Decimal(1), day, True)} \
        if reporting_currency in currencies else {}
    others = sorted(set(currencies) - {reporting_currency})
    if others:
        _, rows = read_rows(db, """
            SELECT DISTINCT ON (currency) currency, rate_to_reporting, rate_date FROM fx_rates
            WHERE currency = ANY(CAST(:curs AS text[])) AND rate_date <= :day ORDER BY currency, rate_date DESC""",
                        {"curs": others, "day": day})
        for cur, rate, on in rows:
            out[cur] = Rate(cur, Decimal(rate), on, on == day)
    return out


class CloseReason(NamedTuple):
    """One reason a month is not ready to close: the check (the setting's name), where, what was
    measured and the limit, and a sentence saying so."""

    check: str
    scope: str
    measured: Any
    limit: Any
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class CloseThresholds:
    min_matched_share: Decimal
    min_amount_share: Decimal
    max_unreconciled_minor: int
    max_break_age_days: int
    reporting_currency: str

    @classmethod
    def of(cls, cfg: Settings) -> CloseThresholds:
        return cls(Decimal(str(cfg.close_min_matched_share)), Decimal(str(cfg.close_min_amount_share)),
                   int(cfg.close_max_unreconciled_minor), int(cfg.close_max_break_age_days), cfg.reporting_currency)


@dataclass(frozen=True)
class CloseReadiness:
    """Is an accounting month ready to close?

    shares: per stage and currency, the funnel's counts and amounts plus matched_share (matched
      only), item_share and amount_share (matched, resolved and written off: reconciled or explained);
    age_buckets: open breaks of the month by age (currency, bucket, breaks, at_stake_minor);
    unreconciled: per currency open_breaks, unreconciled_minor (money at stake in open breaks),
      rate, rate_date, exact_rate, reporting_minor;
    fx_gaps: (currency, rate_date, weekday) days of the month up to as_of with no rate for a
      currency the month's items use (the reporting currency needs none);
    ready, reasons: the verdict and every threshold missed, with the measured value."""

    month: date
    as_of: datetime
    thresholds: CloseThresholds
    shares: pd.DataFrame
    age_buckets: pd.DataFrame
    unreconciled: pd.DataFrame
    unreconciled_reporting_minor: int | None
    oldest_open_age_days: int | None
    fx_gaps: pd.DataFrame
    reasons: tuple[CloseReason, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.reasons

    @property
    def reporting_currency(self) -> str:
        return self.thresholds.reporting_currency

    @property
    def rate_day(self) -> date:
        return month_end(self.month)


def _share(num: int, den: int) -> float | None:
    return num / den if den else None


def _pct(x: Fraction | Decimal | float) -> str:
    return f"{float(x) * 100:.3f}".rstrip("0").rstrip(".") + "%"


def close_readiness(db: Db, month: date, cfg: Settings | CloseThresholds, as_of: datetime | None = None) -> CloseReadiness:
    """The month-close view of one accounting month (any day of it), judged at `as_of` (default now)."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return close_readiness(conn, month, cfg, as_of)
    th = cfg if isinstance(cfg, CloseThresholds) else CloseThresholds.of(cfg)
    rep = th.reporting_currency
    as_of = as_of or clock.now()
    m, last = month_start(month), month_end(month)
    shares = funnel(db, ReconFilters(m, m))
    recon = shares["matched_items"] + shares["resolved_items"] + shares["written_off_items"]
    recon_minor = shares["matched_minor"] + shares["resolved_minor"] + shares["written_off_minor"]
    shares = shares.assign(
        reconciled_items=recon, reconciled_minor=recon_minor,
        matched_share=[_share(a, b) for a, b in zip(shares["matched_items"], shares["items"], strict=True)],
        item_share=[_share(a, b) for a, b in zip(recon, shares["items"], strict=True)],
        amount_share=[_share(a, b) for a, b in zip(recon_minor, shares["amount_minor"], strict=True)])

    p = {"m": m, "as_of": as_of}
    open_sql = f"""FROM recon_items i {_BREAK_JOIN}
                   WHERE i.accounting_month = :m AND i.status = 'break' AND {_CLASS} = 'open'"""
    buckets = _frame(db, f"""
        SELECT i.currency, CASE WHEN {_AGE} <= 7 THEN '0–7' WHEN {_AGE} <= 30 THEN '8–30'
                                WHEN {_AGE} <= 60 THEN '31–60' ELSE '>60' END AS bucket,
               count(*) AS breaks, coalesce(sum({_AT_STAKE}), 0)::bigint AS at_stake_minor, max({_AGE}) AS oldest_days
        {open_sql} GROUP BY 1, 2""", p)
    oldest = int(buckets["oldest_days"].max()) if not buckets.empty else None
    currencies = sorted(set(shares["currency"]))
    grid = pd.DataFrame([(c, b) for c in sorted(set(buckets["currency"])) for b in AGE_BUCKETS],
                        columns=["currency", "bucket"])
    age_buckets = grid.merge(buckets.drop(columns=["oldest_days"]), on=["currency", "bucket"], how="left")
    age_buckets["breaks"] = age_buckets["breaks"].fillna(0).astype("int64")
    age_buckets["at_stake_minor"] = age_buckets["at_stake_minor"].fillna(0).astype("int64")

    per_cur = buckets.groupby("currency")[["breaks", "at_stake_minor"]].sum() if not buckets.empty else None
    rates = rates_on(db, currencies, last, rep)
    rows, total, missing_rate = [], 0, []
    for cur in currencies:
        n = int(per_cur.loc[cur, "breaks"]) if per_cur is not None and cur in per_cur.index else 0
        minor = int(per_cur.loc[cur, "at_stake_minor"]) if per_cur is not None and cur in per_cur.index else 0
        r = rates.get(cur)
        converted = to_reporting(minor, cur, r.rate, rep) if r else (0 if minor == 0 else None)
        if converted is None:
            missing_rate.append(cur)
        else:
            total += converted
        rows.append((cur, n, minor, r.rate if r else None, r.rate_date if r else None, bool(r and r.exact), converted))
    unreconciled = pd.DataFrame(rows, columns=["currency", "open_breaks", "unreconciled_minor", "rate", "rate_date",
                                               "exact_rate", "reporting_minor"])
    for col, i in (("unreconciled_minor", 2), ("reporting_minor", 6)):
        unreconciled[col] = pd.array([r[i] for r in rows], dtype="Int64")
    total_or_none = None if missing_rate else total

    gaps = _fx_gaps(db, [c for c in currencies if c != rep], m, min(last, as_of.date()))

    reasons: list[CloseReason] = []
    if shares.empty:
        reasons.append(CloseReason("items", f"{m:%Y-%m}", 0, None,
                                   f"no reconciliation items for {m:%Y-%m}: the reconciliation has not run for it"))
    else:
        for stage in STAGES:
            if stage not in set(shares["stage"]):
                reasons.append(CloseReason("items", stage, 0, None, f"{STAGE_LABELS[stage]}: no items in {m:%Y-%m}"))
    thr_items, thr_amount = Fraction(th.min_matched_share), Fraction(th.min_amount_share)
    for r in shares.itertuples(index=False):
        scope = f"{r.stage} {r.currency}"
        got = int(r.reconciled_items)
        if r.items and Fraction(got, int(r.items)) < thr_items:
            share = Fraction(got, int(r.items))
            reasons.append(CloseReason(
                "close_min_matched_share", scope, share, th.min_matched_share,
                f"{scope}: {_pct(share)} of items matched or explained ({got:,} of {int(r.items):,}) "
                f"< close_min_matched_share {_pct(th.min_matched_share)}"))
        got_minor = int(r.reconciled_minor)
        if r.amount_minor and Fraction(got_minor, int(r.amount_minor)) < thr_amount:
            share = Fraction(got_minor, int(r.amount_minor))
            reasons.append(CloseReason(
                "close_min_amount_share", scope, share, th.min_amount_share,
                f"{scope}: {_pct(share)} of the amount matched or explained ({format_money(got_minor, r.currency)} "
                f"of {format_money(int(r.amount_minor), r.currency)}) < close_min_amount_share "
                f"{_pct(th.min_amount_share)}"))
    for cur in missing_rate:
        reasons.append(CloseReason(
            "fx_rate", cur, None, last,
            f"no FX rate for {cur} on or before {last}: its unreconciled amount cannot be converted to {rep}"))
    if total_or_none is not None and total_or_none > th.max_unreconciled_minor:
        reasons.append(CloseReason(
            "close_max_unreconciled_minor", rep, total_or_none, th.max_unreconciled_minor,
            f"unreconciled {format_money(total_or_none, rep)} (open breaks, converted) > close_max_unreconciled_minor "
            f"{format_money(th.max_unreconciled_minor, rep)}"))
    # the close converts at the month's last rate: a gap there makes the conversion stale (a gap
    # mid-month is listed in fx_gaps, but converts nothing at close)
    closing_day = min(last, as_of.date())
    stale = set(gaps.loc[gaps["rate_date"] == closing_day, "currency"]) if not gaps.empty else set()
    for cur in sorted(stale - set(missing_rate)):  # a currency with no rate at all is named above
        used = rates.get(cur)
        fallback = f"converted at the rate of {used.rate_date:%Y-%m-%d}" if used else "nothing to convert with"
        reasons.append(CloseReason(
            "fx_rate", cur, closing_day, None,
            f"no {cur} rate for {closing_day:%Y-%m-%d}, the day the close converts at: {fallback}"))
    if oldest is not None and oldest > th.max_break_age_days:
        reasons.append(CloseReason(
            "close_max_break_age_days", f"{m:%Y-%m}", oldest, th.max_break_age_days,
            f"the oldest open break is {oldest} days old > close_max_break_age_days {th.max_break_age_days}"))
    return CloseReadiness(m, as_of, th, shares, age_buckets, unreconciled, total_or_none, oldest, gaps, tuple(reasons))


def _fx_gaps(db: Db, currencies: list[str], month: date, last: date) -> pd.DataFrame:
    """(currency, rate_date, weekday) for each day with no rate for the currency, from the month's
    first item in that currency (a world or a currency that starts mid-month needs no rate before)
    up to `last`."""
    df = _frame(db, """
        WITH c AS (
            SELECT currency, min(occurred_at AT TIME ZONE 'UTC')::date AS first_day FROM recon_items
            WHERE accounting_month = CAST(:m AS date) AND currency = ANY(CAST(:curs AS text[])) GROUP BY currency)
        SELECT c.currency, d::date AS rate_date, trim(to_char(d, 'Dy')) AS weekday
        FROM c CROSS JOIN LATERAL generate_series(greatest(c.first_day, CAST(:m AS date)), CAST(:d1 AS date),
                                                  interval '1 day') AS d
        WHERE NOT EXISTS (SELECT 1 FROM fx_rates f WHERE f.rate_date = d::date AND f.currency = c.currency)
        ORDER BY 1, 2""", {"curs": sorted(currencies), "m": month, "d1": last})
    return df


def verdict_table(c: CloseReadiness) -> pd.DataFrame:
    """The verdict as rows for an export: ready or each reason with its check, scope, measured value and limit."""
    def shown(v: Any) -> str:
        return "" if v is None else str(float(v)) if isinstance(v, Fraction) else str(v)

    head = [("verdict", "", "ready" if c.ready else "not ready", "",
             f"{c.month:%Y-%m} as of {c.as_of:%Y-%m-%d %H:%M} UTC")]
    rows = head + [(r.check, r.scope, shown(r.measured), shown(r.limit), r.text) for r in c.reasons]
    return pd.DataFrame(rows, columns=["check", "scope", "measured", "limit", "text"])
