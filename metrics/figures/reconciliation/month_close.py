"""Month close: is an accounting month ready to close? Its shares matched or explained per stage
and currency, its open breaks by age, the money still unreconciled converted to the reporting
currency (Decimal, half up, with the rate and its date shown) and the days without an FX rate,
each judged against the CLOSE_* thresholds with the measured value named."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Engine

from metrics.figures.query import Db, read_rows, snapshot
from metrics.figures.reconciliation.scope import (
    AGE,
    AGE_BUCKETS,
    AT_STAKE,
    BREAK_JOIN,
    OPEN,
    STAGE_LABELS,
    STAGES,
    ReconFilters,
    frame,
    month_end,
    month_start,
)
from metrics.figures.reconciliation.summary import funnel
from revwatch import clock
from revwatch.money import exponent, format_money, round_half_up
from revwatch.settings import Settings


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
    """One reason a month is not ready to close: the check (the setting's name, for machines), where, what was
    measured and the limit, and a sentence for people saying so (no setting names in it)."""

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


def _pct(x: Fraction | Decimal, digits: int = 9) -> str:
    """A share as a percentage for people, exact (never through float), rounded half up to at most `digits`
    decimals, trailing zeros dropped: Decimal("0.9995") -> "99.95 %", Fraction(3, 5) -> "60 %"."""
    scaled = Fraction(x) * 100 * 10 ** digits
    n = math.floor(scaled + Fraction(1, 2))
    text = f"{Decimal(n).scaleb(-digits):f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"


def _pct_below(measured: Fraction, limit: Decimal) -> str:
    """`measured` (below `limit`) with one decimal, or as many more as it takes to read below the limit:
    99.899 % against 99.9 % is "99.899 %", never "99.9 %"."""
    for digits in range(1, 7):
        shown = Fraction(math.floor(measured * 100 * 10 ** digits + Fraction(1, 2)), 100 * 10 ** digits)
        if shown < Fraction(limit):
            return _pct(measured, digits)
    cut = Fraction(math.floor(measured * 10 ** 8), 10 ** 8)  # below the limit by less than a millionth of a point
    return _pct(cut, 6)


def _share_reason(stage: str, currency: str, what: str, limit: Decimal, measured: Fraction, counted: str) -> str:
    """'S1 billing ↔ gateway, USD: at least 99.9 % of items must be matched or explained; 60 % are (3 of 5)'."""
    verb = "are" if what == "items" else "is"
    return (f"{STAGE_LABELS.get(stage, stage)}, {currency}: at least {_pct(limit)} of {what} must be matched or "
            f"explained; {_pct_below(measured, limit)} {verb} ({counted})")


def close_readiness(db: Db, month: date, cfg: Settings | CloseThresholds, as_of: datetime | None = None) -> CloseReadiness:
    """The month-close view of one accounting month (any day of it), judged at `as_of` (default now)."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
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
    open_sql = f"""FROM recon_items i {BREAK_JOIN}
                   WHERE i.accounting_month = :m AND {OPEN}"""
    buckets = frame(db, f"""
        SELECT i.currency, CASE WHEN {AGE} <= 7 THEN '0–7' WHEN {AGE} <= 30 THEN '8–30'
                                WHEN {AGE} <= 60 THEN '31–60' ELSE '>60' END AS bucket,
               count(*) AS breaks, coalesce(sum({AT_STAKE}), 0)::bigint AS at_stake_minor, max({AGE}) AS oldest_days
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

    gaps = fx_gaps(db, [c for c in currencies if c != rep], m, min(last, as_of.date()))

    reasons: list[CloseReason] = []
    if shares.empty:
        reasons.append(CloseReason("items", f"{m:%Y-%m}", 0, None,
                                   f"No reconciliation items for {m:%Y-%m}: the reconciliation has not run for it"))
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
                _share_reason(r.stage, r.currency, "items", th.min_matched_share, share, f"{got:,} of {int(r.items):,}")))
        got_minor = int(r.reconciled_minor)
        if r.amount_minor and Fraction(got_minor, int(r.amount_minor)) < thr_amount:
            share = Fraction(got_minor, int(r.amount_minor))
            reasons.append(CloseReason(
                "close_min_amount_share", scope, share, th.min_amount_share,
                _share_reason(r.stage, r.currency, "the amount", th.min_amount_share, share,
                              f"{format_money(got_minor, r.currency)} of {format_money(int(r.amount_minor), r.currency)}")))
    for cur in missing_rate:
        reasons.append(CloseReason(
            "fx_rate", cur, None, last,
            f"No FX rate for {cur} on or before {last}: its unreconciled amount cannot be converted to {rep}"))
    if total_or_none is not None and total_or_none > th.max_unreconciled_minor:
        reasons.append(CloseReason(
            "close_max_unreconciled_minor", rep, total_or_none, th.max_unreconciled_minor,
            f"At most {format_money(th.max_unreconciled_minor, rep)} may stay unreconciled in open breaks (converted "
            f"to {rep}); {format_money(total_or_none, rep)} is"))
    # the close converts at the month's last rate: a gap there makes the conversion stale (a gap
    # mid-month is listed in fx_gaps, but converts nothing at close)
    closing_day = min(last, as_of.date())
    stale = set(gaps.loc[gaps["rate_date"] == closing_day, "currency"]) if not gaps.empty else set()
    for cur in sorted(stale - set(missing_rate)):  # a currency with no rate at all is named above
        used = rates.get(cur)
        fallback = f"converted at the rate of {used.rate_date:%Y-%m-%d}" if used else "nothing to convert with"
        reasons.append(CloseReason(
            "fx_rate", cur, closing_day, None,
            f"No {cur} rate for {closing_day:%Y-%m-%d}, the day the close converts at: {fallback}"))
    if oldest is not None and oldest > th.max_break_age_days:
        reasons.append(CloseReason(
            "close_max_break_age_days", f"{m:%Y-%m}", oldest, th.max_break_age_days,
            f"No open break may be older than {th.max_break_age_days} days; the oldest is {oldest} days old"))
    return CloseReadiness(m, as_of, th, shares, age_buckets, unreconciled, total_or_none, oldest, gaps, tuple(reasons))


def fx_gaps(db: Db, currencies: list[str], month: date, last: date) -> pd.DataFrame:
    """(currency, rate_date, weekday) for each day with no rate for the currency, from the month's
    first item in that currency (a world or a currency that starts mid-month needs no rate before)
    up to `last`."""
    df = frame(db, """
        WITH c AS (  -- the UTC day of the month's first item in each currency, from the month counts
            SELECT currency, min(occurred_on) AS first_day FROM recon_month_counts
            WHERE accounting_month = CAST(:m AS date) AND currency = ANY(CAST(:curs AS text[])) AND items > 0
            GROUP BY currency)
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
