"""Alerting as code (alerts/): the rule files load, their promtool unit tests pass, every alert
is complete (for, severity, team, summary, description, runbook) and tested both firing and
silent, every PromQL names only metrics of the exporter's contract or our recording rules,
Alertmanager's example configuration loads and routes each alert where alerts/README.md says,
and the Grafana dashboard imports as is.

promtool and amtool come from Debian's `prometheus` and `prometheus-alertmanager` packages
(scripts/test.sh installs them); without them these tests fail, they never skip.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "alerts"
RULE_FILES = [ALERTS / "recording_rules.yml", ALERTS / "alerting_rules.yml"]
TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))
RUNBOOKS = ALERTS / "runbooks"
DASHBOARD = ALERTS / "grafana" / "revwatch-engineering.json"
RUNBOOK_BASE = "https://github.com/revwatch/revwatch/blob/main/alerts/runbooks/"
RUNBOOK_SECTIONS = ("## What it means", "## Impact", "## Confirm", "## Likely causes", "## What to do", "## Escalate")

# The exporter's metric contract (issue 6): the only raw series rules and panels may read.
CONTRACT = {
    "revwatch_payment_attempts_total", "revwatch_payment_successes_total", "revwatch_payment_failures_total",
    "revwatch_job_runs_total", "revwatch_job_rows_read_total", "revwatch_job_rows_written_total",
    "revwatch_job_duration_seconds_bucket", "revwatch_job_duration_seconds_sum", "revwatch_job_duration_seconds_count",
    "revwatch_billing_sessions_judged", "revwatch_billing_sessions_correct", "revwatch_billing_leakage_minor",
    "revwatch_billing_overcharge_minor", "revwatch_recon_open_breaks", "revwatch_recon_unreconciled_minor",
    "revwatch_recon_oldest_open_break_age_seconds", "revwatch_recon_payouts_missing_in_bank", "revwatch_recon_items",
    "revwatch_disputes_month", "revwatch_card_payments_month", "revwatch_job_last_success_timestamp_seconds",
    "revwatch_job_last_run_timestamp_seconds", "revwatch_job_interval_seconds", "revwatch_exporter_up",
    "revwatch_gateway_object_refused", "revwatch_audit_head_seq", "revwatch_close_adjustments",
    "revwatch_work_items_overdue", "revwatch_work_items_open", "revwatch_work_items_oldest_age_seconds",
    "revwatch_work_customer_paging",
}
PROMETHEUS_OWN = {"up", "ALERTS"}  # series Prometheus writes itself

# Where each (severity, team) goes (alerts/alertmanager.yml, alerts/README.md).
RECEIVERS = {
    ("page", "engineering"): "engineering-pager",
    ("page", "finance"): "finance-pager",
    ("ticket", "finance"): "finance-tickets",
    ("ticket", "engineering"): "engineering-tickets",
}


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        package = "prometheus" if name == "promtool" else "prometheus-alertmanager"
        pytest.fail(f"{name} is not installed: `sudo apt-get install {package}` "
                    "(bash scripts/test.sh installs it when run as root)", pytrace=False)
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)  # failure reported below
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


def _load(path: Path):
    return yaml.safe_load(path.read_text())


def _rules(kind: str) -> list[dict]:
    return [r for f in RULE_FILES for g in _load(f)["groups"] for r in g["rules"] if kind in r]


def _alert_names() -> set[str]:
    return {r["alert"] for r in _rules("alert")}


# ------------------------------------------------------------------------- PromQL names
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
             "offset", "bool", "inf", "nan", "Inf", "NaN"}


def promql_names(expr: str) -> set[str]:
    """Metric (and recording-rule) names an expression reads: identifiers outside strings,
    label matchers, grouping clauses and ranges that are neither functions nor keywords."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if m.group(0) in _KEYWORDS or s[m.end():].lstrip().startswith("("):
            continue
        names.add(m.group(0))
    return names


def test_promql_names_helper():
    assert promql_names('sum by (gateway) (rate(a_total{x="y z"}[5m])) / on () group_left () '
                        'scalar(b:c:d) > 1e3 and vector(0.9) offset 5m') == {"a_total", "b:c:d"}


def _known_names() -> set[str]:
    return CONTRACT | PROMETHEUS_OWN | {r["record"] for r in _rules("record")}


# ------------------------------------------------------------------------- promtool / amtool
def test_promtool_check_rules():
    out = _run(_tool("promtool"), "check", "rules", *map(str, RULE_FILES)).stdout
    assert out.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests():
    assert TEST_FILES, "no promtool test files in alerts/tests/"
    promtool = _tool("promtool")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one promtool a file: they take seconds each
        outs = list(pool.map(lambda f: _run(promtool, "test", "rules", str(f)).stdout, TEST_FILES))
    for f, out in zip(TEST_FILES, outs, strict=True):
        assert out.count("SUCCESS") == 1, (f, out)


def test_prometheus_example_config():
    _run(_tool("promtool"), "check", "config", str(ALERTS / "prometheus.example.yml"))
    cfg = _load(ALERTS / "prometheus.example.yml")
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "revwatch"]
    # revwatch_job_*{job=...} name collectors: the scrape must not rename them to exported_job
    assert job["honor_labels"] is True


