"""``campaign users``: console accounts (admin, marketer, advisor)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from campaign.commands.errors import reports_user_errors
from campaign.db import session_scope
from campaign.errors import CampaignError
from campaign.models import Advisor, Role, User


@click.group("users")
def users() -> None:
    """Create and list console users."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", help="Shown in the console [default: the username].")
@click.option("--advisor", "advisor_id", type=int, help="The Advisor an advisor user is (an id).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given.",
)
@with_appcontext
@reports_user_errors
def create(
    username: str, role: str, display_name: str | None, advisor_id: int | None, password: str
) -> None:
    """Create console user USERNAME with a role."""
    if len(password) < 8:
        raise CampaignError("the password needs at least 8 characters")
    with session_scope() as session:
        if session.scalar(select(User.id).where(User.username == username)):
            raise CampaignError(f"user '{username}' already exists")
        if Role(role) is Role.ADVISOR and advisor_id is None:
            raise CampaignError("an advisor user needs --advisor ID (the advisor they are)")
        if advisor_id is not None and session.get(Advisor, advisor_id) is None:
            raise CampaignError(f"advisor {advisor_id} does not exist")
        user = User(
            username=username,
            display_name=display_name or username,
            role=Role(role),
            advisor_id=advisor_id,
        )
        user.set_password(password)
        session.add(user)
    click.echo(f"created {role} '{username}'")


@users.command("list")
@with_appcontext
@reports_user_errors
def list_users() -> None:
    """List console users."""
    with session_scope() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            state = "" if user.active else " (inactive)"
            click.echo(f"{user.username}\t{user.role}\t{user.display_name}{state}")
