"""The operator's fixed world: sites, their rate plans, and the tax rates of each jurisdiction.

Small tables (one row per site, plan or rate), built from a city catalogue so every world
has US sites in USD and Canadian sites in CAD as soon as it has three sites.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import numpy as np

from demoworld.localtime import day_number, epoch_day, local_midnight
from demoworld.params import Period

NULL = -1  # the sentinel for NULL in integer and timestamp arrays


class City(NamedTuple):
    name: str
    region: str
    timezone: str
    currency: str
    jurisdiction: str
    hourly_minor: int  # price level: what an hour costs there, roughly
    tax_micro: int  # sales tax on parking, in millionths


CITIES: tuple[City, ...] = (
    City("Los Angeles", "us-west", "America/Los_Angeles", "USD", "US-CA", 400, 87_500),
    City("New York", "us-east", "America/New_York", "USD", "US-NY", 750, 88_750),
    City("Toronto", "ca-east", "America/Toronto", "CAD", "CA-ON", 500, 130_000),
    City("Vancouver", "ca-west", "America/Vancouver", "CAD", "CA-BC", 450, 120_000),
    City("Chicago", "us-east", "America/Chicago", "USD", "US-IL", 550, 102_500),
    City("Denver", "us-west", "America/Denver", "USD", "US-CO", 350, 88_100),
    City("Boston", "us-east", "America/New_York", "USD", "US-MA", 600, 62_500),
    City("Montreal", "ca-east", "America/Toronto", "CAD", "CA-QC", 400, 149_750),
    City("Seattle", "us-west", "America/Los_Angeles", "USD", "US-WA", 500, 103_500),
    City("St. John's", "ca-east", "America/St_Johns", "CAD", "CA-NL", 250, 150_000),
    City("Calgary", "ca-west", "America/Edmonton", "CAD", "CA-AB", 350, 50_000),
)
# Sites after the eleventh cycle through the big cities (St. John's stays a single site).
_CYCLE = (0, 1, 4, 2, 6, 8, 3, 5, 1, 7, 0, 10, 4, 2)
KINDS = ("Downtown Garage", "Airport Lot", "Stadium Garage", "Station Garage", "Mall Lot",
         "Hospital Garage", "Waterfront Lot", "Convention Center Garage")
EVENT_KINDS = frozenset({"Stadium Garage", "Convention Center Garage"})
GATEWAYS = ("stripe", "adyen")


class Sites(NamedTuple):
    site_id: tuple[str, ...]
    name: tuple[str, ...]
    city: tuple[int, ...]  # index into CITIES
    zone: np.ndarray  # index into `zones`
    zones: tuple[str, ...]
    size: np.ndarray  # traffic factor, mean 1
    events: np.ndarray  # bool: hosts evening events
    gateway: np.ndarray  # primary gateway, index into GATEWAYS

    def attr(self, field: str) -> tuple[str, ...]:
        return tuple(getattr(CITIES[c], field) for c in self.city)

    @property
    def currency(self) -> tuple[str, ...]:
        return self.attr("currency")

    @property
    def jurisdiction(self) -> tuple[str, ...]:
        return self.attr("jurisdiction")

    @property
    def timezone(self) -> tuple[str, ...]:
        return self.attr("timezone")


def make_sites(n: int, rng: np.random.Generator) -> Sites:
    city = [i if i < len(CITIES) else _CYCLE[(i - len(CITIES)) % len(_CYCLE)] for i in range(n)]
    kinds = [KINDS[k] for k in rng.integers(0, len(KINDS), n)]
    if n >= 4:
        kinds[3] = "Stadium Garage"  # small worlds still have an event venue
    seen: dict[tuple[int, str], int] = {}
    names = []
    for c, kind in zip(city, kinds, strict=True):
        seen[(c, kind)] = seen.get((c, kind), 0) + 1
        names.append(f"{kind} {seen[(c, kind)]}, {CITIES[c].name}")
    size = rng.lognormal(0.0, 0.45, n) * np.array([1.3 if k == "Airport Lot" else 1.0 for k in kinds])
    size = size / size.mean()
    zones = tuple(sorted({CITIES[c].timezone for c in city}))
    gateway = (rng.random(n) < 0.4).astype(np.int64)
    gateway[0] = 0
    if n > 1:
        gateway[1] = 1
    return Sites(
        site_id=tuple(f"S{i + 1:03d}" for i in range(n)),
        name=tuple(names),
        city=tuple(city),
        zone=np.array([zones.index(CITIES[c].timezone) for c in city], dtype=np.int64),
        zones=zones,
        size=size,
        events=np.array([k in EVENT_KINDS for k in kinds]),
        gateway=gateway,
    )


class Plans(NamedTuple):
    """Rate plans sorted by (site, effective_from); effective_to NULL (-1) = open."""

    plan_id: tuple[str, ...]
    site: np.ndarray
    effective_from: np.ndarray
    effective_to: np.ndarray
    grace: np.ndarray
    increment: np.ndarray
    price: np.ndarray
    daily_max: np.ndarray  # NULL (-1) = no cap


def _round_to(numerator: np.ndarray, denominator: int, step: int) -> np.ndarray:
    """round(numerator / denominator) to a multiple of `step`, halves up, in integers."""
    unit = denominator * step
    return ((numerator + unit // 2) // unit * step).astype(np.int64)


def _raised(minor: int, basis_points: int) -> int:
    """A price raised by basis_points, rounded up to 5 minor units (always strictly higher)."""
    up = -(-minor * (10_000 + basis_points) // 10_000)
    return max(-(-up // 5) * 5, minor + 5)


def make_plans(sites: Sites, period: Period, changes: dict[int, int], rng: np.random.Generator) -> Plans:
    """One plan per site from before the period; sites in `changes` (site -> instant) get a
    dearer plan from that instant (same grace and increment, higher prices)."""
    n = len(sites.site_id)
    hourly = np.array([CITIES[c].hourly_minor for c in sites.city], dtype=np.int64)
    increment = rng.choice(np.array([15, 20, 30, 60]), n, p=[0.4, 0.15, 0.3, 0.15])
    grace = rng.integers(5, 16, n)
    # integer arithmetic only: jitter in percent, raises in basis points
    jitter = rng.integers(85, 121, n)
    price = np.maximum(25, _round_to(hourly * increment * jitter, 60 * 100, 25))
    cap = np.maximum(_round_to(hourly * rng.integers(500, 901, n), 100, 100), price * 2)
    cap[rng.random(n) < 0.3] = NULL
    back = rng.integers(30, 400, n)
    raise_bp = rng.integers(1000, 2501, n)
    rows = []
    for s in range(n):
        tz = sites.timezone[s]
        start = local_midnight(tz, epoch_day(period.start, tz) - timedelta(days=int(back[s])))
        base = [s, start, NULL, grace[s], increment[s], price[s], cap[s]]
        if s in changes:
            at = changes[s]
            new_price = _raised(int(price[s]), int(raise_bp[s]))
            new_cap = NULL if cap[s] == NULL else _raised(int(cap[s]), int(raise_bp[s]))
            rows.append([*base[:2], at, *base[3:]])
            rows.append([s, at, NULL, grace[s], increment[s], new_price, new_cap])
        else:
            rows.append(base)
    a = np.array(rows, dtype=np.int64)
    seq: dict[int, int] = {}
    ids = []
    for s in a[:, 0]:
        seq[s] = seq.get(s, 0) + 1
        ids.append(f"rp_{sites.site_id[s]}_{seq[s]:02d}")
    return Plans(tuple(ids), a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6])


class TaxRates(NamedTuple):
    """Rows sorted by (jurisdiction, effective_from); dates as day numbers, effective_to
    exclusive (the next row's effective_from), NULL (-1) = open."""

    jurisdiction: tuple[str, ...]
    rate_micro: np.ndarray
    effective_from: np.ndarray
    effective_to: np.ndarray


def make_tax_rates(sites: Sites, period: Period, changes: dict[str, tuple[date, int]]) -> TaxRates:
    """Each jurisdiction's rate since well before the period; `changes` maps a jurisdiction to
    (local date, new rate in millionths)."""
    first = day_number(date(epoch_day(period.start, "UTC").year - 2, 1, 1))
    rates = {CITIES[c].jurisdiction: CITIES[c].tax_micro for c in sites.city}
    rows = []
    for j in sorted(rates):
        if j in changes:
            on, new = changes[j]
            rows.append((j, rates[j], first, day_number(on)))
            rows.append((j, new, day_number(on), NULL))
        else:
            rows.append((j, rates[j], first, NULL))
    return TaxRates(
        tuple(r[0] for r in rows),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.int64),
    )


def rate_text(micro: int) -> str:
    """Millionths -> numeric(9,6) text: 87500 -> '0.087500'."""
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"
