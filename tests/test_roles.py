"""The dashboard's least-privilege role: every page renders and every dashboard action works as
it, and nothing else can be changed through it (the real server refuses, not a mock)."""
from __future__ import annotations

import dataclasses
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.errors import InsufficientPrivilege
from sqlalchemy.engine import make_url

from metrics.actions import break_workflow as wf
from metrics.actions import work_item_actions as wq_act
from metrics.faces import weekly_report as wr
from revwatch import audit
from revwatch.cli import dashboard_environment, main
from revwatch.db import engine_for, libpq_url
from revwatch.roles import DASHBOARD_WRITES
from tests.people import ANA, CARL

PAGES = ["pages/overview.py", "pages/payments.py", "pages/refunds_disputes.py", "pages/billing_accuracy.py", "pages/work_queue.py",
         "pages/reconciliation.py", "pages/trace.py", "pages/alerts.py", "pages/reports.py", "pages/health.py",
         "pages/audit.py"]


@pytest.fixture(scope="module")
def world(make_world, server_url):
    """A small demo world, and a login role granted by `revwatch db grant-dashboard` (as `dash`)."""
    w = make_world(demo=dict(days=10, sites=3, scale=0.05, seed=3))
    role = f"rw_dash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    result = CliRunner(env={"DATABASE_URL": w.url}).invoke(main, ["db", "grant-dashboard", role])
    assert result.exit_code == 0, result.output
    url = make_url(w.url).set(username=role, password=None).render_as_string(hide_password=False)
    w.dash = dataclasses.replace(w, url=url, engine=engine_for(url, pooled=False))
    yield w
    w.dash.engine.dispose()
    with psycopg.connect(w.libpq, autocommit=True) as owner:
        owner.execute(f"DROP OWNED BY {role}")  # its grants and default privileges in this database
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP ROLE {role}")


def as_dashboard(world, sql: str) -> None:
    with psycopg.connect(libpq_url(world.dash.url)) as conn:
        conn.execute(sql)


