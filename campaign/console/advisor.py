"""The advisor's pages: today's task queue first, with the reply report on top.

The pages live in ``advisor_*`` modules that add their views to :data:`blueprint`:
tasks and their actions (``advisor_tasks``), learners and their context (``advisor_learners``),
the script library and the cohort leaderboard (``advisor_library``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from flask import render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.console import advisor_learners, advisor_library, advisor_tasks
from campaign.console.advisor_common import (
    blueprint,
    form_token,
    now,
    step_label,
    time_left,
    viewer_advisor_id,
)
from campaign.console.auth import requires
from campaign.console.i18n import viewer_zone
from campaign.db import get_session
from campaign.journeys.spec import JourneySpec
from campaign.learners.common import local_day_window
from campaign.learners.replies import OPEN_STATUSES, REPLY_STEP, reply_report
from campaign.messages.planning import spec_of
from campaign.models import Cohort, Enrollment, JourneyVersion, Learner, Role, Task, TaskStatus

__all__ = ["advisor_learners", "advisor_library", "advisor_tasks", "blueprint"]

QUEUE_LIMIT = 500  # rows on one page; an advisor with more works the top and reloads


class QueueTask(NamedTuple):
    """What the queue shows of a task (read as columns: no ORM object per row)."""

    id: int
    step_key: str
    script: str
    voice: bool
    due_at: datetime
    status: TaskStatus


@dataclass(frozen=True)
class QueueRow:
    """One open task as the queue shows it."""

    task: QueueTask
    learner: str | None
    enrollment_id: int | None
    cohort: str
    step: str
    left: str
    urgency: str  # "overdue", "soon" or ""

    @property
    def is_reply(self) -> bool:
        """Tell whether the task is a reply owed to the learner."""
        return self.task.step_key == REPLY_STEP


def _specs(session: Session, version_ids: set[int]) -> dict[int, JourneySpec | None]:
    specs: dict[int, JourneySpec | None] = {}
    for version in session.scalars(
        select(JourneyVersion).where(JourneyVersion.id.in_(version_ids))
    ):
        try:
            specs[version.id] = spec_of(version)
        except ValueError:
            specs[version.id] = None
    return specs


def queue_rows(
    session: Session,
    advisor_id: int | None,
    *,
    current: datetime,
    until: datetime | None,
    limit: int = QUEUE_LIMIT,
) -> list[QueueRow]:
    """Return open tasks due before ``until`` (all if None), closest to overdue first.

    One query joins each task to its learner and cohort (no query per row); it reads the
    advisor's open tasks from the (advisor_id, status, due_at) index. Among tasks due in the same
    minute, reply tasks come first: a reply is a promise to a waiting learner.
    """
    query = (
        select(
            Task.id,
            Task.step_key,
            Task.script,
            Task.voice,
            Task.due_at,
            Task.status,
            Learner.name,
            Enrollment.id,
            Cohort.title,
            func.coalesce(Enrollment.journey_version_id, Cohort.journey_version_id),
        )
        .join(Cohort, Cohort.id == Task.cohort_id)
        .outerjoin(Enrollment, Enrollment.id == Task.enrollment_id)
        .outerjoin(Learner, Learner.id == Enrollment.learner_id)
        .where(Task.status.in_(OPEN_STATUSES))
        .order_by(Task.due_at, Task.id)
        .limit(limit)
    )
    if advisor_id is not None:
        query = query.where(Task.advisor_id == advisor_id)
    if until is not None:
        query = query.where(Task.due_at < until)
    found = session.execute(query).all()
    specs = _specs(session, {row[9] for row in found})
    rows = []
    for *columns, learner, enrollment_id, cohort, version_id in found:
        task = QueueTask(*columns)
        left, urgency = time_left(task.due_at, current)
        rows.append(
            QueueRow(
                task=task,
                learner=learner,
                enrollment_id=enrollment_id,
                cohort=cohort,
                step=step_label(specs.get(version_id), task.step_key),
                left=left,
                urgency=urgency,
            )
        )
    # Rows show deadlines to the minute: within one shown minute, replies go first.
    rows.sort(
        key=lambda r: (
            r.task.due_at.replace(second=0, microsecond=0),
            not r.is_reply,
            r.task.due_at,
            r.task.id,
        )
    )
    return rows


def later_count(session: Session, advisor_id: int | None, after: datetime) -> int:
    """Count open tasks due at or after ``after`` (not on today's list)."""
    query = select(func.count(Task.id)).where(Task.status.in_(OPEN_STATUSES), Task.due_at >= after)
    if advisor_id is not None:
        query = query.where(Task.advisor_id == advisor_id)
    return int(session.scalar(query) or 0)


@blueprint.get("/tasks")
@requires(Role.ADVISOR)
def queue() -> str:
    """Show today's open tasks by deadline with the time left on each, and the reply report."""
    advisor_id = viewer_advisor_id()
    session = get_session()
    current = now()
    tz = viewer_zone()
    _, end_of_today = local_day_window(current.astimezone(tz).date(), tz)
    show_all = request.args.get("all") == "1"
    rows = queue_rows(
        session, advisor_id, current=current, until=None if show_all else end_of_today
    )
    return render_template(
        "console/advisor/queue.html",
        rows=rows,
        show_all=show_all,
        later=0 if show_all else later_count(session, advisor_id, end_of_today),
        truncated=len(rows) >= QUEUE_LIMIT,
        report=reply_report(session, advisor_id, now=current, tz=tz),
        token=form_token,
    )
