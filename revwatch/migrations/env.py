"""Alembic environment: the URL comes from the caller (revwatch.migrate), never from a file."""
from alembic import context

from revwatch.schema import Base

config = context.config
connection = config.attributes.get("connection")


def run() -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is None:
    raise RuntimeError("run migrations through `revwatch db upgrade` (revwatch.migrate.upgrade)")
run()