def test_reads_every_product_table_but_not_the_billing_source(world):
    tables = [t for (t,) in world.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    assert len(tables) > 30
    for table in tables:
        as_dashboard(world, f"SELECT * FROM {table} LIMIT 1")
    with pytest.raises(InsufficientPrivilege):
        as_dashboard(world, "SELECT * FROM billing.invoices LIMIT 1")


@pytest.mark.parametrize("sql", [
    "UPDATE payment_attempts SET status = 'succeeded'",          # a copied source row
    "DELETE FROM stripe_charges",
    "INSERT INTO rollup_payments SELECT * FROM rollup_payments LIMIT 1",  # a rollup
    "UPDATE billing_findings SET class = 'correct'",             # a finding
    "UPDATE recon_items SET status = 'matched'",                 # a reconciliation item
    "UPDATE recon_breaks SET item_key = 'x', opened_at = opened_at", # which item broke and when, not its workflow
    "DELETE FROM recon_breaks",
    "DELETE FROM audit_log",                                     # the audit trail
    "TRUNCATE job_runs",
    "DELETE FROM pending_windows",                               # the compute queue
    "CREATE TABLE sneaky (x int)",                               # no DDL in the schema
])
def test_cannot_change_what_the_dashboard_does_not_write(world, sql):
    with pytest.raises(InsufficientPrivilege):
        as_dashboard(world, sql)


def test_the_dashboard_actions_work_as_the_role(world):
    (break_id,) = world.sql("SELECT break_id FROM recon_breaks WHERE state = 'open' ORDER BY break_id LIMIT 1")[0]
    with world.dash.engine.begin() as conn:
        wf.assign(conn, break_id, ANA, "ana")  # actor, assignee
        wf.comment(conn, break_id, ANA, "looking at the bank file")
        wf.resolve(conn, break_id, ANA, "timing: arrives tomorrow")
        wf.reopen(conn, break_id, ANA, "it did not arrive")
    assert world.sql("SELECT state, assignee FROM recon_breaks WHERE break_id = %s", (break_id,)) == [("open", "ana")]
    assert world.sql("SELECT count(*) FROM recon_break_events WHERE break_id = %s", (break_id,))[0][0] >= 4
    with world.dash.engine.begin() as conn:  # four eyes: an analyst asks to write off, a controller approves
        wf.write_off(conn, break_id, ANA, "gateway_error: the gateway lost it")
        wf.approve(conn, break_id, CARL, "agreed")
    assert world.sql("SELECT state, resolved_by, approved_by FROM recon_breaks WHERE break_id = %s",
                     (break_id,)) == [("written_off", ANA.actor, CARL.actor)]
    assert world.sql("SELECT decision FROM recon_break_requests WHERE break_id = %s", (break_id,)) == [("approved",)]
    (item_id,) = world.sql("SELECT item_id FROM work_items WHERE state = 'open' ORDER BY item_id LIMIT 1")[0]
    with world.dash.engine.begin() as conn:  # the work queue: bulk assign (a break among the items), resolve, reopen
        other = world.sql("SELECT break_id FROM recon_breaks WHERE state = 'open' ORDER BY break_id LIMIT 1")[0][0]
        done = wq_act.assign_many(conn, [("break", other), ("under_billed", item_id)], ANA, "dana")
        wq_act.resolve(conn, item_id, ANA, "re-invoiced as inv_99")
        wq_act.reopen(conn, item_id, ANA, "the new invoice bounced")
    assert done.assigned == 2 and world.sql("SELECT count(*) FROM work_item_events WHERE item_id = %s", (item_id,))[0][0] == 4
    week = world.sql("SELECT to_char(max(local_date) - 7, 'IYYY-\"W\"IW') FROM rollup_sessions")[0][0]
    report_id = wr.build(world.dash.engine, week, world.cfg, built_by="dashboard:test")
    assert world.sql("SELECT iso_week FROM weekly_reports WHERE report_id = %s", (report_id,)) == [(week,)]
    with world.engine.connect() as conn:
        assert audit.verify(conn).ok


def _refusals(at) -> list[str]:
    return [m.value for m in [*at.error, *at.info] if "may not read" in m.value or "no Revwatch tables" in m.value]


def test_every_page_renders_as_the_role(world, page_for):
    for page in PAGES:
        at = page_for(world.dash, page)  # page_for fails on any exception the page raises
        assert at.title and not _refusals(at), (page, _refusals(at))


def test_a_role_without_the_grant_is_told_so(world, server_url, page_for):
    role = f"rw_bare_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        bare = dataclasses.replace(world, url=make_url(world.url).set(username=role).render_as_string())
        (refusal,) = _refusals(page_for(bare, "pages/overview.py"))
        assert "permission denied" in refusal and "revwatch db grant-dashboard ROLE" in refusal
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


def test_grant_is_idempotent_and_covers_tables_made_later(world):
    role = make_url(world.dash.url).username
    assert CliRunner(env={"DATABASE_URL": world.url}).invoke(main, ["db", "grant-dashboard", role]).exit_code == 0
    world.sql("CREATE TABLE made_later (x int); INSERT INTO made_later VALUES (1)")
    as_dashboard(world, "SELECT x FROM made_later")  # default privileges: a new table is readable
    with pytest.raises(InsufficientPrivilege):
        as_dashboard(world, "INSERT INTO made_later VALUES (2)")
    assert {t for t, _ in DASHBOARD_WRITES} <= {t for (t,) in world.sql(
        "SELECT DISTINCT table_name FROM information_schema.role_table_grants WHERE grantee = %s"
        " AND privilege_type IN ('INSERT', 'UPDATE')", (role,))} | {"recon_breaks", "work_items", "auto_explanations"}  # column grants


def test_an_unknown_role_is_one_line(world):
    result = CliRunner(env={"DATABASE_URL": world.url}).invoke(main, ["db", "grant-dashboard", "nobody_here"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "no role 'nobody_here'" in result.output and "CREATE ROLE nobody_here LOGIN" in result.output


def test_the_dashboard_process_connects_as_the_role(world):
    cfg = world.cfg.model_copy(update={"dashboard_database_url": world.dash.url})
    env = dashboard_environment(cfg, world.url)
    assert env["DATABASE_URL"] == world.dash.url and "DASHBOARD_DATABASE_URL" not in env
    assert dashboard_environment(world.cfg, world.url)["DATABASE_URL"] == world.url  # unset: the same database
