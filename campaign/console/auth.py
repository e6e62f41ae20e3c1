"""Sign-in, roles, and who may see what.

Every console view states its roles with :func:`requires`; views that show one learner or task
also call :func:`check_enrollment` / :func:`check_task`, so an advisor can open only their own
learners and tasks (the same rule the tests check at the HTTP level).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from campaign.console.security import limiter, protect
from campaign.db import get_session
from campaign.models import Enrollment, Role, Task, User

blueprint = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"

F = TypeVar("F", bound=Callable[..., Any])

START_PAGES = {
    Role.ADVISOR: "advisor.queue",
    Role.MARKETER: "marketer.cohorts",
    Role.ADMIN: "admin.users",
}


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Reload the signed-in user for each request (an inactive user is signed out)."""
    user = get_session().get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def start_page(user: User) -> str:
    """Return the endpoint a role starts on."""
    return START_PAGES[Role(user.role)]


def requires(*roles: Role) -> Callable[[F], F]:
    """Let only signed-in users with one of ``roles`` (admins always) through."""

    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user.role is not Role.ADMIN and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def sees_all() -> bool:
    """Tell whether the viewer sees every cohort (marketers and admins) or only their own."""
    return bool(current_user.role in (Role.ADMIN, Role.MARKETER))


def check_enrollment(enrollment: Enrollment | None) -> Enrollment:
    """Return the enrollment if the viewer may see it; 404 otherwise (no hint it exists)."""
    if enrollment is None:
        abort(404)
    if not sees_all() and enrollment.advisor_id != current_user.advisor_id:
        abort(404)
    return enrollment


def check_task(task: Task | None) -> Task:
    """Return the task if the viewer may act on it; 404 otherwise."""
    if task is None:
        abort(404)
    if not sees_all() and task.advisor_id != current_user.advisor_id:
        abort(404)
    return task


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        protect()


def _login_key() -> str:
    return f"{request.remote_addr}:{request.form.get('username', '')}"


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: str(limiter_limit()), key_func=_login_key, methods=["POST"])
def login() -> Any:
    """Sign in with a username and password."""
    if request.method == "POST":
        session = get_session()
        username = request.form.get("username", "").strip()
        user = session.scalar(select(User).where(User.username == username))
        if (
            user is not None
            and user.active
            and user.check_password(request.form.get("password", ""))
        ):
            login_user(user)
            user.last_login_at = datetime.now(UTC)
            session.commit()
            return redirect(url_for(start_page(user)))
        flash(_("Wrong username or password."), "error")
    return render_template("console/login.html")


def limiter_limit() -> str:
    from flask import current_app

    return str(current_app.config["LOGIN_RATE_LIMIT"])


@blueprint.post("/logout")
@login_required
def logout() -> Response:
    """Sign out."""
    logout_user()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Install Flask-Login and the sign-in pages."""
    login_manager.init_app(app)
    app.register_blueprint(blueprint)
