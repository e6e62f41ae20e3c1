"""Replies owed: a learner's message opens a reply task due within the journey's promise, the
queue puts it first when it is closest to overdue, answering closes it, the report counts
overdue and late replies."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.cohorts import open_cohort
from campaign.events import ingest_event
from campaign.journeys.calendar import zone
from campaign.learners.replies import open_reply_tasks, reply_report
from campaign.messages.planning import NewEnrollment, enroll
from campaign.models import Enrollment, EnrollmentState, LearnerEvent, Task, TaskStatus
from tests.console.conftest import People, sign_in
from tests.console.test_advisor import World, build_world, english, freeze, post, rows_of
from tests.engine.helpers import STARTS_ON, at


@pytest.fixture
def world(session: Session, tmp_path: Path, people: People) -> World:
    return build_world(session, tmp_path, people)


def message(
    session: Session,
    world: World,
    name: str,
    text: str,
    written: datetime,
    *,
    now: datetime | None = None,
    external_id: str | None = None,
    **payload: object,
) -> LearnerEvent | None:
    """Take in a learner's message as the API would, and commit."""
    event = ingest_event(
        session,
        learner_id=world.enrollments[name].learner_id,
        name="replied",
        occurred_at=written,
        now=now or written,
        external_id=external_id,
        payload={"text": text, **payload},
    )
    session.commit()
    return event


def replies(session: Session) -> list[Task]:
    session.expire_all()
    return list(session.scalars(select(Task).where(Task.step_key == "reply").order_by(Task.id)))


# --- the effect ---------------------------------------------------------------------------------


def test_a_message_opens_a_reply_task_for_the_learners_advisor(
    session: Session, world: World
) -> None:
    message(session, world, "ann", "老师,第三题不会", at(1, "15:10"))
    [task] = replies(session)
    ann = world.enrollments["ann"]
    assert task.advisor_id == ann.advisor_id and task.enrollment_id == ann.id
    assert task.cohort_id == ann.cohort_id and task.status is TaskStatus.OPEN
    assert task.script == "ann · 12-07 15:10\n> 老师,第三题不会"
    assert task.due_at == at(1, "17:10")  # 2 h on an ordinary day


def test_contest_day_promises_thirty_minutes(session: Session, world: World) -> None:
    message(session, world, "ann", "提交作品的格式是?", at(6, "14:00"))
    [task] = replies(session)
    assert task.due_at == at(6, "14:30")


def test_the_clock_starts_when_the_learner_wrote(session: Session, world: World) -> None:
    message(session, world, "ann", "在吗", at(1, "09:00"), now=at(1, "10:30"))
    [task] = replies(session)
    assert task.due_at == at(1, "11:00")


def test_each_event_is_applied_once(session: Session, world: World) -> None:
    event = message(session, world, "ann", "在吗", at(1, "15:00"), external_id="wx-1")
    assert event is not None
    assert message(session, world, "ann", "在吗", at(1, "15:00"), external_id="wx-1") is None
    assert open_reply_tasks(session, event, at(1, "15:05")) == []  # the effect again: no change
    session.commit()
    [task] = replies(session)
    assert task.script.count("在吗") == 1


def test_messages_in_a_row_are_one_reply_with_the_first_deadline(
    session: Session, world: World
) -> None:
    message(session, world, "ann", "老师", at(1, "15:00"))
    message(session, world, "ann", "第三题不会", at(1, "15:01"))
    [task] = replies(session)
    assert task.script.endswith("> 老师\n\nann · 12-07 15:01\n> 第三题不会")
    assert task.due_at == at(1, "17:00")


def test_a_message_after_the_answer_opens_a_new_reply(session: Session, world: World) -> None:
    message(session, world, "ann", "老师", at(1, "15:00"))
    [first] = replies(session)
    first.status, first.done_at = TaskStatus.SENT, at(1, "15:20")
    session.commit()
    message(session, world, "ann", "谢谢!", at(1, "15:30"))
    assert [t.status for t in replies(session)] == [TaskStatus.SENT, TaskStatus.OPEN]


def test_other_events_and_ended_enrollments_owe_no_reply(session: Session, world: World) -> None:
    ingest_event(
        session,
        learner_id=world.enrollments["ann"].learner_id,
        name="checked_in",
        occurred_at=at(1, "15:00"),
        now=at(1, "15:00"),
    )
    world.enrollments["bob"].state = EnrollmentState.DROPPED
    session.commit()
    message(session, world, "bob", "我不学了", at(1, "15:00"))
    assert replies(session) == []


def test_a_message_without_text_still_owes_a_reply(session: Session, world: World) -> None:
    ingest_event(
        session,
        learner_id=world.enrollments["ann"].learner_id,
        name="replied",
        occurred_at=at(1, "15:00"),
        now=at(1, "15:00"),
        payload={"kind": "voice"},
    )
    session.commit()
    [task] = replies(session)
    assert "无文字" in task.script


