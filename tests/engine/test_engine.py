"""The engine end to end in one process, on SQLite and PostgreSQL: plan, claim, govern, send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from campaign.messages.planning import record_event
from campaign.models import Advisor, DeliveryStatus, Task
from tests.engine.helpers import Camp, at, make_camp

JOURNEY = """\
journey: engine-camp
title: 引擎测试营
timezone: Asia/Shanghai
days: 7
caps: {automated_1v1_per_day: 1}
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
offer: {opens: "D5 20:00", closes: "D8 23:59"}
steps:
  - key: welcome
    on: enrolled
    channel: wecom
    quiet_hours: exempt
    template: "{{ learner.name }} 你好,我是 {{ advisor.name }}"
  - key: homework-reminder
    at: "D1..D2 21:00"
    channel: advisor_task
    when: {not: {event: homework_submitted, within: today}}
    expires_after: 2h
    deadline: 1h
    template: "{{ learner.name }},今天的作业还差一点点"
  - key: morning-note
    at: "D2 09:00"
    channel: wecom
    priority: 40
    template: "早上好 {{ learner.name }}"
  - key: urgent-note
    at: "D2 10:00"
    channel: wecom
    priority: 90
    template: "重要通知 {{ learner.name }}"
  - key: late-post
    at: "D3 22:30"
    channel: log
    template: "晚间 {{ learner.name }}"
  - key: recommend
    at: "D5 21:00"
    channel: wecom
    selling: true
    template: "{{ offer.course.title }} 优惠到 {{ offer.closes }}"
"""


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    return make_camp(session, JOURNEY, tmp_path)


def status_of(camp: Camp, step: str) -> list[tuple[str, str | None]]:
    """Return each row's status, with the reason for rows that did not go out."""
    return [
        (str(d.status), None if d.status == DeliveryStatus.SENT else d.reason)
        for d in camp.deliveries(step)
    ]


