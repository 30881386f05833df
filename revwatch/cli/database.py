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
    """Walk the audit chain and compare it with its anchors outside the database (the anchor file,
    the weekly reports); exit 1 naming the first altered, deleted, reordered, rewritten or truncated
    entry. An intact log's head is then appended to the anchor file (AUDIT_ANCHOR_FILE)."""
    from revwatch import audit as log
    from revwatch import audit_anchors as anchors

    cfg = settings()
    key = log.hmac_key()
    file = anchors.read_file(cfg.audit_anchor_path, key)  # before the head is read
    with engine(cfg).connect() as conn:
        result = anchors.check(conn, file, key)
        db = anchors.database(conn)
    for line in result.against:
        click.echo(f"checked against {line}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if not result.ok:
        where = "" if result.first_bad_seq is None else f" at seq {result.first_bad_seq}"
        click.echo(f"audit log BROKEN{where} ({result.problem}): {result.message}"
                   f" ({result.checked} entries verified before it)")
        sys.exit(1)
    click.echo(f"audit log intact: {result.checked} entries")
    anchor = anchors.anchor_of(db, result.head_seq, result.head_hash, anchors.BY_VERIFY, key)
    try:
        anchors.append_file(file.path, anchor)
    except OSError as exc:
        click.echo(f"warning: the head could not be anchored in {file.path}: {exc.strerror or exc}", err=True)
        return
    click.echo(f"anchored entry {result.head_seq} ({'keyed' if key else 'unkeyed'}) in {file.path}")
