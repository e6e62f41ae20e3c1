"""The governor: decide, at send time, whether a due delivery goes out now, later, or never.

Pure: the send worker gathers the facts (consent, counts already sent today, quotas) and this
module decides, so the same rules serve the worker, the simulator and the tests. Every "no"
carries a reason that is stored on the delivery and shown in the console.

Order matters and is deliberate: who the learner is (state, goal, consent) comes before time
(expiry, quiet hours), which comes before budgets (caps, quotas, advisor capacity), so a
delivery is never counted against a budget it was never going to use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaign.journeys.calendar import next_allowed_minute
from campaign.journeys.spec import Channel, OverCapPolicy, QuietHours, QuietHoursPolicy, Step

SMS_WINDOW = QuietHours(start=21 * 60, end=8 * 60)  # promotional SMS: 08:00–21:00 recipient time


class Verdict(enum.StrEnum):
    SEND = "send"
    DEFER = "defer"  # not now: try again at ``retry_at``
    SKIP = "skip"  # never: a terminal "skipped" with the reason
    EXPIRE = "expire"  # could not go out in time: terminal "expired"
    CANCEL = "cancel"  # no longer wanted (goal reached, enrollment ended): terminal "cancelled"


class Reason(enum.StrEnum):
    NOT_ACTIVE = "enrollment not active"
    GOAL_REACHED = "goal reached (paid)"
    OFFER_CLOSED = "offer closed"
    OPTED_OUT = "opted out"
    DO_NOT_DISTURB = "do not disturb"
    MINOR = "under 14: no marketing"
    NO_CONTACT = "no address on this channel"
    CONDITION_FALSE = "condition false"
    EXPIRED = "expired"
    QUIET_HOURS = "quiet hours"
    SMS_HOURS = "outside SMS hours (08:00-21:00)"
    CAPPED = "daily cap reached"
    WECOM_QUOTA = "WeCom mass-send quota used"
    ADVISOR_CAPACITY = "advisor's daily capacity reached"
    COHORT_PAUSED = "cohort paused"


@dataclass(frozen=True)
class Learner:
    """What the governor needs to know about the recipient."""

    timezone: ZoneInfo
    opted_out: bool = False
    do_not_disturb: bool = False
    is_minor: bool = False


@dataclass(frozen=True)
class Budgets:
    """What is already used today (on the learner's local day) against each limit."""

    automated_sent_today: int = 0
    automated_cap: int = 1
    wecom_sent_in_period: int = 0
    wecom_quota: int | None = None  # the tenant's per-customer mass-send quota for the period
    advisor_tasks_today: int = 0
    advisor_capacity: int | None = None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: Reason | None = None
    retry_at: datetime | None = None

    @property
    def goes_out(self) -> bool:
        return self.verdict is Verdict.SEND


SEND = Decision(Verdict.SEND)


def _later(reason: Reason, at: datetime, deadline: datetime | None) -> Decision:
    """Defer to ``at`` unless that is past the deadline, in which case it expires now."""
    if deadline is not None and at > deadline:
        return Decision(Verdict.EXPIRE, Reason.EXPIRED)
    return Decision(Verdict.DEFER, reason, at)


def wait_out(window: QuietHours, now: datetime, tz: ZoneInfo) -> datetime | None:
    """Return when ``window`` (quiet period) ends on a clock in ``tz``, or None if not inside."""
    local = now.astimezone(tz)
    wait = next_allowed_minute(local.hour * 60 + local.minute, window)
    if not wait:
        return None
    return (local + timedelta(minutes=wait)).replace(second=0, microsecond=0).astimezone(now.tzinfo)


def next_local_morning(now: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """Return the first allowed minute of the learner's next local day."""
    local = now.astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=tz)
    return wait_out(quiet, midnight, tz) or midnight


def govern(
    step: Step,
    *,
    now: datetime,
    due_at: datetime,
    learner: Learner,
    enrollment_active: bool,
    goal_reached: bool,
    offer_open: bool,
    condition_holds: bool,
    quiet_hours: QuietHours,
    budgets: Budgets,
) -> Decision:
    """Decide what happens to one due delivery of ``step`` at ``now``.

    :param due_at: when it was planned for; ``expires_after`` counts from here.
    :param offer_open: whether the journey's offer window is open (only selling steps care).
    :param condition_holds: the step's ``when`` evaluated now on today's facts.
    """
    if not enrollment_active:
        return Decision(Verdict.CANCEL, Reason.NOT_ACTIVE)
    if step.selling and goal_reached:
        return Decision(Verdict.CANCEL, Reason.GOAL_REACHED)
    if learner.opted_out:
        return Decision(Verdict.SKIP, Reason.OPTED_OUT)
    if learner.do_not_disturb:
        return Decision(Verdict.SKIP, Reason.DO_NOT_DISTURB)
    if step.selling and learner.is_minor:
        return Decision(Verdict.SKIP, Reason.MINOR)
    if step.selling and not offer_open:
        return Decision(Verdict.SKIP, Reason.OFFER_CLOSED)
    deadline = due_at + step.expires_after if step.expires_after is not None else None
    if deadline is not None and now > deadline:
        return Decision(Verdict.EXPIRE, Reason.EXPIRED)
    if not condition_holds:
        return Decision(Verdict.SKIP, Reason.CONDITION_FALSE)
    timing = _timing(step, now, learner.timezone, quiet_hours, deadline)
    if timing is not None:
        return timing
    return _budgets(step, now, learner.timezone, quiet_hours, budgets, deadline)


def _timing(
    step: Step, now: datetime, tz: ZoneInfo, quiet: QuietHours, deadline: datetime | None
) -> Decision | None:
    if step.channel is Channel.SMS and (
        step.selling or step.quiet_hours is not QuietHoursPolicy.EXEMPT
    ):
        until = wait_out(SMS_WINDOW, now, tz)
        if until is not None:
            if step.quiet_hours is QuietHoursPolicy.DROP:
                return Decision(Verdict.SKIP, Reason.SMS_HOURS)
            return _later(Reason.SMS_HOURS, until, deadline)
    if step.quiet_hours is QuietHoursPolicy.EXEMPT:
        return None
    until = wait_out(quiet, now, tz)
    if until is None:
        return None
    if step.quiet_hours is QuietHoursPolicy.DROP:
        return Decision(Verdict.SKIP, Reason.QUIET_HOURS)
    return _later(Reason.QUIET_HOURS, until, deadline)


def _budgets(
    step: Step,
    now: datetime,
    tz: ZoneInfo,
    quiet: QuietHours,
    budgets: Budgets,
    deadline: datetime | None,
) -> Decision:
    if step.is_automated_1v1 and budgets.automated_sent_today >= budgets.automated_cap:
        if step.over_cap is OverCapPolicy.HOLD:
            return _later(Reason.CAPPED, next_local_morning(now, tz, quiet), deadline)
        return Decision(Verdict.SKIP, Reason.CAPPED)
    if (
        step.channel is Channel.WECOM
        and budgets.wecom_quota is not None
        and budgets.wecom_sent_in_period >= budgets.wecom_quota
    ):
        return Decision(Verdict.SKIP, Reason.WECOM_QUOTA)
    if (
        step.channel is Channel.ADVISOR_TASK
        and budgets.advisor_capacity is not None
        and budgets.advisor_tasks_today >= budgets.advisor_capacity
    ):
        if step.over_cap is OverCapPolicy.HOLD:
            return _later(Reason.ADVISOR_CAPACITY, next_local_morning(now, tz, quiet), deadline)
        return Decision(Verdict.SKIP, Reason.ADVISOR_CAPACITY)
    return SEND
