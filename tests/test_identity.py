"""Issue 18: who acts, and the roles their ID token maps to (revwatch/identity.py)."""
from __future__ import annotations

import getpass

import pytest

from revwatch.identity import (
    GRANTS,
    ROLES,
    Identity,
    NotPermitted,
    Permission,
    from_claims,
    local_identity,
    parse_role_map,
    require,
    roles_from_claims,
)
from revwatch.settings import Settings, SettingsError, load_settings

ROLE_MAP = parse_role_map('{"analyst": ["finance-analysts"], "controller": ["Finance-Controllers", "CFO@example.com"],'
                          ' "engineer": ["sre"], "viewer": ["everyone"]}')
ISS = "https://idp.example.com/realms/revwatch"


def test_roles_come_from_the_groups_claim_and_verified_e_mails():
    assert roles_from_claims({"groups": ["finance-analysts", "sre"]}, ROLE_MAP) == {"analyst", "engineer"}
    assert roles_from_claims({"groups": "everyone"}, ROLE_MAP) == {"viewer"}  # one group as a string
    assert roles_from_claims({"email": "cfo@EXAMPLE.com"}, ROLE_MAP) == {"controller"}  # e-mails by any case
    assert roles_from_claims({"email": "cfo@example.com", "email_verified": False}, ROLE_MAP) == frozenset()
    assert roles_from_claims({"groups": ["finance-controllers"]}, ROLE_MAP) == frozenset()  # group names exact
    assert roles_from_claims({"roles": ["sre"]}, ROLE_MAP, groups_claim="roles") == {"engineer"}  # Entra app roles
    assert roles_from_claims({"groups": ["nobody"]}, ROLE_MAP) == frozenset()


def test_the_identity_is_issuer_and_subject_with_the_e_mail_and_never_free_text():
    ana = from_claims({"iss": ISS, "sub": "a-1", "email": "ana@example.com", "name": "Ana Finance",
                       "groups": ["finance-analysts"]}, ROLE_MAP)
    assert ana.actor == f"ana@example.com <{ISS}|a-1>" and ana.display == "Ana Finance"
    assert ana.roles == {"analyst"} and not ana.local
    same = from_claims({"iss": ISS, "sub": "a-1", "email": "ana.new@example.com"}, ROLE_MAP)
    other_idp = from_claims({"iss": "https://other.example.com", "sub": "a-1"}, ROLE_MAP)
    assert ana.same_person(same) and not ana.same_person(other_idp)
    with pytest.raises(ValueError, match="'sub'"):
        from_claims({"iss": ISS, "email": "ana@example.com"}, ROLE_MAP)
    with pytest.raises(TypeError, match="no free-text actor"):
        require("ana", Permission.READ, "resolve a break")  # type: ignore[arg-type]


def test_each_role_grants_what_the_issue_lists_and_require_refuses_the_rest():
    def who(*roles):
        return Identity(ISS, "x", "x@example.com", None, frozenset(roles))

    assert all(Permission.READ in GRANTS[r] for r in ROLES)
    assert who("analyst").can(Permission.WORK_BREAKS) and not who("analyst").can(Permission.APPROVE)
    assert who("controller").can(Permission.APPROVE) and who("controller").can(Permission.SIGN_OFF)
    assert who("engineer").can(Permission.OPERATE) and not who("engineer").can(Permission.WORK_BREAKS)
    assert not who("viewer").can(Permission.WORK_BREAKS) and not who().can(Permission.READ)
    assert all(who("admin").can(p) for p in Permission)
    with pytest.raises(NotPermitted, match=r"x@example.com \(viewer\) may not resolve break 7: it needs a role that "
                                           r"may work breaks \(analyst, controller, admin\)"):
        require(who("viewer"), Permission.WORK_BREAKS, "resolve break 7")
    require(who("viewer", "analyst"), Permission.WORK_BREAKS, "resolve break 7")


def test_sign_in_is_configured_by_an_auth_table_with_a_redirect_uri_and_a_cookie_secret():
    from revwatch.identity import auth_configured

    full = {"redirect_uri": "https://r.example.com/oauth2callback", "cookie_secret": "s", "client_id": "c"}
    assert auth_configured(full)
    assert not auth_configured(None) and not auth_configured("auth") and not auth_configured({})
    assert not auth_configured({**full, "cookie_secret": ""}) and not auth_configured({"cookie_secret": "s"})


def test_local_mode_is_the_operating_system_user():
    me = local_identity()
    assert me.local and me.subject == getpass.getuser() and me.roles == set(ROLES)
    assert me.actor == f"{getpass.getuser()} <local|{getpass.getuser()}>"


def test_a_role_map_with_a_typo_or_bad_json_stops_the_start(monkeypatch):
    with pytest.raises(ValueError, match="'controler' is not a role"):
        parse_role_map('{"controler": ["cfo@example.com"]}')
    with pytest.raises(ValueError, match="list of groups"):
        parse_role_map('{"analyst": "finance"}')
    assert Settings(auth_roles='{"analyst": ["finance"]}').role_map == {"analyst": {"finance"}}
    assert Settings().role_map == {}
    for bad, says in (('{"analyst": ["finance"]', "must be JSON"), ('{"boss": []}', "'boss' is not a role")):
        monkeypatch.setenv("AUTH_ROLES", bad)
        with pytest.raises(SettingsError, match=says) as refused:
            load_settings()
        assert "AUTH_ROLES" in str(refused.value)


@pytest.mark.parametrize(("host", "ok"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
                                      ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
                                      ("dash.example.com", False)])
def test_local_mode_serves_loopback_only(host, ok):
    from revwatch.identity import local_mode_refusal

    assert (local_mode_refusal(host, provider_configured=False) is None) == ok
    assert local_mode_refusal(host, provider_configured=True) is None


@pytest.mark.parametrize("command", ["up", "dashboard"])
def test_starting_the_dashboard_on_the_network_without_a_provider_is_refused(command, tmp_path, monkeypatch):
    """Refused before anything starts (no database, no demo world, no child process), naming the settings."""
    from click.testing import CliRunner

    from revwatch.cli import main
    from revwatch.cli.supervise import provider_configured

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DASHBOARD_HOST", "0.0.0.0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # never reached
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 1, result.output
    assert "DASHBOARD_HOST is '0.0.0.0', but no identity provider is configured" in result.output
    assert "[auth] table of .streamlit/secrets.toml" in result.output and "AUTH_ROLES" in result.output
    assert "database:" not in result.output and "demo world" not in result.output  # nothing started
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n')
    assert not provider_configured()  # no cookie secret: st.login could not work
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "s3cret"\n'
                       'client_id = "revwatch"\nclient_secret = "x"\nserver_metadata_url = "https://idp/.well-known"\n')
    assert provider_configured()
