"""The admin's pages: users and roles, channel settings."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from campaign.console.auth import requires
from campaign.console.security import protect
from campaign.db import get_session
from campaign.messages.channels.registry import build_channels
from campaign.models import Role, User

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        protect()


@blueprint.get("/users")
@requires(Role.ADMIN)
def users() -> str:
    """List console users and their roles."""
    rows = list(get_session().scalars(select(User).order_by(User.username)))
    return render_template("console/admin/users.html", users=rows)


@blueprint.get("/channels")
@requires(Role.ADMIN)
def channels() -> str:
    """Show which channels are configured (secrets are never shown)."""
    configured = build_channels(current_app.config)
    return render_template("console/admin/channels.html", channels=sorted(configured))
