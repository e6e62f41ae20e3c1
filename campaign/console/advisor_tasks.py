"""One task: the rendered script with a copy button, the learner beside it, and the actions
sent, skipped (with a reason) and postpone."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import flash, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from campaign.console.advisor_common import (
    TASK_STATUS_LABELS,
    _,
    back,
    blueprint,
    form_token,
    label,
    load_enrollment,
    load_task,
    now,
    step_label,
    time_left,
)
from campaign.console.advisor_context import learner_context
from campaign.console.auth import requires
from campaign.console.i18n import viewer_zone
from campaign.db import get_session
from campaign.errors import CampaignError
from campaign.learners.replies import REPLY_STEP
from campaign.models import Enrollment, Role, Task
from campaign.tasks import OPEN_STATUSES, mark_sent, mark_skipped, postpone

POSTPONE_CHOICES = {
    "30m": _l("30 minutes"),
    "2h": _l("2 hours"),
    "tomorrow": _l("tomorrow 09:00"),
}
SKIP_REASONS = (
    _l("learner asked for a break"),
    _l("already talked today"),
    _l("learner left the camp"),
    _l("message no longer fits"),
)
TOMORROW_AT = time(9, 0)


def postpone_until(choice: str, current: datetime) -> datetime | None:
    """Return when a postponed task comes back: 30 min, 2 h, or 09:00 tomorrow (viewer's time)."""
    if choice == "30m":
        return current + timedelta(minutes=30)
    if choice == "2h":
        return current + timedelta(hours=2)
    if choice == "tomorrow":
        tz = viewer_zone()
        tomorrow = current.astimezone(tz).date() + timedelta(days=1)
        return datetime.combine(tomorrow, TOMORROW_AT, tzinfo=tz)
    return None


def visible_enrollment(task: Task) -> Enrollment | None:
    """Return the task's enrollment if the viewer may see it (a moved learner: no context)."""
    if task.enrollment_id is None:
        return None
    try:
        return load_enrollment(task.enrollment_id)
    except NotFound:
        return None


@blueprint.get("/tasks/<int:task_id>")
@requires(Role.ADVISOR)
def task(task_id: int) -> str:
    """Show a task: its script to copy, a voice hint, the learner's context and the actions."""
    found = load_task(task_id)
    current = now()
    enrollment = visible_enrollment(found)
    context = learner_context(get_session(), enrollment, current) if enrollment else None
    left, urgency = time_left(found.due_at, current)
    return render_template(
        "console/advisor/task.html",
        task=found,
        ctx=context,
        step=step_label(context.spec if context else None, found.step_key),
        is_reply=found.step_key == REPLY_STEP,
        is_open=found.status in OPEN_STATUSES,
        status=label(TASK_STATUS_LABELS, found.status),
        left=left,
        urgency=urgency,
        postpone_choices=POSTPONE_CHOICES,
        skip_reasons=SKIP_REASONS,
        token=form_token,
    )


def _act(task_id: int, action: str) -> Response:
    found = load_task(task_id)
    session = get_session()
    current = now()
    retry = back(url_for("advisor.task", task_id=found.id))
    try:
        if action == "sent":
            mark_sent(session, found.id, now=current)
            message = _("Answered.") if found.step_key == REPLY_STEP else _("Marked sent.")
        elif action == "skip":
            mark_skipped(session, found.id, reason=request.form.get("reason", ""), now=current)
            message = _("Skipped.")
        else:
            if found.step_key == REPLY_STEP:
                flash(
                    _("A reply cannot be postponed: the learner was promised an answer."), "error"
                )
                return retry
            until = postpone_until(request.form.get("until", ""), current)
            if until is None:
                flash(_("Choose when the task should come back."), "error")
                return retry
            postpone(session, found.id, until=until, now=current)
            message = _("Postponed.")
    except CampaignError as exc:
        session.rollback()
        flash(_task_error(exc, action), "error")
        return retry
    session.commit()
    flash(message, "ok")
    return back(url_for("advisor.queue"))


def _task_error(exc: CampaignError, action: str) -> str:
    """Say in the viewer's language why a task action was refused."""
    if action == "skip" and "say why" in str(exc):
        return _("Say why the task is skipped.")
    if "already" in str(exc):
        return _("This task is already done.")
    return str(exc)


@blueprint.post("/tasks/<int:task_id>/sent")
@requires(Role.ADVISOR)
def mark_task_sent(task_id: int) -> Response:
    """Record that the advisor sent the message (or answered the learner)."""
    return _act(task_id, "sent")


@blueprint.post("/tasks/<int:task_id>/skip")
@requires(Role.ADVISOR)
def skip_task(task_id: int) -> Response:
    """Record that the advisor decided not to send it, with the reason."""
    return _act(task_id, "skip")


@blueprint.post("/tasks/<int:task_id>/postpone")
@requires(Role.ADVISOR)
def postpone_task(task_id: int) -> Response:
    """Put the task back in the queue later (30 min, 2 h, tomorrow 09:00)."""
    return _act(task_id, "postpone")
