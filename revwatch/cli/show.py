"""`revwatch show TOPIC`: a page's figures from the same metrics/ queries, as a table, csv or json."""
from __future__ import annotations

import re
from datetime import date

import click

from revwatch.cli.common import EXIT_NOT_COMPUTED, engine, settings
from revwatch.recon_keys import BREAK_TYPES, ITEM_TYPES
from revwatch.work_items import TEAMS, WORK_TYPE_NAMES

# every topic and what it prints, one line each (`revwatch show --help`; README's "revwatch show" has the columns)
SHOW_TOPICS: dict[str, str] = {
    "overview": "the Overview KPIs: sessions, payment success, failures, revenue to date per currency",
    "payments": "attempts and their success per day, gateway and currency; invoices paid first try or later",
    "declines": "failed attempts per gateway and failure code, with each code's share",
    "billing": "billing accuracy, leakage and overcharge per currency and error class",
    "misbilled": "every mis-billed session, biggest difference first",
    "breaks": "every open reconciliation break, most money at stake first",
    "close": "month-close readiness per stage and currency (--month), beside its sign-off snapshot",
    "health": "each job's last run, outcome, duration and freshness; --by source: each source's newest data; --by load: each first load's progress",
    "refunds": "refunds per currency, with the week before",
    "disputes": "dispute ratio per card network and month",
    "queue": "every open item that needs a person (the Work queue), soonest due first; --by type: counts per type;"
             " --by resolution|team|trend: time to assign and resolve",
    "actions": "what resolving each queue item takes, per action type; --by TYPE: that type's rows, to export",
}
HELP = f"""Print a page's figures (the same metrics/ queries): table for people, csv or json for machines.

\b
Topics:
{chr(10).join(f"  {name:10} {line}" for name, line in SHOW_TOPICS.items())}

A table fits 120 columns: wider ones leave out their less important columns (stderr names them), --wide
prints them all; csv and json always carry every row and column, money in integer minor units (`*_minor`).
Figures whose jobs have not yet run over the data ("not computed yet") are still printed, but stderr says why
and the command exits {EXIT_NOT_COMPUTED}; with no rows the table says "(nothing found)" only when they are
known.

\b
Exit codes: 0 the figures; {EXIT_NOT_COMPUTED} the figures, not computed yet (may be partial);
1 the database cannot be read; 2 a wrong argument."""


def _date_option(ctx, param, value):
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _month_option(ctx, param, value):
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month (YYYY-MM)") from None


def _currency_option(ctx, param, value):
    if value is None:
        return None
    from revwatch.money import CURRENCY_EXPONENTS

    if value.upper() not in CURRENCY_EXPONENTS:
        raise click.BadParameter(f"unknown currency {value!r}")
    return value.upper()


class _Problem(click.ClickException):
    """A wrong argument, said in one line (`Error: …`, exit 2 as click's usage errors)."""

    exit_code = 2


