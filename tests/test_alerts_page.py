"""The Alerts page and its client against a local HTTP server standing where Prometheus and
Alertmanager stand (the network boundary; nothing in the code is patched). The server answers
`/api/v2/alerts`, `/api/v1/rules` and `/api/v1/alerts` with the shapes of Alertmanager's
OpenAPI spec (api/v2/openapi.yaml: gettableAlert) and Prometheus' HTTP API docs and
web/api/v1/api.go (the success envelope, groups[].rules[], RFC 3339 times with nanoseconds),
as recorded from Prometheus 2.42 and Alertmanager 0.25.

The client must turn them into typed values; the page must show the firing alert with its
labels and runbook, most severe first, silenced and inhibited ones apart, every rule's state;
with the URLs unset it says what to set; with a closed port it says what is unreachable.
"""
from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from streamlit.testing.v1 import AppTest

from metrics.clients import alerting as al
from revwatch import clock

PAGE = "pages/alerts.py"
SILENCE_ID = "5029601d-6a6e-4e00-b993-bedb99df1dea"
PAGE_FP = "b2d7b49c209ebe54"
RUNBOOK = "https://revwatch.example/runbooks/BillingIngestStale.md"
RULE_ERROR = "found duplicate series for the match group {gateway=\"stripe\"} on the right hand-side of the operation"


def _go_time(d: datetime, nanos: str = "012422799") -> str:
    """A time as Go marshals it: RFC 3339 with nanoseconds and Z."""
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + nanos + "Z"


