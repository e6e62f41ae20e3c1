"""Plan sends: turn a journey's steps into dated occurrences for one target.

Pure: the database layer (``campaign.messages.planning``) turns these into ``Delivery`` rows in
bulk. Calendar steps are planned when a learner enrolls (or a cohort opens, for group steps);
event steps when their event arrives. The occurrence label makes the unique key, so planning
twice plans nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from campaign.journeys.calendar import to_utc
from campaign.journeys.spec import Audience, Channel, JourneySpec, Step, TimeBase

LATE_JOIN_REASON = "enrolled after it was due"


@dataclass(frozen=True)
class PlannedSend:
    """One occurrence of a step, due at ``due_at`` (UTC); ``skip_reason`` plans it as skipped."""

    step_key: str
    occurrence: str
    due_at: datetime
    channel: Channel
    priority: int
    audience: Audience
    skip_reason: str | None = None


def plan_calendar(
    spec: JourneySpec,
    *,
    starts_on: date,
    cohort_tz: ZoneInfo,
    audience: Audience = Audience.LEARNER,
    learner_tz: ZoneInfo | None = None,
    enrolled_at: datetime | None = None,
) -> list[PlannedSend]:
    """Return every calendar occurrence of the steps for ``audience``.

    A learner who enrolls after an occurrence was due gets it planned as skipped (so the
    timeline says why nothing came), unless the step says ``catch_up: true``, in which case it
    is due at once.
    """
    planned: list[PlannedSend] = []
    for step in spec.steps:
        if step.audience is not audience or not step.at:
            continue
        tz = learner_tz if (step.tz is TimeBase.LEARNER and learner_tz) else cohort_tz
        seen: set[str] = set()
        for at in step.at:
            camp_time = spec.resolve(at)
            label = str(camp_time)
            if label in seen:
                continue
            seen.add(label)
            due = to_utc(starts_on, camp_time, tz)
            skip = None
            if enrolled_at is not None and due < enrolled_at:
                if step.catch_up:
                    due = enrolled_at
                else:
                    skip = LATE_JOIN_REASON
            planned.append(_planned(step, label, due, skip))
    return planned


def plan_event(
    spec: JourneySpec, *, event: str, occurred_at: datetime, event_key: str
) -> list[PlannedSend]:
    """Return the occurrences the event ``event`` starts (``on:`` steps), due after their delay.

    ``event_key`` identifies the event (its id), so the same event never plans a step twice.
    """
    return [
        _planned(step, f"on:{event_key}", occurred_at + step.on.delay, None)
        for step in spec.steps
        if step.on is not None and step.on.event == event and step.audience is Audience.LEARNER
    ]


def _planned(step: Step, occurrence: str, due: datetime, skip: str | None) -> PlannedSend:
    return PlannedSend(
        step_key=step.key,
        occurrence=occurrence,
        due_at=due,
        channel=step.channel,
        priority=step.priority,
        audience=step.audience,
        skip_reason=skip,
    )
