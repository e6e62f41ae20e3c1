"""The end-of-demo summary: every delivery of the cohort by state and reason, tasks, conversions.

Counted from the rows, not from what was printed, so the summary is the engine's own record:
its states add up to the number of deliveries planned, whatever happened on the way (a Ctrl-C
included: rows not yet due stay ``pending`` and are shown as such).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.models import (
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    LearnerEvent,
    Task,
)

STATE_ORDER = [str(s) for s in DeliveryStatus]


@dataclass
class Summary:
    """What happened to one cohort's deliveries."""

    total: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)  # state -> reason -> count
    welcome: Counter[str] = field(default_factory=Counter)  # status of the WeCom welcome rows
    tasks: int = 0
    tasks_by_step: Counter[str] = field(default_factory=Counter)
    enrolled: int = 0
    converted: int = 0
    opted_out: int = 0

    @property
    def adds_up(self) -> bool:
        """Tell whether the states account for every delivery (they always should)."""
        return sum(self.by_state.values()) == self.total


def _reason(
    status: str, reason: str | None, channel: str, step: str, due: datetime, now: datetime
) -> str:
    """Label a row for the summary: the reason it did not go out, or how it went out.

    Expired rows are labelled with their step: which steps could not keep their window is
    what a reader needs (on warped time the windows are short in real seconds).
    """
    if status == DeliveryStatus.EXPIRED:
        return f"{reason or 'expired'}: {step}"
    if status == DeliveryStatus.SENT:
        return "task created for the advisor" if channel == "advisor_task" else f"via {channel}"
    if status == DeliveryStatus.PENDING:
        waiting = f" ({reason})" if reason else ""
        return f"not due yet{waiting}" if due > now else f"due, not sent yet{waiting}"
    if status in (DeliveryStatus.CLAIMED, DeliveryStatus.SENDING):
        return "in flight when the demo stopped"
    return reason or "(no reason recorded)"


def summarize(session: Session, cohort_id: int, *, now: datetime) -> Summary:
    """Count the cohort's deliveries, tasks and conversions as they stand at ``now``."""
    summary = Summary()
    rows = session.execute(
        select(
            Delivery.status,
            Delivery.reason,
            Delivery.channel,
            Delivery.step_key,
            Delivery.due_at,
        ).where(Delivery.cohort_id == cohort_id)
    )
    for status, reason, channel, step_key, due_at in rows:
        state = str(status)
        summary.total += 1
        summary.by_state[state] += 1
        label = _reason(state, reason, str(channel), step_key, due_at, now)
        summary.reasons.setdefault(state, Counter())[label] += 1
        if step_key == "welcome":
            summary.welcome[state] += 1
    summary.tasks_by_step = Counter(
        dict(
            session.execute(
                select(Task.step_key, func.count(Task.id))
                .where(Task.cohort_id == cohort_id)
                .group_by(Task.step_key)
            ).all()
        )
    )
    summary.tasks = sum(summary.tasks_by_step.values())
    states = Counter(
        dict(
            session.execute(
                select(Enrollment.state, func.count(Enrollment.id))
                .where(Enrollment.cohort_id == cohort_id)
                .group_by(Enrollment.state)
            ).all()
        )
    )
    summary.enrolled = sum(states.values())
    summary.converted = int(states.get(EnrollmentState.CONVERTED, 0))
    summary.opted_out = int(
        session.scalar(
            select(func.count(func.distinct(LearnerEvent.learner_id)))
            .join(Enrollment, Enrollment.id == LearnerEvent.enrollment_id)
            .where(Enrollment.cohort_id == cohort_id, LearnerEvent.name == "opted_out")
        )
        or 0
    )
    return summary


def format_summary(summary: Summary, *, interrupted: bool = False) -> list[str]:
    """Return the summary as lines of text."""
    title = "Summary (stopped early by Ctrl-C)" if interrupted else "Summary"
    lines = [f"\n══ {title} {'═' * 50}", f"deliveries planned: {summary.total}"]
    for state in sorted(summary.by_state, key=_state_rank):
        lines.append(f"  {state:<10} {summary.by_state[state]:>6}")
        for label, count in summary.reasons.get(state, Counter()).most_common():
            lines.append(f"      {count:>6}  {label}")
    total_check = sum(summary.by_state.values())
    lines.append(f"  {'total':<10} {total_check:>6}" + ("" if summary.adds_up else "  (MISMATCH)"))
    if summary.welcome:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(summary.welcome.items()))
        lines.append(f"WeCom welcomes (20 s window): {parts}")
    if summary.by_state.get(str(DeliveryStatus.EXPIRED)):
        lines.append(
            "  (expired: not sent within the step's expires_after, counted from its due time; "
            "on warped time those windows are short in real time: 20 s is 7 ms at 2880x, "
            "30 min is 0.6 s; a send that cannot make it is expired, never sent late)"
        )
    top = ", ".join(f"{step} {n}" for step, n in summary.tasks_by_step.most_common(6))
    lines.append(f"advisor tasks created: {summary.tasks}" + (f" ({top}, ...)" if top else ""))
    rate = 100.0 * summary.converted / summary.enrolled if summary.enrolled else 0.0
    lines.append(
        f"learners enrolled: {summary.enrolled}; converted (paid): {summary.converted} "
        f"({rate:.1f}%); opted out: {summary.opted_out}"
    )
    return lines


def _state_rank(state: str) -> int:
    return STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER)
