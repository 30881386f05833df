"""End to end with the real servers: `revwatch worker` on a demo world serves /metrics, Debian's
Prometheus scrapes it with the project's rules loaded, Debian's Alertmanager routes what fires
to a local webhook receiver. A gateway outage is injected into the billing source (Adyen attempts
keep coming, none succeeds): the gateway-down page arrives with its labels, then resolves when
Adyen payments succeed again.

The rules run time-compressed (tests/alerting_servers.py): a minute of the real rules is a
second here; promtool proves them at real durations.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from revwatch import clock
from tests.alerting_servers import ROOT, Webhook, alertmanager, api, compressed_rules, prometheus
from tests.processes import free_port

SPEEDUP = 60  # one real minute per second
TINY_WORLD = dict(days=7, sites=2, scale=0.05, seed=5)


def _alertmanager_config(webhook: Webhook) -> dict:
    """The project's example configuration, receivers pointed at the local webhook (one path
    per receiver, so the test sees which receiver got what) and its timings shortened."""
    config = yaml.safe_load((ROOT / "alerts" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        receiver.pop("pagerduty_configs", None)
        receiver.pop("email_configs", None)
        receiver["webhook_configs"] = [{"url": f"{webhook.url}/{receiver['name']}", "send_resolved": True}]

    def shorten(route: dict) -> None:
        route.update({k: v for k, v in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1h"))
                      if k in route or route is config["route"]})
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    config.setdefault("global", {})["resolve_timeout"] = "5s"
    return config


class Feed:
    """Payment attempts written into the billing source as a gateway would see them, twice a
    second per gateway; `failing` gateways decline every attempt."""

    def __init__(self, libpq: str) -> None:
        self.libpq = libpq
        self.failing: set[str] = set()
        self.stop = threading.Event()
        with psycopg.connect(libpq) as conn:
            self.invoice, self.currency = conn.execute(
                "SELECT invoice_id, currency FROM billing.invoices ORDER BY issued_at DESC LIMIT 1").fetchone()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with psycopg.connect(self.libpq, autocommit=True) as conn:
            while not self.stop.is_set():
                now = clock.now()
                rows = []
                for gateway in ("stripe", "adyen"):
                    for _ in range(3):
                        down = gateway in self.failing
                        rows.append((f"pa_e2e_{uuid.uuid4().hex[:12]}", self.invoice, 2, gateway,
                                     None if down else f"ref_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex, 1000,
                                     self.currency, "failed" if down else "succeeded",
                                     "processing_error" if down else None, "card", "visa", now, now))
                conn.cursor().executemany(
                    "INSERT INTO billing.payment_attempts VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s)", rows)
                self.stop.wait(0.5)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _wait(what: str, check, timeout: float, logs=()) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(p.read_text()[-3000:] for p in logs))


@pytest.mark.timeout(420)
def test_gateway_outage_pages_engineering_then_resolves(make_world, tmp_path):
    world = make_world(demo=TINY_WORLD)
    webhook = Webhook()
    metrics_port = free_port()
    env = dict(os.environ, DATABASE_URL=world.url, REVWATCH_DATA_DIR=str(world.cfg.revwatch_data_dir),
               METRICS_PORT=str(metrics_port), METRICS_CACHE_SECONDS="1",
               WORKER_SCHEDULE="*=3600,ingest-billing=1,rollup-payments=1", PYTHONUNBUFFERED="1")
    worker_log = tmp_path / "worker.log"
    feed = Feed(world.libpq)
    rules = [compressed_rules(ROOT / "alerts" / name, SPEEDUP) for name in ("recording_rules.yml", "alerting_rules.yml")]
    with open(worker_log, "w") as out:
        worker = subprocess.Popen([str(Path(sys.executable).parent / "revwatch"), "worker"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        with alertmanager(tmp_path, _alertmanager_config(webhook)) as am_url, \
                prometheus(tmp_path, f"127.0.0.1:{metrics_port}", rules, am_url) as prom_url:
            logs = (worker_log, tmp_path / "prometheus.log", tmp_path / "alertmanager.log")

            def adyen_attempts_seen():
                r = api(f"{prom_url}/api/v1/query?query=sum(rate(revwatch_payment_attempts_total{{gateway=%22adyen%22}}[10s]))")
                return r["data"]["result"] and float(r["data"]["result"][0]["value"][1]) > 0

            _wait("Prometheus to see Adyen traffic through the worker's /metrics", adyen_attempts_seen, 120, logs)
            assert not [a for _, a in webhook.alerts() if a["labels"]["alertname"] == "GatewayNoSuccesses"]

            feed.failing.add("adyen")  # the outage: attempts keep coming, none succeeds

            def paged():
                return [(p, a) for p, a in webhook.alerts()
                        if a["labels"]["alertname"] == "GatewayNoSuccesses" and a["status"] == "firing"]

            path, alert = _wait("the gateway-down page", paged, 180, logs)[0]
            labels = alert["labels"]
            assert (labels["gateway"], labels["severity"], labels["team"]) == ("adyen", "page", "engineering")
            assert alert["annotations"]["runbook_url"].endswith("alerts/runbooks/GatewayNoSuccesses.md")
            assert "adyen" in alert["annotations"]["summary"].lower() or "adyen" in alert["annotations"]["description"]
            receiver = path.strip("/")
            routed = yaml.safe_load((ROOT / "alerts" / "alertmanager.yml").read_text())
            paging = {r["name"] for r in routed["receivers"] if "page" in r["name"]}
            assert receiver in paging, (receiver, paging)
            # Stripe kept succeeding: no gateway-down for it
            assert not [a for _, a in webhook.alerts() if a["labels"]["alertname"] == "GatewayNoSuccesses"
                        and a["labels"].get("gateway") == "stripe"]

            feed.failing.clear()  # the incident ends

            def resolved():
                return [a for _, a in webhook.alerts() if a["labels"]["alertname"] == "GatewayNoSuccesses"
                        and a["labels"]["gateway"] == "adyen" and a["status"] == "resolved"]

            _wait("the page to resolve", resolved, 180, logs)
    finally:
        feed.close()
        webhook.close()
        worker.send_signal(signal.SIGTERM)
        try:
            assert worker.wait(timeout=60) == 0, worker_log.read_text()[-3000:]
        finally:
            if worker.poll() is None:
                worker.kill()
