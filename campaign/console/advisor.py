"""The advisor's pages: today's task queue first."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from campaign.clock import clock_from_config
from campaign.console.auth import requires, sees_all
from campaign.console.security import protect
from campaign.db import get_session
from campaign.models import Role
from campaign.tasks import task_queue

blueprint = Blueprint("advisor", __name__, url_prefix="/advisor")


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        protect()


def now() -> Any:
    """Return "now" on the engine's clock (warped in demos)."""
    return clock_from_config(current_app.config).now()


@blueprint.get("/tasks")
@requires(Role.ADVISOR)
def queue() -> str:
    """Show the advisor's open tasks, soonest deadline first, with the time left on each."""
    advisor_id = current_user.advisor_id
    if advisor_id is None and not sees_all():
        abort(403)
    tasks = task_queue(get_session(), advisor_id=advisor_id)
    current = now()
    rows = [(task, int((task.due_at - current).total_seconds() // 60)) for task in tasks]
    return render_template("console/advisor/queue.html", rows=rows)
