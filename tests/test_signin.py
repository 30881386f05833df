"""Issue 18: sign-in through a real OpenID Connect provider (oidc-provider-mock, served here), in Chromium.

The dashboard runs as `revwatch dashboard` runs it, with an `[auth]` table naming the provider (a secrets file
passed by `--secrets.files`, as .streamlit/secrets.toml would be) and AUTH_ROLES mapping the token's groups and
e-mails to roles. People sign in as the provider's users: what each role sees and may do, that the break history
and the audit log record the ID token's identity, and sign-out.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

from revwatch.cli.supervise import streamlit_command, streamlit_flags
from tests.processes import ROOT, chromium_browser, chromium_page, free_port, stop, wait_ready
from tests.worlds.recon import AS_OF, october_world

ROLES = {"analyst": ["finance-analysts"], "controller": ["cfo@example.com"], "engineer": ["sre"], "viewer": ["staff"],
         "admin": ["adam@example.com"]}
THRESHOLD = 100  # USD 1.00: every open break of the world is at or above it, so resolving one needs four eyes
USERS = {  # sub -> the claims the provider puts in the ID token
    "ana": {"email": "ana@example.com", "name": "Ana Finance", "groups": ["finance-analysts", "staff"]},
    "vera": {"email": "vera@example.com", "name": "Vera Viewer", "groups": ["staff"]},
    "carl": {"email": "cfo@example.com", "name": "Carl Controller", "groups": ["staff"]},
    "ed": {"email": "ed@example.com", "name": "Ed Engineer", "groups": ["sre"]},
    "adam": {"email": "adam@example.com", "name": "Adam Admin", "groups": []},
    "nora": {"email": "nora@example.com", "name": "Nora Nobody", "groups": ["elsewhere"]},
}


@pytest.fixture(scope="module")
def world(make_world):
    return october_world(make_world)


@pytest.fixture(scope="module")
def provider():
    from oidc_provider_mock import User, run_server_in_thread

    with run_server_in_thread(port=0, user_claims=[User(sub=s, claims=c) for s, c in USERS.items()]) as server:
        yield f"http://127.0.0.1:{server.server_port}"


def _secrets(provider: str, port: int, folder) -> str:
    """An [auth] table naming `provider`, for a dashboard on `port`, as .streamlit/secrets.toml would hold it."""
    secrets = folder / "secrets.toml"
    secrets.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "revwatch-test-cookie-secret-0123456789"
client_id = "revwatch"
client_secret = "revwatch-test-client-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
''')
    return str(secrets)


@contextlib.contextmanager
def _server(command: list[str], port: int, env: dict, log_path, secrets: str | None = None):
    """A dashboard served by `command` (`… run`) on `port`; its URL once it answers."""
    extra = [f"--secrets.files={secrets}"] if secrets else []
    with open(log_path, "w") as log:
        proc = subprocess.Popen([*command, "run", "app.py", *streamlit_flags(), "--server.port", str(port),
                                 "--server.address", "127.0.0.1", *extra],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_ready(f"http://127.0.0.1:{port}/_stcore/health", proc, log_path.read_text)
            yield f"http://127.0.0.1:{port}/"
        finally:
            stop(proc)


@pytest.fixture(scope="module")
def signed_dashboard(world, provider, artifacts, tmp_path_factory):
    """The dashboard with sign-in configured for `provider`; its URL."""
    port = free_port()
    secrets = _secrets(provider, port, tmp_path_factory.mktemp("signin"))
    env = dict(os.environ, DATABASE_URL=world.url, AUTH_ROLES=json.dumps(ROLES), REVWATCH_NOW=AS_OF.isoformat(),
               APPROVAL_THRESHOLD_MINOR=str(THRESHOLD), PYTHONUNBUFFERED="1")
    with _server(streamlit_command(), port, env, artifacts / "streamlit-signin-test.log", secrets) as url:
        yield url


def _sign_in(page, provider: str, sub: str) -> None:
    page.get_by_role("button", name="Sign in").click(timeout=60_000)
    page.wait_for_url(f"{provider}/**", timeout=30_000)
    page.get_by_role("button", name=sub, exact=True).click()  # the provider's one-click user


def _reconciliation_break(page, dashboard: str, break_id: int | None = None) -> None:
    """Open the Reconciliation page and drill down to a break (`break_id`, or the first offered)."""
    page.get_by_role("link", name="Reconciliation", exact=True).first.click(timeout=60_000)
    _choose(page, "Drill down to a break", "#" if break_id is None else f"#{break_id} · ")
    page.get_by_text("Act on this break").first.wait_for(timeout=60_000)
    if break_id is not None:
        page.get_by_text(f"Break #{break_id}").first.wait_for(timeout=60_000)


def _typed(page, label: str, text: str):
    """The options the select box labelled `label` offers for `text` typed into it (a react-aria combobox)."""
    box = page.get_by_role("combobox", name=label).first
    box.click(timeout=120_000)
    box.fill(text)
    options = page.locator('[role="listbox"] [role="option"]:visible')
    options.first.wait_for(timeout=30_000)
    return options


def _choose(page, label: str, text: str) -> None:
    """Pick the first option of the select box labelled `label` that matches `text` (again when a rerun redrew the
    list under the click: a busy machine)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        try:
            _typed(page, label, text).first.click(timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")


def _options(page, label: str) -> list[str]:
    offered = _typed(page, label, "").all_inner_texts()  # read at once: a rerun may redraw the list
    page.keyboard.press("Escape")
    return offered


def _offers(page, label: str, want: list[str], seconds: float = 60) -> None:
    """The select box offers exactly `want`: read again while a rerun after an action may still be redrawing it (a
    click on the box as the rerun replaces it opens nothing: tried again too)."""
    from playwright.sync_api import TimeoutError as Timeout

    deadline = time.monotonic() + seconds
    offered: list[str] | None = None
    while offered != want and time.monotonic() < deadline:
        try:
            offered = _options(page, label)
        except Timeout:
            page.keyboard.press("Escape")
        if offered != want:
            page.wait_for_timeout(500)
    assert offered == want

def _sidebar(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def _see(page, text: str) -> None:
    """Wait until `text` shows on the page (a rerun may still be drawing it)."""
    page.get_by_text(text).filter(visible=True).first.wait_for(timeout=60_000)


def _act(page, action: str, who: str, box: str | None = None, text: str = "") -> None:
    """Choose `action` for the drilled-down break, type `text` into its text box labelled `box`, apply it as `who`."""
    _choose(page, "Action", action)
    if box is not None:
        box = page.get_by_label(box, exact=True).filter(visible=True).first
        box.wait_for(timeout=60_000)  # drawn by the rerun the choice started
        box.fill(text)
        box.press("Tab")  # Streamlit takes a text area's value when it loses focus
    page.get_by_role("button", name=f"{action} as {who}").click()


def test_an_analyst_signs_in_acts_as_the_token_identity_and_signs_out(signed_dashboard, provider, world, artifacts):
    # the server's first request is a page's own URL (a bookmark): revwatch's launcher routes it through app.py,
    # so it asks for sign-in, then shows app.py's page names (plain `streamlit run`: the last test)
    with chromium_page(f"{signed_dashboard}reconciliation") as (page, errors):
        page.get_by_role("button", name="Sign in").wait_for(timeout=90_000)
        assert "Reconciliation" not in page.locator("body").inner_text()  # nothing but the sign-in before it
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # not the pages/ folder's own page list
        _sign_in(page, provider, "ana")
        page.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
        page.get_by_role("link", name="Reconciliation", exact=True).first.wait_for(timeout=60_000)
        side = _sidebar(page)
        assert "ana@example.com" in side and "Roles: viewer, analyst" in side and "Sign out" in side
        assert "local mode" not in side

        _reconciliation_break(page, signed_dashboard)
        # above the threshold an analyst only asks; writing off is a controller's decision at any amount
        _offers(page, "Action", ["Assign", "Comment", "Request resolution", "Request write-off"])
        page.get_by_role("button", name="Assign as Ana Finance").click()
        page.get_by_text("assigned by Ana Finance").first.wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "signin-analyst.png"), full_page=True)

        ana = f"ana@example.com <{provider}|ana>"
        assert world.sql("SELECT actor, action FROM recon_break_events WHERE actor <> 'reconcile'") == [(ana, "assigned")]
        assert world.sql("SELECT actor, action FROM audit_log WHERE action LIKE 'break.%'") == [(ana, "break.assign")]

        page.get_by_role("button", name="Sign out").click()  # Streamlit's cookie goes, then the provider's session
        page.wait_for_url(f"{provider}/oauth2/end_session**", timeout=30_000)
        page.get_by_role("button", name="End session").click()
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        assert "Ana Finance" not in page.locator("body").inner_text()
        assert not errors, errors