def test_amtool_check_config():
    out = _run(_tool("amtool"), "check-config", str(ALERTS / "alertmanager.yml")).stdout
    assert "SUCCESS" in out


def test_every_alert_routes_to_its_receiver():
    amtool = _tool("amtool")
    for rule in _rules("alert"):
        labels = rule["labels"]
        receiver = RECEIVERS[(labels["severity"], labels["team"])]
        _run(amtool, "config", "routes", "test", f"--config.file={ALERTS / 'alertmanager.yml'}",
             f"--verify.receivers={receiver}", f"alertname={rule['alert']}",
             f"severity={labels['severity']}", f"team={labels['team']}", "gateway=stripe")


def test_gateway_down_inhibits_the_same_gateways_burn_rate_alerts():
    cfg = _load(ALERTS / "alertmanager.yml")
    (rule,) = [r for r in cfg["inhibit_rules"] if r["source_matchers"] == ['alertname="GatewayNoSuccesses"']]
    assert rule["equal"] == ["gateway"]
    (target,) = rule["target_matchers"]
    m = re.fullmatch(r'alertname=~"(.*)"', target)
    assert m, target
    burn = {a for a in _alert_names() if a.startswith("PaymentSuccessBurnRate")}
    assert len(burn) == 3
    assert all(re.fullmatch(m.group(1), a) for a in burn)
    assert not re.fullmatch(m.group(1), "GatewayNoSuccesses")
    route = cfg["route"]
    assert route["group_by"] == ["alertname", "gateway", "stage"]


# ------------------------------------------------------------------------- rule conventions
def test_recording_rules_are_named_level_metric_operations():
    for rule in _rules("record"):
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


OBJECTIVE = "global:revwatch_payment_reliability_slo:objective"
SLO_WINDOWS = ("5m", "30m", "1h", "6h", "3d")
# The SRE workbook's multi-window, multi-burn-rate alerts (issue 6): alert -> (long window,
# short window, burn-rate factor, severity).
BURN_ALERTS = {
    "PaymentSuccessBurnRate1h": ("1h", "5m", 14.4, "page"),
    "PaymentSuccessBurnRate6h": ("6h", "30m", 6.0, "page"),
    "PaymentSuccessBurnRate3d": ("3d", "6h", 1.0, "ticket"),
}


def _record(name: str) -> dict:
    (rule,) = [r for r in _rules("record") if r["record"] == name]
    return rule


def test_slo_objective_is_defined_once():
    assert _record(OBJECTIVE)["expr"].strip() == "vector(0.995)"
    burn = [r for r in _rules("record") if ":burnrate" in r["record"]]
    assert sorted(r["record"] for r in burn) == sorted(f"gateway:revwatch_payment_errors:burnrate{w}" for w in SLO_WINDOWS)
    assert all(f"/ (1 - scalar({OBJECTIVE}))" in r["expr"] for r in burn)
    # nowhere else: no rule or alert repeats the objective or its budget as a number
    for rule in _rules("record") + _rules("alert"):
        if rule.get("record") != OBJECTIVE:
            assert not re.search(r"\b0\.995\b|\b0\.005\b", rule["expr"]), rule.get("record") or rule.get("alert")


