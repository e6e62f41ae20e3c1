"""An advisor sees and changes only their own learners and tasks: every other one is a 404
(no hint that it exists), for GET pages and POST actions alike, checked over HTTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.cohorts import open_cohort
from campaign.messages.planning import NewEnrollment, enroll
from campaign.models import LearnerEvent, Tag, TagSource, Task, TaskStatus
from tests.console.conftest import People, csrf_token, sign_in
from tests.console.test_advisor import World, build_world, english, freeze
from tests.engine.helpers import STARTS_ON, at


@pytest.fixture
def world(session: Session, tmp_path: Path, people: People) -> World:
    world = build_world(session, tmp_path, people)
    cy = world.enrollments["cy"]
    session.add(Tag(learner_id=cy.learner_id, name="goal:web", source=TagSource.SURVEY))
    session.commit()
    return world


@pytest.fixture
def wang(app: Flask, client: FlaskClient, world: World) -> FlaskClient:
    freeze(app, at(1, "11:00"))
    sign_in(english(client), "wang")
    return client


def others(world: World) -> tuple[int, int]:
    """Return li's learner's enrollment id and task id."""
    return world.enrollments["cy"].id, world.tasks["cy"].id


def test_another_advisors_pages_are_not_found(wang: FlaskClient, world: World) -> None:
    enrollment_id, task_id = others(world)
    for path in (f"/advisor/tasks/{task_id}", f"/advisor/learners/{enrollment_id}"):
        response = wang.get(path)
        assert response.status_code == 404, path
        assert "cy" not in response.get_data(as_text=True)
    for path in ("/advisor/tasks/999999", "/advisor/learners/999999"):
        assert wang.get(path).status_code == 404, path


def test_another_advisors_actions_are_not_found_and_change_nothing(
    wang: FlaskClient, world: World, session: Session
) -> None:
    enrollment_id, task_id = others(world)
    token = csrf_token(wang, "/advisor/tasks")
    posts = {
        f"/advisor/tasks/{task_id}/sent": {},
        f"/advisor/tasks/{task_id}/skip": {"reason": "不是我的"},
        f"/advisor/tasks/{task_id}/postpone": {"until": "2h"},
        f"/advisor/learners/{enrollment_id}/tags": {"name": "intent:A"},
        f"/advisor/learners/{enrollment_id}/tags/remove": {"name": "goal:web"},
        f"/advisor/learners/{enrollment_id}/reply": {"text": "你好"},
        f"/advisor/learners/{enrollment_id}/conversion": {"course": "web-scraping"},
    }
    for path, data in posts.items():
        response = wang.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 404, path
    session.expire_all()
    task = session.get(Task, task_id)
    assert task is not None and task.status is TaskStatus.OPEN
    assert task.due_at == at(1, "12:00")
    cy = world.enrollments["cy"]
    assert list(session.scalars(select(Tag.name).where(Tag.learner_id == cy.learner_id))) == [
        "goal:web"
    ]
    names = session.scalars(
        select(LearnerEvent.name).where(LearnerEvent.learner_id == cy.learner_id)
    )
    assert set(names) == {"enrolled"}
    assert session.scalar(select(func.count(Task.id)).where(Task.step_key == "reply")) == 0


def test_a_cohort_without_my_learners_has_no_leaderboard_for_me(
    wang: FlaskClient, world: World, session: Session
) -> None:
    other = open_cohort(session, "engine-camp", STARTS_ON + timedelta(days=14), title="Li only")
    cy = world.enrollments["cy"]
    li = world.people.other_advisor.advisor_id
    enroll(session, other, [NewEnrollment(cy.learner_id, li)], now=at(1, "12:00"))
    session.commit()
    assert wang.get(f"/advisor/cohorts/{other.id}/leaderboard").status_code == 404
    assert wang.get("/advisor/cohorts/999999/leaderboard").status_code == 404
    assert wang.get(f"/advisor/cohorts/{cy.cohort_id}/leaderboard").status_code == 200
    assert "Li only" not in wang.get("/advisor/cohorts").get_data(as_text=True)


def test_my_task_for_a_learner_moved_to_another_advisor_hides_the_learner(
    wang: FlaskClient, world: World, session: Session
) -> None:
    ann = world.enrollments["ann"]
    ann.advisor_id = world.people.other_advisor.advisor_id
    session.commit()
    page = wang.get(f"/advisor/tasks/{world.tasks['ann'].id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "no longer in your class" in text and "data-delivery" not in text
    assert wang.get(f"/advisor/learners/{ann.id}").status_code == 404


def test_other_roles(app: Flask, client: FlaskClient, world: World) -> None:
    freeze(app, at(1, "11:00"))
    enrollment_id, task_id = others(world)
    sign_in(english(client), "mia")  # a marketer works no advisor queue
    assert client.get("/advisor/tasks").status_code == 403
    assert client.get(f"/advisor/learners/{enrollment_id}").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/marketer/cohorts")})
    sign_in(client, "admin")  # an admin sees every class
    assert client.get(f"/advisor/learners/{enrollment_id}").status_code == 200
    assert client.get(f"/advisor/tasks/{task_id}").status_code == 200
    page = client.get("/advisor/tasks").get_data(as_text=True)
    assert page.count('<tr data-task="') == 3


def test_an_advisor_account_without_a_class_sees_no_task(
    app: Flask, client: FlaskClient, world: World, session: Session
) -> None:
    from campaign.models import Role, User
    from tests.console.conftest import PASSWORD

    loose = User(username="new", display_name="new", role=Role.ADVISOR, advisor_id=None)
    loose.set_password(PASSWORD)
    cy = world.enrollments["cy"]
    unassigned = Task(
        cohort_id=cy.cohort_id, step_key="class-quiet:D1", script="全班提醒", due_at=at(1, "12:00")
    )
    session.add_all([loose, unassigned])
    session.commit()
    freeze(app, at(1, "11:00"))
    sign_in(english(client), "new")
    assert client.get("/advisor/tasks").status_code == 403
    assert client.get(f"/advisor/tasks/{unassigned.id}").status_code == 403
