"""Daily reference exchange rates into the reporting currency (SOURCES.md §6): a small seeded
random walk per currency, kept in integer millionths; stored in demo.fx_file and written to
`out_dir/fx_rates.csv`.

Conventions (what readers may rely on, beyond SOURCES.md):
- Header `date,currency,rate_to_reporting`; one row per UTC calendar day of the world, from
  its first day up to and including the day it ends in, for every world currency other than
  the reporting currency USD, sorted by (date, currency). `rate_to_reporting` is USD per one
  unit of the currency with exactly 6 decimals (CAD walks within 0.710000-0.740000), so
  `amount_in_usd = amount * rate`.
- Incident (recon.py): one (date, currency) row is left out (fx_rate_missing).
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import psycopg

from demoworld.params import DAY, stream
from demoworld.recon import REPORTING_CURRENCY
from demoworld.transfers import Calendar
from revwatch.db import fetch_one

FILE_NAME = "fx_rates.csv"
HEADER = "date,currency,rate_to_reporting"
# currency -> (start, low, high, largest daily step), millionths of a USD per unit
BANDS = {"CAD": (725_000, 710_000, 740_000, 2_500), "EUR": (1_080_000, 1_050_000, 1_110_000, 4_000),
         "JPY": (6_700, 6_500, 6_900, 30)}


def fx_rates_path(out_dir: Path | str) -> Path:
    """Where generate(out_dir=...) puts the FX rates."""
    return Path(out_dir) / FILE_NAME


class Rates(NamedTuple):
    day: np.ndarray  # UTC midnight
    currency: np.ndarray  # index into the world's currencies
    micro: np.ndarray  # rate_to_reporting in millionths


def simulate(currencies: tuple[str, ...], cal: Calendar, plan, seed: int) -> Rates:
    """Every (day, non-reporting currency), but the one recon.ReconPlan leaves out."""
    rng = stream(seed, "fx")
    days = cal.days
    out_day, out_cur, out_rate = [], [], []
    for c, code in enumerate(currencies):
        if code == REPORTING_CURRENCY:
            continue
        start, low, high, step = BANDS.get(code, (1_000_000, 980_000, 1_020_000, 3_000))
        rate = start + int(rng.integers(-step, step + 1)) * 2
        walk = []
        for move in rng.integers(-step, step + 1, days.size).tolist():
            rate += move
            if rate < low:
                rate = 2 * low - rate  # reflect back into the band
            elif rate > high:
                rate = 2 * high - rate
            walk.append(rate)
        out_day.append(days)
        out_cur.append(np.full(days.size, c))
        out_rate.append(np.array(walk, dtype=np.int64))
    if not out_day:
        return Rates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    day, cur, micro = np.concatenate(out_day), np.concatenate(out_cur), np.concatenate(out_rate)
    keep = ~((cur == plan.fx_currency) & (day == plan.fx_day))
    order = np.lexsort((np.array(currencies)[cur[keep]], day[keep]))
    return Rates(day[keep][order], cur[keep][order], micro[keep][order])


def render(rates: Rates, currencies: tuple[str, ...]) -> str:
    lines = [HEADER]
    for d, c, m in zip(rates.day.tolist(), rates.currency.tolist(), rates.micro.tolist(), strict=True):
        day = (date(1970, 1, 1) + timedelta(days=d // DAY)).isoformat()
        lines.append(f"{day},{currencies[c]},{m // 1_000_000}.{m % 1_000_000:06d}")
    return "\n".join(lines) + "\n"


def write_file(content: str, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode())
    return path


def write_fx_rates(libpq_url: str, path: Path | str) -> Path | None:
    """Re-materialise the FX file of the world in `libpq_url` at `path` (None when the world
    predates it)."""
    with psycopg.connect(libpq_url) as conn:
        if fetch_one(conn.execute("SELECT to_regclass('demo.fx_file')"))[0] is None:
            return None
        row = conn.execute("SELECT content FROM demo.fx_file").fetchone()
    return write_file(row[0], path) if row else None
