"""Alembic environment: the URL comes from the caller (revwatch.migrate), never from a file."""
from alembic import context

from revwatch.schema import Base

config = context.config
connection = config.attributes.get("connection")


# Tables other libraries own in our database: the worker's APScheduler job store.
FOREIGN_TABLES = {"apscheduler_jobs"}


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


def run() -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True, include_object=_ours)
    with context.begin_transaction():
        context.run_migrations()


if connection is None:
    raise RuntimeError("run migrations through `revwatch db upgrade` (revwatch.migrate.upgrade)")
run()
