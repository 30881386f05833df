"""Alerts: what is firing now, who it is for and what to do, and every rule's state.

Reads only through `metrics.clients.alerting` (Alertmanager API v2 and Prometheus API v1, read-only,
2 s timeout, cached 15 s). With `ALERTMANAGER_URL` or `PROMETHEUS_URL` unset or unreachable
the page says so and shows what the other service gives; it never fails.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import pandas as pd
import streamlit as st

from metrics.catalogue import help_text, label
from metrics.clients import alerting as al
from metrics.faces import export
from pages.common import markdown as md
from pages.common import signin
from revwatch import clock
from revwatch.money import CURRENCY_EXPONENTS, format_money
from revwatch.settings import load_settings

SEVERITY_COLORS = {"page": "red", "critical": "red", "ticket": "orange", "warning": "yellow", "info": "blue"}
DASH = "–"


# ---------------------------------------------------------------- data (cached briefly)
@st.cache_data(ttl=15, show_spinner=False)
def load_managed(url: str | None) -> tuple[al.ManagedAlert, ...] | al.Unavailable:
    return al.managed_alerts(url)


@st.cache_data(ttl=15, show_spinner=False)
def load_rules(url: str | None) -> tuple[al.Rule, ...] | al.Unavailable:
    return al.rules(url)


@st.cache_data(ttl=15, show_spinner=False)
def load_rule_alerts(url: str | None) -> tuple[al.RuleAlert, ...] | al.Unavailable:
    return al.rule_alerts(url)


# ---------------------------------------------------------------- formatting (the edge)
def since_text(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "–"
    minutes = max(0, int((now - when).total_seconds() // 60))
    if minutes < 1:
        return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC (just now)"
    span = f"{minutes} min" if minutes < 120 else (f"{minutes // 60} h {minutes % 60} min" if minutes < 2880
                                                     else f"{minutes // 1440} d {minutes % 1440 // 60} h")
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({span} ago)"


def when_text(when: datetime | None) -> str:
    """A time for a table cell: "2026-11-20 08:13:05 UTC", or "–" when there is none."""
    return DASH if when is None else f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def cell(text: str | None) -> str:
    """A label or annotation for a table cell: "–" when the alert or rule has none."""
    return text if text else DASH


def value_text(value: str, query: str | None, labels: dict[str, str]) -> str:
    """An alert's value as Prometheus gives it ("1.2345e+05") for people: money of the alert's currency when the
    rule reads minor units (`*_minor` series), a percentage for a ratio, else a number with separators."""
    try:
        v = Decimal(value)
    except (InvalidOperation, TypeError):
        return value or DASH
    if not v.is_finite():
        return value
    currency = labels.get("currency", "")
    if query and "_minor" in query and currency.upper() in CURRENCY_EXPONENTS:
        return format_money(int(v.to_integral_value()), currency)
    if query and "ratio" in query:
        pct = f"{v * 100:,.2f}".rstrip("0").rstrip(".")
        return ("0" if pct in ("-0", "0") else pct) + " %"
    if v == v.to_integral_value():
        return f"{int(v):,}"
    text = f"{v:,.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    s = int(seconds)
    if s == 0:
        return "0s"
    parts = [(s // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return "".join(f"{n}{u}" for n, u in parts if n)


def notice(problem: al.Unavailable) -> None:
    if problem.kind == "not_configured":
        st.info(problem.message, icon=":material/info:")
    else:
        st.warning(problem.message, icon=":material/cloud_off:")


# ---------------------------------------------------------------- what each count counts (one definition for card and list)
def firing_of(managed: tuple[al.ManagedAlert, ...]) -> tuple[al.ManagedAlert, ...]:
    return tuple(a for a in managed if a.state != "suppressed")


def suppressed_of(managed: tuple[al.ManagedAlert, ...]) -> tuple[al.ManagedAlert, ...]:
    return tuple(a for a in managed if a.state == "suppressed")


def rule_firing_of(prom: tuple[al.RuleAlert, ...]) -> tuple[al.RuleAlert, ...]:
    """Firing as Prometheus sees it: shown when Alertmanager cannot be read."""
    return tuple(a for a in prom if a.state == "firing")


def pending_of(prom: tuple[al.RuleAlert, ...]) -> tuple[al.RuleAlert, ...]:
    return tuple(a for a in prom if a.state == "pending")


def failing_of(rules: tuple[al.Rule, ...]) -> tuple[al.Rule, ...]:
    return tuple(r for r in rules if r.health == "err")


# ---------------------------------------------------------------- sections
def alert_card(a: al.ManagedAlert | al.RuleAlert, now: datetime) -> None:
    labels, notes = a.labels, a.annotations
    with st.container(border=True):
        team = labels.get("team")
        st.markdown(f"**{md.text(a.name or 'unnamed alert')}** · severity {md.code(labels.get('severity', 'none'))}"
                    + (f" · team **{md.text(team)}**" if team else "")
                    + f" · since {since_text(a.starts_at if isinstance(a, al.ManagedAlert) else a.active_at, now)}")
        if notes.get("summary"):
            st.markdown(md.text(notes["summary"]))  # label values of the source's data are in it
        if notes.get("description"):
            st.caption(md.text(notes["description"]))
        runbook = notes.get("runbook_url")
        st.markdown(f"Runbook: [{runbook}]({runbook})" if runbook else "Runbook: none given (every alert should have one)")
        other = {k: v for k, v in labels.items() if k not in ("alertname", "severity", "team")}
        if other:
            st.caption("Labels: " + ", ".join(f"{md.text(k)}={md.text(v)}" for k, v in sorted(other.items())))


def firing_section(managed: tuple[al.ManagedAlert, ...] | al.Unavailable,
                   prom: tuple[al.RuleAlert, ...] | al.Unavailable, now: datetime) -> None:
    st.subheader(label("alerts_firing"), help=help_text("alerts_firing"))
    if isinstance(managed, al.Unavailable):
        if isinstance(prom, al.Unavailable):
            st.caption("Neither Alertmanager nor Prometheus can be read: no alert to show.")
            return
        firing = rule_firing_of(prom)
        st.caption("From Prometheus (Alertmanager unavailable): silences and inhibitions are not known.")
        groups: dict[str, list] = {}
        for a in firing:
            groups.setdefault(a.severity or "none", []).append(a)
        ordered = sorted(groups.items(), key=lambda kv: (al.severity_rank(kv[0]), kv[0]))
    else:
        ordered = al.by_severity(firing_of(managed))
        if not isinstance(prom, al.Unavailable):
            held = {a.name for a in managed}
            unsent = sorted({a.name for a in rule_firing_of(prom) if a.name not in held})
            if unsent:
                st.caption(f"Firing in Prometheus but not (yet) in Alertmanager: {', '.join(unsent)}. Prometheus "
                           "sends within a minute; if this stays, check its `alerting:` configuration.")
    if not ordered:
        st.success("Nothing is firing.", icon=":material/check_circle:")
        return
    for severity, alerts in ordered:
        st.markdown(f"#### :{SEVERITY_COLORS.get(severity, 'gray')}-badge[{severity}] · {len(alerts)}")
        for a in alerts:
            alert_card(a, now)


def suppressed_section(managed: tuple[al.ManagedAlert, ...]) -> None:
    quiet = suppressed_of(managed)
    st.subheader("Silenced or inhibited", help=help_text("alerts_suppressed"))
    if not quiet:
        st.caption("No alert is silenced or inhibited.")
        return
    table = pd.DataFrame([{"alertname": a.name, "severity": cell(a.severity), "team": cell(a.team), "state": a.state,
                           "silenced by": cell(", ".join(a.silenced_by)), "inhibited by": cell(", ".join(a.inhibited_by)),
                           "summary": cell(a.summary), "starts (UTC)": when_text(a.starts_at),
                           "fingerprint": a.fingerprint} for a in quiet])
    st.dataframe(table, hide_index=True, width="stretch", key="table_suppressed")


def all_alerts_table(managed: tuple[al.ManagedAlert, ...]) -> None:
    if not managed:
        return
    with st.expander(f"Every alert Alertmanager holds ({len(managed)})"):
        table = pd.DataFrame([{"alertname": a.name, "severity": cell(a.severity), "team": cell(a.team),
                               "state": a.state, "silenced by": cell(", ".join(a.silenced_by)),
                               "inhibited by": cell(", ".join(a.inhibited_by)),
                               "receivers": cell(", ".join(a.receivers)), "starts (UTC)": when_text(a.starts_at),
                               "ends unless re-sent (UTC)": when_text(a.ends_at), "runbook_url": a.runbook_url,
                               "fingerprint": a.fingerprint} for a in managed])
        st.dataframe(table, hide_index=True, width="stretch", key="table_managed", column_config={
            "runbook_url": st.column_config.LinkColumn("runbook")})
        st.download_button("Download CSV", export.csv_bytes(table), file_name="alerts.csv", mime="text/csv",
                           key="csv_alerts", icon=":material/download:", on_click="ignore")


def pending_section(prom: tuple[al.RuleAlert, ...], queries: dict[str, str], now: datetime) -> None:
    pending = pending_of(prom)
    st.subheader(label("alerts_pending"), help=help_text("alerts_pending"))
    if not pending:
        st.caption("No alert is pending.")
        return
    st.dataframe(pd.DataFrame([{"alertname": a.name, "severity": cell(a.severity), "team": cell(a.team),
                                "active since": since_text(a.active_at, now),
                                "value": value_text(a.value, queries.get(a.name), a.labels),
                                "summary": cell(a.summary)} for a in pending]),
                 hide_index=True, width="stretch", key="table_pending")


def rules_section(rules: tuple[al.Rule, ...], now: datetime) -> None:
    st.subheader(label("alert_rules"), help=help_text("alert_rules"))
    for r in failing_of(rules):
        st.error(f"Rule **{md.text(r.name)}** ({md.text(r.group)}) fails to evaluate: "
                 f"{md.text(r.last_error or 'no error text')}",
                 icon=":material/error:")
    kinds = st.radio("Show", ["alerting", "all"], horizontal=True, key="rules_kind",
                     format_func={"alerting": "Alerting rules", "all": "All rules"}.get)
    shown = [r for r in rules if kinds == "all" or r.type == "alerting"]
    if not shown:
        st.caption("No rule loaded.")
        return
    table = pd.DataFrame([{
        "name": r.name, "type": r.type, "state": cell(r.state), "health": r.health, "last error": cell(r.last_error),
        "severity": cell(r.severity), "team": cell(r.team), "for": duration_text(r.for_seconds),
        "active alerts": len(r.alerts), "group": r.group,
        "last evaluation": since_text(r.last_evaluation, now) if r.last_evaluation else "never",
        "runbook_url": r.runbook_url, "query": r.query} for r in shown])
    st.dataframe(table, hide_index=True, width="stretch", key="table_rules",
                 column_config={"runbook_url": st.column_config.LinkColumn("runbook")})


# ---------------------------------------------------------------- page
def main() -> None:
    st.title("Alerts")
    cfg = load_settings()
    now = clock.now()
    managed = load_managed(cfg.alertmanager_url)
    rules = load_rules(cfg.prometheus_url)
    prom = load_rule_alerts(cfg.prometheus_url)
    for problem in dict.fromkeys(p for p in (managed, rules, prom) if isinstance(p, al.Unavailable)):
        notice(problem)
    am = None if isinstance(managed, al.Unavailable) else managed
    pr = None if isinstance(prom, al.Unavailable) else prom
    ru = None if isinstance(rules, al.Unavailable) else rules
    c = [*st.columns(2), *st.columns(2)]  # two by two: every label whole on a page of any width
    c[0].metric(label("alerts_firing"), "–" if am is None else len(firing_of(am)), border=True,
                help=help_text("alerts_firing"))
    c[1].metric(label("alerts_suppressed"), "–" if am is None else len(suppressed_of(am)), border=True,
                help=help_text("alerts_suppressed"))
    c[2].metric(label("alerts_pending"), "–" if pr is None else len(pending_of(pr)), border=True,
                help=help_text("alerts_pending"))
    c[3].metric(label("rules_failing"), "–" if ru is None else len(failing_of(ru)), border=True,
                help=help_text("rules_failing"))
    firing_section(managed, prom, now)
    if not isinstance(managed, al.Unavailable):
        suppressed_section(managed)
        all_alerts_table(managed)
    if not isinstance(prom, al.Unavailable):
        pending_section(prom, {} if ru is None else {r.name: r.query for r in ru}, now)
    if not isinstance(rules, al.Unavailable):
        rules_section(rules, now)
    st.caption(f"Alertmanager: {(cfg.alertmanager_url and al.public_url(cfg.alertmanager_url)) or 'not set'} · "
               f"Prometheus: {(cfg.prometheus_url and al.public_url(cfg.prometheus_url)) or 'not set'} · read "
               f"{now:%H:%M:%S} UTC, cached 15 s.")


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
