"""What the advisor's pages share: the blueprint, the clock, ownership loads, labels.

Every view that shows or changes one learner or task loads it through :func:`load_task` or
:func:`load_enrollment`, which answer 404 for another advisor's (see ``auth.check_*``).
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from campaign.clock import clock_from_config
from campaign.console.auth import check_enrollment, check_task, sees_all
from campaign.console.security import protect
from campaign.db import get_session
from campaign.journeys.spec import JourneySpec
from campaign.learners.replies import REPLY_STEP
from campaign.learners.silence import CLASS_QUIET_STEP, SILENCE_STEP
from campaign.models import Enrollment, Task

blueprint = Blueprint("advisor", __name__, url_prefix="/advisor")


def _(text: str, **values: Any) -> str:
    """Translate ``text`` into the viewer's language (``flask_babel.gettext``, typed)."""
    return str(gettext(text, **values))


SOON = timedelta(minutes=30)  # time left under which a deadline shows amber

TASK_STATUS_LABELS = {
    "open": _l("to do"),
    "sent": _l("sent"),
    "skipped": _l("skipped"),
    "postponed": _l("postponed"),
}
DELIVERY_STATUS_LABELS = {
    "pending": _l("pending"),
    "claimed": _l("queued"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "skipped": _l("skipped"),
    "expired": _l("expired"),
    "cancelled": _l("cancelled"),
    "failed": _l("failed"),
    "verify": _l("to verify"),
}
TAG_SOURCE_LABELS = {
    "survey": _l("survey"),
    "rule": _l("rule"),
    "advisor": _l("advisor"),
    "event": _l("event"),
    "import": _l("import"),
}
EVENT_LABELS = {
    "enrolled": _l("enrolled"),
    "joined_group": _l("joined the group"),
    "checked_in": _l("checked in"),
    "homework_submitted": _l("handed in homework"),
    "attended_live": _l("attended the live class"),
    "contest_scored": _l("contest score"),
    "survey_answered": _l("answered the survey"),
    "replied": _l("sent a message"),
    "deposit_paid": _l("paid a deposit"),
    "paid": _l("paid"),
    "refunded": _l("refunded"),
    "opted_out": _l("opted out"),
    "task_done": _l("task done"),
}
CHANNEL_LABELS = {
    "advisor_task": _l("advisor task"),
    "wecom": _l("WeCom"),
    "email": _l("email"),
    "sms": _l("SMS"),
    "webhook": _l("webhook"),
    "log": _l("log"),
}

ENROLLMENT_STATE_LABELS = {
    "active": _l("in the camp"),
    "graduated": _l("graduated"),
    "converted": _l("converted"),
    "dropped": _l("dropped"),
    "opted_out": _l("opted out"),
}

# Suggestions for the tag field, from the playbook's taxonomy (any group:value is accepted).
TAG_SUGGESTIONS = (
    "goal:excel-automation",
    "goal:data-collection",
    "goal:data-analysis",
    "goal:web",
    "goal:ai-apps",
    "goal:career-change",
    "level:beginner",
    "level:some",
    "level:programmer",
    "persona:student",
    "persona:finance",
    "persona:operations",
    "persona:engineer",
    "persona:parent",
    "persona:freelancer",
    "intent:A",
    "intent:B",
    "intent:C",
    "price:asks-discount",
    "price:asks-instalments",
    "price:watches-group-buy",
    "why-not:price",
    "why-not:time",
    "why-not:no-need",
    "why-not:bought-elsewhere",
    "why-not:thinking",
    "contact:prefers-voice",
    "contact:prefers-text",
    "contact:night",
    "contact:lurker",
)


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        protect()


def now() -> datetime:
    """Return "now" on the engine's clock (frozen in tests, warped in demos)."""
    return clock_from_config(current_app.config).now()


def viewer_advisor_id() -> int | None:
    """Return the advisor whose work the viewer sees; None for an admin without a class.

    An advisor account not tied to an advisor has nothing to see (403).
    """
    advisor_id = current_user.advisor_id
    if advisor_id is None and not sees_all():
        abort(403)
    return int(advisor_id) if advisor_id is not None else None


def mine(column: Any) -> ColumnElement[bool]:
    """Return the SQL test "this row is the viewer's" on an ``advisor_id`` column."""
    advisor_id = viewer_advisor_id()
    return true() if advisor_id is None else column == advisor_id


def load_task(task_id: int) -> Task:
    """Return the task if the viewer may see it; 404 otherwise."""
    viewer_advisor_id()  # an advisor account tied to no advisor sees no task, even unassigned
    return check_task(get_session().get(Task, task_id))


def load_enrollment(enrollment_id: int) -> Enrollment:
    """Return the enrollment (learner, cohort, version, advisor loaded) if the viewer may see it."""
    viewer_advisor_id()
    enrollment = get_session().scalar(
        select(Enrollment)
        .options(
            joinedload(Enrollment.learner),
            joinedload(Enrollment.cohort),
            joinedload(Enrollment.version),
            joinedload(Enrollment.advisor),
        )
        .where(Enrollment.id == enrollment_id)
    )
    return check_enrollment(enrollment)


def back(default: str) -> Response:
    """Redirect to the form's ``next`` page if it is one of the advisor's, else ``default``."""
    target = request.form.get("next", "")
    if not (target.startswith("/advisor/") and "//" not in target and "\\" not in target):
        target = default
    return redirect(target)


def task_page(task: Task) -> str:
    """Return the URL of a task's page."""
    return url_for("advisor.task", task_id=task.id)


def form_token() -> str:
    """Return a fresh id for a form that records an event: posting it twice records one."""
    return uuid.uuid4().hex


def format_duration(delta: timedelta) -> str:
    """Say a duration in days, hours and minutes, shortest form first ("1 h 05 min")."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(days)d d %(hours)d h", days=days, hours=hours)
    if hours:
        return _("%(hours)d h %(minutes)02d min", hours=hours, minutes=mins)
    return _("%(minutes)d min", minutes=mins)


def time_left(due_at: datetime, current: datetime) -> tuple[str, str]:
    """Return the time left on a deadline as text and a CSS class (overdue, soon or none).

    Time left is rounded up to the minute (a countdown never says "0 min" while time is
    left); time overdue is rounded down.
    """
    left = due_at - current
    if left < timedelta(0):
        return _("overdue %(time)s", time=format_duration(-left)), "overdue"
    rounded = timedelta(minutes=math.ceil(left.total_seconds() / 60))
    return _("%(time)s left", time=format_duration(rounded)), ("soon" if left < SOON else "")


def step_label(spec: JourneySpec | None, step_key: str) -> str:
    """Return a step's human name: its title in the journey, else its key."""
    if step_key == REPLY_STEP:
        return _("Reply owed")
    if step_key == SILENCE_STEP:
        return _("Win back a quiet learner")
    if step_key.startswith(f"{CLASS_QUIET_STEP}:"):
        return _("Quiet class (%(day)s)", day=step_key.partition(":")[2])
    if spec is not None:
        try:
            title = spec.step(step_key).title
        except KeyError:
            title = None
        if title:
            return title
    return step_key


def label(labels: dict[str, Any], value: object) -> str:
    """Return the translated label of an enum-like value (the value itself if unknown)."""
    key = str(value)
    return str(labels.get(key, key))


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    """Give the advisor's templates the translated labels of statuses, sources and events."""
    return {
        "task_status": lambda value: label(TASK_STATUS_LABELS, value),
        "delivery_status": lambda value: label(DELIVERY_STATUS_LABELS, value),
        "tag_source": lambda value: label(TAG_SOURCE_LABELS, value),
        "event_label": lambda value: label(EVENT_LABELS, value),
        "channel_label": lambda value: label(CHANNEL_LABELS, value),
        "state_label": lambda value: label(ENROLLMENT_STATE_LABELS, value),
        "step_label": step_label,
        "tag_suggestions": TAG_SUGGESTIONS,
    }
