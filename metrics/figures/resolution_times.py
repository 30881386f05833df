"""Time to resolution, measured (issue 19): from each work item's history, how long until someone owned it and
until it was resolved, and how often a resolved item came back.

A history is the item's events in time order: `opened`, `assigned`, `resolved` (or `written_off`, or
`approved`: a resolution that took four eyes), `reopened`, `cleared` (the data matched again by itself, which
resolves it without a person). Time to assign runs from the first `opened` to the first `assigned`; time to
resolve from the first `opened` to the first resolution after it; a reopened item's later resolution does not
shorten its first one. Items not yet assigned or resolved are left out of that figure and counted apart.

Percentiles are by nearest rank on the sorted durations (p50 of 1, 2, 3, 4 h is 2 h; p90 of ten values the 9th):
a value that occurred, never an interpolation, so a test can state it exactly.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

RESOLVING = frozenset({"resolved", "written_off", "approved", "cleared"})


def nearest_rank(sorted_values: Sequence[timedelta], q: float) -> timedelta | None:
    """The q-quantile (0 < q <= 1) by nearest rank of values sorted ascending; None for none."""
    if not sorted_values:
        return None
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} is not in (0, 1]")
    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]


@dataclass(frozen=True)
class ItemTimes:
    """One item's history reduced to the durations the figures need."""

    opened_at: datetime
    to_assign: timedelta | None
    to_resolve: timedelta | None
    reopened: bool


def item_times(events: Iterable[tuple[datetime, str]]) -> ItemTimes | None:
    """An item's (at, action) events reduced (None when it was never opened)."""
    history = sorted(events, key=lambda e: e[0])
    opened = next((at for at, action in history if action == "opened"), None)
    if opened is None:
        return None
    assigned = next((at for at, action in history if action == "assigned" and at >= opened), None)
    resolved = next((at for at, action in history if action in RESOLVING and at >= opened), None)
    reopened = resolved is not None and any(action == "reopened" and at > resolved for at, action in history)
    return ItemTimes(opened, None if assigned is None else assigned - opened,
                     None if resolved is None else resolved - opened, reopened)


@dataclass(frozen=True)
class ResolutionStats:
    """Time to assign and to resolve over a group of items: how many, median and p90, and the share reopened."""

    items: int
    assigned: int
    resolved: int
    reopened: int
    assign_p50: timedelta | None
    assign_p90: timedelta | None
    resolve_p50: timedelta | None
    resolve_p90: timedelta | None

    @property
    def reopened_share(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None


def resolution_stats(times: Iterable[ItemTimes]) -> ResolutionStats:
    """The figures of a group of items (one type, team and month, say)."""
    items = list(times)
    to_assign = sorted(t.to_assign for t in items if t.to_assign is not None)
    to_resolve = sorted(t.to_resolve for t in items if t.to_resolve is not None)
    return ResolutionStats(len(items), len(to_assign), len(to_resolve), sum(t.reopened for t in items),
                           nearest_rank(to_assign, 0.5), nearest_rank(to_assign, 0.9),
                           nearest_rank(to_resolve, 0.5), nearest_rank(to_resolve, 0.9))
