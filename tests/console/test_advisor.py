"""The advisor's console: today's queue, a task and its actions, the learner's context, tags,
logged messages and payments, the script library and the leaderboard (through HTTP, with CSRF).

The clock is frozen per request with ``CLOCK_START``; the camp runs on the Shanghai calendar
and so does the viewer (the console's default timezone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.events import EFFECTS
from campaign.models import (
    Conversion,
    Enrollment,
    EnrollmentState,
    LearnerEvent,
    Tag,
    TagSource,
    Task,
    TaskStatus,
)
from tests.console.conftest import People, csrf_token, sign_in
from tests.engine.helpers import Camp, at, make_camp

JOURNEY = """\
journey: engine-camp
title: 顾问测试营
timezone: Asia/Shanghai
days: 7
reply_within: {default: 2h, D6: 30m}
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
  web-scraping: {title: "Python 爬虫实战", price: 2299, for_tags: ["goal:data-collection"]}
offer: {opens: "D5 20:00", closes: "D8 23:59"}
steps:
  - key: tip
    title: 每日小贴士
    at: "D1 09:00"
    channel: log
    template: "{{ learner.name }},今天的小贴士来了"
  - key: call
    title: 语音问候
    at: "D1 10:00"
    channel: advisor_task
    deadline: 2h
    voice: true
    variants:
      - key: warm
        weight: 1
        template: "给 {{ learner.name }} 打个语音,问问进度"
      - key: brief
        weight: 1
        template: "给 {{ learner.name }} 打个语音,简短一点"
  - key: homework
    title: 作业提醒
    at: "D1 21:00"
    channel: advisor_task
    deadline: 1h
    template: "{{ learner.name }},今天的作业还差一点点"
"""


@dataclass
class World:
    """A camp on D1 with wang's learners ann and bob, li's learner cy, and their call tasks."""

    camp: Camp
    people: People
    enrollments: dict[str, Enrollment]
    tasks: dict[str, Task]


def build_world(session: Session, tmp_path: Path, people: People) -> World:
    """Publish the journey, enroll three learners on D-2 and run the D1 10:00 dispatch."""
    camp = make_camp(session, JOURNEY, tmp_path)
    wang, li = people.advisor.advisor_id, people.other_advisor.advisor_id
    from campaign.models import Advisor

    advisor_wang, advisor_li = session.get(Advisor, wang), session.get(Advisor, li)
    ann, bob, cy = camp.learner("ann"), camp.learner("bob"), camp.learner("cy")
    camp.enroll(ann, bob, now=at(-2, "10:00"), advisor=advisor_wang)
    camp.enroll(cy, now=at(-2, "10:00"), advisor=advisor_li)
    camp.tick(at(1, "10:00"))
    enrollments = {
        e.learner.name: e for e in session.scalars(select(Enrollment).order_by(Enrollment.id))
    }
    tasks = {
        t.script.split(" ")[1].rstrip(","): t
        for t in session.scalars(select(Task).where(Task.step_key == "call"))
    }
    return World(camp, people, enrollments, tasks)


def freeze(app: Flask, moment: datetime) -> None:
    """Pin the console's clock at ``moment`` (each request builds its clock from here)."""
    app.config["CLOCK_START"] = moment.isoformat()


def english(client: FlaskClient) -> FlaskClient:
    """Make the client a browser that asks for English."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"
    return client


def post(client: FlaskClient, path: str, data: dict[str, str], page: str = "/advisor/tasks"):  # type: ignore[no-untyped-def]
    """Post a console form with the CSRF token of ``page``, as a browser would."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def form_id(page: str) -> str:
    """Return the one-time form id a page's recording form carries."""
    match = re.search(r'name="form" value="([0-9a-f]{32})"', page)
    assert match
    return match.group(1)


@pytest.fixture
def world(session: Session, tmp_path: Path, people: People) -> World:
    return build_world(session, tmp_path, people)


@pytest.fixture
def wang(app: Flask, client: FlaskClient, world: World) -> FlaskClient:
    freeze(app, at(1, "11:00"))
    sign_in(english(client), "wang")
    return client


def rows_of(page: str) -> list[str]:
    """Return the task ids of the queue's rows, in order."""
    return re.findall(r'<tr data-task="(\d+)"', page)


# --- the queue --------------------------------------------------------------------------------


def test_queue_shows_todays_tasks_by_deadline_with_time_left(
    wang: FlaskClient, world: World
) -> None:
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    ann, bob = world.tasks["ann"], world.tasks["bob"]
    assert rows_of(page) == [str(ann.id), str(bob.id)]  # cy is li's
    assert page.count("1 h 00 min left") == 2
    assert "12-07 12:00" in page  # due at 12:00 Shanghai time
    assert "语音问候" in page and "Send as voice" in page
    assert f'href="/advisor/learners/{world.enrollments["ann"].id}"' in page


