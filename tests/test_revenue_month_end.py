"""Revenue to date and the range KPIs across month, week and DST boundaries, on a small world that ends on 31 March
2025: every instant is fixed, not revwatch.clock's now, so these run once (not again as of the awkward instants of
scripts/test.sh, as the tests of tests/test_metrics_queries.py do)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from metrics.figures import overview as q
from metrics.figures.query import Filters
from tests.worlds.references import reference_payments, reference_revenue, reference_sessions


def _any(**kw) -> Filters:
    """Filters whose date range does not matter (revenue to date ignores it)."""
    return Filters(date(2000, 1, 1), date(2000, 1, 1), **kw)


@pytest.fixture(scope="module")
def month_end_world(make_world):
    """A small world ending on 31 March 2025: last month (February) is shorter, and US/CA clocks
    moved on 9 March, so month-to-date comparisons, clamping and DST all get exercised."""
    return make_world(demo=dict(days=62, sites=5, scale=0.05, seed=5), end=datetime(2025, 3, 31, 10, tzinfo=UTC))


@pytest.mark.parametrize("as_of", [
    datetime(2025, 3, 31, 10, tzinfo=UTC),  # previous MTD = 1-28 Feb, cut 28 Feb 10:00
    datetime(2025, 3, 3, 5, tzinfo=UTC),    # a Monday morning in UTC, still Sunday in America
    datetime(2025, 3, 10, 6, tzinfo=UTC),   # the day after the DST change
])
def test_revenue_to_date_across_month_and_week_boundaries(month_end_world, as_of):
    got = {(r.period, r.currency): (r.total_minor, r.previous_minor, r.previous_complete)
           for r in q.revenue_to_date(month_end_world.engine, _any(), as_of)}
    assert got == reference_revenue(month_end_world, as_of)
    assert all(prev > 0 and complete for (period, _), (_, prev, complete) in got.items() if period == "mtd"), got


def test_range_kpis_compare_with_the_previous_range(month_end_world):
    f = Filters(date(2025, 3, 15), date(2025, 3, 28))
    got = q.range_kpis(month_end_world.engine, f)
    assert got.previous_payments == reference_payments(month_end_world, date(2025, 3, 1), date(2025, 3, 14))
    assert got.previous_sessions == reference_sessions(month_end_world, date(2025, 3, 1), date(2025, 3, 14))
    assert got.previous_sessions > 0 and got.previous_payments.attempts > 0
