"""The simulator applies the send worker's checks, in order, to a deterministic synthetic cohort."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from campaign.journeys.calendar import local_datetime, shift_out_of_quiet_hours, to_utc
from campaign.journeys.conditions import LearnerFacts, evaluate
from campaign.journeys.sim_caps import CapCandidate, CapDecision, allocate_caps
from campaign.journeys.sim_clock import LocalClock
from campaign.journeys.sim_learners import NEVER, SimLearner, make_learners
from campaign.journeys.sim_report import HoldReason, RowKind, SimulationReport
from campaign.journeys.simulate import ADVISORS, simulate, work_units
from campaign.journeys.spec import (
    DEFAULT_QUIET_HOURS,
    Audience,
    CampTime,
    Caps,
    Channel,
    EventWithin,
    JourneySpec,
    Milestone,
    MilestoneKind,
    MilestoneOffset,
    Not,
    Offer,
    OverCapPolicy,
    QuietHoursPolicy,
    StateIn,
    Step,
    StepOutcome,
    TimeBase,
    Trigger,
    Variant,
    Window,
)

STARTS_ON = date(2025, 6, 2)
LEARNERS = 400
SEED = 7
COHORT_TZ = "Asia/Shanghai"
MILESTONES = {
    "awards": Milestone("awards", CampTime(7, 20 * 60), MilestoneKind.PEAK),
    "graduation": Milestone("graduation", CampTime(7, 20 * 60 + 40), MilestoneKind.END),
}


def step(key: str, *at: CampTime | MilestoneOffset, **fields: Any) -> Step:
    fields.setdefault("channel", Channel.ADVISOR_TASK)
    return Step(key=key, variants=(Variant("a", "hi {{ learner.name }}"),), at=at, **fields)


def journey(*steps: Step, caps: Caps | None = None) -> JourneySpec:
    return JourneySpec(
        key="test-camp", title="Test camp", timezone=COHORT_TZ, days=7, steps=steps,
        milestones=MILESTONES, offer=Offer(CampTime(5, 20 * 60), CampTime(8, 23 * 60 + 59)),
        caps=caps or Caps(),
    )


def run(spec: JourneySpec, seed: int = SEED, learners: int = LEARNERS) -> SimulationReport:
    return simulate(spec, STARTS_ON, learners, seed)


def cohort(spec: JourneySpec, seed: int = SEED, learners: int = LEARNERS) -> list[SimLearner]:
    """The same learners ``simulate`` draws for ``seed``."""
    return make_learners(spec, STARTS_ON, learners, random.Random(seed))


def cohort_instant(camp_time: CampTime) -> float:
    return to_utc(STARTS_ON, camp_time, ZoneInfo(COHORT_TZ)).timestamp()


def is_quiet(learner: SimLearner, moment: float) -> bool:
    local = datetime.fromtimestamp(moment, ZoneInfo(learner.timezone))
    return DEFAULT_QUIET_HOURS.contains(local.hour * 60 + local.minute)


def accounted(report: SimulationReport, key: str, camp_time: CampTime | None = None) -> int:
    row = report.row(key, camp_time)
    return row.reached + row.held_total


D2_21 = CampTime(2, 21 * 60)
HOMEWORK_REMINDER = step(
    "homework-reminder", D2_21, quiet_hours=QuietHoursPolicy.EXEMPT,
    when=Not(EventWithin("homework_submitted", Window.TODAY)),
)


def test_same_seed_gives_the_same_report() -> None:
    spec = journey(HOMEWORK_REMINDER, step("recommend", CampTime(5, 21 * 60), selling=True))
    assert run(spec).as_dict() == run(spec).as_dict()


def test_another_seed_gives_another_cohort() -> None:
    spec = journey(HOMEWORK_REMINDER)
    assert run(spec, seed=1).as_dict()["rows"] != run(spec, seed=2).as_dict()["rows"]


def test_synthetic_cohort_has_the_promised_variety() -> None:
    learners = cohort(journey(HOMEWORK_REMINDER), learners=2000)
    groups = {tag.split(":")[0] for learner in learners for tag in learner.tags}
    assert {"source", "goal", "level", "persona", "intent"} <= groups
    assert len({learner.activity for learner in learners}) == 4
    assert 0 < sum(learner.timezone != COHORT_TZ for learner in learners) < 400
    assert 0 < sum(learner.minor for learner in learners) < 200
    assert 0 < sum(learner.opted_out_at < NEVER for learner in learners) < 200
    assert 0 < sum(learner.paid_at < NEVER for learner in learners) < 600
    enroll_start, camp_start = cohort_instant(CampTime(-3, 0)), cohort_instant(CampTime(1, 0))
    assert all(enroll_start - 86400 < lr.enrolled_at < camp_start + 86400 for lr in learners)


def test_homework_condition_holds_back_those_who_submitted_today() -> None:
    report = run(journey(HOMEWORK_REMINDER))
    row = report.row("homework-reminder")
    due = datetime.fromtimestamp(cohort_instant(D2_21), UTC)
    tz = ZoneInfo(COHORT_TZ)
    submitted_today = 0
    for learner in cohort(journey(HOMEWORK_REMINDER)):
        facts = LearnerFacts(events=[
            ("homework_submitted", datetime.fromtimestamp(t, UTC))
            for t in learner.event_times.get("homework_submitted", [])
        ])
        submitted_today += evaluate(
            EventWithin("homework_submitted", Window.TODAY), facts, now=due, tz=tz,
            camp_start=local_datetime(STARTS_ON, CampTime(1, 0), tz),
        )
    assert 0 < submitted_today < LEARNERS
    assert row.held == {HoldReason.CONDITION: submitted_today}
    assert row.reached == LEARNERS - submitted_today


def test_quiet_hours_drop_holds_back_those_whose_clock_is_quiet() -> None:
    late = CampTime(2, 23 * 60)
    spec = journey(step("late-note", late, quiet_hours=QuietHoursPolicy.DROP))
    quiet = sum(is_quiet(lr, cohort_instant(late)) for lr in cohort(spec))
    row = run(spec).row("late-note")
    assert 0 < quiet < LEARNERS  # most learners are in Shanghai; London is mid-afternoon
    assert row.held == {HoldReason.QUIET_HOURS: quiet}
    assert row.reached == LEARNERS - quiet
    assert row.moved == 0


def test_quiet_hours_move_sends_at_the_next_allowed_minute() -> None:
    late = CampTime(2, 23 * 60)
    spec = journey(step("late-note", late, quiet_hours=QuietHoursPolicy.MOVE))
    quiet = sum(is_quiet(lr, cohort_instant(late)) for lr in cohort(spec))
    row = run(spec).row("late-note")
    assert row.reached == LEARNERS
    assert row.moved == quiet
    assert row.held == {}


def test_a_move_later_than_expires_after_allows_is_expired() -> None:
    late = CampTime(2, 23 * 60)  # in Shanghai the next allowed minute is 08:00, 9 hours on
    spec = journey(step("late-note", late, expires_after=timedelta(hours=2)))
    quiet = sum(is_quiet(lr, cohort_instant(late)) for lr in cohort(spec))
    row = run(spec).row("late-note")
    assert row.held == {HoldReason.EXPIRED: quiet}
    assert row.moved == 0


def test_exempt_steps_ignore_quiet_hours() -> None:
    spec = journey(step("late-note", CampTime(2, 23 * 60), quiet_hours=QuietHoursPolicy.EXEMPT))
    row = run(spec).row("late-note")
    assert (row.reached, row.held, row.moved) == (LEARNERS, {}, 0)


def automated(key: str, minute: int, priority: int, **fields: Any) -> Step:
    # On each learner's own clock, so both sends fall on the same local day for everyone.
    return step(key, CampTime(2, minute), channel=Channel.WECOM, priority=priority,
                tz=TimeBase.LEARNER, **fields)


def test_cap_holds_back_the_lower_priority_step_even_when_it_comes_first() -> None:
    spec = journey(automated("morning-tip", 10 * 60, 40), automated("evening-live", 18 * 60, 80))
    report = run(spec)
    assert report.row("evening-live").reached == LEARNERS
    assert report.row("morning-tip").held == {HoldReason.CAP: LEARNERS}
    assert report.totals.automated_1v1 == LEARNERS


def test_a_higher_cap_lets_both_through() -> None:
    spec = journey(automated("morning-tip", 10 * 60, 40), automated("evening-live", 18 * 60, 80),
                   caps=Caps(automated_1v1_per_day=2))
    report = run(spec)
    assert report.row("morning-tip").reached == report.row("evening-live").reached == LEARNERS


def test_over_cap_hold_defers_to_the_next_day() -> None:
    spec = journey(automated("morning-tip", 10 * 60, 40, over_cap=OverCapPolicy.HOLD),
                   automated("evening-live", 18 * 60, 80))
    row = run(spec).row("morning-tip")
    assert (row.reached, row.deferred, row.held) == (LEARNERS, LEARNERS, {})


def test_over_cap_hold_is_still_bounded_by_expiry() -> None:
    spec = journey(automated("morning-tip", 10 * 60, 40, over_cap=OverCapPolicy.HOLD,
                             expires_after=timedelta(hours=12)),
                   automated("evening-live", 18 * 60, 80))
    assert run(spec).row("morning-tip").held == {HoldReason.CAP: LEARNERS}


def test_advisor_tasks_do_not_count_toward_the_cap() -> None:
    spec = journey(automated("evening-live", 18 * 60, 80),
                   step("call", CampTime(2, 12 * 60), tz=TimeBase.LEARNER))
    report = run(spec)
    assert report.row("call").reached == report.row("evening-live").reached == LEARNERS


def test_selling_steps_stop_at_payment_and_respect_consent_and_age() -> None:
    due = CampTime(8, 12 * 60)
    spec = journey(step("offer-close", due, selling=True, quiet_hours=QuietHoursPolicy.EXEMPT))
    learners = cohort(spec)
    moment = cohort_instant(due)
    opted_out = [lr for lr in learners if lr.opted_out_at <= moment]
    minors = [lr for lr in learners if lr.minor and lr not in opted_out]
    paid = [lr for lr in learners
            if lr.paid_at <= moment and lr not in opted_out and lr not in minors]
    row = run(spec).row("offer-close")
    assert paid and minors
    assert row.held.get(HoldReason.GOAL_REACHED) == len(paid)
    assert row.held.get(HoldReason.MINOR) == len(minors)
    assert row.held.get(HoldReason.OPTED_OUT, 0) == len(opted_out)
    assert row.reached == LEARNERS - len(paid) - len(minors) - len(opted_out)


def test_paid_learners_get_no_selling_step_after_paying() -> None:
    spec = journey(step("offer-close", CampTime(8, 12 * 60), selling=True),
                   step("thanks", CampTime(8, 12 * 60)))
    report = run(spec)
    assert report.row("offer-close").held[HoldReason.GOAL_REACHED] > 0
    assert HoldReason.GOAL_REACHED not in report.row("thanks").held  # only selling steps stop


def test_late_joiners_miss_past_steps_unless_catch_up() -> None:
    early = CampTime(-3, 12 * 60)
    spec = journey(step("prep", early, quiet_hours=QuietHoursPolicy.EXEMPT),
                   step("prep-catch-up", early, catch_up=True, quiet_hours=QuietHoursPolicy.EXEMPT))
    late = sum(lr.enrolled_at > cohort_instant(early) for lr in cohort(spec))
    report = run(spec)
    assert 0 < late < LEARNERS
    assert report.row("prep").held == {HoldReason.NOT_ENROLLED: late}
    assert report.row("prep-catch-up").reached == LEARNERS


def test_event_triggered_steps_fire_per_event_with_their_trigger_shown() -> None:
    spec = journey(
        step("welcome", on=Trigger("enrolled"), channel=Channel.WECOM,
             quiet_hours=QuietHoursPolicy.EXEMPT),
        step("homework-thanks", on=Trigger("homework_submitted", timedelta(minutes=10))),
        HOMEWORK_REMINDER,
    )
    learners = cohort(spec)
    report = run(spec)
    welcome = report.row("welcome")
    assert welcome.kind is RowKind.EVENT_STEP
    assert welcome.trigger == "on enrolled +0m"
    assert (welcome.fired, welcome.reached) == (LEARNERS, LEARNERS)
    thanks = report.row("homework-thanks")
    assert thanks.trigger == "on homework_submitted +10m"
    assert thanks.fired == sum(bool(lr.event_times.get("homework_submitted")) for lr in learners)
    events = sum(len(lr.event_times.get("homework_submitted", [])) for lr in learners)
    assert thanks.reached + thanks.held_total == events
    assert [row.kind for row in report.rows[:2]] == [RowKind.EVENT_STEP, RowKind.EVENT_STEP]


def test_milestones_are_rows_marked_with_their_kind_in_time_order() -> None:
    spec = journey(step("graduation-thanks", MilestoneOffset("graduation", timedelta(minutes=30))),
                   step("before-awards", CampTime(7, 19 * 60)))
    report = run(spec)
    order = [(row.key, row.milestone_kind) for row in report.rows]
    assert order == [
        ("before-awards", None),
        ("awards", MilestoneKind.PEAK),
        ("graduation", MilestoneKind.END),
        ("graduation-thanks", None),
    ]
    assert report.row("graduation-thanks").camp_time == CampTime(7, 21 * 60 + 10)
    assert report.row("graduation").local_time == datetime(2025, 6, 8, 20, 40,
                                                           tzinfo=ZoneInfo(COHORT_TZ))


def test_recurring_steps_get_one_row_per_occurrence() -> None:
    days = [CampTime(day, 21 * 60) for day in (1, 2, 3, 4)]
    report = run(journey(replace(HOMEWORK_REMINDER, at=tuple(days))))
    assert [row.camp_time for row in report.rows if row.key == "homework-reminder"] == days
    assert all(accounted(report, "homework-reminder", day) == LEARNERS for day in days)


def test_cohort_and_advisor_steps_are_one_delivery_each() -> None:
    spec = journey(step("task-card", CampTime(1, 8 * 60 + 30), channel=Channel.WECOM,
                        audience=Audience.COHORT),
                   step("daily-report", CampTime(1, 22 * 60), channel=Channel.LOG,
                        audience=Audience.ADVISOR, quiet_hours=QuietHoursPolicy.EXEMPT),
                   step("night-post", CampTime(1, 23 * 60), channel=Channel.WECOM,
                        audience=Audience.COHORT, quiet_hours=QuietHoursPolicy.DROP))
    report = run(spec)
    assert report.row("task-card").reached == 1
    assert report.row("daily-report").reached == ADVISORS
    assert report.row("night-post").held == {HoldReason.QUIET_HOURS: 1}


def test_learner_clock_steps_go_out_at_each_learners_local_time() -> None:
    spec = journey(step("nps", CampTime(9, 11 * 60), channel=Channel.WECOM, tz=TimeBase.LEARNER))
    row = run(spec).row("nps")
    assert row.clock is TimeBase.LEARNER
    assert (row.reached, row.moved) == (LEARNERS, 0)  # 11:00 is daytime on every clock


def test_outcome_conditions_read_what_the_advisor_did_with_the_earlier_task() -> None:
    spec = journey(step("recommend", CampTime(5, 21 * 60), quiet_hours=QuietHoursPolicy.EXEMPT),
                   step("follow-up", CampTime(6, 12 * 60), quiet_hours=QuietHoursPolicy.EXEMPT,
                        when=StepOutcome("recommend", frozenset({"sent"}))))
    report = run(spec)
    follow_up = report.row("follow-up").reached
    assert 0.8 * LEARNERS < follow_up < LEARNERS  # advisors sometimes postpone or skip


def test_state_conditions_see_payment_as_converted() -> None:
    spec = journey(step("for-buyers", CampTime(8, 20 * 60),
                        when=StateIn(frozenset({"converted"}))))
    paid = sum(lr.paid_at <= cohort_instant(CampTime(8, 20 * 60)) and
               lr.opted_out_at > cohort_instant(CampTime(8, 20 * 60)) for lr in cohort(spec))
    assert run(spec).row("for-buyers").reached == paid > 0


def test_totals_add_up_the_rows() -> None:
    spec = journey(HOMEWORK_REMINDER, step("recommend", CampTime(5, 21 * 60), selling=True))
    report = run(spec)
    rows = [row for row in report.rows if row.kind is not RowKind.MILESTONE]
    assert report.totals.reached == sum(row.reached for row in rows)
    assert sum(report.totals.held.values()) == sum(row.held_total for row in rows)
    assert report.totals.advisor_tasks == report.totals.reached


def test_progress_reports_every_unit_of_work() -> None:
    spec = journey(HOMEWORK_REMINDER, step("recommend", CampTime(5, 21 * 60)))
    done: list[int] = []
    simulate(spec, STARTS_ON, 50, SEED, progress=done.append)
    assert sum(done) == work_units(spec)


def test_json_form_is_plain_data() -> None:
    data = run(journey(HOMEWORK_REMINDER)).as_dict()
    row = next(r for r in data["rows"] if r["key"] == "homework-reminder")
    assert row["local_time"] == "2025-06-03T21:00:00+08:00"
    assert row["camp_time"] == "D2 21:00"
    assert set(row["held"]) <= {reason.value for reason in HoldReason}
    assert data["totals"]["reached"] == row["reached"]


# --- the cap allocation on its own ----------------------------------------------------------

def candidate(day: int, priority: int, send: float, row: int, *, hold: bool = False,
              latest: float = NEVER, learner: int = 0) -> CapCandidate:
    return CapCandidate(learner, day, priority, send, row, latest, hold, False)


def next_day(c: CapCandidate) -> tuple[float, int]:
    return (c.day + 1) * 100.0, c.day + 1


def decide(candidates: Sequence[CapCandidate], cap: int = 1) -> dict[int, CapDecision]:
    return {c.row: d for c, d in allocate_caps(list(candidates), cap, next_day)}


def test_allocation_prefers_priority_then_the_earlier_send() -> None:
    assert decide([candidate(1, 40, 110.0, 0), candidate(1, 80, 150.0, 1)]) == {
        0: CapDecision.HELD, 1: CapDecision.SENT}
    assert decide([candidate(1, 50, 150.0, 0), candidate(1, 50, 110.0, 1)]) == {
        0: CapDecision.HELD, 1: CapDecision.SENT}


def test_allocation_is_per_learner_and_per_day() -> None:
    assert set(decide([candidate(1, 50, 110.0, 0), candidate(2, 50, 210.0, 1),
                       candidate(1, 50, 120.0, 2, learner=1)]).values()) == {CapDecision.SENT}


def test_held_candidates_wait_for_a_day_with_room() -> None:
    decisions = decide([
        candidate(1, 80, 110.0, 0), candidate(1, 40, 120.0, 1, hold=True),
        candidate(2, 90, 210.0, 2),  # day 2 is full too: row 1 waits until day 3
    ])
    assert decisions == {0: CapDecision.SENT, 1: CapDecision.DEFERRED, 2: CapDecision.SENT}


def test_held_candidates_past_their_latest_moment_are_dropped() -> None:
    decisions = decide([candidate(1, 80, 110.0, 0),
                        candidate(1, 40, 120.0, 1, hold=True, latest=150.0)])
    assert decisions == {0: CapDecision.SENT, 1: CapDecision.HELD}


@pytest.mark.parametrize("cap", [0, 1, 2, 3])
def test_allocation_decides_every_candidate_once(cap: int) -> None:
    candidates = [candidate(day, priority, day * 100.0 + priority, row, hold=row % 2 == 0,
                            latest=600.0)
                  for row, (day, priority) in enumerate([(1, 10), (1, 20), (1, 30), (2, 10),
                                                         (4, 50), (4, 60)])]
    decisions = list(allocate_caps(candidates, cap, next_day))
    assert sorted(c.row for c, _ in decisions) == list(range(len(candidates)))
    sent_per_day: dict[int, int] = {}
    for c, decision in decisions:
        if decision is CapDecision.SENT:
            sent_per_day[c.day] = sent_per_day.get(c.day, 0) + 1
    assert all(count <= cap for count in sent_per_day.values())


# --- the simulator's fast clock agrees with zoneinfo -------------------------------------------

@pytest.mark.parametrize(
    ("timezone", "around"),
    [
        ("America/New_York", datetime(2025, 3, 8, tzinfo=UTC)),  # spring forward on the 9th
        ("America/New_York", datetime(2025, 11, 1, tzinfo=UTC)),  # fall back on the 2nd
        ("Europe/London", datetime(2025, 3, 29, tzinfo=UTC)),
        ("Australia/Adelaide", datetime(2025, 4, 4, tzinfo=UTC)),  # +10:30 -> +09:30
        ("Asia/Shanghai", datetime(2025, 6, 1, tzinfo=UTC)),
    ],
)
def test_local_clock_agrees_with_zoneinfo_across_dst(timezone: str, around: datetime) -> None:
    clock, tz = LocalClock(timezone), ZoneInfo(timezone)
    for minutes in range(0, 4 * 1440, 7):
        moment = around.timestamp() + minutes * 60
        local = datetime.fromtimestamp(moment, tz)
        assert clock.minute_of_day(moment) == local.hour * 60 + local.minute
        expected = shift_out_of_quiet_hours(datetime.fromtimestamp(moment, UTC), tz,
                                            DEFAULT_QUIET_HOURS)
        assert clock.out_of_quiet_hours(moment, DEFAULT_QUIET_HOURS) == expected.timestamp()
