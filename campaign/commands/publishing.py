"""``campaign journeys publish|versions|diff``: store journey versions and look at them."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from campaign.commands.errors import read_source, reports_user_errors
from campaign.db import session_scope
from campaign.publishing import (
    JourneyHasErrors,
    diff_versions,
    find_journey,
    latest_version,
    list_versions,
    publish_journey,
)


@click.command("publish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
@reports_user_errors
def publish(path: str) -> None:
    """Lint the journey at PATH and store it as the journey's next version.

    Publishing content that is already stored (comments and layout do not count) changes
    nothing. A journey with lint errors is refused; warnings are allowed.
    """
    text = read_source(path)
    with session_scope() as session:
        try:
            version, created = publish_journey(session, text, path)
        except JourneyHasErrors as exc:
            for finding in exc.findings:
                click.echo(finding.format(), err=True)
            raise
        key = version.journey.key
        latest = latest_version(session, version.journey)
    if created:
        click.echo(f"published {key} version {version.number} ({version.short_hash}) from {path}")
        return
    click.echo(
        f"unchanged: {path} is already {key} version {version.number} ({version.short_hash}); "
        "nothing published"
    )
    if latest.number != version.number:
        click.echo(
            f"note: the latest version is {latest.number}, and new cohorts open on it; to make "
            "this content the latest, change the file and publish again"
        )


@click.command("versions")
@click.argument("key")
@with_appcontext
@reports_user_errors
def versions(key: str) -> None:
    """List the published versions of journey KEY, oldest first."""
    with session_scope() as session:
        rows = list_versions(session, key)
        title = find_journey(session, key).title
    click.echo(f"{key}: {title}")
    for row in rows:
        published = row.published_at.strftime("%Y-%m-%d %H:%M UTC")
        latest = "  (latest)" if row is rows[-1] else ""
        click.echo(f"  v{row.number:<3} {row.short_hash}  {published}  {row.filename}{latest}")


@click.command("diff")
@click.argument("key")
@click.argument("a")
@click.argument("b")
@with_appcontext
@reports_user_errors
def diff(key: str, a: str, b: str) -> None:
    """Show what changed in journey KEY from version A to version B.

    Name a version by its number (2 or v2) or by the first digits of its hash.
    """
    with session_scope() as session:
        result = diff_versions(session, key, a, b)
    click.echo(f"{key} v{result.old.number} -> v{result.new.number}")
    click.echo(result.summary())
    if result.unified:
        click.echo("")
        click.echo(result.unified)
