"""The demo world's sources for a collector run: its Stripe API served locally, its Adyen
reports, bank statements, GL exports and FX rates on disk, as the settings a real deployment
would point at real sources."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from demoworld.adyen import adyen_reports_dir, write_adyen_reports
from demoworld.bank import bank_statements_dir, write_bank_files
from demoworld.fx import fx_rates_path, write_fx_rates
from demoworld.ledger import gl_exports_dir, write_gl_exports
from demoworld.stripe_server import StripeDemoServer

DEMO_STRIPE_KEY = "sk_test_revwatch_demo"  # the demo server accepts any key; this one is not a secret


def _empty(directory: Path, *patterns: str) -> bool:
    return not directory.is_dir() or not any(p for pattern in patterns for p in directory.glob(pattern))


@contextmanager
def demo_sources(libpq_url: str, out_dir: Path) -> Iterator[dict]:
    """Yield the settings overrides (stripe_api_key, stripe_api_base, adyen_reports_dir,
    bank_statements_dir, gl_exports_dir, fx_rates_path) for the demo world in `libpq_url`, its
    Stripe server running meanwhile. Files are written out again from the database when they
    are missing (another process or machine generated the world); a world generated before
    the bank, GL and FX files existed gets no such settings."""
    reports = adyen_reports_dir(out_dir)
    if _empty(reports, "*.csv"):
        write_adyen_reports(libpq_url, reports)
    overrides: dict = {"adyen_reports_dir": reports}
    bank, gl, fx = bank_statements_dir(out_dir), gl_exports_dir(out_dir), fx_rates_path(out_dir)
    have = True
    if _empty(bank, "bai2_*.txt", "camt053_*.xml"):
        have = bool(write_bank_files(libpq_url, bank))
    if have and _empty(gl, "gl_export_*.csv"):
        have = bool(write_gl_exports(libpq_url, gl))
    if have and not fx.is_file():
        have = write_fx_rates(libpq_url, fx) is not None
    if have:
        overrides.update(bank_statements_dir=bank, gl_exports_dir=gl, fx_rates_path=fx)
    with StripeDemoServer(libpq_url) as server:
        yield {"stripe_api_key": DEMO_STRIPE_KEY, "stripe_api_base": server.base_url, **overrides}
