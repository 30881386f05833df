"""The demo world's gateway sources for a collector run: its Stripe API served locally and its
Adyen reports on disk, as the settings a real deployment would point at real sources."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from demoworld.adyen import adyen_reports_dir, write_adyen_reports
from demoworld.stripe_server import StripeDemoServer

DEMO_STRIPE_KEY = "sk_test_revwatch_demo"  # the demo server accepts any key; this one is not a secret


@contextmanager
def demo_sources(libpq_url: str, out_dir: Path) -> Iterator[dict]:
    """Yield the settings overrides (stripe_api_key, stripe_api_base, adyen_reports_dir) for the
    demo world in `libpq_url`, its Stripe server running meanwhile. Adyen files are written out
    again when the folder is missing (another process or machine generated the world)."""
    reports = adyen_reports_dir(out_dir)
    if not reports.is_dir() or not any(reports.glob("*.csv")):
        write_adyen_reports(libpq_url, reports)
    with StripeDemoServer(libpq_url) as server:
        yield {"stripe_api_key": DEMO_STRIPE_KEY, "stripe_api_base": server.base_url, "adyen_reports_dir": reports}