def test_sli_counts_customer_declines_as_good_and_the_rest_as_bad():
    """Bad = attempts - successes - customer declines, per window, with `max without (instance)`
    first; the customer classes are exactly the taxonomy's classes other than gateway_error and
    unclassified (a new class in metrics/figures/declines.py must be placed on one side here)."""
    from metrics.figures.declines import CLASSES, GATEWAY_ERROR, UNCLASSIFIED

    customer = set(CLASSES) - {GATEWAY_ERROR, UNCLASSIFIED}
    for w in SLO_WINDOWS:
        attempts = _record(f"gateway:revwatch_payment_slo_attempts:rate{w}")["expr"]
        assert attempts.strip() == (f'sum by (gateway) (max without (instance) '
                                    f'(rate(revwatch_payment_attempts_total{{method!="ach"}}[{w}])))')
        errors = " ".join(_record(f"gateway:revwatch_payment_errors:rate{w}")["expr"].split())
        assert errors.startswith("clamp_min(") and errors.endswith(", 0 )")
        assert f'rate(revwatch_payment_successes_total{{method!="ach"}}[{w}])' in errors
        (classes,) = re.findall(r'rate\(revwatch_payment_failures_total\{method!="ach",decline_class=~"([^"]*)"\}\['
                                + w + r"\]\)", errors)  # ACH left out of declines as of attempts
        assert set(classes.split("|")) == customer
        assert errors.count("max without (instance)") == 2
        assert errors.count(f"or gateway:revwatch_payment_slo_attempts:rate{w} * 0") == 2
        ratio = _record(f"gateway:revwatch_payment_errors:ratio_rate{w}")["expr"]
        assert ratio.strip() == (f"gateway:revwatch_payment_errors:rate{w} / "
                                 f"(gateway:revwatch_payment_slo_attempts:rate{w} > 0)")


def test_burn_rate_alerts_use_the_workbook_factors():
    alerts = {r["alert"]: r for r in _rules("alert") if r["alert"].startswith("PaymentSuccessBurnRate")}
    assert alerts.keys() == BURN_ALERTS.keys()
    for name, (long, short, factor, severity) in BURN_ALERTS.items():
        rule = alerts[name]
        expr = " ".join(rule["expr"].split())
        f = f"{factor:g}"
        assert expr == (f"gateway:revwatch_payment_errors:burnrate{long} > {f} and on (gateway) "
                        f"gateway:revwatch_payment_errors:burnrate{short} > {f}"), name
        assert rule["labels"] == {"severity": severity, "team": "engineering"}, name


# ------------------------------------------------------------------------- stale collectors
STALE_EXPR = re.compile(r"^time\(\) - max by \(job\) \(revwatch_job_last_success_timestamp_seconds\{job(=~|!~)"
                        r'"ingest-billing\|rollup-payments"\}\) > (\d+) \* max by \(job\) \(revwatch_job_interval_seconds\)$')


def _stale_rules() -> list[dict]:
    return [r for r in _rules("alert") if r["alert"] == "CollectorStale"]


def test_collector_stale_uses_the_catalogue_s_factor():
    """One definition of "stale": the alert's factor is metrics.catalogue.STALE_AFTER_INTERVALS, over the
    configured interval (revwatch_job_interval_seconds), with no floor; the Health page judges the same."""
    from metrics.catalogue import STALE_AFTER_INTERVALS

    rules = _stale_rules()
    assert [r["labels"]["severity"] for r in rules] == ["page", "ticket"]
    for rule in rules:
        m = STALE_EXPR.match(" ".join(rule["expr"].split()))
        assert m, rule["expr"]
        assert int(m.group(2)) == STALE_AFTER_INTERVALS, rule["expr"]
    assert {STALE_EXPR.match(" ".join(r["expr"].split())).group(1) for r in rules} == {"=~", "!~"}  # every job, once


