"""The weekly leadership report as something people (and the scheduler) do: build a week's report
and store it, read builds back, e-mail one.

- `figures(db, iso_week, cfg)`: the week's figures (metrics/figures/weekly_report.py) with the
  alerts Alertmanager holds for the week (metrics/clients/alerting.py), when it is configured: the
  report never fails for want of them, and says why they are missing.
- `build(engine, iso_week, cfg, built_by, render)`: figures, rendered by `render` (the face,
  metrics/faces/weekly_report.py, passes its own: actions never import faces), stored as a new
  `weekly_reports` row. Every build is kept; the newest per week is the current one. The figures
  carry an anchor of the audit log's head, which is also appended to the anchor file
  (revwatch/audit_anchors.py; a file that cannot be written is logged, the report still stored).
- `send(engine, report, cfg)`: e-mails one stored build (metrics/clients/smtp.py) and records it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Engine, Row, text

from metrics.clients import alerting, smtp
from metrics.figures import weekly_report as wf
from metrics.figures.query import Db, read_frame, snapshot
from revwatch import audit_anchors, clock
from revwatch.settings import Settings

log = logging.getLogger("revwatch.reports")


class Rendered(NamedTuple):
    html: str
    pdf: bytes


Render = Callable[[wf.WeeklyFigures], Rendered]


@dataclass(frozen=True)
class StoredReport:
    report_id: int
    iso_week: str
    week_start: date
    built_at: datetime
    built_by: str
    figures: dict[str, Any]
    html: str
    pdf: bytes
    emailed_to: str | None = None
    emailed_at: datetime | None = None


# ---------------------------------------------------------------- figures with alerts
def week_alerts(cfg: Settings, iso_week: str, as_of: datetime | None = None) -> wf.Alerts:
    """The alerts that fired during the week or were still firing when it began, one line each,
    as Alertmanager holds them at `as_of` (default now); without ALERTMANAGER_URL, or when
    Alertmanager cannot be read, no lines and a note saying why (the report never fails for them)."""
    if not cfg.alertmanager_url:
        return wf.NO_ALERTS
    got = alerting.managed_alerts(cfg.alertmanager_url)
    if isinstance(got, alerting.Unavailable):
        return wf.Alerts(None, f"The alerts of the week cannot be listed: {got.message}")
    as_of = as_of or clock.now()
    week_open, week_close = wf.week_open(iso_week), wf.week_close(iso_week)
    fired = [a for a in got if a.starts_at is None or week_open <= a.starts_at < week_close
             or (a.starts_at < week_open and (a.ends_at is None or a.ends_at >= week_open))]
    fired.sort(key=lambda a: (alerting.severity_rank(a.severity), a.starts_at or week_open, a.name))

    def line(a: alerting.ManagedAlert) -> str:
        when = f" on {a.starts_at:%a %d %b %H:%M} UTC" if a.starts_at else ""
        ended = (f", resolved {a.ends_at:%a %d %b %H:%M} UTC" if a.ends_at is not None and a.ends_at <= as_of
                 else ", still firing")
        return f"{a.name} ({a.severity or 'no severity'}) fired{when}{ended}{': ' + a.summary if a.summary else ''}."

    return wf.Alerts(tuple(line(a) for a in fired),
                     f"{len(fired)} alert(s) from Alertmanager ({alerting.public_url(cfg.alertmanager_url)}). "
                     "Alertmanager keeps only the alerts firing or recently resolved when the report is built: "
                     "one that fired and resolved long before is not listed.")


def figures(db: Db, iso_week: str, cfg: Settings, as_of: datetime | None = None) -> wf.WeeklyFigures:
    """Every figure of the report for `iso_week`, alerts included; states judged at `as_of` (default now)."""
    as_of = as_of or clock.now()
    return wf.figures(db, iso_week, cfg, as_of, week_alerts(cfg, iso_week, as_of))


# ---------------------------------------------------------------- build and store
def store(engine: Engine, f: wf.WeeklyFigures, rendered: Rendered, built_by: str) -> int:
    """One build of the week's report (figures, HTML, PDF) as a new row; its report_id."""
    with engine.begin() as conn:
        return int(conn.execute(text("""
            INSERT INTO weekly_reports (iso_week, week_start, built_at, built_by, figures, html, pdf)
            VALUES (:w, :s, :at, :by, CAST(:fig AS jsonb), :html, :pdf) RETURNING report_id"""),
            {"at": clock.now(), "w": f.iso_week, "s": f.week_start, "by": built_by, "fig": json.dumps(f.to_json()),
             "html": rendered.html, "pdf": rendered.pdf}).scalar_one())


