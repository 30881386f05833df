"""Real Prometheus and Alertmanager (Debian's binaries) for end-to-end alert tests, and a local
webhook receiver standing where PagerDuty and the ticket system would.

The rules are the project's own files, time-compressed: every duration in them (`for:`, range
selectors, `offset`) is divided by `speedup`, so an alert written for minutes fires in seconds.
Their behaviour at real durations is proven by `promtool test rules` (tests/test_alert_rules.py).
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from tests.processes import free_port, stop, wait_ready

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
_DURATION = re.compile(r"\b(\d+)(ms|s|m|h|d|w|y)\b")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def compress(text: str, speedup: int) -> str:
    """Every Prometheus duration in `text` divided by `speedup` (at least 1 s), in seconds."""
    def one(m: re.Match) -> str:
        seconds = int(m.group(1)) * _SECONDS[m.group(2)] / speedup
        return f"{max(1, round(seconds))}s"
    return _DURATION.sub(one, text)


def compressed_rules(rule_file: Path, speedup: int) -> dict:
    """A rules file with its expressions' and `for:` durations compressed."""
    doc = yaml.safe_load(rule_file.read_text())
    for group in doc["groups"]:
        if "interval" in group:
            group["interval"] = "1s"
        for rule in group["rules"]:
            rule["expr"] = compress(str(rule["expr"]), speedup)
            if "for" in rule:
                rule["for"] = compress(str(rule["for"]), speedup)
            if "keep_firing_for" in rule:
                rule["keep_firing_for"] = compress(str(rule["keep_firing_for"]), speedup)
    return doc


class Webhook:
    """Alertmanager's webhook receiver: every notification posted, kept per path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, path: str | None = None) -> list[tuple[str, dict]]:
        """(path, alert) for every alert in every notification so far."""
        with self.lock:
            return [(p, a) for p, n in self.received if path in (None, p) for a in n.get("alerts", [])]

    def close(self) -> None:
        self.server.shutdown()


@contextmanager
def _process(cmd: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(ready_url, proc, log.read_text, timeout=30)
        yield proc
    finally:
        stop(proc)


@contextmanager
def alertmanager(workdir: Path, config: dict) -> Iterator[str]:
    """Alertmanager with `config`, on a free port; yields its URL."""
    assert Path(ALERTMANAGER).exists(), f"{ALERTMANAGER} missing: apt-get install prometheus-alertmanager"
    port = free_port()
    conf = workdir / "alertmanager.yml"
    conf.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    cmd = [ALERTMANAGER, f"--config.file={conf}", f"--storage.path={workdir / 'am-data'}",
           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    with _process(cmd, f"{url}/-/ready", workdir / "alertmanager.log"):
        yield url


@contextmanager
def prometheus(workdir: Path, target: str, rule_docs: list[dict], alertmanager_url: str) -> Iterator[str]:
    """Prometheus scraping `target` (host:port) every second with `rule_docs` loaded, alerting to
    `alertmanager_url`; yields its URL."""
    assert Path(PROMETHEUS).exists(), f"{PROMETHEUS} missing: apt-get install prometheus"
    port = free_port()
    rule_files = []
    for n, doc in enumerate(rule_docs):
        path = workdir / f"rules-{n}.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        rule_files.append(str(path))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}]}]},
        "scrape_configs": [{"job_name": "revwatch", "honor_labels": True, "static_configs": [{"targets": [target]}]}],
    }
    conf = workdir / "prometheus.yml"
    conf.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    cmd = [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={workdir / 'prom-data'}",
           f"--web.listen-address=127.0.0.1:{port}"]
    with _process(cmd, f"{url}/-/ready", workdir / "prometheus.log"):
        yield url


def api(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())
