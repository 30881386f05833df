"""Who is using the dashboard (issue 18): the person signed in through the identity provider, or, with
none configured, the operating-system user in local mode. app.py calls `person()` before any page runs;
a page asks `current()` for the same Identity and offers only the actions its roles allow (the action
functions refuse the rest again, server-side).

Streamlit holds the sign-in (`st.login` / `st.user`, OpenID Connect through Authlib), configured by the
`[auth]` table of .streamlit/secrets.toml; revwatch/identity.py maps the ID token to roles.
"""
from __future__ import annotations

import streamlit as st

from revwatch.identity import ROLES, Identity, Permission, auth_configured, from_claims, local_identity
from revwatch.settings import Settings, load_settings

_KEY = "_revwatch_identity"
LOCAL_MODE = "local mode: no sign-in"


def provider_configured() -> bool:
    """Whether an identity provider is configured for Streamlit (`[auth]` in secrets.toml, as the CLI judges it)."""
    try:
        return auth_configured(st.secrets.get("auth"))
    except (FileNotFoundError, KeyError, ValueError):  # no secrets file at all
        return False


def person(cfg: Settings) -> Identity:
    """The person using this session, shown in the sidebar with sign-out; the page stops here for a
    visitor not signed in (a sign-in button) or signed in with no role (what to ask for)."""
    if not provider_configured():
        who = local_identity()
        st.sidebar.caption(f":material/computer: **{LOCAL_MODE}**: acting as the operating-system user "
                           f"**{who.subject}**, with every role. Approvals need a configured identity provider.")
        st.session_state[_KEY] = who
        return who
    if not st.user.is_logged_in:
        st.session_state.pop(_KEY, None)
        st.title("Revwatch")
        st.write("Revenue observability: sign in with your company account to continue.")
        st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, key="signin")
        st.stop()
    who = from_claims(st.user.to_dict(), cfg.role_map, cfg.auth_groups_claim)
    side = st.sidebar
    side.markdown(f":material/account_circle: **{who.display}**" + (f"  \n{who.email}" if who.email else ""))
    side.caption("Roles: " + (", ".join(r for r in ROLES if r in who.roles) or "none"))
    side.button("Sign out", icon=":material/logout:", on_click=st.logout, key="signout")
    if not who.can(Permission.READ):
        st.error(f"You are signed in as {who.email or who.subject}, but no Revwatch role is mapped to your account. "
                 f"Ask an administrator to add one of your groups (the `{cfg.auth_groups_claim}` claim) or your e-mail "
                 "to AUTH_ROLES.", icon=":material/lock:")
        st.stop()
    st.session_state[_KEY] = who
    return who


def gate() -> Identity:
    """Every page's first call: the person of this session. Under app.py they are signed in already; but Streamlit
    runs a page's own URL without app.py when it is the first request a freshly started server gets (its pages/
    folder routing, until app.py's st.navigation turns that off): then the page signs them in itself, so no page
    ever shows its figures to someone not signed in."""
    who = st.session_state.get(_KEY)
    return who if isinstance(who, Identity) else person(load_settings())


def current() -> Identity:
    """The Identity app.py established for this run of the page."""
    who = st.session_state.get(_KEY)
    if not isinstance(who, Identity):
        raise RuntimeError("no signed-in person: pages run through app.py, which signs them in")
    return who
