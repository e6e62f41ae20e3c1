"""The advisor's side of ``advisor_task`` steps: list the queue, mark a task sent, skipped or
postponed. A later step may branch on that outcome (``when: {outcome: {step: …, is: sent}}``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError, NotFound
from campaign.models import Task, TaskStatus

OPEN_STATUSES = (TaskStatus.OPEN, TaskStatus.POSTPONED)


class InvalidTaskAction(CampaignError):
    """A task action that cannot be taken (already done, no reason, a time in the past)."""


def task_queue(
    session: Session, *, advisor_id: int | None = None, include_done: bool = False
) -> list[Task]:
    """Return tasks by deadline, soonest first: open and postponed ones unless ``include_done``."""
    query = select(Task).order_by(Task.due_at, Task.id)
    if advisor_id is not None:
        query = query.where(Task.advisor_id == advisor_id)
    if not include_done:
        query = query.where(Task.status.in_(OPEN_STATUSES))
    return list(session.scalars(query))


def _open_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.status not in OPEN_STATUSES:
        raise InvalidTaskAction(f"task {task_id} is already {task.status}; nothing to do")
    return task


def mark_sent(session: Session, task_id: int, *, now: datetime) -> Task:
    """Record that the advisor sent the message (copy, sidebar or voice)."""
    task = _open_task(session, task_id)
    task.status, task.done_at, task.outcome_reason = TaskStatus.SENT, now, None
    return task


def mark_skipped(session: Session, task_id: int, *, reason: str, now: datetime) -> Task:
    """Record that the advisor decided not to send it, and why (the reason is required)."""
    if not reason.strip():
        raise InvalidTaskAction("say why the task is skipped (e.g. 'learner asked for a break')")
    task = _open_task(session, task_id)
    task.status, task.done_at, task.outcome_reason = TaskStatus.SKIPPED, now, reason.strip()[:200]
    return task


def postpone(session: Session, task_id: int, *, until: datetime, now: datetime) -> Task:
    """Put the task back in the queue, due at ``until``."""
    if until <= now:
        raise InvalidTaskAction("a task can only be postponed to a later time")
    task = _open_task(session, task_id)
    task.status, task.postponed_until, task.due_at = TaskStatus.POSTPONED, until, until
    return task
