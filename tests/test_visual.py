"""Every page of the dashboard as its user sees it: Chromium on the demo world, a screenshot of each page kept as a
test artifact (test-artifacts/visual-*.png), and the defects a reader trips on asserted away: an exception, a
metric or tab label cut off, "minor units" on a chart axis, a literal "None" or "nan" in the page's text, Plotly
axis labels drawn over each other.
"""
from __future__ import annotations

import re

import pytest

from tests.processes import chromium_page

PAGES = ("Overview", "Payments", "Refunds & disputes", "Billing accuracy", "Reconciliation", "Trace", "Alerts",
         "Weekly report", "Health", "Audit")  # the navigation's titles (app.py)

# Every element whose text is cut by CSS (text-overflow: ellipsis, or hidden overflow) where it is a label.
CUT_LABELS = """() => Array.from(document.querySelectorAll(
    '[data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] div, button[role="tab"] p, '
    + '[data-testid="stWidgetLabel"] p, [data-testid="stExpander"] summary p'))
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText)"""
AXIS_TEXTS = "() => Array.from(document.querySelectorAll('.js-plotly-plot .g-xtitle, .js-plotly-plot .g-ytitle, "\
             ".js-plotly-plot .g-x2title, .js-plotly-plot .g-y2title')).map(e => e.textContent)"
# Tick labels of one chart drawn over each other: bounding boxes of one axis's tick labels that intersect.
OVERLAPPING_TICKS = """() => {
  const hits = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    for (const axis of plot.querySelectorAll('g.xtick, g.ytick').length ? ['xtick', 'ytick'] : []) {
      const boxes = Array.from(plot.querySelectorAll('g.' + axis + ' text'))
        .map(t => ({text: t.textContent, r: t.getBoundingClientRect()})).filter(b => b.r.width > 0);
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r, b = boxes[j].r;
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
          hits.push(boxes[i].text + ' / ' + boxes[j].text);
      }
    }
  }
  return hits;
}"""


def _settle(page) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stMain\"]')"
        " && !document.querySelector('[data-testid=\"stSpinner\"]')"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"] [data-testid=\"stStatusWidgetRunningIcon\"]')",
        timeout=90_000)
    page.wait_for_timeout(2500)  # Plotly's first layout pass, the last fragments


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p or "overview")
def test_page_reads_right(dashboard, artifacts, path):
    with chromium_page(f"{dashboard}{path}") as (page, errors):
        page.locator('[data-testid="stSidebarNav"]').first.wait_for(state="visible", timeout=90_000)
        _settle(page)
        page.screenshot(path=str(artifacts / f"visual-{path or 'overview'}.png"), full_page=True)
        main = page.locator('[data-testid="stMain"]')
        assert page.locator('[data-testid="stException"]').count() == 0, main.inner_text()
        assert not errors, errors
        text = main.inner_text()
        assert not re.search(r"(?<![\w-])(None|nan|NaN|NaT)(?![\w-])", text), re.findall(r".{0,40}\bNone\b.{0,40}", text)
        assert "-0.0%" not in text and "minor units" not in text
        assert page.evaluate(CUT_LABELS) == []
        axes = page.evaluate(AXIS_TEXTS)
        assert not [a for a in axes if "minor" in a.lower()], axes
        assert page.evaluate(OVERLAPPING_TICKS) == []
