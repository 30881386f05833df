"""The first start, walked as a new user walks it: every page at each stage, from an empty run log to every
figure computed. No page says "nothing found" or gives an all-clear before the jobs behind it have run over
the data; each says what it is waiting for; once everything ran, no page says "not computed yet".

The stages run the real jobs on a generated demo world (not collected), the clock moving five seconds a step,
so that "ran before the data arrived" is decided by the run log's times as in production.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from collectors.jobs import JOBS
from metrics.figures.readiness import TOPIC_JOBS, readiness
from revwatch import clock
from revwatch.schedule import CATALOGUE, INGESTS
from tests.processes import ROOT
from tests.worlds.demo import SMALL_WORLD

PAGE_TOPICS = {  # each page and the readiness topics of its figures
    "pages/overview.py": ("overview",),
    "pages/payments.py": ("payments", "gateway_mismatches"),
    "pages/refunds_disputes.py": ("refunds", "disputes"),
    "pages/billing_accuracy.py": ("billing_accuracy",),
    "pages/reconciliation.py": ("reconciliation",),
    "pages/trace.py": (),
    "pages/alerts.py": (),
    "pages/reports.py": (),
    "pages/health.py": (),
    "pages/audit.py": (),
}
COMPUTE_BUT_RECONCILE = tuple(j for j in CATALOGUE if j not in INGESTS and j != "reconcile")
PENDING = "Not computed yet"


@pytest.fixture
def first_start(make_world, monkeypatch, pin_clock):
    world = make_world(demo=SMALL_WORLD, collect=False)
    monkeypatch.setenv("DATABASE_URL", world.url)
    start = clock.now().replace(second=0, microsecond=0)
    step = iter(range(1, 1000))

    def advance() -> None:
        pin_clock(start + timedelta(seconds=5 * next(step)))  # well inside every job's interval

    advance()
    return world, advance


def _texts(at: AppTest) -> dict[str, list[str]]:
    """What the page says, by kind of element."""
    return {
        "success": [e.value for e in at.success],
        "info": [e.value for e in at.info],
        "warning": [e.value for e in at.warning],
        "error": [e.value for e in at.error],
        "all": [e.value for kind in ("success", "info", "warning", "error", "markdown", "caption")
                for e in getattr(at, kind) if isinstance(e.value, str)],
    }


def _open(page: str) -> AppTest:
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


def _tables_and_axes(at: AppTest, page: str) -> None:
    """No missing value a table would print as "None", no chart axis in minor units."""
    for table in at.dataframe:
        df = table.value
        blank = [c for c in df.columns if df[c].isna().any()]
        assert not blank, (page, "cells shown as None", blank)
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec).get("layout", {})
        titles = [str(v.get("title", "")) for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
        assert not [t for t in titles if "minor" in t.lower()], (page, titles)


def _walk(world, stage: str) -> None:
    for page, topics in PAGE_TOPICS.items():
        at = _open(page)
        _tables_and_axes(at, page)
        said = _texts(at)
        assert not any(t.strip() == "None" for t in said["all"]), (stage, page)
        pending = [t for t in topics if not readiness(world.engine, t, clock.now()).known]
        if pending:
            assert not said["success"], (stage, page, "an all-clear before its figures are computed", said["success"])
            assert any(PENDING in t for t in said["info"] + said["warning"]), (stage, page, pending, said["all"])
            assert not any(t.startswith("Nothing found") or "No reconciliation yet" in t for t in said["all"]), (
                stage, page, said["all"])
        else:
            assert not any(PENDING in t for t in said["all"]), (stage, page, said["all"])


def test_every_page_at_each_stage_of_a_first_start(first_start):
    world, advance = first_start
    _walk(world, "nothing run")
    advance()
    for job in INGESTS:
        JOBS[job].run(world.engine, world.cfg, None, None)
        advance()
    _walk(world, "sources taken in, nothing computed")
    for job in COMPUTE_BUT_RECONCILE:
        JOBS[job].run(world.engine, world.cfg, None, None)
        advance()
    world.sql("INSERT INTO job_runs (job, started_at, outcome) VALUES ('reconcile', %s, 'running')", (clock.now(),))
    advance()
    assert not readiness(world.engine, "reconciliation", clock.now()).known
    _walk(world, "reconcile running its first run")
    health = _open("pages/health.py")
    jobs_ok = next(m for m in health.metric if m.label.startswith("Jobs ok"))
    assert jobs_ok.value.startswith(f"{len(CATALOGUE) - 1} of "), ("a job that never succeeded counted ok", jobs_ok.value)
    world.sql("DELETE FROM job_runs WHERE outcome = 'running'")
    JOBS["reconcile"].run(world.engine, world.cfg, None, None)
    advance()
    assert all(readiness(world.engine, t, clock.now()).known for t in TOPIC_JOBS)
    _walk(world, "everything computed")