def test_overdue_tasks_are_red_and_say_by_how_much(
    app: Flask, wang: FlaskClient, world: World
) -> None:
    freeze(app, at(1, "12:30"))
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert re.search(r'class="left overdue">overdue 30 min<', page)
    freeze(app, at(1, "11:45"))
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert re.search(r'class="left soon">15 min left<', page)


def test_queue_lists_later_tasks_on_request(
    app: Flask, wang: FlaskClient, world: World, session: Session
) -> None:
    ann = world.enrollments["ann"]
    session.add(
        Task(
            cohort_id=ann.cohort_id,
            enrollment_id=ann.id,
            advisor_id=ann.advisor_id,
            step_key="call",
            script="明天再说",
            due_at=at(2, "10:00"),
        )
    )
    session.commit()
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert len(rows_of(page)) == 2 and "Show 1 later tasks too" in page
    page = wang.get("/advisor/tasks?all=1").get_data(as_text=True)
    assert len(rows_of(page)) == 3


def test_queue_makes_one_query_however_many_tasks(
    app: Flask, wang: FlaskClient, world: World, session: Session
) -> None:
    from sqlalchemy import event

    from campaign.db import database

    ann = world.enrollments["ann"]
    session.add_all(
        Task(
            cohort_id=ann.cohort_id,
            enrollment_id=ann.id,
            advisor_id=ann.advisor_id,
            step_key="call",
            script=f"task {i}",
            due_at=at(1, "12:00") + timedelta(minutes=i),
        )
        for i in range(60)
    )
    session.commit()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = database(app).engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = wang.get("/advisor/tasks").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(rows_of(page)) == 62
    task_selects = [s for s in statements if "FROM tasks" in s]
    assert len(statements) <= 8, statements  # user, queue, versions, later, two report counts
    assert len(task_selects) <= 4


# --- a task and its actions --------------------------------------------------------------------


def test_task_page_shows_script_copy_button_voice_hint_and_context(
    wang: FlaskClient, world: World, session: Session
) -> None:
    ann = world.enrollments["ann"]
    session.add(
        Tag(learner_id=ann.learner_id, name="goal:excel-automation", source=TagSource.SURVEY)
    )
    ann.points = 7
    session.commit()
    page = wang.get(f"/advisor/tasks/{world.tasks['ann'].id}").get_data(as_text=True)
    assert "给 ann 打个语音" in page
    assert 'data-copy="script-' in page and "advisor.js" in page
    assert "Send as voice" in page
    assert "goal:excel-automation" in page and "survey" in page  # tag with its source
    assert "rank 1 of 3" in page and ">7<" in page
    # the timeline: every delivery of ann's enrollment with its state and reason, local times
    assert page.count("data-delivery=") == 3
    assert "每日小贴士" in page and "作业提醒" in page
    assert "task created for the advisor" in page
    assert "pending" in page and "12-07 21:00" in page
    assert "enrolled" in page  # recent events


def test_mark_sent_through_the_form(wang: FlaskClient, world: World, session: Session) -> None:
    task = world.tasks["ann"]
    response = post(wang, f"/advisor/tasks/{task.id}/sent", {})
    assert response.status_code == 302 and response.headers["Location"].endswith("/advisor/tasks")
    session.refresh(task)
    assert task.status is TaskStatus.SENT and task.done_at is not None
    page = wang.get("/advisor/tasks").get_data(as_text=True)
    assert "Marked sent." in page and rows_of(page) == [str(world.tasks["bob"].id)]
    again = post(wang, f"/advisor/tasks/{task.id}/sent", {})
    assert again.status_code == 302
    assert "already done" in wang.get(f"/advisor/tasks/{task.id}").get_data(as_text=True)


def test_a_form_without_csrf_is_refused(wang: FlaskClient, world: World, session: Session) -> None:
    task = world.tasks["ann"]
    assert wang.post(f"/advisor/tasks/{task.id}/sent").status_code == 400
    session.refresh(task)
    assert task.status is TaskStatus.OPEN


def test_skip_needs_a_reason(wang: FlaskClient, world: World, session: Session) -> None:
    task = world.tasks["ann"]
    post(wang, f"/advisor/tasks/{task.id}/skip", {"reason": "  "})
    session.refresh(task)
    assert task.status is TaskStatus.OPEN
    assert "Say why" in wang.get(f"/advisor/tasks/{task.id}").get_data(as_text=True)
    post(wang, f"/advisor/tasks/{task.id}/skip", {"reason": "learner asked for a break"})
    session.refresh(task)
    assert task.status is TaskStatus.SKIPPED and task.outcome_reason == "learner asked for a break"


