"""Site-local time for arrays of UTC instants, read once from the IANA database (zoneinfo).

A site's local day decides its tax rate and shapes its traffic. Offsets are tabulated on a
15-minute UTC grid: every transition of the zones used here (St John's included) falls on a
quarter hour, so the lookup is exact, and vectorised.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from demoworld.params import DAY

STEP = 900


class Clock(NamedTuple):
    """UTC offsets (seconds) of each zone at each grid instant t0 + k * STEP."""

    zones: tuple[str, ...]
    t0: int
    offsets: np.ndarray  # (len(zones), steps) int64


def _offset(zone: ZoneInfo, t: int) -> int:
    offset = datetime.fromtimestamp(t, zone).utcoffset()
    if offset is None:  # an aware datetime always has one
        raise ValueError(f"{zone.key} gives no UTC offset at {t}")
    return int(offset.total_seconds())


def make_clock(zones: tuple[str, ...], t0: int, t1: int) -> Clock:
    """Tabulate offsets over [t0, t1): one zoneinfo call per day, and per quarter hour only on
    the days whose offset changes."""
    t0 = t0 - t0 % DAY
    days = -(-(t1 - t0) // DAY) + 1
    per_day = DAY // STEP
    table = np.empty((len(zones), days * per_day), dtype=np.int64)
    for z, name in enumerate(zones):
        zone = ZoneInfo(name)
        edges = [_offset(zone, t0 + d * DAY) for d in range(days + 1)]
        for d in range(days):
            row = table[z, d * per_day:(d + 1) * per_day]
            if edges[d] == edges[d + 1]:
                row[:] = edges[d]
            else:
                row[:] = [_offset(zone, t0 + d * DAY + k * STEP) for k in range(per_day)]
    return Clock(tuple(zones), t0, table)


def utc_offset(clock: Clock, zone_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """UTC offset in seconds of each instant `t` in zone `zone_idx`."""
    k = (np.asarray(t, dtype=np.int64) - clock.t0) // STEP
    if k.size and (k.min() < 0 or k.max() >= clock.offsets.shape[1]):
        raise ValueError("instant outside the clock's range")
    return clock.offsets[zone_idx, k]


def local_seconds(clock: Clock, zone_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """UTC instants -> local wall-clock time as naive epoch seconds."""
    return t + utc_offset(clock, zone_idx, t)


def local_day(clock: Clock, zone_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """UTC instants -> local date as days since 1970-01-01 (what `AT TIME ZONE ...::date` gives)."""
    return local_seconds(clock, zone_idx, t) // DAY


def from_local(clock: Clock, zone_idx: np.ndarray, naive: np.ndarray) -> np.ndarray:
    """Local wall-clock (naive epoch seconds) -> a UTC instant. Exact except inside a DST
    gap or overlap, where some nearby instant is returned (fine for simulated arrivals)."""
    first = naive - utc_offset(clock, zone_idx, naive)
    return naive - utc_offset(clock, zone_idx, first)


def local_midnight(zone: str, day: date) -> int:
    """Epoch second at which local date `day` begins in `zone` (exact, via zoneinfo)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).timestamp())


def epoch_day(t: int, zone: str) -> date:
    """The local date of instant t in zone."""
    return datetime.fromtimestamp(t, ZoneInfo(zone)).date()


def day_number(d: date) -> int:
    return (d - date(1970, 1, 1)).days