def test_a_learner_in_two_cohorts_rings_the_advisor_the_message_names(
    session: Session, world: World
) -> None:
    later = open_cohort(session, "engine-camp", STARTS_ON + timedelta(days=14), title="Later")
    ann = world.enrollments["ann"]
    enroll(
        session,
        later,
        [NewEnrollment(ann.learner_id, world.people.other_advisor.advisor_id)],
        now=at(1, "12:00"),
    )
    session.commit()
    message(session, world, "ann", "老师好", at(1, "15:00"), cohort_id=later.id)
    [task] = replies(session)
    assert task.cohort_id == later.id and task.advisor_id == world.people.other_advisor.advisor_id
    message(session, world, "ann", "两个班都问一下", at(1, "15:10"))
    assert len(replies(session)) == 2  # no cohort named: both advisors owe a reply


def test_the_report_counts_overdue_and_late_replies(session: Session, world: World) -> None:
    message(session, world, "ann", "第一问", at(1, "08:00"))  # due 10:00
    message(session, world, "bob", "第二问", at(1, "09:00"))  # due 11:00
    message(session, world, "cy", "li 的学员", at(1, "08:00"))
    _, bob_task, _ = replies(session)
    bob_task.status, bob_task.done_at = TaskStatus.SENT, at(1, "11:30")  # 30 min late
    session.commit()
    wang = world.people.advisor.advisor_id
    report = reply_report(session, wang, now=at(1, "12:00"), tz=zone("Asia/Shanghai"))
    assert (report.owed, report.overdue) == (1, 1)
    assert (report.answered_today, report.answered_late_today, report.on_time_today) == (1, 1, 0)
    everyone = reply_report(session, None, now=at(1, "12:00"), tz=zone("Asia/Shanghai"))
    assert everyone.overdue == 2


# --- in the console ------------------------------------------------------------------------------


@pytest.fixture
def wang(app: Flask, client: FlaskClient, world: World) -> FlaskClient:
    freeze(app, at(1, "11:00"))
    sign_in(english(client), "wang")
    return client


def test_the_queue_puts_a_reply_first_when_it_is_closest_to_overdue(
    session: Session, world: World, wang: FlaskClient
) -> None:
    message(
        session,
        world,
        "bob",
        "作业交哪里?",
        at(1, "10:00") + timedelta(seconds=30),
        now=at(1, "10:01"),
    )
    [reply] = replies(session)  # due 12:00:30: the same minute as the calls, so it goes first
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert rows_of(page) == [str(reply.id), str(world.tasks["ann"].id), str(world.tasks["bob"].id)]
    assert 'class="badge reply">Reply owed<' in page and ">Answered<" in page


def test_a_later_reply_waits_its_turn(session: Session, world: World, wang: FlaskClient) -> None:
    message(session, world, "bob", "明天见", at(1, "10:59"))
    [reply] = replies(session)  # due 12:59, after the calls at 12:00
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert rows_of(page)[-1] == str(reply.id)


def test_answering_closes_the_reply_and_the_report_counts_it(
    app: Flask, session: Session, world: World, wang: FlaskClient
) -> None:
    message(session, world, "ann", "老师", at(1, "08:00"))
    [reply] = replies(session)  # due 10:00: overdue at 11:00
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert re.search(r'data-stat="overdue">1<', page)
    assert re.search(r'class="left overdue">overdue 1 h 00 min<', page)
    task_page = wang.get(f"/advisor/tasks/{reply.id}").get_data(as_text=True)
    assert re.search(r"The learner(&#39;|')s message", task_page)
    assert "Replies are not postponed" in task_page
    post(wang, f"/advisor/tasks/{reply.id}/sent", {})
    session.expire_all()
    assert session.get(Task, reply.id).status is TaskStatus.SENT  # type: ignore[union-attr]
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert "Answered." in page
    assert re.search(r'data-stat="overdue">0<', page)
    assert re.search(r'data-stat="late">1<', page)


def test_a_reply_cannot_be_postponed(session: Session, world: World, wang: FlaskClient) -> None:
    message(session, world, "ann", "老师", at(1, "10:30"))
    [reply] = replies(session)
    post(wang, f"/advisor/tasks/{reply.id}/postpone", {"until": "2h"})
    [reply] = replies(session)
    assert reply.status is TaskStatus.OPEN and reply.due_at == at(1, "12:30")


def test_a_message_logged_in_the_console_is_due_in_thirty_minutes_on_contest_day(
    app: Flask, session: Session, world: World, wang: FlaskClient
) -> None:
    freeze(app, at(6, "15:00"))
    ann = world.enrollments["ann"]
    path = f"/advisor/learners/{ann.id}"
    post(wang, f"{path}/reply", {"text": "作品怎么提交?", "next": path}, page=path)
    [reply] = replies(session)
    assert abs(reply.due_at - at(6, "15:30")) < timedelta(seconds=30)
    assert session.scalar(select(Enrollment.id).where(Enrollment.id == reply.enrollment_id))
