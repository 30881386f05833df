"""`revwatch db` (schema, the dashboard's role) and `revwatch audit` (the hash-chained log)."""
from __future__ import annotations

import sys

import click

from revwatch.cli.common import engine, settings


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending Alembic migration to the product database."""
    from revwatch.migrate import upgrade

    upgrade(engine(settings()))
    click.echo("database is at the newest schema")


@db.command("grant-dashboard")
@click.argument("role")
def db_grant_dashboard(role: str) -> None:
    """Let ROLE (made by your DBA) read everything and write only the dashboard's actions; set
    DASHBOARD_DATABASE_URL to connect the dashboard as it."""
    from revwatch.roles import NoSuchRole, grant_dashboard

    try:
        with engine(settings()).begin() as conn:
            grant_dashboard(conn, role)
    except NoSuchRole as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{role} may read every product table and write only the dashboard's actions")


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk the audit chain; exit 1 naming the first altered, deleted or reordered entry."""
    from revwatch import audit as log

    with engine(settings()).connect() as conn:
        result = log.verify(conn)
    if result.ok:
        click.echo(f"audit log intact: {result.checked} entries")
        return
    click.echo(f"audit log BROKEN at seq {result.first_bad_seq} ({result.problem}): {result.message}"
               f" ({result.checked} entries verified before it)")
    sys.exit(1)