def test_enrolling_plans_one_row_per_occurrence(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    keys = sorted((d.step_key, d.occurrence) for d in camp.deliveries())
    assert keys == sorted(
        [
            ("welcome", keys[-1][1] if keys[-1][0] == "welcome" else "?"),
            ("homework-reminder", "D1 21:00"),
            ("homework-reminder", "D2 21:00"),
            ("morning-note", "D2 09:00"),
            ("urgent-note", "D2 10:00"),
            ("late-post", "D3 22:30"),
            ("recommend", "D5 21:00"),
        ]
    )
    camp.enroll(ann, now=at(-2, "11:00"))  # enrolling again plans nothing new
    assert len(camp.deliveries()) == 7


def test_messages_go_out_at_their_local_times(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    assert camp.tick(at(-2, "10:00")) == {"sent": 1}  # the welcome
    assert camp.tick(at(1, "20:59")) == {}
    assert camp.tick(at(1, "21:00")) == {"sent": 1}  # the reminder becomes an advisor task
    assert camp.tick(at(2, "08:59")) == {}
    assert camp.tick(at(2, "09:00")) == {"sent": 1}
    lines = camp.sent_lines()
    assert [line["step"] for line in lines] == ["welcome", "morning-note"]
    assert lines[0]["text"] == "ann 你好,我是 "


def test_condition_is_evaluated_when_due_not_when_planned(camp: Camp, session: Session) -> None:
    ann, bob = camp.learner("ann"), camp.learner("bob")
    camp.enroll(ann, bob, now=at(-2, "10:00"))
    record_event(
        session,
        learner_id=ann.id,
        name="homework_submitted",
        occurred_at=at(1, "19:00"),
        now=at(1, "19:00"),
    )
    session.commit()
    camp.tick(at(1, "21:00"))
    outcome = {
        d.target: (str(d.status), d.reason)
        for d in camp.deliveries("homework-reminder")
        if d.occurrence == "D1 21:00"
    }
    assert sorted(outcome.values()) == [
        ("sent", "task created for the advisor"),
        ("skipped", "condition false"),
    ]
    [task] = session.query(Task).all()
    assert task.script == "bob,今天的作业还差一点点"
    assert task.due_at == at(1, "22:00")


def test_daily_cap_keeps_the_higher_priority_message(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    camp.tick(at(-2, "10:00"))  # the welcome goes out at once
    camp.tick(at(2, "10:00"))  # both due: urgent (90) goes first, morning (40) is capped
    assert status_of(camp, "urgent-note") == [("sent", None)]
    assert status_of(camp, "morning-note") == [("skipped", "daily cap reached")]


def test_cap_counts_per_local_day(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    assert camp.tick(at(-2, "10:00")) == {"sent": 1}  # the welcome uses D-2's budget, not D2's
    camp.tick(at(2, "09:00"))
    assert status_of(camp, "morning-note") == [("sent", None)]
    camp.tick(at(2, "10:00"))
    assert status_of(camp, "urgent-note") == [("skipped", "daily cap reached")]


def test_quiet_hours_move_the_send_to_the_next_morning(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    camp.tick(at(-2, "10:00"))  # the welcome goes out at once
    camp.tick(at(3, "22:30"))
    [row] = camp.deliveries("late-post")
    assert (row.status, row.due_at, row.reason) == (
        DeliveryStatus.PENDING,
        at(4, "08:00"),
        "waiting: quiet hours",
    )
    camp.tick(at(4, "08:00"))
    assert status_of(camp, "late-post") == [("sent", None)]


def test_a_reminder_that_cannot_go_out_in_time_expires(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    camp.tick(at(1, "23:30"))  # the workers were down until 2.5 h after it was due
    assert status_of(camp, "homework-reminder")[0] == ("expired", "expired")


def test_payment_stops_the_selling_steps_at_once(camp: Camp, session: Session) -> None:
    ann, bob = camp.learner("ann"), camp.learner("bob")
    camp.enroll(ann, bob, now=at(-2, "10:00"))
    camp.tick(at(-2, "10:00"))  # the welcome goes out at once
    camp.tick(at(2, "10:00"))  # D2's notes use D2's budget
    record_event(
        session, learner_id=ann.id, name="paid", occurred_at=at(5, "20:30"), now=at(5, "20:30")
    )
    session.commit()
    camp.tick(at(5, "21:00"))
    assert sorted(status_of(camp, "recommend")) == [
        ("cancelled", "goal reached (paid)"),
        ("sent", None),
    ]
    offers = [line["text"] for line in camp.sent_lines() if line["step"] == "recommend"]
    assert offers == ["Python 自动化办公 优惠到 12月14日 23:59"]


def test_opted_out_learners_get_nothing(camp: Camp, session: Session) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    record_event(
        session,
        learner_id=ann.id,
        name="opted_out",
        occurred_at=at(-2, "10:00"),
        now=at(-2, "10:00"),
    )
    session.commit()
    camp.tick(at(2, "10:00"))
    assert {str(d.status) for d in camp.deliveries() if d.due_at <= at(2, "10:00")} == {"skipped"}
    assert camp.sent_lines() == []


def test_late_joiners_skip_past_steps_with_a_reason(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(2, "12:00"))
    assert status_of(camp, "morning-note") == [("skipped", "enrolled after it was due")]
    assert status_of(camp, "recommend") == [("pending", None)]


def test_a_job_run_twice_sends_once(camp: Camp, session: Session) -> None:
    from campaign.clock import FrozenClock
    from campaign.messages.dispatch import claim_due
    from campaign.messages.sending import send_batch

    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    [batch] = claim_due(
        session, now=at(-2, "10:00"), limit=10, lease=timedelta(seconds=30), job_size=10
    )
    session.commit()
    for _ in range(2):
        send_batch(
            session,
            list(batch.ids),
            batch.token,
            clock=FrozenClock(at(-2, "10:00")),
            adapters=camp.adapters,
            settings=camp.settings,
        )
    assert len(camp.sent_lines()) == 1


def test_every_row_ends_in_a_terminal_state_with_a_reason(camp: Camp, session: Session) -> None:
    advisor = Advisor(name="王老师")
    session.add(advisor)
    learners = [camp.learner(f"l{i}") for i in range(5)]
    camp.enroll(*learners, now=at(-2, "10:00"), advisor=advisor)
    camp.run_until(at(9, "00:00"), start=at(-2, "10:00"), step=timedelta(hours=1))
    rows = camp.deliveries()
    assert rows and all(DeliveryStatus(r.status).is_terminal for r in rows)
    assert all(r.reason for r in rows if r.status != DeliveryStatus.SENT)


def test_a_large_cohort_is_planned_in_bulk(camp: Camp, session: Session) -> None:
    learners = camp.many_learners(1500)
    camp.enroll(*learners, now=at(-2, "10:00"))
    assert len(camp.deliveries()) == 1500 * 7


def test_wecom_mass_send_quota_is_a_tenant_setting(camp: Camp) -> None:
    from dataclasses import replace

    camp.settings = replace(camp.settings, wecom_quota=1, wecom_quota_period="week")
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    camp.tick(at(-2, "10:00"))  # the welcome, in the week before D1 (a Monday)
    camp.tick(at(2, "09:00"))  # the first mass send of the camp's week
    camp.tick(at(2, "10:00"))
    camp.tick(at(5, "21:00"))
    assert status_of(camp, "welcome") == [("sent", None)]
    assert status_of(camp, "morning-note") == [("sent", None)]
    assert status_of(camp, "urgent-note") == [("skipped", "daily cap reached")]
    assert status_of(camp, "recommend") == [("skipped", "WeCom mass-send quota used")]
