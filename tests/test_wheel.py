"""An installed Revwatch works: the wheel built from this checkout, installed into a fresh virtualenv that cannot
see the checkout, runs `revwatch up` from another directory and serves every page of app.py in Chromium, with
the packaged theme and that directory's .streamlit/secrets.toml.

The new virtualenv borrows the dependencies of the one running the tests through a .pth line naming its
site-packages: a plain path line runs none of the .pth files found there, so the editable install's finder
(which maps `app`, `pages`, `metrics`… to the checkout) stays out.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from tests.processes import CHROMIUM, answers, chromium_page, free_port, wait_ready
from tests.worlds.demo import SMALL_WORLD

ROOT = Path(__file__).resolve().parent.parent
# the installed modules that must come from the wheel, never from the checkout
OURS = ("app", "pages", "pages.common", "revwatch", "metrics", "collectors", "demoworld")
# where each module named on the command line would be imported from, and the import path
PROBE = ("import importlib.util, json, sys; print(json.dumps({'sys.path': sys.path,"
         " **{m: importlib.util.find_spec(m).origin for m in sys.argv[1:]}}))")
# what the browser shows of the theme: the app's text, the sidebar's background, and the border colours of
# the elements around the focused field
THEME_SEEN = ("() => ({textColor: getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).color,"
              " secondaryBackgroundColor: getComputedStyle(document.querySelector('[data-testid=\"stSidebar\"]'))"
              ".backgroundColor})")
FOCUSED_BORDERS = ("() => [...document.querySelectorAll('[data-testid=\"stMultiSelect\"] *')]"
                   ".filter(e => e.contains(document.activeElement)).map(e => getComputedStyle(e).borderTopColor)")
THEME = {"textColor": "rgb(28, 36, 48)", "secondaryBackgroundColor": "rgb(243, 245, 248)",
         "primaryColor": "rgb(31, 95, 191)"}  # revwatch/streamlit.toml's, as the browser computes them


def _checkout(dest: Path) -> Path:
    """The files a fresh clone would have (tracked and new ones, nothing ignored): a stale build/ left in the
    work tree cannot slip a file into the wheel."""
    for name in _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0"):
        if name and (ROOT / name).is_file():  # a tracked file deleted in the work tree is gone
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _isolation() -> list[str]:
    """--no-build-isolation when this virtualenv can build the wheel itself (pyproject asks setuptools>=68, and
    bdist_wheel: setuptools>=70.1 or the wheel package); otherwise pip sets up a build environment (seconds)."""
    try:
        setuptools = tuple(int(part) for part in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return []
    own = setuptools >= (70, 1) or (setuptools >= (68, 0) and importlib.util.find_spec("wheel") is not None)
    return ["--no-build-isolation"] if own else []


def _pages(app_py: Path) -> list[tuple[str, str]]:
    """(script, title) of every st.Page in app.py's PAGES, in the router's order."""
    tree = ast.parse(app_py.read_text(encoding="utf-8"))
    (listing,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "PAGES"]
    assert isinstance(listing, ast.List)
    pages = []
    for call in listing.elts:
        assert isinstance(call, ast.Call) and ast.unparse(call.func) == "st.Page", ast.unparse(call)
        pages.append((ast.literal_eval(call.args[0]), next(ast.literal_eval(k.value) for k in call.keywords
                                                            if k.arg == "title")))
    return pages


def _children(pid: int) -> dict[int, tuple[list[str], str]]:
    """The processes `pid` started: their command line and working directory (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found[int(entry.name)] = ((entry / "cmdline").read_bytes().decode().split("\0"),
                                          os.readlink(entry / "cwd"))
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return found


def _run(*cmd: str | Path, **kwargs) -> str:
    """Run a command to the end; its output, or an AssertionError showing it."""
    done = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _settled(page, title: str) -> None:
    """The page's title shown, no script running, no exception box."""
    page.get_by_role("heading", name=title, level=1).first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]').dataset.testScriptState === 'notRunning'"
        " && !document.querySelector('[data-testid=\"stSkeleton\"], [data-testid=\"stSpinner\"]')",
        timeout=60_000)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{title}: {exceptions.first.inner_text()}"


