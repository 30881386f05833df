"""Parking sessions: who drove in when, and when they left.

Shapes, in site-local time: weekday commuters (in ~8:00, out ~17:30), shoppers around
midday, evening visitors, weekend lows, event nights at venue sites, a few multi-day stays
and a few drivers who leave within the grace period. Sessions that would leave after the
end of the world are still parked (no exit yet).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from demoworld import ids
from demoworld.localtime import Clock, from_local, local_day
from demoworld.params import DAY, Period
from demoworld.world import NULL, Sites

BASE_PER_DAY = 500  # sessions per site per day at scale 1, before size and weekday factors
HOUR = 3600
WEEKDAY_FACTOR = np.array([1.12, 1.12, 1.12, 1.12, 1.12, 0.72, 0.55])  # Mon..Sun
GUEST_SHARE = 0.12  # sessions paid at the gate without a customer account

# kinds of stay, and their shares on weekdays / weekends
COMMUTER, SHORT, LONG, EVENING, MULTIDAY, GRACE, EVENT = range(7)
WEEKDAY_MIX = np.array([0.38, 0.40, 0.05, 0.14, 0.02, 0.01])
WEEKEND_MIX = np.array([0.08, 0.55, 0.12, 0.22, 0.02, 0.01])


class Sessions(NamedTuple):
    """Sorted by entry time. exited = NULL (-1) while parked; customer = NULL for guests."""

    session_id: np.ndarray  # S bytes
    site: np.ndarray
    entered: np.ndarray
    exited: np.ndarray
    customer: np.ndarray  # index into Customers
    kind: np.ndarray  # kind of stay (for realism checks only)

    @property
    def closed(self) -> np.ndarray:
        return self.exited != NULL


class Customers(NamedTuple):
    customer_id: np.ndarray  # S bytes
    site: np.ndarray  # home site (customers park mostly at one site)


def _stays(kind: np.ndarray, weekday: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Arrival (local seconds after midnight) and length of stay (seconds) per kind."""
    n = kind.size
    arrive = np.empty(n)
    stay = np.empty(n)

    def pick(k):
        return np.flatnonzero(kind == k)

    i = pick(COMMUTER)
    arrive[i] = np.clip(rng.normal(8 * HOUR, 45 * 60, i.size), 5 * HOUR, 11 * HOUR)
    leave = np.clip(rng.normal(17.5 * HOUR, 50 * 60, i.size), arrive[i] + HOUR, 23 * HOUR)
    stay[i] = leave - arrive[i]
    i = pick(SHORT)
    arrive[i] = np.clip(rng.normal(np.where(weekday[i] < 5, 12.5, 13.5) * HOUR, 3 * HOUR), 6 * HOUR, 22.5 * HOUR)
    stay[i] = np.clip(rng.lognormal(np.log(80 * 60), 0.7, i.size), 20 * 60, 10 * HOUR)
    i = pick(LONG)
    arrive[i] = np.clip(rng.normal(10 * HOUR, 2 * HOUR, i.size), 5 * HOUR, 16 * HOUR)
    stay[i] = rng.uniform(4 * HOUR, 10 * HOUR, i.size)
    i = pick(EVENING)
    arrive[i] = np.clip(rng.normal(19 * HOUR, 1.2 * HOUR, i.size), 16 * HOUR, 23.5 * HOUR)
    stay[i] = np.clip(rng.lognormal(np.log(2.3 * HOUR), 0.35, i.size), 30 * 60, 6 * HOUR)
    i = pick(MULTIDAY)
    arrive[i] = rng.uniform(6 * HOUR, 20 * HOUR, i.size)
    stay[i] = rng.uniform(DAY, 5 * DAY, i.size)
    i = pick(GRACE)  # out within 5 minutes: inside every plan's grace (5-15 min)
    arrive[i] = rng.uniform(7 * HOUR, 21 * HOUR, i.size)
    stay[i] = rng.uniform(20, 300, i.size)
    i = pick(EVENT)
    arrive[i] = np.clip(rng.normal(18.25 * HOUR, 40 * 60, i.size), 16 * HOUR, 21 * HOUR)
    stay[i] = np.clip(rng.normal(3.2 * HOUR, 30 * 60, i.size), HOUR, 6 * HOUR)
    return arrive.astype(np.int64), np.floor(stay).astype(np.int64)


def make_sessions(sites: Sites, clock: Clock, period: Period, scale: float,
                  rng: np.random.Generator) -> tuple[Sessions, Customers]:
    n_sites = len(sites.site_id)
    first = local_day(clock, sites.zone, np.full(n_sites, period.start)).min()
    last = local_day(clock, sites.zone, np.full(n_sites, period.end - 1)).max()
    days = np.arange(first, last + 1)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    # expected sessions per (site, local day)
    mean = BASE_PER_DAY * scale * sites.size[:, None] * WEEKDAY_FACTOR[weekday][None, :]
    event_day = sites.events[:, None] & (rng.random(mean.shape) < 0.12)
    regular = rng.poisson(mean)
    extra = rng.poisson(np.where(event_day, mean * rng.uniform(0.4, 0.8, mean.shape), 0.0))

    site_r, day_r = np.nonzero(np.ones_like(regular, dtype=bool))
    site = np.concatenate([np.repeat(site_r, regular.ravel()), np.repeat(site_r, extra.ravel())])
    day = np.concatenate([np.repeat(days[day_r], regular.ravel()), np.repeat(days[day_r], extra.ravel())])
    n_regular = int(regular.sum())
    wd = (day + 3) % 7
    kind = np.full(site.size, EVENT, dtype=np.int64)
    u = rng.random(n_regular)
    kind[:n_regular] = np.where(
        wd[:n_regular] < 5,
        np.searchsorted(np.cumsum(WEEKDAY_MIX / WEEKDAY_MIX.sum()), u, side="right"),
        np.searchsorted(np.cumsum(WEEKEND_MIX / WEEKEND_MIX.sum()), u, side="right"))
    kind[:n_regular] = np.minimum(kind[:n_regular], GRACE)  # guard the float edge of the cumsum
    arrive, stay = _stays(kind, wd, rng)
    entered = from_local(clock, sites.zone[site], day * DAY + arrive)
    keep = (entered >= period.start) & (entered < period.end)
    site, entered, stay, kind = site[keep], entered[keep], stay[keep], kind[keep]
    order = np.lexsort((site, entered))
    site, entered, stay, kind = site[order], entered[order], stay[order], kind[order]
    exited = entered + stay
    exited[exited > period.end] = NULL

    # customers: a pool per site, some drivers far more frequent than others
    per_site = np.bincount(site, minlength=n_sites)
    pool = np.maximum(10, per_site // 6)
    offset = np.concatenate([[0], np.cumsum(pool)[:-1]])
    customer = offset[site] + np.floor(pool[site] * rng.random(site.size) ** 1.7).astype(np.int64)
    customer[rng.random(site.size) < GUEST_SHARE] = NULL
    customers = Customers(ids.make_ids(rng, "cus_", int(pool.sum())), np.repeat(np.arange(n_sites), pool))
    sessions = Sessions(ids.make_ids(rng, "ses_", site.size), site, entered, exited, customer, kind)
    return sessions, customers