def build(engine: Engine, iso_week: str, cfg: Settings, built_by: str, render: Render) -> int:
    """Compute (every figure from one read-only snapshot), render and store one build of the week's report;
    its report_id."""
    with snapshot(engine) as conn:
        f = figures(conn, iso_week, cfg)
    report_id = store(engine, f, render(f), built_by)
    if f.audit_head is not None:
        try:
            audit_anchors.append_file(cfg.audit_anchor_path, f.audit_head)
        except OSError as exc:
            log.warning("weekly report #%d: the audit log's head could not be anchored in %s: %s", report_id,
                        cfg.audit_anchor_path, exc.strerror or exc)
    return report_id


# ---------------------------------------------------------------- read back
_COLS = "report_id, iso_week, week_start, built_at, built_by, figures, html, pdf, emailed_to, emailed_at"


def _report(row: Row) -> StoredReport:
    d = dict(row._mapping)
    d["pdf"] = bytes(d["pdf"])
    return StoredReport(**d)


def report(db: Db, report_id: int) -> StoredReport | None:
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return report(conn, report_id)
    row = db.execute(text(f"SELECT {_COLS} FROM weekly_reports WHERE report_id = :id"), {"id": report_id}).first()
    return _report(row) if row else None


def current(db: Db, iso_week: str) -> StoredReport | None:
    """The newest build of the week (the current report), or None."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return current(conn, iso_week)
    row = db.execute(text(f"SELECT {_COLS} FROM weekly_reports WHERE iso_week = :w "
                          "ORDER BY built_at DESC, report_id DESC LIMIT 1"), {"w": iso_week}).first()
    return _report(row) if row else None


def history(db: Db, iso_week: str | None = None) -> pd.DataFrame:
    """Builds, newest first: report_id, iso_week, built_at, built_by, emailed_to, emailed_at."""
    return read_frame(db, """
        SELECT report_id, iso_week, built_at, built_by, emailed_to, emailed_at FROM weekly_reports
        WHERE CAST(:w AS text) IS NULL OR iso_week = CAST(:w AS text)
        ORDER BY built_at DESC, report_id DESC""", {"w": iso_week})


# ---------------------------------------------------------------- e-mail
def recipients(cfg: Settings) -> list[str]:
    return [r.strip() for r in (cfg.report_recipients or "").split(",") if r.strip()]


def send(engine: Engine, rep: StoredReport, cfg: Settings) -> list[str]:
    """E-mail one stored build (HTML body, PDF attached) to REPORT_RECIPIENTS, and record it."""
    to = recipients(cfg)
    if not smtp.configured(cfg) or not to:
        raise ValueError("set SMTP_HOST and REPORT_RECIPIENTS to send the weekly report")
    smtp.send(cfg, to, f"Revwatch weekly report {rep.iso_week}",
              f"The Revwatch weekly report for {rep.iso_week} is attached as PDF.", rep.html,
              (smtp.Attachment(f"weekly-{rep.iso_week}.pdf", rep.pdf, "application", "pdf"),))
    with engine.begin() as conn:
        conn.execute(text("UPDATE weekly_reports SET emailed_to = :to, emailed_at = :at WHERE report_id = :id"),
                     {"to": ", ".join(to), "at": clock.now(), "id": rep.report_id})
    return to
