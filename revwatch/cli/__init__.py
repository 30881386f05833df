"""The `revwatch` command: wires settings, database, demo world, collectors, metrics and dashboard.

The one place allowed to import every layer (DESIGN.md "Layout"). Each topic is a module of its own:
database.py (db, audit), collect.py (demo, collect), supervise.py (worker, dashboard, up),
metrics_server.py (/metrics), report.py, show.py and bench.py.
"""
from __future__ import annotations

import click

from revwatch.cli import bench, collect, database, report, show, supervise
from revwatch.cli.supervise import dashboard_environment, streamlit_flags

__all__ = ["dashboard_environment", "main", "streamlit_flags"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Revwatch: revenue observability, from parking session to accounting close."""


main.add_command(database.db)
main.add_command(database.audit)
main.add_command(collect.demo)
main.add_command(collect.collect)
main.add_command(supervise.worker)
main.add_command(supervise.dashboard)
main.add_command(supervise.up)
main.add_command(report.report)
main.add_command(show.show)
main.add_command(bench.bench)
