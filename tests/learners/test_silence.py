"""The daily silence scan: silence tags, 个人跟进 tasks, quiet-class tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.commands import main
from campaign.errors import NotFound
from campaign.learners.silence import SILENCE_STEP, scan_open_cohorts, scan_silence
from campaign.models import Advisor, Learner, Task
from tests.engine.helpers import Camp, at, make_camp
from tests.learners.helpers import JOURNEY, post, tags_of


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    return make_camp(session, JOURNEY, tmp_path)


def advisor(camp: Camp, name: str) -> Advisor:
    one = Advisor(name=name)
    camp.session.add(one)
    camp.session.flush()
    return one


def scan(camp: Camp, day: int, clock: str) -> tuple[list[str], list[Task], list[Task]]:
    """Scan at camp day ``day``, commit, return (tagged names, learner tasks, class tasks)."""
    result = scan_silence(camp.session, camp.cohort.id, now=at(day, clock))
    camp.session.commit()
    names = {learner.id: learner.name for learner in camp.session.scalars(select(Learner))}
    return [names[i] for i, _ in result.tagged], result.learner_tasks, result.class_tasks


def test_nothing_to_scan_before_d1_or_after_the_camp(camp: Camp) -> None:
    camp.enroll(camp.learner("ann"), now=at(-2, "10:00"))
    before = scan_silence(camp.session, camp.cohort.id, now=at(-1, "22:00"))
    after = scan_silence(camp.session, camp.cohort.id, now=at(8, "22:00"))
    assert "starts on 2026-12-07" in str(before.skipped)
    assert after.skipped == "the camp ended on D7"
    assert scan_open_cohorts(camp.session, now=at(8, "22:00")) == []
    with pytest.raises(NotFound):
        scan_silence(camp.session, 999, now=at(1, "22:00"))


def test_three_quiet_days_tag_the_learner_and_raise_a_follow_up(camp: Camp) -> None:
    li = advisor(camp, "李老师")
    ann, bob, cy = camp.learner("ann"), camp.learner("bob"), camp.learner("cy")
    camp.enroll(ann, bob, cy, now=at(-2, "10:00"), advisor=li)
    post(camp, ann, "homework_submitted", at(1, "20:00"))  # work, but never a check-in
    post(camp, bob, "checked_in", at(2, "8:00"))
    post(camp, cy, "checked_in", at(4, "8:00"))

    tagged, tasks, _ = scan(camp, 4, "22:00")
    assert tagged == ["ann"]
    assert tags_of(camp.session, ann) == {"activity:silent": "rule"}
    (task,) = tasks
    assert (task.advisor_id, task.step_key, task.voice) == (li.id, SILENCE_STEP, True)
    assert task.due_at == at(5, "12:00")
    assert task.script.startswith("个人跟进:ann 已经 3 天没有打卡(还没有打过卡)。")
    assert "积分 10,班级第 1 名;作业 1 次,到课 0 次" in task.script
    assert "标签:activity:silent" in task.script

    assert scan(camp, 4, "23:00") == ([], [], [])  # the same day again: nothing new
    tagged, tasks, _ = scan(camp, 5, "22:00")  # bob: quiet since D2 08:00
    assert tagged == ["bob"]
    assert [t.enrollment_id for t in tasks] == [tasks[0].enrollment_id]
    assert "最后一次打卡:12月8日 08:00" in tasks[0].script
    follow_ups = camp.session.scalars(select(Task).where(Task.step_key == SILENCE_STEP)).all()
    assert len(follow_ups) == 2  # ann got no second task


def test_a_learner_back_and_quiet_again_gets_a_new_follow_up(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    assert scan(camp, 4, "12:00")[0] == ["ann"]
    post(camp, ann, "checked_in", at(4, "13:00"))
    assert tags_of(camp.session, ann) == {}
    assert scan(camp, 6, "22:00") == ([], [], [])
    tagged, tasks, _ = scan(camp, 7, "14:00")
    assert tagged == ["ann"] and len(tasks) == 1
    assert "最后一次打卡:12月10日 13:00" in tasks[0].script
    assert tasks[0].due_at == at(8, "12:00")


def test_late_joiners_and_do_not_disturb(camp: Camp) -> None:
    late, quiet = camp.learner("late"), camp.learner("quiet", do_not_disturb=True)
    camp.enroll(quiet, now=at(-2, "10:00"))
    camp.enroll(late, now=at(3, "10:00"))
    tagged, tasks, _ = scan(camp, 5, "22:00")
    assert tagged == ["quiet"]  # tagged, but nobody is sent to disturb them
    assert tasks == []
    assert tags_of(camp.session, late) == {}


def test_only_the_longest_silence_rule_of_an_exclusive_group_applies(
    session: Session, tmp_path: Path
) -> None:
    journey = JOURNEY.replace(
        '  - {silent_for: 3d, tag: "activity:silent"}\n',
        '  - {silent_for: 3d, tag: "activity:silent"}\n'
        '  - {silent_for: 2d, tag: "activity:missed-two"}\n',
    )
    camp = make_camp(session, journey, tmp_path)
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(-2, "10:00"))
    tagged, tasks, _ = scan(camp, 3, "9:00")
    assert (tagged, len(tasks)) == (["ann"], 1)  # the follow-up comes at the shortest window
    assert tags_of(session, ann) == {"activity:missed-two": "rule"}
    assert scan(camp, 4, "9:00")[:2] == (["ann"], [])
    assert tags_of(session, ann) == {"activity:silent": "rule"}
    assert scan(camp, 4, "10:00") == ([], [], [])  # no flipping between the two


def test_a_quiet_class_raises_one_task_per_day_for_its_advisor(camp: Camp) -> None:
    li, wang = advisor(camp, "李老师"), advisor(camp, "王老师")
    lis = [camp.learner(f"li{i}") for i in range(4)]
    wangs = [camp.learner(f"wang{i}") for i in range(3)]
    camp.enroll(*lis, now=at(-2, "10:00"), advisor=li)
    camp.enroll(*wangs, now=at(-2, "10:00"), advisor=wang)
    for day in (1, 2, 3):
        for person in wangs:
            post(camp, person, "checked_in", at(day, "8:00"))
    post(camp, lis[0], "checked_in", at(2, "8:00"))
    post(camp, lis[0], "checked_in", at(3, "8:00"))

    assert scan(camp, 2, "21:00")[2] == []  # D1 and D2 are the ramp-up
    assert scan(camp, 3, "12:00")[2] == []  # judges D2, still the ramp-up
    (task,) = scan(camp, 3, "21:00")[2]
    assert (task.advisor_id, task.enrollment_id, task.step_key) == (li.id, None, "class-quiet:D3")
    assert "D3 只有 1/4 人打卡(25%,低于 30%)" in task.script
    assert "还没打卡:li1、li2、li3。" in task.script
    assert scan(camp, 3, "22:00")[2] == []
    assert scan(camp, 4, "9:00")[2] == []  # the morning scan judges D3 again: done already


def test_scan_silence_command(app: Flask, runner: FlaskCliRunner, camp: Camp) -> None:
    camp.enroll(camp.learner("ann"), now=at(-2, "10:00"))
    app.config["CLOCK_START"] = at(4, "22:00").isoformat()
    result = runner.invoke(main, ["learners", "scan-silence", "--cohort", str(camp.cohort.id)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"cohort {camp.cohort.id} D4: 1 silent; 1 tags set, 0 cleared; "
        "1 follow-up tasks, 0 quiet-class tasks\n"
    )
    every = runner.invoke(main, ["learners", "scan-silence"])
    assert every.exit_code == 0 and "D4: 1 silent; 0 tags set" in every.output
    missing = runner.invoke(main, ["learners", "scan-silence", "--cohort", "999"])
    assert (missing.exit_code, missing.output) == (1, "Error: cohort 999 does not exist\n")
