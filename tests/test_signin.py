"""Issue 18: sign-in through a real OpenID Connect provider (oidc-provider-mock, served here), in Chromium.

The dashboard runs as `revwatch dashboard` runs it, with an `[auth]` table naming the provider (a secrets file
passed by `--secrets.files`, as .streamlit/secrets.toml would be) and AUTH_ROLES mapping the token's groups and
e-mails to roles. People sign in as the provider's users: what each role sees and may do, that the break history
and the audit log record the ID token's identity, and sign-out.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from revwatch.cli.supervise import streamlit_flags
from tests.processes import ROOT, chromium_browser, chromium_page, free_port, stop, wait_ready
from tests.worlds.recon import AS_OF, october_world

ROLES = {"analyst": ["finance-analysts"], "controller": ["cfo@example.com"], "viewer": ["staff"]}
USERS = {  # sub -> the claims the provider puts in the ID token
    "ana": {"email": "ana@example.com", "name": "Ana Finance", "groups": ["finance-analysts", "staff"]},
    "vera": {"email": "vera@example.com", "name": "Vera Viewer", "groups": ["staff"]},
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


@pytest.fixture(scope="module")
def signed_dashboard(world, provider, artifacts, tmp_path_factory):
    """The dashboard with sign-in configured for `provider`; its URL."""
    port = free_port()
    secrets = tmp_path_factory.mktemp("signin") / "secrets.toml"
    secrets.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "revwatch-test-cookie-secret-0123456789"
client_id = "revwatch"
client_secret = "revwatch-test-client-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
''')
    env = dict(os.environ, DATABASE_URL=world.url, AUTH_ROLES=json.dumps(ROLES), REVWATCH_NOW=AS_OF.isoformat(),
               PYTHONUNBUFFERED="1")
    log_path = artifacts / "streamlit-signin-test.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", *streamlit_flags(), "--server.port", str(port),
             "--server.address", "127.0.0.1", f"--secrets.files={secrets}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_ready(f"http://127.0.0.1:{port}/_stcore/health", proc, log_path.read_text)
            yield f"http://127.0.0.1:{port}/"
        finally:
            stop(proc)


def _sign_in(page, provider: str, sub: str) -> None:
    page.get_by_role("button", name="Sign in").click(timeout=60_000)
    page.wait_for_url(f"{provider}/**", timeout=30_000)
    page.get_by_role("button", name=sub, exact=True).click()  # the provider's one-click user


def _reconciliation_break(page, dashboard: str) -> None:
    """Open the Reconciliation page and drill down to its first open break."""
    page.get_by_role("link", name="Reconciliation", exact=True).first.click(timeout=60_000)
    _choose(page, "Drill down to a break", "#")
    page.get_by_text("Act on this break").first.wait_for(timeout=60_000)


def _typed(page, label: str, text: str):
    """The options the select box labelled `label` offers for `text` typed into it (a react-aria combobox)."""
    box = page.get_by_role("combobox", name=label).first
    box.click(timeout=120_000)
    box.fill(text)
    options = page.locator('[role="listbox"] [role="option"]:visible')
    options.first.wait_for(timeout=30_000)
    return options


def _choose(page, label: str, text: str) -> None:
    """Pick the first option of the select box labelled `label` that matches `text`."""
    _typed(page, label, text).first.click()


def _options(page, label: str) -> list[str]:
    offered = [o.inner_text() for o in _typed(page, label, "").all()]
    page.keyboard.press("Escape")
    return offered


def _sidebar(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def test_an_analyst_signs_in_acts_as_the_token_identity_and_signs_out(signed_dashboard, provider, world, artifacts):
    with chromium_page(signed_dashboard) as (page, errors):
        page.get_by_role("button", name="Sign in").wait_for(timeout=90_000)
        assert "Reconciliation" not in page.locator("body").inner_text()  # nothing but the sign-in before it
        _sign_in(page, provider, "ana")
        page.get_by_role("button", name="Sign out").wait_for(timeout=90_000)
        page.get_by_role("link", name="Reconciliation", exact=True).first.wait_for(timeout=60_000)
        side = _sidebar(page)
        assert "ana@example.com" in side and "Roles: viewer, analyst" in side and "Sign out" in side
        assert "local mode" not in side

        _reconciliation_break(page, signed_dashboard)
        assert _options(page, "Action") == ["Assign", "Comment", "Resolve"]  # no write-off: a controller's
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
            assert "write off needs a role of controller, admin" in page.locator('[data-testid="stMain"]').inner_text()
            assert page.get_by_role("button", name="Assign as Vera Viewer").count() == 0
        with chromium_page(signed_dashboard, browser) as (page, _):
            _sign_in(page, provider, "nora")
            page.get_by_text("no Revwatch role is mapped to your account").wait_for(timeout=90_000)
            assert "Reconciliation" not in _sidebar(page) and "Sign out" in _sidebar(page)
