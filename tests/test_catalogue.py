"""The metric catalogue is the one home of every figure's name and help text: every key a page asks
for is defined there, every card on the catalogued pages takes its tooltip from it, and every family
the Prometheus exporter serves has its HELP line there, word for word. Static reads of the page
sources (no database, no browser)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from metrics.catalogue import METRICS, help_text, label
from metrics.catalogue.prometheus import EXPORTER_HELP, exporter_help

PAGES = Path(__file__).resolve().parent.parent / "pages"
# Pages whose every st.metric card reads its help from the catalogue (the others follow as they move theirs); a
# page drawn by section modules in pages/common/ lists those too.
CATALOGUED = ("overview.py", "payments.py", "refunds_disputes.py", "alerts.py", "health.py", "reconciliation.py",
              "billing_accuracy.py", "trace.py", "common/recon_breaks.py", "common/recon_break_detail.py",
              "common/recon_close.py")
# Every page and every shared module of pages/common/ (section modules name catalogue keys too).
PAGE_FILES = sorted([p.name for p in PAGES.glob("*.py") if p.name != "__init__.py"]
                    + [f"common/{p.name}" for p in (PAGES / "common").glob("*.py")])


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def catalogue_keys(tree: ast.Module) -> set[str]:
    """The catalogue keys a page names: `help_text("k")`, `label("k")`, `METRICS["k"]`, a literal
    bound to a parameter named `metric` of the page's own helpers, and the string values of a
    module-level `…_METRICS` dict (a dimension value -> its catalogue key)."""
    keys: set[str] = set()
    metric_at: dict[str, int] = {}  # helper name -> position of its `metric` parameter
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            names = [a.arg for a in node.args.args]
            if "metric" in names:
                metric_at[node.name] = names.index("metric")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = _name(node.func)
            if fn in ("help_text", "label") and node.args:
                keys.add(_literal(node.args[0]) or "")
            elif fn in metric_at:
                i = metric_at[fn]
                arg = node.args[i] if i < len(node.args) else next(
                    (k.value for k in node.keywords if k.arg == "metric"), None)
                keys.add(_literal(arg) or "")
        elif isinstance(node, ast.Subscript) and _name(node.value) == "METRICS":
            keys.add(_literal(node.slice) or "")
        elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
              and any(isinstance(t, ast.Name) and t.id.endswith("_METRICS") for t in node.targets)):
            keys |= {_literal(v) or "" for v in node.value.values}
    keys.discard("")  # a key held in a variable: checked where the literal is
    return keys


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_key_a_page_asks_for_is_in_the_catalogue(page):
    keys = catalogue_keys(_tree(PAGES / page))
    assert sorted(keys - set(METRICS)) == []
    if page in CATALOGUED:
        assert keys, f"{page} names no catalogue key"


@pytest.mark.parametrize("page", CATALOGUED)
def test_every_card_takes_its_help_from_the_catalogue(page):
    """A figure's card explains the figure with the catalogue's words (it may add the numbers behind it)."""
    bare = []
    for node in ast.walk(_tree(PAGES / page)):
        if isinstance(node, ast.Call) and _name(node.func) == "metric":
            help_arg = next((k.value for k in node.keywords if k.arg == "help"), None)
            asks = help_arg is not None and any(
                isinstance(n, ast.Call) and _name(n.func) == "help_text" for n in ast.walk(help_arg))
            if not asks:
                bare.append(node.lineno)
    assert bare == [], f"{page}: st.metric without help=help_text(...) at lines {bare}"


def test_the_key_reader_sees_each_form():
    src = ('help_text("a")\nlabel("b")\nMETRICS["c"].label\n'
           'def card(col, metric, value): ...\ncard(1, "d", 2)\ncard(1, metric="e", value=2)\n'
           'KIND_METRICS = {"x": "f"}\nhelp_text(key)\nst.selectbox("g", key="h")\n')
    assert catalogue_keys(ast.parse(src)) == {"a", "b", "c", "d", "e", "f"}


def test_every_metric_has_a_label_unit_and_help():
    for key, m in METRICS.items():
        assert m.key == key and label(key) and help_text(key).endswith((".", ")"))
        assert m.unit in ("money", "count", "ratio", "seconds")
    assert METRICS["dispute_ratio"].thresholds == {"visa": 0.009, "mastercard": 0.015}
    with pytest.raises(KeyError):
        help_text("no_such_figure")


def test_every_exporter_family_has_its_help_in_the_catalogue():
    """The names come from the exporter itself (its describe(): every family, no database read)."""
    from metrics.faces.exporter import RevwatchCollector  # here: a broken exporter fails this test only

    families = list(RevwatchCollector(None, None, jobs=()).describe())
    assert len(families) >= 20
    for fam in families:
        assert exporter_help(fam.name) == fam.documentation, fam.name
    served = {f.name for f in families}
    assert {n.removesuffix("_total") for n in EXPORTER_HELP} == served  # no help for a family nobody serves
    assert exporter_help("revwatch_job_runs_total") == exporter_help("revwatch_job_runs")
    with pytest.raises(KeyError):
        exporter_help("revwatch_no_such_family")
