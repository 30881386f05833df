"""`revwatch report weekly`: build, write and optionally e-mail the weekly leadership report."""
from __future__ import annotations

import os
from pathlib import Path

import click

from revwatch.cli.common import engine, settings


@click.group()
def report() -> None:
    """The weekly leadership report."""


@report.command("weekly")
@click.option("--week", default=None, help="ISO week, e.g. 2026-W47; default the last complete week.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory the HTML and PDF are written to.")
@click.option("--send", "send_mail", is_flag=True, help="E-mail it to REPORT_RECIPIENTS (SMTP_* settings).")
def report_weekly(week: str | None, out_dir: Path, send_mail: bool) -> None:
    """Build the week's report (stored as a new build), write weekly-<week>.html/.pdf, optionally e-mail it."""
    from metrics.faces import weekly_report as wr

    week = week or wr.last_complete_week()
    try:
        wr.parse_week(week)
    except ValueError as exc:
        raise click.ClickException(f"--week: {exc}") from None
    cfg = settings()
    product = engine(cfg)
    report_id = wr.build(product, week, cfg, built_by=f"cli:{os.environ.get('USER', 'unknown')}")
    built = wr.report(product, report_id)
    if built is None:
        raise click.ClickException(f"report {report_id} for {week} was built but cannot be read back")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"weekly-{built.iso_week}.html").write_text(built.html, encoding="utf-8")
    (out_dir / f"weekly-{built.iso_week}.pdf").write_bytes(built.pdf)
    click.echo(f"report {built.report_id} for {built.iso_week}: {out_dir / f'weekly-{built.iso_week}'}.html/.pdf")
    if send_mail:
        try:
            to = wr.send(product, built, cfg)
        except (ValueError, OSError) as exc:
            raise click.ClickException(f"not sent: {exc}") from None
        click.echo(f"e-mailed to {', '.join(to)}")
