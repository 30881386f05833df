"""Billing accuracy: was every session billed what the price list says it should have been?

Reads only through `metrics.figures.billing_accuracy` (no SQL here), over `billing_findings`: the
headline is `accuracy_totals`, the figure `revwatch show billing`, the exporter and the weekly report
read too. Headline accuracy (correct / billable), leakage and overcharge per currency (never added
across currencies), a daily trend, breakdowns by site, rate plan and error class, and the mis-billed
sessions with a drill-down to the expected price step by step (the classify job's own SQL rating)
beside what was billed. Money and customer ids are formatted (masked) only here, at the edge.
"""
from __future__ import annotations

import math
from datetime import datetime, time, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import help_text, label
from metrics.figures import billing_accuracy as q
from metrics.figures.billing_accuracy import CLASS_LABELS
from metrics.figures.query import Filters, snapshot
from metrics.figures.readiness import Readiness
from pages.common import csv_button, filtered_page, mask_customer, money, percent, signin, with_money
from pages.common import engine as _engine
from pages.common import markdown as md
from pages.common.recon_data import download_all
from pages.common.state import nothing_found, pending_banner, shown_of, topic_state
from revwatch.money import chart_amount, format_money

LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")
PAGE_ROWS = 500  # mis-billed sessions listed; the download gives all of them
DAY_MS = 86_400_000
EMPTY_HINT = "No billing findings yet: run `revwatch demo` and `revwatch collect` (incl. `classify-billing`)."
# mis_billed's subtotal and tax columns: in the CSV download (and `revwatch show misbilled`), not the list
MIS_BILLED_DETAIL = ("expected_subtotal_minor", "expected_tax_minor", "billed_currency", "billed_subtotal_minor",
                     "billed_tax_minor")


# ---------------------------------------------------------------- data (cached)
@st.cache_data(ttl=60, show_spinner="Loading billing findings…")
def load_figures(db_key: str | None, f: Filters) -> dict:
    with snapshot(_engine(db_key)) as conn:
        return {
            "totals": q.accuracy_totals(conn, f),
            "daily_acc": q.accuracy(conn, f, by="local_date"),
            "daily_money": q.leakage_overcharge(conn, f, by="local_date"),
            "by_site": q.accuracy_frame(conn, f, by=("site_id",)),
            "by_plan": q.accuracy_frame(conn, f, by=("rate_plan_id",)),
            "class_money": q.leakage_overcharge(conn, f, by="class"),
            "classes": q.class_counts(conn, f),
            "mis_billed": q.mis_billed(conn, f, limit=PAGE_ROWS),
        }


def all_mis_billed(db_key: str | None, f: Filters) -> pd.DataFrame:
    """Every mis-billed session of the selection (for a download: read when it is clicked, never cut)."""
    with snapshot(_engine(db_key)) as conn:
        return q.mis_billed(conn, f, limit=None)


@st.cache_data(ttl=60, show_spinner=False)
def load_detail(db_key: str | None, session_id: str) -> q.SessionDetail | None:
    return q.session_detail(_engine(db_key), session_id)


# ---------------------------------------------------------------- formatting (the edge)
def with_rate(acc: pd.DataFrame) -> pd.DataFrame:
    return acc.assign(accuracy=[q.accuracy_ratio(c, b) for c, b in zip(acc["correct"], acc["billable"], strict=True)])


def counts(df: pd.DataFrame, **config) -> dict:
    """Column config: whole-number columns with thousands separators, then `config`."""
    return {**{c: st.column_config.NumberColumn(format="%,d") for c in df.columns
               if pd.api.types.is_integer_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}, **config}


