"""The Alembic migrations build exactly the schema the models describe, and run twice safely."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from revwatch.migrate import upgrade
from revwatch.schema import Base


def test_migrations_match_the_models(make_world):
    world = make_world()
    upgrade(world.engine)  # a second upgrade is a no-op
    with world.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    tables = {r[0] for r in world.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
