"""Conditions are read at the moment a step is due, on the step's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign.journeys.conditions import LearnerFacts, compile_condition, evaluate, facts_used
from campaign.journeys.spec import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    EventWithin,
    HasTag,
    Not,
    PointsCompare,
    StateIn,
    StepOutcome,
    Window,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAMP_START = datetime(2025, 6, 2, tzinfo=SHANGHAI)  # D1 00:00 local
NOW = datetime(2025, 6, 4, 21, 0, tzinfo=SHANGHAI)  # D3 21:00 local


def holds(condition: Condition | None, facts: LearnerFacts, *, now: datetime = NOW,
          tz: ZoneInfo = SHANGHAI) -> bool:
    return evaluate(condition, facts, now=now, tz=tz, camp_start=CAMP_START)


def submitted(*moments: datetime) -> LearnerFacts:
    return LearnerFacts(events=[("homework_submitted", m) for m in moments])


def test_no_condition_always_holds() -> None:
    assert holds(None, LearnerFacts())


def test_exact_tag_matches_only_that_tag() -> None:
    facts = LearnerFacts(tags=frozenset({"goal:excel-automation", "level:beginner"}))
    assert holds(HasTag("goal:excel-automation"), facts)
    assert not holds(HasTag("goal:data-collection"), facts)


def test_wildcard_tag_matches_any_tag_of_the_group() -> None:
    assert holds(HasTag("goal:*"), LearnerFacts(tags=frozenset({"goal:web"})))
    assert not holds(HasTag("goal:*"), LearnerFacts(tags=frozenset({"level:some"})))
    assert not holds(HasTag("goal:*"), LearnerFacts(tags=frozenset({"goalkeeper:x"})))
    assert not holds(HasTag("goal:*"), LearnerFacts())


def test_today_is_the_local_day_of_now_in_shanghai() -> None:
    today = EventWithin("homework_submitted", Window.TODAY)
    # 00:30 Shanghai on D3 is 16:30 UTC on D2: today in Shanghai, yesterday in UTC.
    just_after_midnight = datetime(2025, 6, 4, 0, 30, tzinfo=SHANGHAI)
    assert holds(today, submitted(just_after_midnight))
    assert not holds(today, submitted(just_after_midnight), tz=ZoneInfo("UTC"))
    just_before_midnight = datetime(2025, 6, 3, 23, 59, tzinfo=SHANGHAI)
    assert not holds(today, submitted(just_before_midnight))


def test_today_starts_exactly_at_local_midnight() -> None:
    today = EventWithin("homework_submitted", Window.TODAY)
    assert holds(today, submitted(datetime(2025, 6, 4, 0, 0, tzinfo=SHANGHAI)))


def test_events_after_now_do_not_count() -> None:
    today = EventWithin("homework_submitted", Window.TODAY)
    later_today = datetime(2025, 6, 4, 22, 0, tzinfo=SHANGHAI)
    assert not holds(today, submitted(later_today))
    assert holds(today, submitted(NOW))  # exactly at now counts


def test_yesterday_is_the_whole_previous_local_day() -> None:
    yesterday = EventWithin("homework_submitted", Window.YESTERDAY)
    assert holds(yesterday, submitted(datetime(2025, 6, 3, 0, 0, tzinfo=SHANGHAI)))
    assert holds(yesterday, submitted(datetime(2025, 6, 3, 23, 59, 59, tzinfo=SHANGHAI)))
    assert not holds(yesterday, submitted(datetime(2025, 6, 4, 0, 0, tzinfo=SHANGHAI)))
    assert not holds(yesterday, submitted(datetime(2025, 6, 2, 23, 59, tzinfo=SHANGHAI)))


def test_yesterday_in_utc_differs_from_shanghai() -> None:
    yesterday = EventWithin("homework_submitted", Window.YESTERDAY)
    # 2025-06-03 03:00 Shanghai is 2025-06-02 19:00 UTC: yesterday in Shanghai (now is 06-04),
    # but two days back on a UTC clock (now is 06-04 13:00 UTC).
    moment = datetime(2025, 6, 3, 3, 0, tzinfo=SHANGHAI)
    assert holds(yesterday, submitted(moment))
    assert not holds(yesterday, submitted(moment), tz=ZoneInfo("UTC"))


def test_camp_window_starts_at_d1_midnight() -> None:
    camp = EventWithin("checked_in", Window.CAMP)
    before = LearnerFacts(events=[("checked_in", CAMP_START - timedelta(seconds=1))])
    at_start = LearnerFacts(events=[("checked_in", CAMP_START)])
    assert not holds(camp, before)
    assert holds(camp, at_start)


def test_duration_window_is_open_at_the_far_end_and_closed_at_now() -> None:
    last_two_hours = EventWithin("replied", timedelta(hours=2))
    def replied(at: datetime) -> LearnerFacts:
        return LearnerFacts(events=[("replied", at)])
    assert holds(last_two_hours, replied(NOW))
    assert holds(last_two_hours, replied(NOW - timedelta(hours=2) + timedelta(microseconds=1)))
    assert not holds(last_two_hours, replied(NOW - timedelta(hours=2)))
    assert not holds(last_two_hours, replied(NOW + timedelta(seconds=1)))


def test_duration_window_crosses_local_midnight() -> None:
    now = datetime(2025, 6, 4, 1, 0, tzinfo=SHANGHAI)
    late_yesterday = submitted(datetime(2025, 6, 3, 23, 30, tzinfo=SHANGHAI))
    assert holds(EventWithin("homework_submitted", timedelta(hours=2)), late_yesterday, now=now)
    assert not holds(EventWithin("homework_submitted", Window.TODAY), late_yesterday, now=now)


def test_min_count_needs_that_many_events_inside_the_window() -> None:
    three_days = submitted(
        datetime(2025, 6, 1, 20, 0, tzinfo=SHANGHAI),  # before the camp: not counted
        datetime(2025, 6, 2, 20, 0, tzinfo=SHANGHAI),
        datetime(2025, 6, 3, 20, 0, tzinfo=SHANGHAI),
        datetime(2025, 6, 5, 20, 0, tzinfo=SHANGHAI),  # after now: not counted
    )
    assert holds(EventWithin("homework_submitted", Window.CAMP, min_count=2), three_days)
    assert not holds(EventWithin("homework_submitted", Window.CAMP, min_count=3), three_days)


def test_events_given_in_any_order_and_zone_are_indexed() -> None:
    utc_moment = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)  # 20:00 Shanghai, D3
    facts = LearnerFacts(events=[
        ("checked_in", datetime(2025, 6, 4, 9, 0, tzinfo=SHANGHAI)),
        ("homework_submitted", utc_moment),
        ("checked_in", datetime(2025, 6, 2, 9, 0, tzinfo=SHANGHAI)),
    ])
    assert facts.event_times["checked_in"] == sorted(facts.event_times["checked_in"])
    assert holds(EventWithin("homework_submitted", Window.TODAY), facts)
    assert holds(EventWithin("checked_in", Window.CAMP, min_count=2), facts)


def test_unknown_event_name_is_simply_absent() -> None:
    assert not holds(EventWithin("paid", Window.CAMP), LearnerFacts())


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (Comparison.GT, 9, True), (Comparison.GT, 10, False),
        (Comparison.GTE, 10, True), (Comparison.GTE, 11, False),
        (Comparison.LT, 11, True), (Comparison.LT, 10, False),
        (Comparison.LTE, 10, True), (Comparison.LTE, 9, False),
        (Comparison.EQ, 10, True), (Comparison.EQ, 9, False),
    ],
)
def test_points_compare(op: Comparison, value: int, expected: bool) -> None:
    assert holds(PointsCompare(op, value), LearnerFacts(points=10)) is expected


def test_state_in() -> None:
    active_or_graduated = StateIn(frozenset({"active", "graduated"}))
    assert holds(active_or_graduated, LearnerFacts(state="graduated"))
    assert not holds(active_or_graduated, LearnerFacts(state="converted"))


def test_step_outcome_reads_the_earlier_delivery() -> None:
    sent = StepOutcome("recommend", frozenset({"sent"}))
    assert holds(sent, LearnerFacts(outcomes={"recommend": "sent"}))
    assert not holds(sent, LearnerFacts(outcomes={"recommend": "skipped"}))
    assert not holds(sent, LearnerFacts())


def test_not_all_any_combine() -> None:
    goal = HasTag("goal:*")
    beginner = HasTag("level:beginner")
    facts = LearnerFacts(tags=frozenset({"goal:web"}))
    assert not holds(Not(goal), facts)
    assert holds(Not(beginner), facts)
    assert holds(AnyOf((goal, beginner)), facts)
    assert not holds(AllOf((goal, beginner)), facts)
    assert holds(AllOf((goal, Not(beginner))), facts)
    assert not holds(AnyOf((beginner, StateIn(frozenset({"converted"})))), facts)


def test_homework_reminder_condition_from_the_sample_journey() -> None:
    reminder = Not(EventWithin("homework_submitted", Window.TODAY))
    done_this_evening = submitted(datetime(2025, 6, 4, 19, 45, tzinfo=SHANGHAI))
    done_yesterday = submitted(datetime(2025, 6, 3, 20, 0, tzinfo=SHANGHAI))
    assert not holds(reminder, done_this_evening)
    assert holds(reminder, done_yesterday)


def test_compiled_predicate_answers_for_many_learners() -> None:
    predicate = compile_condition(
        EventWithin("checked_in", Window.TODAY), now=NOW, tz=SHANGHAI, camp_start=CAMP_START
    )
    morning = datetime(2025, 6, 4, 8, 30, tzinfo=SHANGHAI)
    learners = [LearnerFacts(events=[("checked_in", morning)]) if i % 3 else LearnerFacts()
                for i in range(30)]
    assert sum(predicate(f) for f in learners) == 20


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        LearnerFacts(events=[("checked_in", datetime(2025, 6, 4, 8, 0))])
    with pytest.raises(ValueError, match="now"):
        holds(HasTag("a:b"), LearnerFacts(), now=datetime(2025, 6, 4, 8, 0))


def test_facts_used_names_what_a_condition_reads() -> None:
    condition = AllOf((
        HasTag("goal:*"),
        Not(EventWithin("paid", Window.CAMP)),
        AnyOf((PointsCompare(Comparison.GTE, 5), StepOutcome("recommend", frozenset({"sent"})))),
    ))
    assert facts_used(condition) == {"tags", "events", "points", "outcomes"}
    assert facts_used(StateIn(frozenset({"active"}))) == {"state"}
    assert facts_used(None) == frozenset()