def payloads(now: datetime) -> dict[str, object]:
    started = now - timedelta(minutes=42)
    ends = now + timedelta(minutes=4)
    gen = "http://prometheus:9090/graph?g0.expr=revwatch_job_last_success_timestamp_seconds&g0.tab=1"

    def am_alert(name, severity, team, fp, state="active", silenced=(), inhibited=(), runbook=None, summary="",
                 description="", extra=None):
        ann = {"summary": summary, "description": description}
        if runbook:
            ann["runbook_url"] = runbook
        return {"annotations": ann, "endsAt": _go_time(ends, "012"), "fingerprint": fp,
                "receivers": [{"name": "pagerduty" if severity == "page" else "tickets"}],
                "startsAt": _go_time(started, "012"), "updatedAt": _go_time(now, "014"),
                "status": {"inhibitedBy": list(inhibited), "silencedBy": list(silenced), "state": state},
                "generatorURL": gen,
                "labels": {"alertname": name, "severity": severity, "team": team, **(extra or {})}}

    alertmanager = [
        am_alert("ReconciliationBreaksGrowing", "ticket", "finance", "0a1b2c3d4e5f6071",
                 runbook="https://revwatch.example/runbooks/ReconciliationBreaksGrowing.md",
                 summary="Open reconciliation breaks are growing", description="S3 open breaks up 40 in 6 h"),
        am_alert("BillingIngestStale", "page", "payments", PAGE_FP, runbook=RUNBOOK,
                 summary="Billing data is 47 minutes old",
                 description="ingest-billing has not succeeded for 47 minutes (threshold 30).",
                 extra={"job": "ingest-billing"}),
        am_alert("AdyenReportMissing", "ticket", "finance", "d4201663abd6e347", state="suppressed", silenced=[SILENCE_ID],
                 summary="No Adyen settlement report today"),
        am_alert("ComputeJobFailing", "ticket", "payments", "77aa88bb99cc00dd", state="suppressed",
                 inhibited=[PAGE_FP], summary="classify-billing failed 3 times"),
    ]
    firing_rule_alert = {"labels": {"alertname": "BillingIngestStale", "severity": "page", "team": "payments",
                                    "job": "ingest-billing"},
                         "annotations": alertmanager[1]["annotations"], "state": "firing",
                         "activeAt": _go_time(started), "value": "2.82e+03"}
    pending_rule_alert = {"labels": {"alertname": "PaymentFailureRateHigh", "severity": "ticket", "team": "payments",
                                     "gateway": "adyen"},
                          "annotations": {"summary": "Adyen failure rate 9%"}, "state": "pending",
                          "activeAt": _go_time(now - timedelta(minutes=3)), "value": "9.1e-02"}
    evaluated = _go_time(now - timedelta(seconds=12), "012920744")
    rules = {"status": "success", "data": {"groups": [
        {"name": "revwatch-recording", "file": "/etc/prometheus/rules/revwatch.yml", "interval": 60, "limit": 0,
         "evaluationTime": 0.000835478, "lastEvaluation": evaluated, "rules": [
             {"name": "gateway:revwatch_payment_attempts:rate5m", "query": "sum by (gateway) (rate(revwatch_payment_attempts_total[5m]))",
              "health": "ok", "evaluationTime": 0.000258496, "lastEvaluation": evaluated, "type": "recording"},
             {"name": "gateway:revwatch_payment_failure:ratio5m", "query": "a / on(gateway) b", "health": "err",
              "lastError": RULE_ERROR, "evaluationTime": 0.0003, "lastEvaluation": evaluated, "type": "recording"}]},
        {"name": "revwatch-alerts", "file": "/etc/prometheus/rules/revwatch.yml", "interval": 60, "limit": 0,
         "evaluationTime": 0.001, "lastEvaluation": evaluated, "rules": [
             {"state": "firing", "name": "BillingIngestStale",
              "query": "time() - revwatch_job_last_success_timestamp_seconds{job=\"ingest-billing\"} > 1800",
              "duration": 600, "keepFiringFor": 0, "labels": {"severity": "page", "team": "payments"},
              "annotations": alertmanager[1]["annotations"], "alerts": [firing_rule_alert], "health": "ok",
              "evaluationTime": 0.00031535, "lastEvaluation": evaluated, "type": "alerting"},
             {"state": "pending", "name": "PaymentFailureRateHigh", "query": "gateway:revwatch_payment_failure:ratio5m > 0.05",
              "duration": 900, "keepFiringFor": 0, "labels": {"severity": "ticket", "team": "payments"},
              "annotations": {"summary": "{{ $labels.gateway }} failure rate {{ $value | humanizePercentage }}"},
              "alerts": [pending_rule_alert], "health": "ok", "evaluationTime": 0.0001,
              "lastEvaluation": evaluated, "type": "alerting"},
             {"state": "inactive", "name": "FxRatesMissing", "query": "revwatch_fx_rate_age_days > 4", "duration": 3600,
              "keepFiringFor": 0, "labels": {"severity": "ticket", "team": "finance"},
              "annotations": {"runbook_url": "https://revwatch.example/runbooks/FxRatesMissing.md"}, "alerts": [],
              "health": "unknown", "evaluationTime": 0, "lastEvaluation": "0001-01-01T00:00:00Z", "type": "alerting"}]}]}}
    prom_alerts = {"status": "success", "data": {"alerts": [firing_rule_alert, pending_rule_alert]}}
    return {"/api/v2/alerts": alertmanager, "/api/v1/rules": rules, "/api/v1/alerts": prom_alerts}


