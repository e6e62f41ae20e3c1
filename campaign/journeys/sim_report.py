"""What a simulation reports: the cohort's calendar, one row per step occurrence or milestone.

Each row says how many deliveries went out (``reached``) and how many the engine held back and
why, using the same reasons the send worker records, so a marketer reads the simulation the way
they will later read a real cohort.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from campaign.journeys.spec import Audience, CampTime, Channel, MilestoneKind, TimeBase


class HoldReason(enum.StrEnum):
    """Why a delivery did not go out; the order is the order the checks are made in."""

    NOT_ENROLLED = "not enrolled"  # a late joiner, and the step has no catch_up
    OPTED_OUT = "opted out"  # selling steps: consent withdrawn
    MINOR = "minor"  # selling steps: under 14
    GOAL_REACHED = "goal reached"  # selling steps: the learner has paid
    CONDITION = "condition"  # ``when`` was false when the step fell due
    QUIET_HOURS = "quiet hours"  # due in quiet hours and the step drops rather than moves
    EXPIRED = "expired"  # it could not go out within ``expires_after``
    CAP = "cap"  # the learner's daily automated 1v1 cap was used by higher-priority steps


HOLD_OUTCOME = {reason: "skipped" for reason in HoldReason} | {
    HoldReason.EXPIRED: "expired",
    HoldReason.GOAL_REACHED: "cancelled",
}
"""The delivery outcome a held-back send leaves behind (what ``outcome:`` conditions read)."""


class RowKind(enum.StrEnum):
    STEP = "step"  # one occurrence of a calendar step
    EVENT_STEP = "event_step"  # all deliveries of an ``on:`` step
    MILESTONE = "milestone"


@dataclass
class ReportRow:
    """One line of the simulated calendar.

    ``local_time`` and ``camp_time`` are on the cohort's clock; a ``tz: learner`` step shows the
    camp time it is read at on each learner's clock (``clock`` says so). Event steps have no time:
    ``trigger`` says what starts them and ``fired`` how many learners' events did.
    """

    kind: RowKind
    key: str
    camp_time: CampTime | None = None
    local_time: datetime | None = None
    title: str | None = None
    channel: Channel | None = None
    audience: Audience | None = None
    clock: TimeBase = TimeBase.COHORT
    selling: bool = False
    milestone_kind: MilestoneKind | None = None
    trigger: str | None = None
    fired: int | None = None
    reached: int = 0
    held: dict[HoldReason, int] = field(default_factory=dict)
    moved: int = 0  # went out later because of quiet hours (``quiet_hours: move``)
    deferred: int = 0  # went out on a later day because of the cap (``over_cap: hold``)

    def hold(self, reason: HoldReason, count: int = 1) -> None:
        """Count ``count`` deliveries held back for ``reason``."""
        if count:
            self.held[reason] = self.held.get(reason, 0) + count

    @property
    def held_total(self) -> int:
        return sum(self.held.values())

    def held_in_order(self) -> list[tuple[HoldReason, int]]:
        """Return the non-zero hold counts in the order the checks are made."""
        return [(reason, self.held[reason]) for reason in HoldReason if self.held.get(reason)]

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the row."""
        return {
            "kind": str(self.kind),
            "key": self.key,
            "title": self.title,
            "camp_time": str(self.camp_time) if self.camp_time else None,
            "local_time": self.local_time.isoformat() if self.local_time else None,
            "clock": str(self.clock),
            "channel": str(self.channel) if self.channel else None,
            "audience": str(self.audience) if self.audience else None,
            "selling": self.selling,
            "milestone": str(self.milestone_kind) if self.milestone_kind else None,
            "trigger": self.trigger,
            "fired": self.fired,
            "reached": self.reached,
            "held": {str(reason): count for reason, count in self.held_in_order()},
            "moved": self.moved,
            "deferred": self.deferred,
        }


@dataclass
class SimulationTotals:
    """Sums over all rows plus what the synthetic cohort looked like."""

    reached: int = 0
    held: dict[HoldReason, int] = field(default_factory=dict)
    moved: int = 0
    deferred: int = 0
    advisor_tasks: int = 0  # deliveries on ``advisor_task``: the advisors' workload
    automated_1v1: int = 0
    learners_paid: int = 0
    learners_opted_out: int = 0
    learners_minor: int = 0
    learners_other_timezone: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the totals."""
        return {
            "reached": self.reached,
            "held": {str(r): self.held[r] for r in HoldReason if self.held.get(r)},
            "moved": self.moved,
            "deferred": self.deferred,
            "advisor_tasks": self.advisor_tasks,
            "automated_1v1": self.automated_1v1,
            "learners_paid": self.learners_paid,
            "learners_opted_out": self.learners_opted_out,
            "learners_minor": self.learners_minor,
            "learners_other_timezone": self.learners_other_timezone,
        }


@dataclass
class SimulationReport:
    """The simulated calendar of one cohort of synthetic learners."""

    journey: str
    title: str
    timezone: str
    starts_on: date
    learners: int
    seed: int
    advisors: int
    rows: list[ReportRow]
    totals: SimulationTotals

    def row(self, key: str, camp_time: CampTime | None = None) -> ReportRow:
        """Return the row of step or milestone ``key`` (at ``camp_time`` when it recurs)."""
        for row in self.rows:
            if row.key == key and (camp_time is None or row.camp_time == camp_time):
                return row
        raise KeyError(key if camp_time is None else f"{key} at {camp_time}")

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form: what was simulated, the rows, the totals."""
        return {
            "journey": self.journey,
            "title": self.title,
            "timezone": self.timezone,
            "starts_on": self.starts_on.isoformat(),
            "learners": self.learners,
            "seed": self.seed,
            "advisors": self.advisors,
            "rows": [row.as_dict() for row in self.rows],
            "totals": self.totals.as_dict(),
        }


def sum_totals(rows: list[ReportRow]) -> SimulationTotals:
    """Add up the delivery counts of ``rows`` (the cohort counts are filled in by the caller)."""
    totals = SimulationTotals()
    for row in rows:
        totals.reached += row.reached
        totals.moved += row.moved
        totals.deferred += row.deferred
        for reason, count in row.held.items():
            totals.held[reason] = totals.held.get(reason, 0) + count
        if row.channel is Channel.ADVISOR_TASK:
            totals.advisor_tasks += row.reached
        if row.audience is Audience.LEARNER and row.channel and row.channel.is_automated:
            totals.automated_1v1 += row.reached
    return totals