class _OneLineUsageErrors(click.Command):
    """Usage errors as one line, without the usage text: a script's log keeps the line that matters."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _Problem(exc.format_message()) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _Problem(exc.format_message()) from None


@click.command(cls=_OneLineUsageErrors, help=HELP)
@click.argument("topic", type=click.Choice(tuple(SHOW_TOPICS)), metavar="TOPIC")
@click.option("--from", "start", callback=_date_option, help="First local day (YYYY-MM-DD); default 30 days before --to.")
@click.option("--to", "end", callback=_date_option, help="Last local day, included (YYYY-MM-DD); default the last day with data.")
@click.option("--site", "sites", multiple=True, help="Site id (repeatable).")
@click.option("--region", "regions", multiple=True, help="Region name (repeatable).")
@click.option("--currency", callback=_currency_option, help="Only rows in this ISO 4217 currency.")
@click.option("--by", help="Another grouping: payments method|brand|site|region|decline_class; refunds "
              "reason|day; disputes currency|reason; close currency|age|reasons|fx_gaps|adjustments; health source|load;"
              " queue type|resolution|team|trend; actions refund_customer|reinvoice|record_payment|"
              "refund_double_charge|retry_refund|submit_evidence|post_journal|investigate_break.")
@click.option("--month", callback=_month_option, help="close: accounting month (YYYY-MM).")
@click.option("--stage", "stages", multiple=True, type=click.Choice(("S1", "S2", "S3", "S4")),
              help="breaks: reconciliation stage (repeatable).")
@click.option("--break-type", "break_types", multiple=True, type=click.Choice(BREAK_TYPES),
              help="breaks: the kind of break (repeatable).")
@click.option("--item-type", "item_types", multiple=True, type=click.Choice(ITEM_TYPES),
              help="breaks: what the item is (repeatable); `--stage S3 --item-type payout --break-type missing` "
                   "lists the payouts missing in the bank, as the PayoutMissingInBank alert counts them.")
@click.option("--type", "work_types", multiple=True, type=click.Choice(WORK_TYPE_NAMES),
              help="queue: the kind of work item (repeatable).")
@click.option("--team", "teams", multiple=True, type=click.Choice(TEAMS), help="queue: the team that works it (repeatable).")
@click.option("--owner", "owners", multiple=True,
              help="queue: whose items (repeatable); `(unassigned)` for the items nobody owns yet.")
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True)
@click.option("--wide", is_flag=True, help="table: every column, however wide (by default a table fits 120 columns).")
def show(topic, start, end, sites, regions, currency, by, month, stages, break_types, item_types, work_types, teams,
         owners, fmt, wide) -> None:
    import psycopg
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from metrics.faces import show as sh
    from metrics.faces import show_format
    from metrics.figures.query import snapshot

    if start is not None and end is not None and end < start:
        raise click.BadParameter(f"{end} is before --from {start}", param_hint="--to")
    given = {"--from": start, "--to": end, "--site": sites, "--region": regions, "--currency": currency}
    for name in sh.NOT_NARROWED_BY.get(topic, ()):
        if given[name]:
            raise click.BadParameter(f"{topic} cannot be narrowed by {name}", param_hint=name)
    if month is not None and topic != "close":
        raise click.BadParameter(f"--month applies to close only, not {topic}", param_hint="--month")
    for name, value in (("--stage", stages), ("--break-type", break_types), ("--item-type", item_types)):
        if value and topic != "breaks":
            raise click.BadParameter(f"{name} applies to breaks only, not {topic}", param_hint=name)
    for name, value in (("--type", work_types), ("--team", teams), ("--owner", owners)):
        if value and topic not in ("queue", "actions"):
            raise click.BadParameter(f"{name} applies to queue and actions only, not {topic}", param_hint=name)
    if by is not None and by not in sh.GROUPINGS.get(topic, ()):
        choices = ", ".join(sh.GROUPINGS.get(topic, ())) or "none"
        raise click.BadParameter(f"{topic} cannot be grouped by {by!r} (choices: {choices})", param_hint="--by")
    cfg = settings()
    options = sh.Options(start=start, end=end, site_ids=tuple(sites), regions=tuple(regions), currency=currency,
                         by=by, month=month, cfg=cfg, stages=tuple(stages), break_types=tuple(break_types),
                         item_types=tuple(item_types), work_types=tuple(work_types), teams=tuple(teams),
                         owners=tuple(owners))
    try:
        with snapshot(engine(cfg)) as conn:  # every figure of the command from one moment, read-only
            rows = sh.TOPICS[topic](conn, options)
            state = sh.state(conn, topic, options)
    except ValueError as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    except OperationalError as exc:  # one line for a script's log, never a traceback
        raise click.ClickException(f"cannot reach the database: {str(exc.orig).splitlines()[0]}") from None
    except ProgrammingError as exc:
        if isinstance(exc.orig, psycopg.errors.UndefinedTable):
            raise click.ClickException("the database has no Revwatch tables yet: run `revwatch db upgrade`") from None
        raise
    if currency and "currency" not in rows.columns:
        raise click.BadParameter(f"{topic}{f' --by {by}' if by else ''} rows have no currency to narrow by",
                                 param_hint="--currency")
    known = state is None or state.known
    if fmt != "table":
        click.echo(show_format.render(rows, fmt))
    else:
        table = show_format.table(rows, None if wide else show_format.TABLE_WIDTH, sh.LESS_IMPORTANT.get(topic, ()),
                                  show_format.NOTHING_FOUND if known else show_format.NOT_COMPUTED_YET)
        click.echo(table.text)
        if table.left_out:
            click.echo(f"Left out to fit {show_format.TABLE_WIDTH} columns: {', '.join(table.left_out)}"
                       " (--wide shows them; csv and json carry every column).", err=True)
    if state is not None and not state.known:
        click.echo(state.message + " The figures above may be incomplete until it has.", err=True)
        raise click.exceptions.Exit(EXIT_NOT_COMPUTED)
