"""The governor holds back what must not go out, always with a reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from campaign.journeys.spec import (
    DEFAULT_QUIET_HOURS,
    Channel,
    OverCapPolicy,
    QuietHoursPolicy,
    Step,
    Variant,
)
from campaign.messages.governor import Budgets, Learner, Reason, Verdict, govern

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
LATE = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
STEP = Step(key="s", channel=Channel.WECOM, variants=(Variant("a", "hi"),))


def decide(step: Step = STEP, now: datetime = NOON, **overrides: Any) -> Any:
    args: dict[str, Any] = dict(
        now=now,
        due_at=now,
        learner=Learner(SHANGHAI),
        enrollment_active=True,
        goal_reached=False,
        offer_open=True,
        condition_holds=True,
        quiet_hours=DEFAULT_QUIET_HOURS,
        budgets=Budgets(),
    )
    args.update(overrides)
    return govern(step, **args)


def test_everything_fine_sends() -> None:
    assert decide().verdict is Verdict.SEND


def test_consent_is_absolute() -> None:
    assert decide(learner=Learner(SHANGHAI, opted_out=True)).reason is Reason.OPTED_OUT
    assert decide(learner=Learner(SHANGHAI, do_not_disturb=True)).reason is Reason.DO_NOT_DISTURB
    selling = replace(STEP, selling=True)
    assert decide(selling, learner=Learner(SHANGHAI, is_minor=True)).reason is Reason.MINOR
    assert decide(learner=Learner(SHANGHAI, is_minor=True)).verdict is Verdict.SEND


def test_payment_cancels_selling_steps_only() -> None:
    selling = replace(STEP, selling=True)
    decision = decide(selling, goal_reached=True)
    assert (decision.verdict, decision.reason) == (Verdict.CANCEL, Reason.GOAL_REACHED)
    assert decide(goal_reached=True).verdict is Verdict.SEND


def test_selling_after_the_offer_closed_is_skipped() -> None:
    assert decide(replace(STEP, selling=True), offer_open=False).reason is Reason.OFFER_CLOSED


def test_condition_false_skips() -> None:
    assert decide(condition_holds=False).reason is Reason.CONDITION_FALSE


def test_expired_when_past_expires_after() -> None:
    step = replace(STEP, expires_after=timedelta(hours=2))
    decision = decide(step, due_at=NOON - timedelta(hours=3))
    assert (decision.verdict, decision.reason) == (Verdict.EXPIRE, Reason.EXPIRED)


def test_quiet_hours_move_to_next_morning_in_the_learner_zone() -> None:
    decision = decide(now=LATE)
    assert decision.verdict is Verdict.DEFER
    assert decision.retry_at == datetime(2026, 12, 9, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    new_york = Learner(ZoneInfo("America/New_York"))  # 09:00 there: not quiet
    assert decide(now=LATE, learner=new_york).verdict is Verdict.SEND


def test_quiet_hours_drop_and_exempt() -> None:
    drop = replace(STEP, quiet_hours=QuietHoursPolicy.DROP)
    assert decide(drop, now=LATE).reason is Reason.QUIET_HOURS
    exempt = replace(STEP, quiet_hours=QuietHoursPolicy.EXEMPT)
    assert decide(exempt, now=LATE).verdict is Verdict.SEND


def test_move_past_the_expiry_expires_instead() -> None:
    step = replace(STEP, expires_after=timedelta(hours=2))
    assert decide(step, now=LATE).verdict is Verdict.EXPIRE


def test_sms_hours_apply_even_with_custom_quiet_hours() -> None:
    sms = replace(STEP, channel=Channel.SMS)
    at_2130 = datetime(2026, 12, 8, 13, 30, tzinfo=UTC)
    decision = decide(sms, now=at_2130, quiet_hours=replace(DEFAULT_QUIET_HOURS, start=23 * 60))
    assert decision.reason is Reason.SMS_HOURS


def test_daily_cap_drops_or_holds() -> None:
    used = Budgets(automated_sent_today=1, automated_cap=1)
    assert decide(budgets=used).reason is Reason.CAPPED
    hold = replace(STEP, over_cap=OverCapPolicy.HOLD)
    decision = decide(hold, budgets=used)
    assert decision.verdict is Verdict.DEFER
    assert decision.retry_at == datetime(2026, 12, 9, 0, 0, tzinfo=UTC)


def test_advisor_tasks_do_not_count_toward_the_automated_cap_but_toward_capacity() -> None:
    task = replace(STEP, channel=Channel.ADVISOR_TASK)
    assert decide(task, budgets=Budgets(automated_sent_today=5)).verdict is Verdict.SEND
    full = Budgets(advisor_tasks_today=40, advisor_capacity=40)
    assert decide(task, budgets=full).reason is Reason.ADVISOR_CAPACITY


def test_wecom_quota() -> None:
    used = Budgets(wecom_sent_in_period=4, wecom_quota=4, automated_cap=9)
    assert decide(budgets=used).reason is Reason.WECOM_QUOTA