class FakeMonitoring:
    """Prometheus and Alertmanager on one local port: the three GETs, and a record of each path asked."""

    def __init__(self, now: datetime) -> None:
        self.answers = payloads(now)
        self.asked: list[str] = []
        self.broken = False  # answer every call with a 500 and no JSON
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                fake.asked.append(path)
                if fake.broken or path not in fake.answers:
                    self.send_response(500 if fake.broken else 404)
                    self.end_headers()
                    self.wfile.write(b"oops")
                    return
                body = json.dumps(fake.answers[path]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeMonitoring:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def now() -> datetime:
    return clock.now().replace(microsecond=0)


@pytest.fixture
def monitoring(now):
    with FakeMonitoring(now) as fake:
        yield fake


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


# ---------------------------------------------------------------- the client
def test_client_parses_the_real_shapes_into_typed_values(monitoring, now):
    managed = al.managed_alerts(monitoring.url)
    rules = al.rules(monitoring.url)
    prom = al.rule_alerts(monitoring.url)
    assert sorted(set(monitoring.asked)) == ["/api/v1/alerts", "/api/v1/rules", "/api/v2/alerts"]

    by_name = {a.name: a for a in managed}
    page = by_name["BillingIngestStale"]
    assert (page.fingerprint, page.severity, page.team, page.state) == (PAGE_FP, "page", "payments", "active")
    assert (page.runbook_url, page.summary) == (RUNBOOK, "Billing data is 47 minutes old")
    assert page.starts_at == now - timedelta(minutes=42) + timedelta(microseconds=12000)
    assert page.ends_at == now + timedelta(minutes=4, microseconds=12000)
    assert page.receivers == ("pagerduty",) and page.labels["job"] == "ingest-billing"
    silenced, inhibited = by_name["AdyenReportMissing"], by_name["ComputeJobFailing"]
    assert (silenced.state, silenced.silenced_by, silenced.silenced, silenced.inhibited) == (
        "suppressed", (SILENCE_ID,), True, False)
    assert (inhibited.inhibited_by, inhibited.inhibited, inhibited.silenced) == ((PAGE_FP,), True, False)

    r = {x.name: x for x in rules}
    assert [x.name for x in rules][:2] == ["gateway:revwatch_payment_attempts:rate5m",
                                           "gateway:revwatch_payment_failure:ratio5m"]
    firing = r["BillingIngestStale"]
    assert (firing.type, firing.state, firing.health, firing.for_seconds, firing.group) == (
        "alerting", "firing", "ok", 600.0, "revwatch-alerts")
    assert firing.alerts[0].active_at == now - timedelta(minutes=42) + timedelta(microseconds=12422)
    assert firing.alerts[0].value == "2.82e+03"
    assert r["gateway:revwatch_payment_failure:ratio5m"].last_error == RULE_ERROR
    assert (r["gateway:revwatch_payment_attempts:rate5m"].state, r["gateway:revwatch_payment_attempts:rate5m"].for_seconds) \
        == (None, None)
    assert r["FxRatesMissing"].last_evaluation is None  # Go's zero time: never evaluated
    assert (r["PaymentFailureRateHigh"].state, r["PaymentFailureRateHigh"].severity) == ("pending", "ticket")
    assert [(a.name, a.state) for a in prom] == [("BillingIngestStale", "firing"), ("PaymentFailureRateHigh", "pending")]

    groups = al.by_severity(tuple(a for a in managed if a.state == "active"))
    assert [(sev, [a.name for a in items]) for sev, items in groups] == [
        ("page", ["BillingIngestStale"]), ("ticket", ["ReconciliationBreaksGrowing"])]


def test_client_returns_unavailable_instead_of_raising(monitoring):
    assert al.managed_alerts(None).kind == "not_configured"
    assert "PROMETHEUS_URL" in al.rules(None).message
    down = al.rules(closed_port_url(), timeout=1)
    assert (down.kind, down.service, down.setting) == ("unreachable", "Prometheus", "PROMETHEUS_URL")
    monitoring.broken = True
    bad = al.managed_alerts(monitoring.url)
    assert (bad.kind, bad.reason) == ("bad_response", "HTTP 500 Internal Server Error")
    monitoring.broken = False
    monitoring.answers["/api/v1/rules"] = {"status": "error", "errorType": "internal", "error": "rules not loaded"}
    assert "rules not loaded" in al.rules(monitoring.url).reason
    monitoring.answers["/api/v2/alerts"] = {"not": "a list"}
    assert al.managed_alerts(monitoring.url).kind == "bad_response"


def test_credentials_in_the_url_become_basic_auth_and_are_never_shown(monitoring):
    url = monitoring.url.replace("http://", "http://ops:s3cret@")
    assert isinstance(al.managed_alerts(url), tuple)
    down = al.managed_alerts(closed_port_url().replace("http://", "http://ops:s3cret@"), timeout=1)
    assert "s3cret" not in down.message and "ops" not in down.url


# ---------------------------------------------------------------- the page
def _table(at: AppTest, *columns: str):
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise KeyError(f"no table with {columns}; have {[list(d.value.columns)[:5] for d in at.dataframe]}")


def _texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_page_shows_the_firing_alert_with_labels_and_runbook(make_world, page_for, monkeypatch, monitoring):
    monkeypatch.setenv("ALERTMANAGER_URL", monitoring.url)
    monkeypatch.setenv("PROMETHEUS_URL", monitoring.url + "/")
    at = page_for(make_world(), PAGE)
    assert at.title[0].value == "Alerts"
    assert not at.info and not at.warning
    texts = _texts(at)
    card = next(t for t in texts if t.startswith("**BillingIngestStale**"))
    assert "severity `page`" in card and "team **payments**" in card and "42 min ago" in card
    assert f"Runbook: [{RUNBOOK}]({RUNBOOK})" in texts
    assert "Billing data is 47 minutes old" in texts
    captions = [c.value.replace("\\", "") for c in at.caption]  # the Markdown source, its escapes taken out
    assert any("ingest-billing has not succeeded" in c for c in captions)
    assert any("job=ingest-billing" in c for c in captions)
    # most severe first; silenced and inhibited alerts are not among the firing ones
    heads = [t for t in texts if t.startswith("#### ")]
    assert heads == ["#### :red-badge[page] · 1", "#### :orange-badge[ticket] · 1"]
    assert not any(t.startswith(("**AdyenReportMissing**", "**ComputeJobFailing**")) for t in texts)
    quiet = _table(at, "silenced by", "inhibited by", "summary").set_index("alertname")
    assert quiet.loc["AdyenReportMissing", "silenced by"] == SILENCE_ID
    assert quiet.loc["ComputeJobFailing", "inhibited by"] == PAGE_FP
    assert set(quiet["state"]) == {"suppressed"}
    assert {m.label: m.value for m in at.metric} == {"Firing": "2", "Silenced / inhibited": "2", "Pending": "1",
                                                     "Rules failing": "1"}
    assert list(_table(at, "alertname", "active since", "value")["alertname"]) == ["PaymentFailureRateHigh"]

    rules = _table(at, "name", "type", "state", "health", "last error", "for").set_index("name")
    assert list(rules.index) == ["BillingIngestStale", "PaymentFailureRateHigh", "FxRatesMissing"]
    assert rules.loc["BillingIngestStale", ["state", "health", "severity", "team", "for"]].tolist() == [
        "firing", "ok", "page", "payments", "10m"]
    assert rules.loc["FxRatesMissing", ["state", "health", "last evaluation", "for"]].tolist() == [
        "inactive", "unknown", "never", "1h"]
    assert any(RULE_ERROR in e.value.replace("\\", "") for e in at.error)
    at.radio(key="rules_kind").set_value("all").run()
    assert not at.exception
    rules = _table(at, "name", "type", "state", "health", "last error", "for").set_index("name")
    assert rules.loc["gateway:revwatch_payment_failure:ratio5m", ["type", "health", "last error"]].tolist() == [
        "recording", "err", RULE_ERROR]


def test_page_without_urls_says_what_to_set(make_world, page_for, monkeypatch):
    monkeypatch.delenv("ALERTMANAGER_URL", raising=False)
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    at = page_for(make_world(), PAGE)
    infos = " ".join(i.value for i in at.info)
    assert "Alertmanager is not configured" in infos and "`ALERTMANAGER_URL`" in infos
    assert "Prometheus is not configured" in infos and "`PROMETHEUS_URL`" in infos
    assert not at.warning and not at.error
    assert {m.label: m.value for m in at.metric}["Firing"] == "–"


def test_page_with_unreachable_services_warns_and_renders(make_world, page_for, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("ALERTMANAGER_URL", url)
    monkeypatch.setenv("PROMETHEUS_URL", url)
    at = page_for(make_world(), PAGE)
    warnings = " ".join(w.value for w in at.warning)
    assert f"Alertmanager is unreachable at {url}" in warnings and f"Prometheus is unreachable at {url}" in warnings
    assert "`ALERTMANAGER_URL`" in warnings and not at.info
    assert any("Neither Alertmanager nor Prometheus" in c.value for c in at.caption)


def test_page_falls_back_to_prometheus_when_alertmanager_is_down(make_world, page_for, monkeypatch, monitoring):
    monkeypatch.setenv("ALERTMANAGER_URL", closed_port_url())
    monkeypatch.setenv("PROMETHEUS_URL", monitoring.url)
    at = page_for(make_world(), PAGE)
    assert any("Alertmanager is unreachable" in w.value for w in at.warning)
    assert any("From Prometheus" in c.value for c in at.caption)
    texts = _texts(at)
    assert any(t.startswith("**BillingIngestStale**") and "team **payments**" in t for t in texts)
    assert f"Runbook: [{RUNBOOK}]({RUNBOOK})" in texts
    assert not any(t.startswith("**PaymentFailureRateHigh**") for t in texts)  # pending is not firing


def test_page_names_alerts_prometheus_fires_but_alertmanager_lacks(make_world, page_for, monkeypatch, monitoring):
    monitoring.answers["/api/v2/alerts"] = [a for a in monitoring.answers["/api/v2/alerts"]
                                            if a["labels"]["alertname"] != "BillingIngestStale"]
    monkeypatch.setenv("ALERTMANAGER_URL", monitoring.url)
    monkeypatch.setenv("PROMETHEUS_URL", monitoring.url)
    at = page_for(make_world(), PAGE)
    assert any("Firing in Prometheus but not (yet) in Alertmanager: BillingIngestStale" in c.value for c in at.caption)
    assert [t for t in _texts(at) if t.startswith("#### ")] == ["#### :orange-badge[ticket] · 1"]


def test_page_tables_read_for_people_no_empty_cells_money_not_minor_units(make_world, page_for, monkeypatch, monitoring,
                                                                          now):
    """An alert's value in the words of its rule (money of its currency for a `*_minor` series, a percentage for a
    ratio, a number with separators otherwise); a cell with nothing to say says "–", never None or blank."""
    pending = {"labels": {"alertname": "UnreconciledAmountHigh", "severity": "ticket", "stage": "S3",
                          "currency": "USD"},
               "annotations": {"summary": "S3: USD unreconciled amount above threshold"}, "state": "pending",
               "activeAt": _go_time(now - timedelta(minutes=5)), "value": "1.2345e+05"}
    monitoring.answers["/api/v1/alerts"]["data"]["alerts"].append(pending)
    monitoring.answers["/api/v1/rules"]["data"]["groups"][1]["rules"].append(
        {"state": "pending", "name": "UnreconciledAmountHigh", "health": "ok", "type": "alerting", "duration": 3600,
         "query": 'max by (stage, currency) (revwatch_recon_unreconciled_minor{currency="USD"}) > 100000',
         "labels": {"severity": "ticket"}, "annotations": {}, "alerts": [pending], "evaluationTime": 0.001,
         "lastEvaluation": _go_time(now)})
    monkeypatch.setenv("ALERTMANAGER_URL", monitoring.url)
    monkeypatch.setenv("PROMETHEUS_URL", monitoring.url)
    at = page_for(make_world(), PAGE)
    assert not at.exception
    values = _table(at, "alertname", "active since", "value").set_index("alertname")["value"]
    assert values.to_dict() == {"PaymentFailureRateHigh": "9.1 %", "UnreconciledAmountHigh": "USD 1,234.50"}

    at.radio(key="rules_kind").set_value("all").run()
    rules = _table(at, "name", "type", "state", "health", "last error", "for").set_index("name")
    recording = rules.loc["gateway:revwatch_payment_attempts:rate5m"]
    assert recording[["state", "for", "severity", "team", "last error"]].tolist() == ["–", "–", "–", "–", "–"]
    for table in (rules.drop(columns=["runbook_url"]), _table(at, "silenced by", "inhibited by", "summary"),
                  _table(at, "receivers", "fingerprint").drop(columns=["runbook_url"])):
        cells = table.astype(str).to_numpy().ravel().tolist()
        assert not table.isna().any().any() and "" not in cells and "None" not in cells
    managed = _table(at, "receivers", "fingerprint").set_index("alertname")
    assert managed.loc["AdyenReportMissing", "inhibited by"] == "–"
    assert managed.loc["BillingIngestStale", "starts (UTC)"].endswith(" UTC")
