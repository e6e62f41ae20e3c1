"""Advisor tasks: the queue, the advisor's actions, and steps that branch on them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from campaign.errors import NotFound
from campaign.models import Advisor, Task, TaskStatus
from campaign.tasks import InvalidTaskAction, mark_sent, mark_skipped, postpone, task_queue
from tests.engine.helpers import Camp, at, make_camp

JOURNEY = """\
journey: engine-camp
title: 任务测试营
timezone: Asia/Shanghai
days: 7
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
steps:
  - key: call
    at: "D1 10:00"
    channel: advisor_task
    deadline: 2h
    voice: true
    template: "给 {{ learner.name }} 打个语音"
  - key: thanks-after-call
    at: "D2 10:00"
    channel: log
    when: {outcome: {step: call, is: sent}}
    template: "谢谢 {{ learner.name }} 接电话"
"""


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    camp = make_camp(session, JOURNEY, tmp_path)
    advisor = Advisor(name="李老师")
    session.add(advisor)
    session.flush()
    camp.enroll(
        camp.learner("ann"),
        camp.learner("bob"),
        camp.learner("cy"),
        now=at(-2, "10:00"),
        advisor=advisor,
    )
    camp.tick(at(1, "10:00"))
    return camp


def tasks_by_name(session: Session) -> dict[str, Task]:
    return {task.script.split(" ")[1]: task for task in task_queue(session, include_done=True)}


def test_tasks_carry_script_deadline_and_voice_hint(camp: Camp, session: Session) -> None:
    queue = task_queue(session)
    assert [t.script for t in queue] == ["给 ann 打个语音", "给 bob 打个语音", "给 cy 打个语音"]
    assert {t.due_at for t in queue} == {at(1, "12:00")}
    assert all(t.voice and t.status is TaskStatus.OPEN for t in queue)


def test_a_step_branches_on_what_the_advisor_did(camp: Camp, session: Session) -> None:
    tasks = tasks_by_name(session)
    mark_sent(session, tasks["ann"].id, now=at(1, "10:30"))
    mark_skipped(session, tasks["bob"].id, reason="请假中", now=at(1, "10:40"))
    session.commit()  # cy's task stays open
    camp.tick(at(2, "10:00"))
    texts = [line["text"] for line in camp.sent_lines()]
    assert texts == ["谢谢 ann 接电话"]
    reasons = sorted(str(d.reason) for d in camp.deliveries("thanks-after-call"))
    assert reasons.count("condition false") == 2


def test_postponed_tasks_come_back_at_the_new_time(camp: Camp, session: Session) -> None:
    task = tasks_by_name(session)["ann"]
    postpone(session, task.id, until=at(1, "20:00"), now=at(1, "10:30"))
    session.commit()
    queue = task_queue(session)
    assert queue[-1].id == task.id and queue[-1].due_at == at(1, "20:00")
    assert queue[-1].status is TaskStatus.POSTPONED


def test_invalid_actions_say_why(camp: Camp, session: Session) -> None:
    task = tasks_by_name(session)["ann"]
    with pytest.raises(InvalidTaskAction, match="say why"):
        mark_skipped(session, task.id, reason=" ", now=at(1, "11:00"))
    with pytest.raises(InvalidTaskAction, match="later time"):
        postpone(session, task.id, until=at(1, "09:00"), now=at(1, "11:00"))
    mark_sent(session, task.id, now=at(1, "11:00"))
    with pytest.raises(InvalidTaskAction, match="already sent"):
        mark_sent(session, task.id, now=at(1, "11:05"))
    with pytest.raises(NotFound):
        mark_sent(session, 999_999, now=at(1, "11:05"))


def test_tasks_cli_lists_and_records(camp: Camp, session: Session, app: Flask) -> None:
    from campaign.commands import main

    runner = app.test_cli_runner()
    app.config["CLOCK_START"] = at(1, "11:00").isoformat()
    listed = runner.invoke(main, ["tasks", "list"])
    assert listed.exit_code == 0
    assert "给 ann 打个语音" in listed.output and "[voice]" in listed.output
    assert "min left" in listed.output
    task = tasks_by_name(session)["bob"]
    done = runner.invoke(main, ["tasks", "done", str(task.id), "--skipped", "不需要"])
    assert done.exit_code == 0, done.output
    assert f"task {task.id} is skipped" in done.output
    both = runner.invoke(main, ["tasks", "done", str(task.id), "--sent", "--postpone", "1h"])
    assert both.exit_code == 2
    again = runner.invoke(main, ["tasks", "done", str(task.id), "--sent"])
    assert again.exit_code == 1 and "already skipped" in again.output
    assert timedelta(0) < task.due_at - at(1, "10:00")
