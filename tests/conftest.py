"""Shared fixtures: always a real PostgreSQL.

With DATABASE_URL set (CI: the machine's server) each test world gets a database of its own
on that server; otherwise an embedded server is started through pgserver for the session.
Every world is a copy (`CREATE DATABASE … TEMPLATE`) of one built once per run: the migrated
schema, and each demo world (generated, and generated then collected) the run asks for.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from collectors.jobs import JOBS
from demoworld import DemoParams, demo_sources, generate
from revwatch import clock, embedded
from revwatch.db import engine_for, libpq_url, sqlalchemy_url
from revwatch.settings import Settings, load_settings
from tests.processes import ROOT, served_dashboard
from tests.worlds.demo import SMALL_WORLD

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def server_url():
    """Admin URL of a PostgreSQL server the tests may create databases on."""
    if os.environ.get("DATABASE_URL"):
        yield libpq_url(os.environ["DATABASE_URL"])
        return
    data = Path(tempfile.mkdtemp(prefix="rwpg"))
    server = embedded.get_server(data, cleanup_mode="stop")
    yield libpq_url(server.get_uri("postgres"))
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


PREFIX = "rwtest_"
# Drops databases after the run has ended (each DROP DATABASE waits for a checkpoint: ~0.4 s a world).
_DROPPER = """import os, sys, psycopg
with psycopg.connect(os.environ["REVWATCH_TEST_ADMIN_URL"], autocommit=True) as admin:
    for name in sys.argv[1:]:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def new_database(server_url):
    """Factory: the name of a new database on the test server (a copy of `template` if given).

    Names carry the test run's pid: a run's databases are dropped after it ends (in the background,
    so the next command need not wait), and a run that was killed leaves databases the next run
    drops. On the embedded server nothing is dropped: the server and its files go at the end."""
    made: list[str] = []
    with psycopg.connect(server_url, autocommit=True) as admin:
        for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)):
            pid = name.removeprefix(PREFIX).split("_")[0]
            if pid.isdigit() and not _alive(int(pid)):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def new(template: str | None = None) -> str:
        name = f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        made.append(name)
        return name

    yield new
    if made and os.environ.get("DATABASE_URL"):
        subprocess.Popen([sys.executable, "-c", _DROPPER, *reversed(made)],  # copies before their templates
                         env={**os.environ, "REVWATCH_TEST_ADMIN_URL": server_url}, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def make_db(server_url, new_database):
    """Factory: an empty throwaway database on the test server (libpq URL)."""
    return lambda: psycopg.conninfo.make_conninfo(server_url, dbname=new_database())


@dataclass
class World:
    """A database of its own, migrated, with the settings that point at it."""

    url: str
    engine: Engine
    cfg: Settings
    manifest: dict | None = None

    @property
    def libpq(self) -> str:
        return libpq_url(self.url)

    def sql(self, query: str, params=None) -> list[tuple]:
        with psycopg.connect(self.libpq) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


@dataclass(frozen=True)
class _Template:
    """A database worlds are copied from (nobody connects to it once built) and its demo files."""

    name: str
    files: Path | None = None  # the demo's source files (Adyen, bank, GL, FX), copied into each world
    manifest: dict | None = None


@pytest.fixture(scope="session")
def make_world(server_url, new_database, tmp_path_factory):
    """Factory: a fresh migrated database (optionally with a demo world ending at `end`, default the
    clock's hour; collected unless `collect=False`), copied from a template built once per run."""
    from revwatch.migrate import upgrade

    created: list[Engine] = []  # disposed at the end
    templates: dict[tuple, _Template] = {}
    sources = contextlib.ExitStack()  # the demo worlds' Stripe servers, stopped at the end

    def database(template: str | None = None) -> tuple[str, str]:
        name = new_database(template)
        url = sqlalchemy_url(make_url(sqlalchemy_url(server_url)).set(database=name).render_as_string(hide_password=False))
        return name, url

    def template(key: tuple) -> _Template:
        """() the migrated schema; (demo, end, collect) a demo world, generated, and collected if asked."""
        if key in templates:
            return templates[key]
        if not key:
            name, url = database()
            engine = engine_for(url, pooled=False)
            upgrade(engine)
        else:
            demo, end, collect = key
            base = template((demo, end, False) if collect else ())
            name, url = database(base.name)
            engine = engine_for(url, pooled=False)
            files = tmp_path_factory.mktemp(name) / "demo"
            if collect:
                assert base.files is not None
                shutil.copytree(base.files, files)
                cfg = load_settings(database_url=url, revwatch_data_dir=files.parent)
                with demo_sources(libpq_url(url), files) as overrides:
                    for job in JOBS.values():
                        job.run(engine, cfg.model_copy(update=overrides), None, None)
                manifest = base.manifest
            else:
                manifest = generate(libpq_url(url), DemoParams(**dict(demo), end=end), out_dir=files)
        engine.dispose()
        created.append(engine)
        templates[key] = _Template(name, files if key else None, manifest if key else None)
        return templates[key]

    def make(demo: dict | None = None, collect: bool = True, end: datetime | None = None) -> World:
        if demo is not None:
            end = end or clock.now().replace(minute=0, second=0, microsecond=0)
        source = template(() if demo is None else (tuple(sorted(demo.items())), end, collect))
        name, url = database(source.name)
        cfg = load_settings(database_url=url, revwatch_data_dir=tmp_path_factory.mktemp(name))
        engine = engine_for(url, pooled=False)  # many worlds per session: no idle connections kept
        created.append(engine)
        world = World(url, engine, cfg, source.manifest)
        if source.files is not None:
            shutil.copytree(source.files, cfg.demo_dir)
            world.cfg = cfg.model_copy(update=sources.enter_context(demo_sources(world.libpq, cfg.demo_dir)))
        return world

    yield make
    sources.close()
    for engine in created:
        engine.dispose()


@pytest.fixture(scope="session")
def demo_world(make_world) -> World:
    """One small demo world, ingested and rolled up, shared read-only by many tests."""
    return make_world(demo=SMALL_WORLD)


@pytest.fixture
def page_for(monkeypatch):
    """Factory: app.py run headless by AppTest on `world`, switched to `page` (a path under pages/)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def make(world: World, page: str):
        monkeypatch.setenv("DATABASE_URL", world.url)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def pin_clock():
    """Factory: stop revwatch.clock at an instant (aware) for the rest of the test."""
    with contextlib.ExitStack() as stack:
        yield lambda at: stack.enter_context(clock.pinned(at))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def dashboard(demo_world, artifacts):
    """One dashboard per test module, served as `revwatch dashboard` serves it (the product's theme)."""
    with served_dashboard(demo_world.url, artifacts / "streamlit-browser-test.log") as url:
        yield url


@pytest.fixture
def downloads(monkeypatch):
    """Every download button's data by key, as the page hands it over (a callable runs when clicked)."""
    got: dict[str, object] = {}
    real = st.download_button

    def record(label, data, *args, **kwargs):
        got[kwargs.get("key")] = data
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", record)
    return got


@pytest.fixture
def deferred_downloads(monkeypatch):
    """The deferred CSV downloads a page offers, by file name: each callable, as the click would call it."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    found: dict = {}
    add = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        found[file_name] = data_callable
        return add(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return found
