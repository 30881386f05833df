"""Who acts, and what they may do (issue 18): the signed-in person as the identity provider names them,
their roles, and the one check every action makes server-side.

A person is an `Identity`: the ID token's issuer and subject (the pair that names one person for good),
their e-mail and display name, and the roles their token maps to. Its `actor` is what every break event
and audit entry records; nobody types it. Without an identity provider the dashboard runs in *local
mode*: the operating-system user, every role, on loopback only, and no approval of anyone's request
(four eyes need two people an identity provider can tell apart).

Roles come from configuration (`AUTH_ROLES`): each role lists group names (read from the token's
`AUTH_GROUPS_CLAIM`, default `groups`) and e-mail addresses. A person matched by no role has none and
may read nothing. Roles grant permissions (`GRANTS`); the action functions call `require`.
"""
from __future__ import annotations

import getpass
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Permission(StrEnum):
    READ = "read"  # every page and figure
    WORK_BREAKS = "work breaks"  # assign, comment, resolve below the threshold, request a write-off, reopen
    WORK_ITEMS = "work queue items"  # assign, comment, resolve and reopen the work queue's other items
    APPROVE = "approve"  # approve or reject another person's request; write off; resolve at any amount
    SIGN_OFF = "sign off a month"
    OPERATE = "operate jobs"  # re-run a job from Health
    ADMINISTER = "administer"


ROLES = ("viewer", "analyst", "controller", "engineer", "admin")
GRANTS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({Permission.READ}),
    "analyst": frozenset({Permission.READ, Permission.WORK_BREAKS, Permission.WORK_ITEMS}),
    "controller": frozenset({Permission.READ, Permission.WORK_BREAKS, Permission.WORK_ITEMS, Permission.APPROVE,
                             Permission.SIGN_OFF}),
    "engineer": frozenset({Permission.READ, Permission.OPERATE}),
    "admin": frozenset(Permission),
}
LOCAL_ISSUER = "local"


def roles_granting(permission: Permission) -> tuple[str, ...]:
    """The roles that grant `permission`, in ROLES order."""
    return tuple(r for r in ROLES if permission in GRANTS[r])


def auth_configured(auth: object) -> bool:
    """Whether Streamlit's `[auth]` table (a mapping, or None when absent) configures a sign-in: st.login needs
    at least a redirect URI and a cookie secret. The one test of it for the dashboard and the CLI alike."""
    return isinstance(auth, Mapping) and bool(auth.get("redirect_uri")) and bool(auth.get("cookie_secret"))


class NotPermitted(PermissionError):
    """The person lacks the permission an action needs; nothing was written."""

    def __init__(self, who: Identity, permission: Permission, action: str) -> None:
        self.who, self.permission, self.action = who, permission, action
        roles = ", ".join(sorted(who.roles)) or "no role"
        super().__init__(f"{who.display} ({roles}) may not {action}: it needs a role that may {permission.value}"
                         f" ({', '.join(roles_granting(permission))})")


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    email: str | None = None
    name: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def local(self) -> bool:
        return self.issuer == LOCAL_ISSUER

    @property
    def display(self) -> str:
        return self.name or self.email or self.subject

    @property
    def actor(self) -> str:
        """What the break history and the audit log record: e-mail (or name), then issuer and subject."""
        return f"{self.email or self.display} <{self.issuer}|{self.subject}>"

    def same_person(self, other: Identity) -> bool:
        return (self.issuer, self.subject) == (other.issuer, other.subject)

    def can(self, permission: Permission) -> bool:
        return any(permission in GRANTS.get(r, frozenset()) for r in self.roles)


def require(who: Identity, permission: Permission, action: str) -> None:
    """Refuse `action` (NotPermitted) unless `who` holds `permission`."""
    if not isinstance(who, Identity):
        raise TypeError(f"an action needs a signed-in Identity, not {type(who).__name__}: no free-text actor")
    if not who.can(permission):
        raise NotPermitted(who, permission, action)


def local_identity() -> Identity:
    """The operating-system user in local mode: every role (it is their own machine), never a second person."""
    user = getpass.getuser()
    return Identity(LOCAL_ISSUER, user, None, user, frozenset(ROLES))


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def local_mode_refusal(host: str, provider_configured: bool) -> str | None:
    """Why the dashboard may not start (None: it may): local mode has no sign-in, so it serves loopback only."""
    if provider_configured or is_loopback(host):
        return None
    return (f"DASHBOARD_HOST is {host!r}, but no identity provider is configured: without sign-in the dashboard "
            "runs in local mode and serves this machine only. Either set DASHBOARD_HOST=127.0.0.1, or configure "
            "sign-in in the [auth] table of .streamlit/secrets.toml (redirect_uri, cookie_secret, client_id, "
            "client_secret, server_metadata_url; see the README's \"Sign-in and roles\") and map roles with AUTH_ROLES.")


def parse_role_map(value: str | Mapping[str, Iterable[str]] | None) -> dict[str, frozenset[str]]:
    """AUTH_ROLES: {role: [group or e-mail, ...]} (JSON text or a mapping); e-mails lower-cased. Unknown
    roles are refused rather than ignored: a typo would otherwise leave a controller a viewer."""
    raw: Any = json.loads(value) if isinstance(value, str) and value.strip() else (value or {})
    if not isinstance(raw, Mapping):
        raise ValueError("must be a JSON object of role -> list of groups or e-mails")
    out: dict[str, frozenset[str]] = {}
    for role, members in raw.items():
        if role not in ROLES:
            raise ValueError(f"{role!r} is not a role; the roles are {', '.join(ROLES)}")
        if isinstance(members, str) or not isinstance(members, Iterable):
            raise ValueError(f"{role}: must be a list of groups or e-mails")
        out[role] = frozenset(m.strip().lower() if "@" in m else m.strip() for m in members if str(m).strip())
    return out


def roles_from_claims(claims: Mapping[str, Any], role_map: Mapping[str, frozenset[str]],
                      groups_claim: str = "groups") -> frozenset[str]:
    """The roles an ID token's claims map to: by its groups claim (a list, or one string) and its e-mail
    (only when the provider says it is verified, if it says so at all)."""
    groups = claims.get(groups_claim) or []
    names = {groups} if isinstance(groups, str) else {str(g) for g in groups}
    email = str(claims.get("email") or "").strip().lower()
    if email and claims.get("email_verified") is not False:
        names.add(email)
    return frozenset(role for role, members in role_map.items() if members & names)


def from_claims(claims: Mapping[str, Any], role_map: Mapping[str, frozenset[str]],
                groups_claim: str = "groups") -> Identity:
    """The Identity of a signed-in person from their ID token's claims (`st.user`)."""
    for claim in ("iss", "sub"):
        if not claims.get(claim):
            raise ValueError(f"the ID token has no {claim!r} claim")
    return Identity(str(claims["iss"]), str(claims["sub"]), claims.get("email") or None,
                    claims.get("name") or None, roles_from_claims(claims, role_map, groups_claim))