def test_a_viewer_is_offered_no_action_and_a_person_with_no_role_sees_nothing(signed_dashboard, provider):
    with chromium_browser() as browser:
        with chromium_page(signed_dashboard, browser) as (page, _):
            _sign_in(page, provider, "vera")
            page.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
            page.get_by_role("link", name="Reconciliation", exact=True).first.wait_for(timeout=60_000)
            assert "Roles: viewer" in _sidebar(page)
            _reconciliation_break(page, signed_dashboard)
            page.get_by_text("Your roles (viewer) allow no action on this break").wait_for(timeout=30_000)
            _see(page, "write off needs a role of analyst, controller, admin")
            assert page.get_by_role("button", name="Assign as Vera Viewer").count() == 0
        with chromium_page(signed_dashboard, browser) as (page, _):
            _sign_in(page, provider, "nora")
            page.get_by_text("no Revwatch role is mapped to your account").wait_for(timeout=90_000)
            assert "Reconciliation" not in _sidebar(page) and "Sign out" in _sidebar(page)


def test_four_eyes_request_by_one_approval_by_another_and_no_self_approval(signed_dashboard, provider, world,
                                                                           artifacts):
    """An analyst asks to resolve the biggest open break; a controller approves it (it is resolved, by the analyst,
    approved by the controller); the controller's own request is not theirs to approve."""
    ana, carl = f"ana@example.com <{provider}|ana>", f"cfo@example.com <{provider}|carl>"
    bank9, a3 = world.ids["bank9"], world.ids["a3"]
    with chromium_browser() as browser:
        with chromium_page(signed_dashboard, browser) as (page, errors):
            _sign_in(page, provider, "ana")
            _reconciliation_break(page, signed_dashboard, bank9)
            _act(page, "Request resolution", "Ana Finance", "Reason (required)", "The credit is a Stripe payout keyed by hand: po_9")
            page.get_by_text("asked for approval (awaiting approval by a controller) by Ana Finance").wait_for(
                timeout=60_000)
            page.get_by_text("Awaiting approval by a controller.").first.wait_for(timeout=30_000)
            _offers(page, "Action", ["Assign", "Comment", "Withdraw request"])  # no approving for an analyst
            assert world.sql("SELECT state FROM recon_breaks WHERE break_id = %s", (bank9,)) == [("open",)]
            assert not errors, errors
        with chromium_page(signed_dashboard, browser) as (page, errors):
            _sign_in(page, provider, "carl")
            _reconciliation_break(page, signed_dashboard, bank9)
            _see(page, "Open · awaiting approval")
            _offers(page, "Action", ["Assign", "Comment", "Approve", "Reject"])
            _act(page, "Approve", "Carl Controller", "Note (optional)", "po_9 confirmed in the Stripe dashboard")
            page.get_by_text("approved by Carl Controller").first.wait_for(timeout=60_000)
            assert world.sql("SELECT state, resolved_by, approved_by FROM recon_breaks WHERE break_id = %s",
                             (bank9,)) == [("resolved", ana, carl)]
            # the controller asks to write off the next one: asking is all they can do, someone else decides
            _choose(page, "Drill down to a break", f"#{a3} · ")
            _see(page, f"Break #{a3}")
            _act(page, "Request write-off", "Carl Controller", "Reason (required)", "Gateway never received it; customer gone")
            page.get_by_text("asked for approval (awaiting approval by a controller) by Carl Controller").wait_for(
                timeout=60_000)
            page.get_by_text("you asked for this: a different controller approves or rejects it").wait_for(
                timeout=30_000)
            _offers(page, "Action", ["Assign", "Comment", "Withdraw request"])
            page.screenshot(path=str(artifacts / "signin-four-eyes.png"), full_page=True)
            assert not errors, errors
    assert world.sql("SELECT actor, action FROM recon_break_events WHERE break_id IN (%s, %s) AND actor <> 'reconcile'"
                     " ORDER BY event_id", (bank9, a3)) == [
        (ana, "approval_requested"), (carl, "approved"), (carl, "approval_requested")]
    assert world.sql("SELECT actor, action, target FROM audit_log WHERE action IN ('break.request', 'break.approve')"
                     " ORDER BY seq") == [(ana, "break.request", f"break:{bank9}"), (carl, "break.approve", f"break:{bank9}"),
                                          (carl, "break.request", f"break:{a3}")]