def test_health_and_the_stale_alert_agree_around_the_threshold(tmp_path):
    """The Health page's status and CollectorStale's condition (its expression, as promtool evaluates it)
    for one job that last succeeded at 60 s, a second before, at and a second after N intervals."""
    from metrics.catalogue import STALE_AFTER_INTERVALS
    from metrics.figures.health import JobHealth, LastRun

    success = 60  # unix seconds of the last success (promtool's time starts at 0)
    cases, tests = [], []
    for job, interval in (("ingest-billing", 60), ("reconcile", 300), ("ingest-ledger", 3600)):
        threshold = success + STALE_AFTER_INTERVALS * interval
        for at in (threshold - 1, threshold, threshold + 1):
            finished, as_of = (datetime.fromtimestamp(t, UTC) for t in (success, at))
            last = LastRun(1, finished, finished, "succeeded", 0, 0, None)
            status = JobHealth(job, "compute", as_of, last, finished, None, None, 1, 0, 0.0, 0.0, 1, None,
                               interval).status
            cases.append((job, interval, at, status))
            expected = [{"labels": f'{{job="{job}"}}', "value": at - success}] if status == "stale" else []
            samples = at // 60 + 10  # one a minute, past the evaluation
            tests.append({"interval": "1m", "input_series": [
                {"series": f'revwatch_job_last_success_timestamp_seconds{{job="{job}"}}',
                 "values": f"{success}+0x{samples}"},
                {"series": f'revwatch_job_interval_seconds{{job="{job}"}}', "values": f"{interval}+0x{samples}"}],
                "promql_expr_test": [{"expr": rule["expr"], "eval_time": f"{at}s",
                                      "exp_samples": expected if rule["labels"]["severity"] == (
                                          "page" if job == "ingest-billing" else "ticket") else []}
                                     for rule in _stale_rules()]})
    assert [status for *_, status in cases] == ["ok", "ok", "stale"] * 3  # both sides of the threshold, each job
    path = tmp_path / "stale_agreement.yml"
    path.write_text(yaml.safe_dump({"evaluation_interval": "1m", "tests": tests}))
    _run(_tool("promtool"), "test", "rules", str(path))


def test_every_alert_is_complete():
    names = [r["alert"] for r in _rules("alert")]
    assert {"GatewayNoSuccesses", "PaymentSuccessBurnRate1h", "PaymentSuccessBurnRate6h",
            "PaymentSuccessBurnRate3d", "RevwatchExporterDown"} <= set(names)
    for rule in _rules("alert"):
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smhd]", str(rule.get("for", ""))), f"{name}: no `for`"
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["labels"]["team"] in {"engineering", "finance"}, name
        ann = rule["annotations"]
        assert ann["summary"].strip() and ann["description"].strip(), name
        assert ann["runbook_url"] == f"{RUNBOOK_BASE}{name}.md", name
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.is_file(), f"{name}: no runbook {runbook.relative_to(ROOT)}"
        text = runbook.read_text()
        assert text.startswith(f"# {name}\n"), runbook
        for section in RUNBOOK_SECTIONS:
            assert section in text, f"{runbook.name}: no '{section}'"


def test_no_runbook_without_an_alert():
    assert {p.stem for p in RUNBOOKS.glob("*.md")} == _alert_names()


def test_rules_read_only_contract_metrics_and_recording_rules():
    known = _known_names()
    for rule in _rules("record") + _rules("alert"):
        unknown = promql_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('record') or rule.get('alert')} reads {unknown}"