@pytest.mark.parametrize(
    ("choice", "until"),
    [
        ("30m", at(1, "11:30")),
        ("2h", at(1, "13:00")),
        ("tomorrow", at(2, "09:00")),
    ],
)
def test_postpone(
    wang: FlaskClient, world: World, session: Session, choice: str, until: datetime
) -> None:
    task = world.tasks["ann"]
    post(wang, f"/advisor/tasks/{task.id}/postpone", {"until": choice})
    session.refresh(task)
    assert task.status is TaskStatus.POSTPONED
    assert abs(task.due_at - until) < timedelta(seconds=30)


def test_postpone_needs_a_known_choice(wang: FlaskClient, world: World, session: Session) -> None:
    task = world.tasks["ann"]
    post(wang, f"/advisor/tasks/{task.id}/postpone", {"until": "next-year"})
    session.refresh(task)
    assert task.status is TaskStatus.OPEN


# --- the learner: tags, messages, payments -----------------------------------------------------


def test_learner_page_has_the_same_context(wang: FlaskClient, world: World) -> None:
    ann = world.enrollments["ann"]
    page = wang.get(f"/advisor/learners/{ann.id}").get_data(as_text=True)
    assert "<h1>ann</h1>" in page
    assert page.count("data-delivery=") == 3 and "rank 1 of 3" in page
    assert "Python 自动化办公" in page  # the payment form offers the journey's courses


def test_learners_list_shows_only_mine(wang: FlaskClient, world: World) -> None:
    page = wang.get("/advisor/learners").get_data(as_text=True)
    assert ">ann<" in page and ">bob<" in page and ">cy<" not in page
    page = wang.get("/advisor/learners?q=bo").get_data(as_text=True)
    assert ">bob<" in page and ">ann<" not in page


def test_add_and_remove_tags(wang: FlaskClient, world: World, session: Session) -> None:
    ann = world.enrollments["ann"]
    path = f"/advisor/learners/{ann.id}"
    response = post(wang, f"{path}/tags", {"name": "intent:A", "next": path}, page=path)
    assert response.headers["Location"].endswith(path)
    tag = session.scalar(select(Tag).where(Tag.learner_id == ann.learner_id))
    assert tag is not None and tag.name == "intent:A" and tag.source is TagSource.ADVISOR
    page = wang.get(path).get_data(as_text=True)
    assert "Tagged intent:A." in page and 'data-tag="intent:A"' in page and "advisor" in page
    post(wang, f"{path}/tags", {"name": "no spaces allowed"}, page=path)
    assert "A tag is group:value" in wang.get(path).get_data(as_text=True)
    post(wang, f"{path}/tags/remove", {"name": "intent:A"}, page=path)
    session.expire_all()
    assert session.scalar(select(Tag).where(Tag.learner_id == ann.learner_id)) is None


def test_compliance_tags_set_by_others_stay(
    wang: FlaskClient, world: World, session: Session
) -> None:
    ann = world.enrollments["ann"]
    session.add(Tag(learner_id=ann.learner_id, name="compliance:dnd", source=TagSource.EVENT))
    session.commit()
    path = f"/advisor/learners/{ann.id}"
    post(wang, f"{path}/tags/remove", {"name": "compliance:dnd"}, page=path)
    session.expire_all()
    assert session.scalar(select(Tag.name).where(Tag.learner_id == ann.learner_id))


def test_log_a_message_stores_a_replied_event_and_owes_a_reply(
    wang: FlaskClient, world: World, session: Session
) -> None:
    ann = world.enrollments["ann"]
    path = f"/advisor/learners/{ann.id}"
    token = form_id(wang.get(path).get_data(as_text=True))
    data = {"text": "老师,第三题不会", "form": token, "next": path}
    post(wang, f"{path}/reply", data, page=path)
    post(wang, f"{path}/reply", data, page=path)  # a re-posted form records nothing new
    events = list(session.scalars(select(LearnerEvent).where(LearnerEvent.name == "replied")))
    assert len(events) == 1
    assert events[0].source == "console" and events[0].payload["text"] == "老师,第三题不会"
    reply = session.scalar(select(Task).where(Task.step_key == "reply"))
    assert reply is not None and reply.advisor_id == ann.advisor_id
    assert "> 老师,第三题不会" in reply.script
    assert abs(reply.due_at - at(1, "13:00")) < timedelta(seconds=30)  # 2 h on D1
    page = wang.get(path).get_data(as_text=True)
    assert "A reply is owed." in page and "already logged" in page


def test_log_a_message_already_answered_closes_the_reply(
    wang: FlaskClient, world: World, session: Session
) -> None:
    ann = world.enrollments["ann"]
    path = f"/advisor/learners/{ann.id}"
    data = {"text": "谢谢老师", "answered": "1", "next": path}
    post(wang, f"{path}/reply", data, page=path)
    reply = session.scalar(select(Task).where(Task.step_key == "reply"))
    assert reply is not None and reply.status is TaskStatus.SENT


