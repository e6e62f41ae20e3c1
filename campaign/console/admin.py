"""The admin's pages: users and roles, channel settings with a "send test" button.

Every change is a POST carrying the form's CSRF token (checked before each request). The user
rules live in :mod:`campaign.console.admin_users`, the channel page's in
:mod:`campaign.console.admin_channels`.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from campaign.clock import clock_from_config
from campaign.console.admin_channels import SendTestResult, describe_channels, send_test
from campaign.console.admin_users import (
    MIN_PASSWORD,
    NEW_ADVISOR,
    advisor_choices,
    change_role,
    create_user,
    reset_password,
    set_active,
)
from campaign.console.auth import requires
from campaign.console.i18n import select_timezone
from campaign.console.security import protect
from campaign.db import get_session
from campaign.errors import CampaignError
from campaign.models import Role, User

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        protect()


def _users_page(generated: tuple[str, str] | None = None) -> Response:
    session = get_session()
    page = render_template(
        "console/admin/users.html",
        users=list(session.scalars(select(User).order_by(User.username))),
        advisors=advisor_choices(session),
        roles=[role.value for role in Role],
        new_advisor=NEW_ADVISOR,
        min_password=MIN_PASSWORD,
        generated=generated,
    )
    response = Response(page, mimetype="text/html")
    if generated is not None:
        response.headers["Cache-Control"] = "no-store"  # the new password is on this page
    return response


@blueprint.get("/users")
@requires(Role.ADMIN)
def users() -> Response:
    """List console users with their roles; create, change, deactivate, reset passwords."""
    return _users_page()


def _done(message: str) -> Response:
    get_session().commit()
    flash(message)
    return redirect(url_for("admin.users"), 303)


def _refused(exc: CampaignError) -> Response:
    get_session().rollback()
    flash(str(exc), "error")
    return redirect(url_for("admin.users"), 303)


@blueprint.post("/users")
@requires(Role.ADMIN)
def create() -> Response:
    """Create a user with a role (and, for advisors, the advisor they are)."""
    form = request.form
    try:
        user = create_user(
            get_session(),
            username=form.get("username", ""),
            display_name=form.get("display_name", ""),
            role=form.get("role", ""),
            password=form.get("password", ""),
            advisor=form.get("advisor", ""),
        )
    except CampaignError as exc:
        return _refused(exc)
    return _done(_("Created %(role)s %(name)s.", role=user.role, name=user.username))


@blueprint.post("/users/<int:user_id>/role")
@requires(Role.ADMIN)
def role(user_id: int) -> Response:
    """Change a user's role and advisor link."""
    try:
        user = change_role(
            get_session(),
            user_id,
            request.form.get("role", ""),
            request.form.get("advisor", ""),
            acting=current_user,
        )
    except CampaignError as exc:
        return _refused(exc)
    return _done(_("%(name)s is now %(role)s.", name=user.username, role=user.role))


@blueprint.post("/users/<int:user_id>/deactivate")
@requires(Role.ADMIN)
def deactivate(user_id: int) -> Response:
    """Deactivate a user: they are signed out and cannot sign in."""
    try:
        user = set_active(get_session(), user_id, False, acting=current_user)
    except CampaignError as exc:
        return _refused(exc)
    return _done(_("Deactivated %(name)s.", name=user.username))


@blueprint.post("/users/<int:user_id>/reactivate")
@requires(Role.ADMIN)
def reactivate(user_id: int) -> Response:
    """Let a deactivated user sign in again."""
    try:
        user = set_active(get_session(), user_id, True, acting=current_user)
    except CampaignError as exc:
        return _refused(exc)
    return _done(_("Reactivated %(name)s.", name=user.username))


@blueprint.post("/users/<int:user_id>/password")
@requires(Role.ADMIN)
def password(user_id: int) -> Response:
    """Set a user's password to the one typed, or to a new random one shown once."""
    session = get_session()
    try:
        user, generated = reset_password(session, user_id, request.form.get("password", ""))
    except CampaignError as exc:
        return _refused(exc)
    if generated is None:
        return _done(_("Set a new password for %(name)s.", name=user.username))
    username = user.username
    session.commit()
    return _users_page(generated=(username, generated))


def _channels_page(
    tested: tuple[str, SendTestResult] | None = None, recipient: str = ""
) -> str:
    channels, problem = describe_channels(current_app.config)
    return render_template(
        "console/admin/channels.html",
        channels=channels,
        problem=problem,
        tested=tested,
        recipient=recipient,
    )


@blueprint.get("/channels")
@requires(Role.ADMIN)
def channels() -> str:
    """Show which channels are configured and their settings (secrets masked)."""
    return _channels_page()


@blueprint.post("/channels/<name>/test")
@requires(Role.ADMIN)
def test_channel(name: str) -> str:
    """Send a test message through a channel's adapter to the address the admin typed."""
    recipient = request.form.get("recipient", "")
    result = send_test(
        current_app.config,
        name,
        recipient,
        sender=request.form.get("sender", ""),
        who=current_user.display_name,
        timezone=select_timezone(),
        clock=clock_from_config(current_app.config),
    )
    return _channels_page((name, result), recipient)