def test_every_alert_has_a_firing_and_a_silent_promtool_case():
    firing: dict[str, set[str]] = {}
    silent: set[str] = set()
    for path in TEST_FILES:
        for group in _load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                name = case["alertname"]
                assert name in _alert_names(), f"{path.name}: tests unknown alert {name}"
                exp = case.get("exp_alerts") or []
                if not exp:
                    silent.add(name)
                for alert in exp:
                    labels, ann = alert["exp_labels"], alert["exp_annotations"]
                    assert {"severity", "team"} <= labels.keys(), f"{path.name}: {name}"
                    assert {"summary", "description", "runbook_url"} <= ann.keys(), f"{path.name}: {name}"
                    firing.setdefault(name, set()).add(labels["severity"])
    for rule in _rules("alert"):
        name, severity = rule["alert"], rule["labels"]["severity"]
        assert severity in firing.get(name, set()), f"{name} ({severity}) never fires in alerts/tests/"
        assert name in silent, f"{name} has no case where it must not fire"


def test_gateway_alerts_keep_the_gateway_label():
    for path in TEST_FILES:
        for group in _load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                if case["alertname"].startswith(("PaymentSuccessBurnRate", "Gateway")):
                    for alert in case.get("exp_alerts") or []:
                        assert "gateway" in alert["exp_labels"], case


# ------------------------------------------------------------------------- Grafana dashboard
def _panels(panels: list[dict]):
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def _dashboard_exprs(dash: dict) -> list[str]:
    exprs = [t["expr"] for p in _panels(dash["panels"]) for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dash["annotations"]["list"] if "expr" in a]
    return exprs


def test_dashboard_is_importable_json():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["schemaVersion"] >= 36 and dash["uid"] and dash["title"] and dash["id"] is None
    (ds,) = dash["__inputs"]
    assert (ds["name"], ds["type"], ds["pluginId"]) == ("DS_PROMETHEUS", "datasource", "prometheus")
    panels = list(_panels(dash["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are not unique"
    for p in panels:
        assert {"h", "w", "x", "y"} <= p["gridPos"].keys() and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"]
            assert p["targets"], p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), p["title"]
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in ("success ratio", "error ratio", "attempts", "decline class", "burn rate", "last success", "p95",
                  "exporter", "open reconciliation breaks", "unreconciled", "billing accuracy"):
        assert topic in titles, f"no panel about {topic}"


def test_dashboard_burn_rates_match_the_alerts():
    """The burn-rate panel shows every SLO window with the alerts' factors as its thresholds, and
    the error-ratio panel draws the budget from the objective rule (never a copied number)."""
    panels = {p["title"]: p for p in _panels(json.loads(DASHBOARD.read_text())["panels"])}
    burn = panels["Error budget burn rate"]
    assert [t["expr"] for t in burn["targets"]] == [
        f'gateway:revwatch_payment_errors:burnrate{w}{{gateway=~"$gateway"}}' for w in SLO_WINDOWS]
    steps = [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps[0] is None and sorted(steps[1:]) == sorted({f for _, _, f, _ in BURN_ALERTS.values()})
    ratio = panels["Payment error ratio per gateway (SLI)"]
    exprs = [t["expr"] for t in ratio["targets"]]
    assert 'gateway:revwatch_payment_errors:ratio_rate1h{gateway=~"$gateway"}' in exprs
    lines = sorted(e for e in exprs if OBJECTIVE in e)
    assert lines == sorted([f"1 - {OBJECTIVE}", f"6 * (1 - {OBJECTIVE})", f"14.4 * (1 - {OBJECTIVE})"])
    for p in panels.values():
        assert "payment_success_slo" not in json.dumps(p), p["title"]


def test_dashboard_queries_name_only_known_metrics():
    dash = json.loads(DASHBOARD.read_text())
    known = _known_names()
    exprs = _dashboard_exprs(dash)
    for expr in exprs:
        unknown = promql_names(expr) - known
        assert not unknown, f"panel query {expr!r} reads {unknown}"
    for var in dash["templating"]["list"]:
        m = re.fullmatch(r"label_values\((\w[\w:]*), *\w+\)", var["definition"])
        assert m and m.group(1) in known, var["definition"]


def test_dashboard_queries_parse(tmp_path):
    """Each panel query, with Grafana's variables filled in, is valid PromQL (promtool parses it)."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = [e.replace("$__rate_interval", "5m").replace("$gateway", ".*") for e in _dashboard_exprs(dash)]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query:n{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    _run(_tool("promtool"), "check", "rules", str(path))
