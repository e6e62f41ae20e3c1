"""``campaign db upgrade|downgrade|current``: Alembic migrations on the app's DATABASE_URL."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from campaign import migrations
from campaign.commands.errors import reports_user_errors


def _url() -> str:
    return str(current_app.config["DATABASE_URL"])


def _describe(revision: str | None) -> str:
    head = migrations.head_revision()
    if revision is None:
        return "empty (never migrated); run 'campaign db upgrade'"
    if revision == head:
        return f"{revision} (head)"
    return f"{revision} (head is {head}; run 'campaign db upgrade')"


@click.group("db")
def db() -> None:
    """Create and migrate the database (CAMPAIGN_DATABASE_URL, default SQLite in instance/)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@with_appcontext
@reports_user_errors
def upgrade(revision: str, sql: bool) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    migrations.upgrade(_url(), revision, sql=sql)
    if not sql:
        revision_now = migrations.current_revision(_url())
        click.echo(f"database {migrations.display_url(_url())} is at {_describe(revision_now)}")


@db.command("downgrade")
@click.argument("revision")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@with_appcontext
@reports_user_errors
def downgrade(revision: str, sql: bool) -> None:
    """Migrate the database down to REVISION ('base' drops every table: all data is lost)."""
    migrations.downgrade(_url(), revision, sql=sql)
    if not sql:
        revision_now = migrations.current_revision(_url())
        click.echo(f"database {migrations.display_url(_url())} is at {_describe(revision_now)}")


@db.command("current")
@with_appcontext
@reports_user_errors
def current() -> None:
    """Show the revision the database is at."""
    click.echo(
        f"database {migrations.display_url(_url())} is at "
        f"{_describe(migrations.current_revision(_url()))}"
    )
