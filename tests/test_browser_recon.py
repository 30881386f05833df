"""The Reconciliation page as a finance user sees it: Chromium on the demo world (served as
`revwatch dashboard` serves it, tests/test_browser.py's `dashboard`), at 1440 and at 900 pixels wide. The funnel's
panels keep their labels to themselves (no axis labels over another currency's bars, no legend over a facet
title), every stage shows in the items chart with its count, and the page says no None or nan. Screenshots are kept
in test-artifacts/ (recon-1440.png, recon-900.png); tests/test_visual.py looks at every page once more.
"""
from __future__ import annotations

import re

import pytest

from tests.processes import STREAMLIT_IDLE, chromium_page

# Boxes drawn over each other in a Plotly chart: any tick label or facet title of one panel over another panel's
# plot area, the legend over a facet title, a plot area or a tick label, two tick labels of one panel, two bar labels.
OVERLAPS = """(plot) => {
  const box = e => e.getBoundingClientRect();
  const hit = (a, b) => a.width > 0 && b.width > 0 && a.left < b.right - 1 && b.left < a.right - 1
                        && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const areas = [...plot.querySelectorAll('.draglayer .nsewdrag')].map(e => ({id: e.dataset.subplot, r: box(e)}));
  const found = [];
  for (const sub of plot.querySelectorAll('.cartesianlayer > g.subplot')) {
    const id = [...sub.classList].find(c => c !== 'subplot');
    const labels = [...sub.querySelectorAll('g.ytick text, g.xtick text')].map(t => ({t: t.textContent, r: box(t)}));
    for (const l of labels) for (const a of areas)
      if (a.id !== id && hit(l.r, a.r)) found.push(`tick ${l.t} of ${id} over panel ${a.id}`);
    for (const kind of ['g.ytick text', 'g.xtick text', 'text.bartext']) {
      const ts = [...sub.querySelectorAll(kind)].map(t => ({t: t.textContent, r: box(t)}));
      for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++)
        if (hit(ts[i].r, ts[j].r)) found.push(`labels ${ts[i].t} / ${ts[j].t} of ${id}`);
    }
  }
  const titles = [...plot.querySelectorAll('g.annotation')].map(e => ({t: e.textContent, r: box(e)}));
  for (const a of titles) for (const p of areas) if (hit(a.r, p.r)) found.push(`title ${a.t} over panel ${p.id}`);
  const legend = plot.querySelector('g.legend');
  if (legend) {
    const l = box(legend);
    for (const a of titles) if (hit(l, a.r)) found.push(`legend over title ${a.t}`);
    for (const p of areas) if (hit(l, p.r)) found.push(`legend over panel ${p.id}`);
    for (const t of plot.querySelectorAll('g.xtick text, g.ytick text'))
      if (hit(l, box(t))) found.push(`legend over tick ${t.textContent}`);
  }
  return found;
}"""
BAR_LABELS = """(plot) => [...plot.querySelectorAll('g.point')].map(p => {
  const path = p.querySelector('path'), text = p.querySelector('text');
  const shown = text && text.getBoundingClientRect().width > 0 && getComputedStyle(text).display !== 'none';
  return {height: path ? path.getBoundingClientRect().height : 0, text: shown ? text.textContent : ''};
})"""
NO_NONE = re.compile(r"(?<![\w-])(None|nan|NaN|NaT)(?![\w-])")


def _open(page, dashboard: str, name: str, wait_text: str) -> None:
    page.locator('[data-testid="stMetric"], [data-testid="stSidebarNav"]').first.wait_for(state="visible",
                                                                                         timeout=90_000)
    page.get_by_role("link", name=name, exact=True).first.click(timeout=60_000)
    page.get_by_text(wait_text).first.wait_for(state="visible", timeout=120_000)
    page.wait_for_function(
        "() => " + STREAMLIT_IDLE,
        timeout=120_000)
    page.wait_for_timeout(2000)  # Plotly's first layout pass
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stMain"]').inner_text()


def _shot(page, path) -> None:
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], body')]"
                           ".map(e => e.scrollHeight))")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)


def _check_charts(page, width: int, every_bar_labelled: bool) -> None:
    charts = page.locator('.js-plotly-plot')
    assert charts.count() >= 2
    for i in range(charts.count()):
        assert charts.nth(i).evaluate(OVERLAPS) == [], (i, width)
    bars = charts.nth(0).evaluate(BAR_LABELS)  # items per stage: every bar drawn, and says its count where it fits
    assert bars and all(b["height"] >= 1 for b in bars), bars
    labelled = [b["text"] for b in bars if b["text"]]
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", t) for t in labelled), labelled
    assert len(labelled) == len(bars) or not every_bar_labelled, bars


@pytest.mark.browser
def test_reconciliation_charts_keep_their_panels_apart_at_1440_and_900(dashboard, artifacts):
    with chromium_page(dashboard) as (page, errors):
        page.set_viewport_size({"width": 1440, "height": 900})
        _open(page, dashboard, "Reconciliation", "Export for auditors")
        _check_charts(page, 1440, every_bar_labelled=True)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert not NO_NONE.search(main), NO_NONE.findall(main)
        assert "close_min" not in main and "-0.0%" not in main
        assert re.search(r"(All|First) [\d,]+ (of [\d,]+ )?breaks", main)
        for section in ("Stage funnel", "Breaks", "Payouts", "Month close", "Export for auditors"):
            assert section in main, section
        _shot(page, artifacts / "recon-1440.png")
        page.set_viewport_size({"width": 900, "height": 900})  # narrower: Plotly lays the charts out again
        page.wait_for_timeout(1500)
        _check_charts(page, 900, every_bar_labelled=False)
        _shot(page, artifacts / "recon-900.png")
        assert not errors, errors