def test_an_engineer_runs_a_job_now_from_health_and_works_no_break(signed_dashboard, provider, world):
    """The engineer's page is Health: "Run now" records a request as the token's identity; on Reconciliation the
    break actions are not theirs. A viewer is not offered "Run now"; an admin is offered everything."""
    ed = f"ed@example.com <{provider}|ed>"
    with chromium_browser() as browser:
        with chromium_page(signed_dashboard, browser) as (page, errors):
            _sign_in(page, provider, "ed")
            page.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
            assert "Roles: engineer" in _sidebar(page)
            page.get_by_role("link", name="Health", exact=True).first.click(timeout=60_000)
            _choose(page, "Run a job now", "reconcile")
            page.get_by_role("button", name="Run now as Ed Engineer").click(timeout=60_000)
            _see(page, "reconcile: asked to run now by Ed Engineer.")
            assert world.sql("SELECT job, requested_by FROM job_run_requests") == [("reconcile", ed)]
            assert world.sql("SELECT actor FROM audit_log WHERE action = 'job.run_now'") == [(ed,)]
            _reconciliation_break(page, signed_dashboard)
            _see(page, "Your roles (engineer) allow no action on this break")
            assert not errors, errors
        with chromium_page(signed_dashboard, browser) as (page, _):
            _sign_in(page, provider, "vera")
            page.get_by_role("link", name="Health", exact=True).first.click(timeout=60_000)
            _see(page, "Running a job now needs a role of engineer, admin.")
            assert page.get_by_role("button", name="Run now as Vera Viewer").count() == 0
        with chromium_page(signed_dashboard, browser) as (page, errors):  # an admin may do all of it
            _sign_in(page, provider, "adam")
            page.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
            assert "Roles: admin" in _sidebar(page)
            page.get_by_role("link", name="Health", exact=True).first.click(timeout=60_000)
            page.get_by_role("button", name="Run now as Adam Admin").wait_for(timeout=60_000)
            _reconciliation_break(page, signed_dashboard, world.ids["a5"])
            _offers(page, "Action", ["Assign", "Comment", "Resolve", "Write off"])  # EUR 0.50 < USD 1.00
            assert not errors, errors


def test_a_page_s_own_url_asked_first_of_a_fresh_plain_streamlit_server_still_signs_in(world, provider, artifacts,
                                                                                      tmp_path):
    """Under plain `streamlit run app.py`, Streamlit runs a page's own URL without app.py when it is a fresh server's
    first request (its pages/ folder routing): the page signs its person in by itself (signin.gate), so the bookmark
    shows the sign-in, never the page's figures. (revwatch's own launcher: the first test of this module.)"""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=world.url, AUTH_ROLES=json.dumps(ROLES), REVWATCH_NOW=AS_OF.isoformat())
    with _server([sys.executable, "-m", "streamlit"], port, env, artifacts / "streamlit-deep-link.log",
                 _secrets(provider, port, tmp_path)) as url, chromium_page(f"{url}reconciliation") as (page, errors):
        page.get_by_role("button", name="Sign in").wait_for(timeout=90_000)
        body = page.locator("body").inner_text()
        assert "Funnel" not in body and "Month close" not in body and "Break" not in body
        _sign_in(page, provider, "vera")
        page.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
        assert not errors, errors
