"""The real thing: `streamlit run app.py` served to headless Chromium, against the demo world.

Catches what AppTest cannot: the front end rendering the page, Plotly drawing, JS errors.
Chromium must be installed (CI installs it); a missing browser fails, it does not skip.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import STREAMLIT_IDLE, chromium_page

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def _page(dashboard: str):
    """Headless Chromium on the dashboard, the router run; yields (page, JS errors seen)."""
    with chromium_page(dashboard) as (page, errors):
        page.locator('[data-testid="stMetric"]').first.wait_for(state="visible", timeout=60_000)  # the router ran
        yield page, errors


def _settled(page, charts: int) -> None:
    """Wait for `charts` Plotly charts and no script running, then check no exception is shown."""
    page.wait_for_function(
        f"() => document.querySelectorAll('.js-plotly-plot').length >= {charts} && " + STREAMLIT_IDLE,
        timeout=60_000)
    page.wait_for_timeout(1000)  # let Plotly finish its first layout pass
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def _screenshot(page, path: Path, errors: list[str]) -> None:
    """The app scrolls inside its main container: grow the viewport to take the whole page."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], section.main, body')]"
        ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1440, "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)
    assert not errors, errors


@pytest.mark.browser
def test_trace_page_follows_a_link_and_shows_where_the_chain_breaks(dashboard, demo_world, artifacts):
    """Trace opened by its ?id= link on the payout that never reached the bank: the break is shown."""
    payout = next(i["expected"]["payout_reference"] for i in demo_world.manifest["incidents"]
                  if i["id"] == "payout_missing_in_bank")
    with _page(dashboard) as (page, errors):
        page.goto(f"{dashboard}trace?id={payout}", wait_until="domcontentloaded")
        page.get_by_text("The chain breaks at").first.wait_for(state="visible", timeout=60_000)
        _settled(page, 0)
        body = page.inner_text("body")
        assert payout in body and "missing" in body
        # issue 18: no identity provider configured: every page, this one too, says who acts and that nobody signed in
        assert re.search(r"local mode: no sign-in.*operating-system user", page.locator('[data-testid="stSidebar"]')
                         .inner_text(), re.S)
        # issue 16: "is a attempt"; emoji icons drawn as empty boxes without an emoji font: Material icons now
        assert re.search(r" is an? [A-Za-z]", body) and " is a a" not in body and " is a A" not in body
        assert not [ch for ch in body if ord(ch) > 0x2FFF], "no emoji in the chain"
        # each hop's icon is drawn as one glyph of the icon font (a missing font would spell out its name)
        icons = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMain"] span[role="img"]')]
            .filter(e => (e.getAttribute('aria-label') || '').endsWith(' icon'))
            .map(e => [e.textContent, e.getBoundingClientRect().width / parseFloat(getComputedStyle(e).fontSize)])""")
        assert len(icons) >= 4 and all(w < 1.6 for _, w in icons), icons
        _screenshot(page, artifacts / "trace.png", errors)