def blank(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values shown as "–", never as "None" or "NaT" (complete columns keep their type)."""
    gaps = [c for c in df.columns if df[c].isna().any()]
    return df.assign(**{c: df[c].astype(object).where(df[c].notna(), "–") for c in gaps})


def day_axis(fig, f: Filters, max_ticks: int = 8) -> None:
    """A daily series: one tick per day (every few days on a long range), never hours; exactly the selected days."""
    fig.update_xaxes(dtick=max(1, math.ceil(f.days / max_ticks)) * DAY_MS, tickformat="%d %b",
                     range=[datetime.combine(f.start, time()) - timedelta(hours=12),
                            datetime.combine(f.end, time()) + timedelta(hours=12)])


# ---------------------------------------------------------------- sections
def headline(totals: tuple[q.AccuracyTotals, ...]) -> None:
    billable, correct = sum(t.billable for t in totals), sum(t.correct for t in totals)
    c = st.columns(3)
    c[0].metric(label("billing_accuracy"), percent(q.overall_accuracy(totals)), border=True,
                help=help_text("billing_accuracy"))
    c[1].metric(label("billable_sessions"), f"{billable:,}", border=True, help=help_text("billable_sessions"))
    c[2].metric(label("mis_billed_sessions"), f"{sum(t.findings for t in totals) - correct:,}", border=True,
                help=help_text("mis_billed_sessions"))
    for t in totals:  # per currency, never added across currencies
        if t.currency is None:  # findings of an unknown site: counted above, no money to show
            continue
        m = st.columns(2)
        m[0].metric(f"{label('billing_leakage')} · {t.currency}", format_money(t.leakage_minor, t.currency),
                    border=True, help=help_text("billing_leakage"))
        m[1].metric(f"{label('billing_overcharge')} · {t.currency}", format_money(t.overcharge_minor, t.currency),
                    border=True, help=help_text("billing_overcharge"))


def trend(daily_acc: pd.DataFrame, daily_money: pd.DataFrame, f: Filters) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Billing accuracy per local day**", help=help_text("billing_accuracy"))
        df = with_rate(daily_acc)
        fig = px.line(df, x="local_date", y="accuracy", height=320, markers=True,
                      labels={"local_date": "local day", "accuracy": "accuracy"})
        fig.update_traces(hovertemplate="%{x|%d %b %Y}: %{y:.2%}<extra></extra>")
        fig.update_yaxes(tickformat=".1%")
        day_axis(fig, f)
        fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
        st.plotly_chart(fig, width="stretch", key="chart_accuracy")
    with right:
        st.markdown("**Leakage and overcharge per local day**", help=f"{help_text('billing_leakage')} "
                    f"{help_text('billing_overcharge')} Each currency its own chart, never added together.")
        money_chart(daily_money.dropna(subset=["currency"]), f)


def money_chart(daily: pd.DataFrame, f: Filters) -> None:
    """Leakage and overcharge per day, one row of bars per currency, in its major units."""
    if daily.empty:
        st.caption("No money to show: no finding in a known currency.")
        return
    df = daily.melt(id_vars=["local_date", "currency"], value_vars=["leakage_minor", "overcharge_minor"],
                    var_name="kind", value_name="minor")
    df["kind"] = df["kind"].map({"leakage_minor": "leakage", "overcharge_minor": "overcharge"})
    df["amount"] = [float(chart_amount(int(m), c)) for m, c in zip(df["minor"], df["currency"], strict=True)]
    df["money"] = [format_money(int(m), c) for m, c in zip(df["minor"], df["currency"], strict=True)]
    currencies = df["currency"].nunique()
    fig = px.bar(df, x="local_date", y="amount", color="kind", facet_row="currency", barmode="group",
                 custom_data=["money", "kind"], height=max(320, 120 + 170 * currencies),
                 color_discrete_map={"leakage": "#d62728", "overcharge": "#f28e2b"},
                 labels={"local_date": "local day", "amount": "", "kind": ""})
    fig.update_traces(hovertemplate="%{x|%d %b %Y}: %{customdata[1]} %{customdata[0]}<extra></extra>")
    fig.update_yaxes(matches=None, tickformat=",")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))  # the facet's name: its currency
    day_axis(fig, f)
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch", key="chart_money")


def breakdown(title: str, df: pd.DataFrame, key: str) -> None:
    """One row per dimension value and currency: that currency's own figures."""
    st.markdown(f"**{title}**")
    if df.empty:
        st.caption("No findings.")
        return
    shown = with_money(df, "leakage_minor", "overcharge_minor").rename(
        columns={"leakage_minor": "leakage", "overcharge_minor": "overcharge"})
    shown["accuracy"] = [percent(a) for a in shown["accuracy"]]
    st.dataframe(blank(shown), hide_index=True, width="stretch", key=f"table_{key}", column_config=counts(shown))
    csv_button(df, f"billing_{key}", key=f"csv_{key}")


def class_table(classes: pd.DataFrame, mon: pd.DataFrame) -> None:
    st.markdown("**By error class**")
    if classes.empty:
        st.caption("No findings.")
        return
    df = classes.merge(mon.drop(columns=["sessions"]), on=["class", "currency"], how="left")
    shown = with_money(df, "difference_minor", "leakage_minor", "overcharge_minor").rename(columns={
        "difference_minor": "net difference", "leakage_minor": "leakage", "overcharge_minor": "overcharge"})
    shown["class"] = [CLASS_LABELS.get(c, c) for c in df["class"]]  # the label once; the code is in the CSV
    st.dataframe(blank(shown), hide_index=True, width="stretch", key="table_class", column_config=counts(shown))
    csv_button(df, "billing_by_class", key="csv_class")


def mis_billed_section(db_key: str | None, f: Filters, found: pd.DataFrame, total: int, state: Readiness) -> None:
    st.subheader("Mis-billed sessions", help="Biggest difference first.")
    if found.empty:
        nothing_found(state, "Nothing found: every judged session in the selection was billed correctly.")
        return
    billed = with_money(found, "billed_total_minor", currency="billed_currency")["billed_total_minor"]  # its own currency
    listed = found.drop(columns=[c for c in MIS_BILLED_DETAIL if c in found.columns])  # the table shows totals
    shown = with_money(listed, "expected_total_minor", "difference_minor").assign(billed_total_minor=billed).rename(columns={
        "expected_total_minor": "expected", "billed_total_minor": "billed", "difference_minor": "difference"})
    shown["class"] = [CLASS_LABELS.get(c, c) for c in shown["class"]]
    st.dataframe(blank(shown), hide_index=True, height=300, width="stretch", key="table_mis_billed",
                 column_config=counts(shown, exited_at=st.column_config.DatetimeColumn("exited (UTC)",
                                                                                      format="DD MMM YYYY HH:mm")))
    c = st.columns([3, 1])
    c[0].caption(shown_of(len(found), total, "mis-billed sessions"))
    with c[1]:
        download_all(lambda: all_mis_billed(db_key, f), "mis_billed_sessions", key="csv_mis_billed")
    labels = {sid: f"{sid} · {CLASS_LABELS.get(c, c)}" for sid, c in zip(found["session_id"], found["class"], strict=True)}
    sid = st.selectbox("Drill down to a session", [None, *found["session_id"]], key="drill_session",
                       format_func=lambda s: "choose a session…" if s is None else labels.get(s, s))
    if sid:
        detail_view(load_detail(db_key, sid))


def detail_view(d: q.SessionDetail | None) -> None:
    if d is None:
        st.warning("That session has no finding any more.")
        return
    e, f, s = d.expected, d.finding, d.session
    cur = e.currency or ""
    st.markdown(f"**Session** {md.code(f['session_id'])} at {md.text(d.site.get('name', '–'))} "
                f"({md.text(f['site_id'])}, {md.text(d.site.get('timezone', '–'))}) · customer "
                f"{md.text(mask_customer(s.get('customer_id')) or '–')} · "
                f"class **{CLASS_LABELS.get(f['class'], f['class'])}**")
    c = st.columns(3)
    c[0].metric(label("expected_total"), money(e.total_minor, cur), border=True, help=help_text("expected_total"))
    c[1].metric(label("billed_total"), money(f["billed_total_minor"], f.get("billed_currency") or cur), border=True,
                help=help_text("billed_total"))
    c[2].metric(label("billing_difference"), money(f["difference_minor"], cur), border=True,
                help=help_text("billing_difference"))
    left, right = st.columns(2)
    with left:
        st.markdown("**Expected price, step by step**")
        steps = [
            ("entered (UTC)", s.get("entered_at")), ("exited (UTC)", s.get("exited_at")),
            ("rate plan", e.rate_plan_id), ("minutes", e.minutes), ("grace minutes", e.grace_minutes),
            ("within grace", e.within_grace), ("full days", e.full_days), ("remainder minutes", e.remainder_minutes),
            ("blocks", e.blocks), ("blocks amount", money(e.blocks_minor, cur)),
            ("daily max", money(e.daily_max_minor, cur) if e.daily_max_minor is not None else "none"),
            ("subtotal", money(e.subtotal_minor, cur)), ("local entry date", e.local_entry_date),
            ("tax rate", None if e.tax_rate is None else f"{e.tax_rate * 100:.4g}%"),
            ("tax", money(e.tax_minor, cur)), ("total", money(e.total_minor, cur)),
        ]
        if e.problem:
            steps.append(("problem", e.problem))
        st.dataframe(pd.DataFrame({"step": [k for k, _ in steps], "value": ["–" if v is None else str(v)
                                                                           for _, v in steps]}),
                     hide_index=True, width="stretch", key="table_steps")
    with right:
        st.markdown("**Invoices**")
        if d.invoices.empty:
            st.caption("No invoice for this session.")
        else:
            st.dataframe(blank(with_money(d.invoices, "subtotal_minor", "tax_minor", "total_minor")), hide_index=True,
                         width="stretch", key="table_invoices")
        st.markdown("**Payment attempts**")
        if d.attempts.empty:
            st.caption("No payment attempt.")
        else:
            st.dataframe(blank(with_money(d.attempts, "amount_minor")), hide_index=True, width="stretch",
                         key="table_attempts")


# ---------------------------------------------------------------- page
def main() -> None:
    page = filtered_page("Billing accuracy", EMPTY_HINT,
                         "Each site's own local exit days, both ends included.")
    if page is None:
        return
    db_key, _, f = page
    state = topic_state(db_key, "billing_accuracy", f.start)
    pending_banner(state)
    data = load_figures(db_key, f)
    if not data["totals"]:
        if state.known:
            st.info("No judged sessions in the selection. " + EMPTY_HINT, icon=":material/info:")
        return
    headline(data["totals"])
    trend(data["daily_acc"], data["daily_money"], f)
    st.subheader("Breakdowns")
    class_table(data["classes"], data["class_money"])
    left, right = st.columns(2)
    with left:
        breakdown("By site", data["by_site"], "site")
    with right:
        breakdown("By rate plan", data["by_plan"], "plan")
    mis_billed = sum(t.findings - t.correct for t in data["totals"])  # the headline's count: every row of the list
    mis_billed_section(db_key, f, data["mis_billed"], mis_billed, state)


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
