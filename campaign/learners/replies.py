"""Replies owed: a learner's message opens a reply task due within the promised reply time.

A ``replied`` event (from the API, the console or a channel) is a learner talking to their
advisor. :func:`open_reply_tasks`, an entry of :data:`campaign.events.EFFECTS`, gives the
enrollment's advisor a task (step ``reply``) whose script quotes the message and whose deadline
is the journey's promise for that camp day (``reply_within: {default: 2h, D6: 30m}``): the
learner's clock starts when they wrote, not when the event reached us.

Several messages in a row are one conversation: while a reply task is open, a new message is
appended to it (the deadline stays the earliest one), so an advisor answers "老师 / 在吗 /
第三题不会" once. Applying the same event twice changes nothing: its quoted block is already
in a task. Answering (marking the task sent) closes it; a reply task cannot be postponed,
since its deadline is a promise made to the learner.

This module is plain SQLAlchemy (no Flask): workers and the API apply the same effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.journeys.calendar import camp_time_of, zone
from campaign.learners.common import CURRENT_STATES, event_enrollments, local_day_window
from campaign.messages.planning import spec_of
from campaign.models import Enrollment, LearnerEvent, Task, TaskStatus

REPLY_STEP = "reply"
REPLY_EVENT = "replied"
OPEN_STATUSES = (TaskStatus.OPEN, TaskStatus.POSTPONED)
NO_TEXT = "(无文字内容:语音、图片或表情)"
MAX_QUOTED = 2000  # characters of one message kept in the task


def reply_deadline(enrollment: Enrollment, written_at: datetime) -> datetime:
    """Return when a reply to a message written at ``written_at`` is due.

    The promise is the journey's ``reply_window`` of the camp day the message was written on
    (read on the cohort's calendar), counted from when it was written.
    """
    cohort = enrollment.cohort
    day = camp_time_of(cohort.starts_on, written_at, zone(cohort.timezone)).day
    return written_at + spec_of(enrollment.version).reply_window(day)


def quoted_block(event: LearnerEvent, learner_name: str, tz: ZoneInfo) -> str:
    """Return the quote of one message as it appears in a reply task's script."""
    payload: Mapping[str, Any] = event.payload if isinstance(event.payload, dict) else {}
    text = payload.get("text")
    body = str(text).strip()[:MAX_QUOTED] if isinstance(text, str) and text.strip() else NO_TEXT
    local = event.occurred_at.astimezone(tz)
    quoted = "\n".join(f"> {line}" for line in body.splitlines())
    return f"{learner_name} · {local:%m-%d %H:%M}\n{quoted}"


def _targets(session: Session, event: LearnerEvent) -> list[Enrollment]:
    """Return the enrollments a message is owed a reply in (one task each).

    A payload naming ``cohort_id`` or ``enrollment_id`` (the console does) narrows it to that
    camp, so a learner in two cohorts does not ring both advisors.
    """
    enrollments = [e for e in event_enrollments(session, event) if e.state in CURRENT_STATES]
    payload: Mapping[str, Any] = event.payload if isinstance(event.payload, dict) else {}
    for key, attribute in (("enrollment_id", "id"), ("cohort_id", "cohort_id")):
        wanted = payload.get(key)
        if isinstance(wanted, int) and not isinstance(wanted, bool):
            narrowed = [e for e in enrollments if getattr(e, attribute) == wanted]
            if narrowed:
                return narrowed
    return enrollments


def open_reply_tasks(session: Session, event: LearnerEvent, now: datetime) -> list[Task]:
    """Event effect: open (or extend) the reply task a learner's message calls for.

    :returns: the tasks opened or extended (empty for other events and repeated ones).
    """
    if event.name != REPLY_EVENT:
        return []
    written_at = min(event.occurred_at, now)
    touched: list[Task] = []
    for enrollment in _targets(session, event):
        block = quoted_block(event, enrollment.learner.name, zone(enrollment.cohort.timezone))
        mine = select(Task).where(Task.enrollment_id == enrollment.id, Task.step_key == REPLY_STEP)
        if session.scalar(mine.where(Task.script.contains(block, autoescape=True)).limit(1)):
            continue  # this event was applied already
        due = reply_deadline(enrollment, written_at)
        task = session.scalar(
            mine.where(Task.status.in_(OPEN_STATUSES)).order_by(Task.due_at, Task.id).limit(1)
        )
        if task is None:
            task = Task(
                cohort_id=enrollment.cohort_id,
                enrollment_id=enrollment.id,
                advisor_id=enrollment.advisor_id,
                step_key=REPLY_STEP,
                script=block,
                voice=False,
                due_at=due,
                status=TaskStatus.OPEN,
                created_at=now,
            )
            session.add(task)
        else:
            task.script = f"{task.script}\n\n{block}"
            if due < task.due_at:
                task.due_at, task.status, task.postponed_until = due, TaskStatus.OPEN, None
        touched.append(task)
    if touched:
        session.flush()
    return touched


def open_reply_task(session: Session, enrollment_id: int) -> Task | None:
    """Return the enrollment's open reply task, if a reply is owed."""
    return session.scalar(
        select(Task)
        .where(
            Task.enrollment_id == enrollment_id,
            Task.step_key == REPLY_STEP,
            Task.status.in_(OPEN_STATUSES),
        )
        .order_by(Task.due_at, Task.id)
        .limit(1)
    )


@dataclass(frozen=True)
class ReplyReport:
    """How an advisor keeps the reply promise: what is owed now, and how today went."""

    owed: int  # reply tasks open now
    overdue: int  # of those, past their deadline
    answered_today: int  # reply tasks answered on the viewer's local day
    answered_late_today: int  # of those, after their deadline
    skipped_today: int  # reply tasks closed without an answer today

    @property
    def on_time_today(self) -> int:
        """Return today's answers given within the promise."""
        return self.answered_today - self.answered_late_today


def reply_report(
    session: Session, advisor_id: int | None, *, now: datetime, tz: ZoneInfo
) -> ReplyReport:
    """Count an advisor's replies owed and overdue now, and today's answers (late ones too).

    ``advisor_id`` None counts every advisor's (an admin's view). Two aggregate queries.
    """
    start, end = local_day_window(now.astimezone(tz).date(), tz)
    scope = [Task.step_key == REPLY_STEP]
    if advisor_id is not None:
        scope.append(Task.advisor_id == advisor_id)
    owed, overdue = session.execute(
        select(
            func.count(Task.id),
            func.count(Task.id).filter(Task.due_at < now),
        ).where(*scope, Task.status.in_(OPEN_STATUSES))
    ).one()
    answered, late, skipped = session.execute(
        select(
            func.count(Task.id).filter(Task.status == TaskStatus.SENT),
            func.count(Task.id).filter(Task.status == TaskStatus.SENT, Task.done_at > Task.due_at),
            func.count(Task.id).filter(Task.status == TaskStatus.SKIPPED),
        ).where(*scope, Task.done_at >= start, Task.done_at < end)
    ).one()
    return ReplyReport(int(owed), int(overdue), int(answered), int(late), int(skipped))