@pytest.mark.browser
def test_an_installed_revwatch_serves_every_page_from_another_directory(make_world, tmp_path, artifacts):
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium)"
    timings: dict[str, float] = {}
    started = time.monotonic()

    def lap(step: str) -> None:
        nonlocal started
        timings[step] = round(time.monotonic() - started, 1)
        started = time.monotonic()

    # 1. the wheel, built from a clean copy of the checkout: app.py, every page and the dashboard's config in it
    source = _checkout(tmp_path / "source")
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps", *_isolation(),
         "-w", wheels, source)
    (wheel,) = wheels.glob("revwatch-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    wanted = {"app.py", "revwatch/streamlit.toml",
              *(p.relative_to(source).as_posix() for p in (source / "pages").rglob("*.py"))}
    assert wanted <= packed, f"missing from the wheel: {sorted(wanted - packed)}"
    lap("build the wheel")

    # 2. a fresh virtualenv with only the wheel of Revwatch, its dependencies borrowed without the checkout
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--disable-pip-version-check", "--no-deps",
         wheel)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    borrowed = dict.fromkeys((sysconfig.get_path("purelib"), sysconfig.get_path("platlib")))
    (site / "revwatch-test-dependencies.pth").write_text("".join(f"{p}\n" for p in borrowed))
    elsewhere = tmp_path / "elsewhere"  # where the user runs Revwatch: their secrets, no code
    (elsewhere / ".streamlit").mkdir(parents=True)
    alertmanager = f"http://127.0.0.1:{free_port()}"  # nothing listens: the Alerts page names it all the same
    (elsewhere / ".streamlit" / "secrets.toml").write_text(f'ALERTMANAGER_URL = "{alertmanager}"\n')
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name in ("PYTHONPATH", "STRIPE_API_KEY", "STRIPE_API_BASE", "ADYEN_REPORTS_DIR", "BANK_STATEMENTS_DIR",
                 "GL_EXPORTS_DIR", "FX_RATES_PATH", "WORKER_SCHEDULE", "METRICS_HOST", "DASHBOARD_HOST",
                 "DASHBOARD_DATABASE_URL", "PROMETHEUS_URL", "ALERTMANAGER_URL"):  # PYTHONPATH: the checkout, maybe
        env.pop(name, None)
    found = json.loads(_run(python, "-c", PROBE, *OURS, "streamlit", cwd=elsewhere, env=env))
    for module in OURS:
        assert Path(found[module]).is_relative_to(site), (module, found[module])
    assert Path(found["streamlit"]).is_relative_to(next(iter(borrowed))), found["streamlit"]
    assert ROOT not in {Path(p).resolve() for p in found["sys.path"] if p}, found["sys.path"]
    lap("install it into a fresh virtualenv")

    # 3. `revwatch up` from that directory, on a collected demo world of its own
    world = make_world(demo=SMALL_WORLD)
    lap("the demo world")
    port, metrics_port = free_port(), free_port()
    env.update(DATABASE_URL=world.url, REVWATCH_DATA_DIR=str(world.cfg.revwatch_data_dir),
               DASHBOARD_PORT=str(port), METRICS_PORT=str(metrics_port))
    log_path = artifacts / "revwatch-up-installed.log"
    with open(log_path, "w") as log:
        up = subprocess.Popen([str(env_dir / "bin" / "revwatch"), "up", "--no-demo"], cwd=elsewhere, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/_stcore/health", up, log_path.read_text)
        dashboards = [(cmd, cwd) for cmd, cwd in _children(up.pid).values()
                      if "revwatch.cli.streamlit_server" in cmd]  # revwatch dashboard's Streamlit launcher
        assert len(dashboards) == 1, _children(up.pid)
        (cmd, cwd), = dashboards
        assert cmd[cmd.index("run") + 1] == str(site / "app.py") and Path(cwd) == elsewhere, (cmd, cwd)
        lap("revwatch up")

        # 4. every page of the installed app.py, in headless Chromium
        pages = _pages(site / "app.py")
        assert len(pages) >= 10 and all((site / script).is_file() for script, _ in pages), pages
        with chromium_page(f"http://127.0.0.1:{port}/") as (page, errors):
            _settled(page, pages[0][1])
            nav = page.locator('[data-testid="stSidebarNav"] a')
            assert [nav.nth(i).inner_text().splitlines()[-1] for i in range(nav.count())] == [t for _, t in pages]
            theme = page.evaluate(THEME_SEEN)
            field = page.locator('[data-testid="stMultiSelect"] input').first
            field.focus()  # a focused field's border is drawn in primaryColor
            deadline = time.monotonic() + 5
            while THEME["primaryColor"] not in (borders := page.evaluate(FOCUSED_BORDERS)):
                if time.monotonic() > deadline:
                    break
                page.wait_for_timeout(100)
            field.blur()
            theme["primaryColor"] = THEME["primaryColor"] if THEME["primaryColor"] in borders else borders
            assert theme == THEME, theme
            for _, title in pages[1:]:
                page.get_by_role("link", name=title, exact=True).first.click(timeout=60_000)
                _settled(page, title)
                page.screenshot(path=artifacts / f"installed-{title.lower().replace(' ', '-').replace('&', 'and')}.png",
                                full_page=True)  # to look at, as its user would
                if title == "Alerts":  # the secrets of the directory Revwatch was started from
                    assert f"Alertmanager: {alertmanager}" in page.inner_text("body")
            assert not errors, errors
        lap(f"{len(pages)} pages in Chromium")

        # 5. Ctrl-C stops the dashboard and the worker
        os.killpg(up.pid, signal.SIGINT)
        up.wait(timeout=60)
        lap("stop")
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    output = log_path.read_text()
    assert "Revwatch dashboard: http://127.0.0.1:" in output and "worker stopped" in output, output
    assert "Traceback" not in output, output
    assert not answers(f"http://127.0.0.1:{port}/_stcore/health")
    assert not answers(f"http://127.0.0.1:{metrics_port}/metrics")
    print(f"timings (s): {timings}")