def test_an_empty_message_is_not_logged(wang: FlaskClient, world: World, session: Session) -> None:
    path = f"/advisor/learners/{world.enrollments['ann'].id}"
    post(wang, f"{path}/reply", {"text": "  "}, page=path)
    assert (
        session.scalar(select(func.count(LearnerEvent.id)).where(LearnerEvent.name == "replied"))
        == 0
    )


def test_record_a_conversion(wang: FlaskClient, world: World, session: Session) -> None:
    ann = world.enrollments["ann"]
    path = f"/advisor/learners/{ann.id}"
    token = form_id(wang.get(path).get_data(as_text=True))
    data = {"course": "web-scraping", "amount": "2099", "form": token, "next": path}
    response = post(wang, f"{path}/conversion", data, page=path)
    assert response.headers["Location"].endswith(path)
    post(wang, f"{path}/conversion", data, page=path)  # posted twice: one payment
    events = list(session.scalars(select(LearnerEvent).where(LearnerEvent.name == "paid")))
    assert len(events) == 1
    assert events[0].payload["course"] == "web-scraping" and events[0].payload["amount"] == 2099
    session.expire_all()
    assert session.get(Enrollment, ann.id).state is EnrollmentState.CONVERTED  # type: ignore[union-attr]
    if any(effect.__name__ == "offer_effects" for effect in EFFECTS):  # the offers feature
        conversion = session.scalar(select(Conversion))
        assert conversion is not None and conversion.course_key == "web-scraping"
        assert conversion.amount == 2099 and conversion.advisor_id == ann.advisor_id
        assert "Paid web-scraping ¥2099" in wang.get(path).get_data(as_text=True)


def test_a_conversion_needs_a_course_of_the_journey_and_a_price(
    wang: FlaskClient, world: World, session: Session
) -> None:
    path = f"/advisor/learners/{world.enrollments['ann'].id}"
    post(wang, f"{path}/conversion", {"course": "cooking"}, page=path)
    post(wang, f"{path}/conversion", {"course": "web-scraping", "amount": "lots"}, page=path)
    assert (
        session.scalar(select(func.count(LearnerEvent.id)).where(LearnerEvent.name == "paid")) == 0
    )
    assert "The amount is a price" in wang.get(path).get_data(as_text=True)


# --- reference pages ---------------------------------------------------------------------------


def test_script_library_shows_each_step_with_its_variants(wang: FlaskClient, world: World) -> None:
    page = wang.get("/advisor/scripts").get_data(as_text=True)
    assert re.findall(r'data-step="([^"]+)"', page) == ["tip", "call", "homework"]
    assert "给 {{ learner.name }} 打个语音,问问进度" in page
    assert "给 {{ learner.name }} 打个语音,简短一点" in page
    assert "Variant warm, weight 1" in page and "D1 10:00" in page
    page = wang.get("/advisor/scripts?advisor_only=1").get_data(as_text=True)
    assert re.findall(r'data-step="([^"]+)"', page) == ["call", "homework"]


def test_leaderboard_ties_share_a_rank(wang: FlaskClient, world: World, session: Session) -> None:
    points = {"ann": 5, "bob": 5, "cy": 3}
    for name, value in points.items():
        world.enrollments[name].points = value
    session.commit()
    cohort_id = world.enrollments["ann"].cohort_id
    page = wang.get(f"/advisor/cohorts/{cohort_id}/leaderboard").get_data(as_text=True)
    ranks = re.findall(r'data-rank="(\d+)" data-enrollment="(\d+)"', page)
    ids = {str(e.id): name for name, e in world.enrollments.items()}
    assert [(rank, ids[e]) for rank, e in ranks] == [("1", "ann"), ("1", "bob"), ("3", "cy")]
    assert f'href="/advisor/learners/{world.enrollments["cy"].id}"' not in page  # li's learner
    assert "Leaderboard" in wang.get("/advisor/cohorts").get_data(as_text=True)


# --- Chinese ------------------------------------------------------------------------------------


def test_a_chinese_browser_gets_chinese(
    app: Flask, client: FlaskClient, world: World, session: Session
) -> None:
    freeze(app, at(1, "12:30"))
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    sign_in(client, "wang")
    page = client.get("/advisor/tasks").get_data(as_text=True)
    for text in ("我的任务", "待回复", "逾期 30 分钟", "已发送", "话术库"):
        assert text in page, text
    page = client.get(f"/advisor/tasks/{world.tasks['ann'].id}").get_data(as_text=True)
    for text in ("复制话术", "建议发语音", "跳过", "稍后再办", "学员动态", "消息记录", "标签"):
        assert text in page, text
    page = client.get(f"/advisor/learners/{world.enrollments['ann'].id}").get_data(as_text=True)
    for text in ("记录付款", "学员说", "添加标签"):
        assert text in page, text
