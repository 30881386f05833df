"""Helpers for tests that start real servers as child processes: a free port, whether a URL
answers, waiting until a server answers its readiness URL (failing with its log when it dies or
never gets there), a page in headless Debian Chromium, and ROOT, the project's directory."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Debian's Chromium, never a downloaded browser; the flags keep it off the closed network
CHROMIUM = os.environ.get("REVWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(url: str, proc: subprocess.Popen, log: Callable[[], str], timeout: float = 60) -> None:
    """Until `url` answers 200; an AssertionError with the process's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}:\n{log()}")
        if answers(url):
            return
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready after {timeout} s:\n{log()}")


@contextmanager
def chromium_page(url: str, browser: Any = None) -> Iterator[tuple[Any, list[str]]]:
    """Headless Chromium (Playwright) on `url` at 1440x1000; yields (page, the JavaScript errors seen). With a
    `browser` (chromium_browser), a fresh context of it: launching Chromium is the slow part of a page check."""
    if browser is not None:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        try:
            yield _open(context.new_page(), url)
        finally:
            context.close()
        return
    with chromium_browser() as launched:
        yield _open(launched.new_page(viewport={"width": 1440, "height": 1000}), url)


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """Headless Chromium (Playwright), closed on exit."""
    assert Path(CHROMIUM).exists(), (
        f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or set REVWATCH_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served_dashboard(database_url: str, log_path: Path, **env: str) -> Iterator[str]:
    """The dashboard on `database_url`, served as `revwatch dashboard` serves it (the product's theme and flags),
    with `env` added to its environment (e.g. REVWATCH_NOW); yields its URL, stops it at the end."""
    from revwatch.cli.supervise import streamlit_command, streamlit_flags

    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*streamlit_command(), "run", "app.py", *streamlit_flags(), "--server.port", str(port),
             "--server.address", "127.0.0.1"],
            cwd=ROOT, env=dict(os.environ, DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **env), stdout=log,
            stderr=subprocess.STDOUT, text=True)
        try:
            log.flush()
            wait_ready(f"http://127.0.0.1:{port}/_stcore/health", proc, log_path.read_text)
            yield f"http://127.0.0.1:{port}/"
        finally:
            stop(proc)


# Streamlit has finished its run: the app says its script is not running, and no spinner or running icon shows.
STREAMLIT_IDLE = ("document.querySelector('[data-testid=\"stApp\"][data-test-script-state=\"notRunning\"]')"
                  " && !document.querySelector('[data-testid=\"stSpinner\"]')"
                  " && !document.querySelector('[data-testid=\"stStatusWidget\"] "
                  "[data-testid=\"stStatusWidgetRunningIcon\"]')")


def _open(page: Any, url: str) -> tuple[Any, list[str]]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="domcontentloaded")
    return page, errors


def wait_for(condition, timeout: float, what: str, poll: float = 0.1):
    """condition()'s first truthy value, polled every `poll` s; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(poll)
    return value
