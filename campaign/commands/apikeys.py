"""``campaign apikeys create|list|revoke``: the keys integrations call the REST API with."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from campaign.apikeys import Scope, create_key, list_keys, revoke_key
from campaign.clock import clock_from_config
from campaign.commands.errors import reports_user_errors
from campaign.db import session_scope

SCOPE_NAMES = [scope.value for scope in Scope]


@click.group("apikeys")
def apikeys() -> None:
    """Create, list and revoke API keys (Authorization: Bearer <key>)."""


@apikeys.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPE_NAMES),
    help="What the key may do; repeat for several.",
)
@click.option("--all-scopes", is_flag=True, help="Every scope (for a trusted integration).")
@with_appcontext
@reports_user_errors
def create_command(name: str, scopes: tuple[str, ...], all_scopes: bool) -> None:
    """Create a key called NAME and print it once: it cannot be shown again."""
    chosen = SCOPE_NAMES if all_scopes else list(scopes)
    now = clock_from_config(current_app.config).now()
    with session_scope() as session:
        created = create_key(session, name, chosen, now=now)
        prefix, granted = created.key.prefix, created.key.scopes
    click.echo(f"created API key '{name}' ({prefix}) with scopes: {granted}")
    click.echo("Store it now; it is not shown again:")
    click.echo(created.token)


@apikeys.command("list")
@click.option("--active", is_flag=True, help="Leave out revoked keys.")
@with_appcontext
@reports_user_errors
def list_command(active: bool) -> None:
    """List keys: prefix, name, scopes, when created, last used and revoked."""
    with session_scope() as session:
        rows = [
            (
                key.prefix,
                key.name,
                f"{key.created_at:%Y-%m-%d %H:%M}",
                f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
                f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active",
                key.scopes,
            )
            for key in list_keys(session, include_revoked=not active)
        ]
    if not rows:
        click.echo("no API keys yet; create one with 'campaign apikeys create NAME --scope ...'")
        return
    click.echo(f"{'prefix':<12}  {'name':<20} {'created':<16}  {'last used':<16}  state / scopes")
    for prefix, name, created, used, state, scopes in rows:
        click.echo(f"{prefix:<12}  {name:<20} {created:<16}  {used:<16}  {state}: {scopes}")


@apikeys.command("revoke")
@click.argument("prefix")
@with_appcontext
@reports_user_errors
def revoke_command(prefix: str) -> None:
    """Revoke the key whose prefix is PREFIX; requests with it fail from now on."""
    now = clock_from_config(current_app.config).now()
    with session_scope() as session:
        key = revoke_key(session, prefix, now=now)
        name, revoked_at = key.name, key.revoked_at
    if revoked_at != now:
        click.echo(
            f"API key '{name}' ({prefix}) was already revoked on {revoked_at:%Y-%m-%d %H:%M}"
        )
        return
    click.echo(f"revoked API key '{name}' ({prefix})")
