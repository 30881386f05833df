"""Which gateway-hours stand out from their baseline, and the windows they form: pure arithmetic over
one small frame of hourly counts (metrics/figures/payments.py `worst_hours` reads it from the rollups
in SQL; nothing here touches the database).

An hour's failures (`failed` plus `unknown`: an attempt the gateway never answered is a failure the
customer sees) are compared with what its baseline rate predicts for its attempts. The baseline pools
the same gateway's same hour of the week in the other weeks of the history; when that holds fewer than
`min_baseline` attempts, the other gateways in the very same hour; then the gateway's same hour of
the day on the other days; then all of the gateway's other hours. An hour is never part of its own
baseline, and hours that stood out are left out of everyone's (a spike last week does not hide one
this week): a first pass finds them, a second scores every hour against the cleaned pools.

How far an hour stands out is the one-sided exact binomial tail P(X >= failures | attempts, baseline
rate), computed in log space (it reaches 1e-300 and beyond without underflow); `score` is -log10 of
it. Adjacent hours of one gateway whose tail is below `hour_significance` form a window; a window is
an incident when it has at least `min_attempts` attempts and its own tail, over its summed
attempts and failures at its summed expectation, is below `significance`. So a night hour failing at
its usual night rate is no incident however high that rate, and a three-hour timeout is one.
Incidents rank by how far their failure rate stands above the baseline (`rank_key`): the
significance floor has already set noise aside, so the severest comes first, not the busiest.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

HOUR = timedelta(hours=1)
# the pools a baseline may come from, in the order they are tried
BASELINES = ("hour_of_week", "other_gateways", "hour_of_day", "all_hours")
_BY = {"hour_of_week": ["gateway", "how"], "other_gateways": ["hour"], "hour_of_day": ["gateway", "hod"],
       "all_hours": ["gateway"]}
_LN10 = math.log(10.0)


# ---------------------------------------------------------------- the binomial tail
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-14
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def log10_binomial_tail(x: int, n: int, p: float) -> float:
    """log10 P(X >= x) for X ~ Binomial(n, p), exactly (the regularized incomplete beta I_p(x, n - x + 1),
    its prefactor in log space): 0.0 when x <= 0, -inf when x > n or p == 0 < x."""
    if x <= 0:
        return 0.0
    if x > n or p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return 0.0
    a, b = float(x), float(n - x + 1)
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(p) + b * math.log1p(-p))
    if p < (a + 1.0) / (a + b + 2.0):
        ln = log_front + math.log(_betacf(a, b, p) / a)
    else:  # the tail is near 1: 1 - I_{1-p}(b, a)
        ln = math.log1p(-min(1.0, math.exp(log_front) * _betacf(b, a, 1.0 - p) / b))
    return min(0.0, ln / _LN10)


def tails(x, n, p) -> np.ndarray:
    """`log10_binomial_tail` of each (x, n, p)."""
    return np.array([log10_binomial_tail(int(a), int(b), float(c)) for a, b, c in zip(x, n, p, strict=True)],
                    dtype=float)


# ---------------------------------------------------------------- baselines
def _rate(failures, attempts):
    """A pool's failure rate, kept off 0 and 1 (half a failure and half a success added): an hour
    after a pool that never failed is judged, not certain."""
    return (failures + 0.5) / (attempts + 1.0)


def baselines(hours: pd.DataFrame, min_baseline: int, pooled: pd.Series | None = None) -> pd.DataFrame:
    """For each row of `hours` (hour, gateway, how: hour of the week, hod: hour of the day,
    pool_attempts, pool_failures: the hour's whole counts), the first pool of BASELINES holding at
    least `min_baseline` attempts (the last one otherwise), its own counts left out, and only rows
    where `pooled` is true counted in: baseline, baseline_attempts, baseline_failures, baseline_rate."""
    use = pd.Series(True, index=hours.index) if pooled is None else pooled.astype(bool)
    att = hours["pool_attempts"].where(use, 0)
    fai = hours["pool_failures"].where(use, 0)
    base = pd.Series(BASELINES[-1], index=hours.index, dtype=object)
    b_att = pd.Series(0, index=hours.index, dtype="int64")
    b_fai = pd.Series(0, index=hours.index, dtype="int64")
    chosen = pd.Series(False, index=hours.index)
    for name in BASELINES:
        keys = [hours[k] for k in _BY[name]]
        pool_att = att.groupby(keys).transform("sum") - att
        pool_fai = fai.groupby(keys).transform("sum") - fai
        take = ~chosen & ((pool_att >= min_baseline) | (name == BASELINES[-1]))
        base[take], b_att[take], b_fai[take] = name, pool_att[take], pool_fai[take]
        chosen |= take
    return pd.DataFrame({"baseline": base, "baseline_attempts": b_att, "baseline_failures": b_fai,
                         "baseline_rate": _rate(b_fai, b_att)}, index=hours.index)


def score_hours(hours: pd.DataFrame, min_baseline: int, hour_significance: float) -> pd.DataFrame:
    """`hours` with its baseline columns and, over the in-range counts (attempts, failures):
    expected, excess_failures, log10_p, p_value, score and stands_out (log10_p below
    `hour_significance`). Hours that stand out on their whole counts are left out of the pools."""
    if hours.empty:
        return hours.assign(baseline=pd.Series(dtype=object), baseline_attempts=0, baseline_failures=0,
                            baseline_rate=0.0, expected=0.0, excess_failures=0.0, log10_p=0.0, p_value=1.0,
                            score=0.0, stands_out=False)
    limit = math.log10(hour_significance)
    first = baselines(hours, min_baseline)
    pooled = ~(tails(hours["pool_failures"], hours["pool_attempts"], first["baseline_rate"]) < limit)
    df = pd.concat([hours, baselines(hours, min_baseline, pooled)], axis=1)
    df["expected"] = df["attempts"] * df["baseline_rate"]
    df["excess_failures"] = df["failures"] - df["expected"]
    df["log10_p"] = tails(df["failures"], df["attempts"], df["baseline_rate"])
    df["p_value"] = 10.0 ** df["log10_p"]
    df["score"] = -df["log10_p"] + 0.0  # + 0.0: no -0.0
    df["stands_out"] = (df["attempts"] > 0) & (df["log10_p"] < limit)
    return df


# ---------------------------------------------------------------- windows
def window_tail(failures: int, attempts: int, expected: float) -> float:
    """log10 of a window's tail: its failures against its attempts at its summed expectation."""
    return log10_binomial_tail(int(failures), int(attempts), float(expected) / attempts) if attempts else 0.0


def windows(scored: pd.DataFrame, min_attempts: int, significance: float) -> pd.DataFrame:
    """The hours that stand out, each with its window (adjacent such hours of one gateway):
    window_start, window_end, window_attempts, window_failures, window_expected, window_log10_p,
    window_p_value, window_score, and incident (at least `min_attempts` attempts and a tail below
    `significance`); sorted by gateway and hour."""
    out = scored[scored["stands_out"]].sort_values(["gateway", "hour"]).copy()
    if out.empty:
        return out.assign(window_start=pd.Series(dtype=object), window_end=pd.Series(dtype=object),
                          window_attempts=0, window_failures=0, window_expected=0.0, window_log10_p=0.0,
                          window_p_value=1.0, window_score=0.0, incident=False)
    hour = pd.to_datetime(out["hour"], utc=True)
    new = (out["gateway"] != out["gateway"].shift()) | (hour - hour.shift() != pd.Timedelta(HOUR))
    wid = new.cumsum()
    grouped = out.groupby(wid)
    out["window_start"] = grouped["hour"].transform("min")
    out["window_end"] = grouped["hour"].transform("max") + HOUR
    for col in ("attempts", "failures", "expected"):
        out[f"window_{col}"] = grouped[col].transform("sum")
    sums = grouped[["failures", "attempts", "expected"]].sum()
    log10_p = pd.Series([window_tail(r.failures, r.attempts, r.expected) for r in sums.itertuples()], index=sums.index)
    out["window_log10_p"] = wid.map(log10_p)
    out["window_p_value"] = 10.0 ** out["window_log10_p"]
    out["window_score"] = -out["window_log10_p"] + 0.0
    out["incident"] = (out["window_attempts"] >= min_attempts) & (out["window_log10_p"] < math.log10(significance))
    return out


# ---------------------------------------------------------------- episodes
@dataclass(frozen=True)
class Episode:
    """Consecutive bad hours of one gateway: [start, end) UTC. `unknown`: attempts the gateway never
    answered (timeouts); `expected`: failures (failed + unknown) the baselines predict; `log10_p`:
    the window's one-sided binomial tail; `cost_minor`: money of its failed and unknown attempts,
    (currency, minor units) pairs sorted by currency, never summed across currencies."""

    gateway: str
    start: datetime
    end: datetime
    attempts: int
    failed: int
    gateway_errors: int
    unknown: int = 0
    expected: float = 0.0
    log10_p: float = 0.0
    cost_minor: tuple[tuple[str, int], ...] = ()

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.attempts if self.attempts else None

    @property
    def failures(self) -> int:
        return self.failed + self.unknown

    @property
    def baseline_rate(self) -> float | None:
        return self.expected / self.attempts if self.attempts else None

    @property
    def excess_failures(self) -> float:
        return self.failures - self.expected

    @property
    def excess_rate(self) -> float | None:
        """How far the window's failure rate stands above its baseline rate."""
        return self.excess_failures / self.attempts if self.attempts else None

    @property
    def p_value(self) -> float:
        return 10.0 ** self.log10_p

    @property
    def score(self) -> float:
        return -self.log10_p + 0.0


def add_money(maps: Iterable[Mapping[str, int]]) -> tuple[tuple[str, int], ...]:
    """{currency: minor units} mappings summed per currency (never across), as sorted pairs."""
    total: dict[str, int] = {}
    for m in maps:
        for cur, v in m.items():
            total[cur] = total.get(cur, 0) + int(v)
    return tuple(sorted((c, v) for c, v in total.items() if v))


def episode(gateway: str, rows: pd.DataFrame) -> Episode:
    """One window from its hours (columns of `worst_hours`; unknown, expected, cost_minor optional)."""
    def total(col: str) -> int:
        return int(rows[col].sum()) if col in rows else 0

    expected = float(rows["expected"].sum()) if "expected" in rows else 0.0
    attempts, failures = total("attempts"), total("failed") + total("unknown")
    start = pd.Timestamp(rows["hour"].min()).to_pydatetime()
    end = pd.Timestamp(rows["hour"].max()).to_pydatetime() + HOUR
    log10_p = window_tail(failures, attempts, expected) if "expected" in rows else 0.0
    return Episode(gateway, start, end, attempts, total("failed"), total("gateway_errors"), total("unknown"),
                   expected, log10_p, add_money(rows["cost_minor"]) if "cost_minor" in rows else ())


def rank_key(e: Episode) -> tuple:
    """Worst first: the failure rate furthest above its baseline, then the most failures above
    expectation, the most failures, the earliest."""
    return (-(e.excess_rate or 0.0), -e.excess_failures, -e.failures, -e.gateway_errors, e.start, e.gateway)


def episodes(hours: pd.DataFrame) -> tuple[Episode, ...]:
    """Merge adjacent hours of the same gateway into one window, worst first (`rank_key`)."""
    out: list[Episode] = []
    if hours.empty:
        return ()
    df = hours.sort_values(["gateway", "hour"])
    hour = pd.to_datetime(df["hour"], utc=True)
    new = (df["gateway"] != df["gateway"].shift()) | (hour - hour.shift() != pd.Timedelta(HOUR))
    for _, g in df.groupby(new.cumsum(), sort=True):
        out.append(episode(str(g["gateway"].iloc[0]), g))
    return tuple(sorted(out, key=rank_key))
