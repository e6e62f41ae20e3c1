"""``campaign cohorts open|list``: runs of a journey, each pinned to a version."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import with_appcontext

from campaign.cohorts import list_cohorts, open_cohort
from campaign.commands.errors import reports_user_errors
from campaign.db import session_scope


@click.group("cohorts")
def cohorts() -> None:
    """Open and list cohorts (营期)."""


@cohorts.command("open")
@click.argument("key")
@click.option(
    "--starts-on",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The camp's first day (D1), as YYYY-MM-DD.",
)
@click.option("--timezone", help="IANA timezone of the cohort's clock [default: the journey's].")
@click.option("--title", help="[default: the journey's title and the start date]")
@click.option("--capacity", type=click.IntRange(min=1), help="Most learners it takes.")
@with_appcontext
@reports_user_errors
def open_command(
    key: str,
    starts_on: datetime,
    timezone: str | None,
    title: str | None,
    capacity: int | None,
) -> None:
    """Open a cohort of journey KEY on its latest published version."""
    with session_scope() as session:
        cohort = open_cohort(
            session,
            key,
            starts_on.date(),
            timezone=timezone,
            title=title,
            capacity=capacity,
        )
        version = cohort.version
    limit = f", capacity {cohort.capacity}" if cohort.capacity is not None else ""
    click.echo(
        f"opened cohort {cohort.id} '{cohort.title}': {key} version {version.number} "
        f"({version.short_hash}), D1 is {cohort.starts_on:%A %Y-%m-%d}, {cohort.timezone}{limit}"
    )


@cohorts.command("list")
@click.argument("key", required=False)
@with_appcontext
@reports_user_errors
def list_command(key: str | None) -> None:
    """List cohorts, soonest first, of journey KEY or of every journey."""
    with session_scope() as session:
        rows = list_cohorts(session, key)
        lines = [
            f"{c.id:>4}  {c.journey.key:<20} v{c.version.number:<3} {c.starts_on}  "
            f"{c.timezone:<18} {c.state.value:<7} {c.capacity if c.capacity else '-':>8}  {c.title}"
            for c in rows
        ]
    if not lines:
        click.echo("no cohorts yet; open one with 'campaign cohorts open KEY --starts-on DATE'")
        return
    click.echo(
        f"{'id':>4}  {'journey':<20} {'ver':<4} {'starts_on':<10}  {'timezone':<18} "
        f"{'state':<7} {'capacity':>8}  title"
    )
    for line in lines:
        click.echo(line)
