"""Reports: the weekly leadership report. Pick a week, preview its newest build (the whole report,
in a frame sized to it), download the HTML or PDF, see every build of it (who, when, e-mailed to
whom), build it now.

Reads and builds only through `metrics.faces.weekly_report` (no SQL here)."""
from __future__ import annotations

import streamlit as st

from metrics.faces import weekly_report as wr
from pages.common import engine as _engine
from pages.common import load_or_stop, signin
from pages.common import markdown as md
from revwatch.settings import load_settings


def main() -> None:
    st.title("Weekly report")
    cfg = load_settings()
    engine = _engine(cfg.database_url)
    weeks = load_or_stop(wr.weeks, engine)
    default = wr.last_complete_week()
    options = sorted(set(weeks) | {default}, reverse=True)
    week = st.selectbox("ISO week", options, index=options.index(default), key="report_week")

    if st.button("Build now", key="report_build", icon=":material/build:"):
        with st.spinner(f"Building the report for {week}…"):
            wr.build(engine, week, cfg, built_by=signin.current().actor)
        st.success(f"Built the report for {week}.")

    rep = wr.current(engine, week)
    if rep is None:
        st.info(f"No report has been built for {week} yet: press Build now, or run "
                f"`revwatch report weekly --week {week}`.", icon=":material/info:")
        return
    st.caption(f"Newest build: #{rep.report_id}, {rep.built_at:%Y-%m-%d %H:%M} UTC by {md.text(rep.built_by)}"
               + (f"; e-mailed to {md.text(rep.emailed_to)} at {rep.emailed_at:%Y-%m-%d %H:%M} UTC" if rep.emailed_at else ""))
    left, right = st.columns(2)
    left.download_button("Download HTML", rep.html, file_name=f"weekly-{rep.iso_week}.html", mime="text/html",
                         key="report_html")
    right.download_button("Download PDF", rep.pdf, file_name=f"weekly-{rep.iso_week}.pdf", mime="application/pdf",
                          key="report_pdf")
    # the whole report, sized to its content (a fixed height cut the second chart off); the HTML is the
    # report's own rendering (metrics/faces/weekly_report.py, every value escaped), stored by `build`
    st.iframe(rep.html, width="stretch", height="content")

    st.subheader("Builds of this week")
    st.dataframe(wr.history(engine, week), hide_index=True, width="stretch", column_config={
        "report_id": "Build", "iso_week": "Week", "built_at": st.column_config.DatetimeColumn("Built at (UTC)"),
        "built_by": "By", "emailed_to": "E-mailed to", "emailed_at": st.column_config.DatetimeColumn("E-mailed at")})


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
