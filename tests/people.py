"""People for tests of actions (issue 18): signed-in identities with roles, as an ID token maps them."""
from __future__ import annotations

from revwatch.identity import Identity

ISSUER = "https://idp.test/realms/revwatch"


def person(name: str, *roles: str) -> Identity:
    return Identity(ISSUER, f"sub-{name}", f"{name}@example.com", name.title(), frozenset(roles))


ANA = person("ana", "analyst")
DANA = person("dana", "analyst")
CARL = person("carl", "controller")
VERA = person("vera", "viewer")
ED = person("ed", "engineer")
