"""What Prometheus and Alertmanager say right now: a small read-only client of their HTTP APIs.

- Alertmanager API v2, `GET /api/v2/alerts` (api/v2/openapi.yaml `gettableAlert`): labels,
  annotations, startsAt, endsAt, updatedAt, fingerprint, receivers[].name, generatorURL and
  status {state: unprocessed|active|suppressed, silencedBy[], inhibitedBy[]}.
- Prometheus API v1, `GET /api/v1/rules` (groups[] {name, file, interval, rules[]}; a rule has
  name, query, type alerting|recording, health ok|err|unknown, lastError, lastEvaluation,
  evaluationTime, labels and, when alerting, state firing|pending|inactive, duration (its `for`,
  seconds), keepFiringFor, annotations, alerts[]) and `GET /api/v1/alerts` (data.alerts[] with
  labels, annotations, state, activeAt, value).

Every call returns typed values or, instead of raising, an `Unavailable` that says which
setting is missing or what went wrong, so a page can always render. Standard library only
(`urllib.request`), a short timeout, no retries: a page waits at most `timeout` per call.
"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

TIMEOUT_SECONDS = 2.0
SEVERITY_ORDER = ("page", "critical", "ticket", "warning", "info")  # unknown severities sort after these
T = TypeVar("T")


# ---------------------------------------------------------------- typed values
@dataclass(frozen=True)
class Unavailable:
    """Why a service's figures are missing: not configured (its setting unset), unreachable
    (connection refused, timeout, DNS) or a bad answer (HTTP error, not the API's JSON)."""

    service: str             # "Prometheus" or "Alertmanager"
    setting: str             # the environment variable that points at it
    kind: str                # "not_configured" | "unreachable" | "bad_response"
    url: str | None = None   # shown without credentials
    reason: str = ""

    @property
    def message(self) -> str:
        if self.kind == "not_configured":
            return (f"{self.service} is not configured: set `{self.setting}` to its base URL "
                    f"(e.g. `{self.setting}=http://127.0.0.1:{9090 if self.service == 'Prometheus' else 9093}`).")
        if self.kind == "unreachable":
            return (f"{self.service} is unreachable at {self.url} ({self.reason}): check that it runs and that "
                    f"`{self.setting}` points at it.")
        return f"{self.service} at {self.url} gave an unexpected answer: {self.reason}"


class Labelled:
    """What an alert or a rule says through its labels and annotations (the conventions of alerts/)."""

    labels: dict[str, str]
    annotations: dict[str, str]

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def team(self) -> str:
        return self.labels.get("team", "")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary", "")

    @property
    def description(self) -> str:
        return self.annotations.get("description", "")

    @property
    def runbook_url(self) -> str:
        return self.annotations.get("runbook_url", "")


@dataclass(frozen=True)
class ManagedAlert(Labelled):
    """One alert as Alertmanager holds it (API v2 gettableAlert)."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None        # for a firing alert: when it resolves unless re-sent
    updated_at: datetime | None
    state: str                      # active | suppressed | unprocessed
    silenced_by: tuple[str, ...]    # silence ids
    inhibited_by: tuple[str, ...]   # fingerprints of the inhibiting alerts
    receivers: tuple[str, ...]
    generator_url: str | None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


    @property
    def silenced(self) -> bool:
        return bool(self.silenced_by)

    @property
    def inhibited(self) -> bool:
        return bool(self.inhibited_by)


@dataclass(frozen=True)
class RuleAlert(Labelled):
    """An alert of an alerting rule as Prometheus evaluates it (pending or firing)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: str                  # pending | firing
    active_at: datetime | None
    value: str                  # the expression's value, as Prometheus formats it ("1e+00")

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Rule(Labelled):
    """A recording or alerting rule with its evaluation health (and, alerting, its state)."""

    group: str
    file: str
    name: str
    type: str                   # alerting | recording
    query: str
    health: str                 # ok | err | unknown
    last_error: str
    last_evaluation: datetime | None
    evaluation_seconds: float | None
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str | None           # alerting: firing | pending | inactive; recording: None
    for_seconds: float | None   # alerting: its `for`
    keep_firing_for_seconds: float | None
    alerts: tuple[RuleAlert, ...]


# ---------------------------------------------------------------- parsing (pure, tested on the docs' shapes)
def parse_time(value: Any) -> datetime | None:
    """RFC 3339 as Go writes it (nanoseconds, `Z` or an offset); Go's zero time means never."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, sep, rest = text.partition(".")
    if sep:  # Python keeps microseconds: cut nanoseconds, keep the offset
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if when.year <= 1 else when


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_managed_alerts(payload: Any) -> tuple[ManagedAlert, ...]:
    """Alertmanager `GET /api/v2/alerts` body (a JSON array of gettableAlert)."""
    if not isinstance(payload, list):
        raise ValueError("expected a JSON array of alerts")
    alerts = []
    for a in payload:
        status = a.get("status") or {}
        alerts.append(ManagedAlert(
            fingerprint=str(a.get("fingerprint", "")),
            labels=_labels(a.get("labels")),
            annotations=_labels(a.get("annotations")),
            starts_at=parse_time(a.get("startsAt")),
            ends_at=parse_time(a.get("endsAt")),
            updated_at=parse_time(a.get("updatedAt")),
            state=str(status.get("state", "unprocessed")),
            silenced_by=tuple(str(s) for s in status.get("silencedBy") or ()),
            inhibited_by=tuple(str(s) for s in status.get("inhibitedBy") or ()),
            receivers=tuple(str(r.get("name", "")) for r in a.get("receivers") or () if isinstance(r, dict)),
            generator_url=a.get("generatorURL") or None,
        ))
    return tuple(alerts)


def _rule_alert(a: dict) -> RuleAlert:
    return RuleAlert(labels=_labels(a.get("labels")), annotations=_labels(a.get("annotations")),
                     state=str(a.get("state", "")), active_at=parse_time(a.get("activeAt")),
                     value=str(a.get("value", "")))


def _data(payload: Any) -> dict:
    """The `data` of Prometheus' envelope {status: success|error, data, errorType, error}."""
    if not isinstance(payload, dict) or payload.get("status") != "success" or not isinstance(payload.get("data"), dict):
        err = payload.get("error") if isinstance(payload, dict) else None
        raise ValueError(f"Prometheus answered {err or 'without a success envelope'}")
    return payload["data"]


def parse_rules(payload: Any) -> tuple[Rule, ...]:
    """Prometheus `GET /api/v1/rules` body: every rule of every group, in the groups' order."""
    rules = []
    for g in _data(payload).get("groups") or ():
        for r in g.get("rules") or ():
            alerting = r.get("type") == "alerting"
            rules.append(Rule(
                group=str(g.get("name", "")), file=str(g.get("file", "")),
                name=str(r.get("name", "")), type=str(r.get("type", "")), query=str(r.get("query", "")),
                health=str(r.get("health", "unknown")), last_error=str(r.get("lastError") or ""),
                last_evaluation=parse_time(r.get("lastEvaluation")),
                evaluation_seconds=_number(r.get("evaluationTime")),
                labels=_labels(r.get("labels")), annotations=_labels(r.get("annotations")),
                state=str(r.get("state", "inactive")) if alerting else None,
                for_seconds=_number(r.get("duration")) if alerting else None,
                keep_firing_for_seconds=_number(r.get("keepFiringFor")) if alerting else None,
                alerts=tuple(_rule_alert(a) for a in r.get("alerts") or ()),
            ))
    return tuple(rules)


def parse_rule_alerts(payload: Any) -> tuple[RuleAlert, ...]:
    """Prometheus `GET /api/v1/alerts` body: the pending and firing alerts."""
    return tuple(_rule_alert(a) for a in _data(payload).get("alerts") or ())


# ---------------------------------------------------------------- HTTP
def public_url(url: str) -> str:
    """The URL without user:password, fit to show."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


def _get_json(base_url: str, path: str, timeout: float) -> Any:
    """GET base_url + path as JSON; `user:password@` in the base URL becomes basic auth."""
    parts = urllib.parse.urlsplit(base_url)
    headers = {"Accept": "application/json", "User-Agent": "revwatch"}
    if parts.username is not None:
        token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    req = urllib.request.Request(public_url(base_url) + path, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _call(service: str, setting: str, base_url: str | None, path: str, parse: Callable[[Any], T],
          timeout: float) -> T | Unavailable:
    if not base_url:
        return Unavailable(service, setting, "not_configured")
    shown = public_url(base_url) + path
    try:
        return parse(_get_json(base_url, path, timeout))
    except urllib.error.HTTPError as exc:  # before URLError: it is one
        return Unavailable(service, setting, "bad_response", shown, f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Unavailable(service, setting, "unreachable", public_url(base_url), str(reason) or type(exc).__name__)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:  # not JSON, or not the API's shape
        return Unavailable(service, setting, "bad_response", shown, str(exc) or type(exc).__name__)


def managed_alerts(alertmanager_url: str | None, timeout: float = TIMEOUT_SECONDS) -> tuple[ManagedAlert, ...] | Unavailable:
    """Every alert Alertmanager holds: active, silenced, inhibited and unprocessed (the API's defaults)."""
    return _call("Alertmanager", "ALERTMANAGER_URL", alertmanager_url, "/api/v2/alerts", parse_managed_alerts, timeout)


def rules(prometheus_url: str | None, timeout: float = TIMEOUT_SECONDS) -> tuple[Rule, ...] | Unavailable:
    return _call("Prometheus", "PROMETHEUS_URL", prometheus_url, "/api/v1/rules", parse_rules, timeout)


def rule_alerts(prometheus_url: str | None, timeout: float = TIMEOUT_SECONDS) -> tuple[RuleAlert, ...] | Unavailable:
    return _call("Prometheus", "PROMETHEUS_URL", prometheus_url, "/api/v1/alerts", parse_rule_alerts, timeout)


# ---------------------------------------------------------------- ordering
def severity_rank(severity: str) -> int:
    """page first, then critical, ticket, warning, info, then anything else."""
    s = severity.lower()
    return SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else len(SEVERITY_ORDER)


def by_severity(alerts: tuple[ManagedAlert, ...]) -> list[tuple[str, list[ManagedAlert]]]:
    """Alerts grouped by severity label, most severe group first; oldest alert first within one."""
    groups: dict[str, list[ManagedAlert]] = {}
    for a in alerts:
        groups.setdefault(a.severity or "none", []).append(a)
    ordered = sorted(groups.items(), key=lambda kv: (severity_rank(kv[0]), kv[0]))
    return [(sev, sorted(items, key=lambda a: (a.starts_at.timestamp() if a.starts_at else float("inf"), a.name)))
            for sev, items in ordered]
