"""What a claimed batch's send-time checks read, kept for the whole batch at once.

:mod:`campaign.messages.batch_loading` fills it: each kind of fact is one query for the whole
batch. Counts against budgets (the daily cap, the WeCom quota, the advisor's capacity) are kept
as the instants of recent sends, so each row counts on its own learner's local day, and a send
decided earlier in the same batch is added before the next row is weighed (higher priority
first).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from campaign.journeys.conditions import LearnerFacts, Predicate, compile_condition
from campaign.journeys.spec import Channel, JourneySpec, Step
from campaign.messages import context as ctx
from campaign.messages.rows import ClaimedRow, EnrollmentRow, LearnerRow
from campaign.models import Advisor, Cohort, DeliveryStatus

COUNTED = (DeliveryStatus.SENT, DeliveryStatus.SENDING)
"""A row counts against a budget once it is being sent: the cap holds across a crash."""

DAY_WINDOW = timedelta(days=2)
"""How far back sends are read for "today": a local day starts at most 26 h before now."""

QUOTA_WINDOW = {"day": DAY_WINDOW, "week": timedelta(days=9), "month": timedelta(days=33)}


@dataclass
class Target:
    """One claimed row with what it is about: the cohort, the journey and step, the people."""

    delivery: ClaimedRow
    cohort: Cohort
    spec: JourneySpec
    step: Step
    enrollment: EnrollmentRow | None = None
    learner: LearnerRow | None = None
    advisor: Advisor | None = None


@dataclass
class BatchFacts:
    """What the batch's checks read, keyed by learner, enrollment, advisor or delivery id."""

    tags: dict[int, frozenset[str]] = field(default_factory=dict)
    events: dict[int, list[tuple[str, datetime]]] = field(default_factory=dict)
    outcomes: dict[int, dict[str, str]] = field(default_factory=dict)
    automated_sends: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    wecom_sends: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    advisor_tasks: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    welcomes: dict[int, dict[str, Any]] = field(default_factory=dict)
    predicates: dict[tuple[int, str, datetime, datetime], Predicate] = field(default_factory=dict)

    def condition_holds(
        self, target: Target, *, now: datetime, tz: ZoneInfo, camp_start: datetime
    ) -> bool:
        """Tell whether the row's step condition holds for its learner at ``now``.

        A condition is compiled once per step, clock and moment for the whole batch (its
        windows worked out once), then called for each learner.
        """
        condition = target.step.when
        if condition is None:
            return True
        key = (id(condition), tz.key, camp_start, now)
        predicate = self.predicates.get(key)
        if predicate is None:
            predicate = compile_condition(condition, now=now, tz=tz, camp_start=camp_start)
            self.predicates[key] = predicate
        return predicate(self.learner_facts(target))

    def tags_of(self, learner_id: int) -> frozenset[str]:
        return self.tags.get(learner_id, frozenset())

    def learner_facts(self, target: Target) -> LearnerFacts:
        """Return what the step's condition sees about the row's learner."""
        assert target.enrollment is not None and target.learner is not None
        return LearnerFacts(
            tags=self.tags_of(target.learner.id),
            events=self.events.get(target.learner.id, []),
            points=target.enrollment.points,
            state=str(target.enrollment.state),
            outcomes=self.outcomes.get(target.enrollment.id, {}),
        )

    def automated_sent_today(self, learner_id: int, now: datetime, tz: ZoneInfo) -> int:
        start, end = ctx.local_day_bounds(now, tz)
        return sum(1 for at in self.automated_sends.get(learner_id, ()) if start <= at < end)

    def wecom_sent_in_period(
        self, learner_id: int, now: datetime, tz: ZoneInfo, period: str
    ) -> int:
        start = ctx.period_start(now, tz, period)
        return sum(1 for at in self.wecom_sends.get(learner_id, ()) if at >= start)

    def advisor_tasks_today(self, advisor_id: int, now: datetime, tz: ZoneInfo) -> int:
        start, end = ctx.local_day_bounds(now, tz)
        return sum(1 for at in self.advisor_tasks.get(advisor_id, ()) if start <= at < end)

    def count_send(self, target: Target, now: datetime) -> None:
        """Add a send just decided, so the batch's next rows are weighed with it."""
        step = target.step
        if target.learner is not None:
            if step.is_automated_1v1:
                self.automated_sends[target.learner.id].append(now)
            if step.channel is Channel.WECOM and target.delivery.id not in self.welcomes:
                self.wecom_sends[target.learner.id].append(now)
        if step.channel is Channel.ADVISOR_TASK and target.advisor is not None:
            self.advisor_tasks[target.advisor.id].append(now)
