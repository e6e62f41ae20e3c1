"""The daily class report: its numbers per advisor and in total, the table and the JSON."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from campaign.commands import main
from campaign.errors import NotFound
from campaign.learners.report import ClassDay, daily_report, display_width
from campaign.learners.tags import add_tag
from campaign.models import Advisor, EnrollmentState, TagSource
from tests.engine.helpers import Camp, at, make_camp
from tests.learners.helpers import JOURNEY, enrollment_of, post

D3 = date(2026, 12, 9)


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    """Two advisors' classes and a learner without an advisor, with a few days of events."""
    camp = make_camp(session, JOURNEY, tmp_path)
    li, wang = Advisor(name="李老师"), Advisor(name="王老师")
    session.add_all([li, wang])
    session.flush()
    names = ("ann", "bob", "cy", "dan", "hal", "eve", "fay", "gus", "ivy")
    p = {name: camp.learner(name) for name in names}
    camp.enroll(p["ann"], p["bob"], p["cy"], p["dan"], p["hal"], now=at(-2, "10:00"), advisor=li)
    camp.enroll(p["eve"], p["fay"], now=at(-2, "10:00"), advisor=wang)
    camp.enroll(p["gus"], now=at(-2, "10:00"))
    camp.enroll(p["ivy"], now=at(4, "10:00"), advisor=li)  # after D3: not in its report
    enrollment_of(session, p["hal"]).state = EnrollmentState.DROPPED
    session.commit()
    events = [
        ("ann", "joined_group", -1, "9:00"),
        ("bob", "joined_group", -1, "9:00"),
        ("cy", "joined_group", 1, "9:00"),
        ("eve", "joined_group", -1, "9:00"),
        ("dan", "joined_group", 4, "9:00"),
        ("ann", "homework_submitted", 1, "20:00"),
        ("bob", "attended_live", 1, "19:30"),
        ("ann", "attended_live", 3, "19:30"),
        ("eve", "attended_live", 3, "19:30"),
        ("gus", "checked_in", 1, "8:00"),
        ("cy", "checked_in", 2, "8:00"),
        ("ann", "checked_in", 3, "8:00"),
        ("bob", "checked_in", 3, "8:00"),
        ("eve", "checked_in", 3, "23:59"),
        ("fay", "checked_in", 4, "0:01"),
        ("cy", "homework_submitted", 4, "20:00"),
    ]
    for name, event, day, clock in events:
        post(camp, p[name], event, at(day, clock))
    for name, tag, source in (
        ("ann", "intent:A", TagSource.ADVISOR),
        ("bob", "intent:B", TagSource.RULE),
        ("eve", "intent:C", TagSource.RULE),
    ):
        add_tag(session, p[name].id, tag, source=source, now=at(3, "9:00"))
    session.commit()
    return camp


def numbers(c: ClassDay) -> tuple[object, ...]:
    intent = tuple(c.intent[k] for k in ("A", "B", "C", "-"))
    return (c.advisor, c.learners, c.joined, c.attended, c.checked_in, c.silent, c.points, intent)


def test_the_report_of_a_past_day(camp: Camp) -> None:
    report = daily_report(camp.session, camp.cohort.id, now=at(4, "10:00"), day=D3)
    assert (report.day, report.camp_day, report.as_of) == (D3, 3, at(4, "0:00"))
    assert [numbers(c) for c in report.classes] == [
        ("李老师", 4, 3, 1, 2, 1, 26, (1, 1, 0, 2)),
        ("王老师", 2, 1, 1, 1, 1, 7, (0, 0, 1, 1)),
        ("(no advisor)", 1, 0, 0, 0, 0, 2, (0, 0, 0, 1)),
    ]
    assert numbers(report.total) == ("total", 7, 4, 2, 3, 2, 35, (1, 1, 1, 4))
    assert report.classes[0].top == (("ann", 17), ("bob", 7), ("cy", 2))
    assert report.classes[0].points_avg == 6.5


def test_today_counts_up_to_now(camp: Camp) -> None:
    report = daily_report(camp.session, camp.cohort.id, now=at(3, "21:00"))
    assert report.day == D3 and report.as_of == at(3, "21:00")
    assert report.total.checked_in == 2  # eve checks in at 23:59
    assert report.total.silent == 0  # nobody quiet for three days yet


def test_a_day_before_the_camp_and_an_unknown_cohort(camp: Camp) -> None:
    report = daily_report(camp.session, camp.cohort.id, now=at(4, "10:00"), day=date(2026, 12, 6))
    assert (report.camp_day, report.total.joined, report.total.points) == (-1, 3, 0)
    with pytest.raises(NotFound, match="cohort 999"):
        daily_report(camp.session, 999, now=at(4, "10:00"))


def test_report_command_prints_an_aligned_table(
    app: Flask, runner: FlaskCliRunner, camp: Camp
) -> None:
    app.config["CLOCK_START"] = at(4, "10:00").isoformat()
    args = ["learners", "report", "--cohort", str(camp.cohort.id), "--date", "2026-12-09"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"class report · cohort {camp.cohort.id} 'Engine camp' · 2026-12-09 (D3)"
    assert lines[1].split() == [
        "advisor",
        "learners",
        "joined",
        "attended",
        "checked",
        "in",
        "silent",
        "points",
        "avg",
        "intent",
        "A/B/C/-",
        "top",
        "3",
    ]
    assert lines[2].split() == [
        "李老师",
        "4",
        "3",
        "(75%)",
        "1",
        "(25%)",
        "2",
        "(50%)",
        "1",
        "6.5",
        "1/1/0/2",
        "ann",
        "17,",
        "bob",
        "7,",
        "cy",
        "2",
    ]
    assert lines[-1].split()[:9] == ["total", "7", "4", "(57%)", "2", "(28%)", "3", "(42%)", "2"]
    # Columns line up on a terminal, where a Chinese character takes two columns.
    assert len({display_width(line.split("1/1/0/2")[0]) for line in lines[2:3]}) == 1
    position = display_width(lines[1].split("intent")[0])
    for line in (lines[2], lines[3], lines[-1]):
        assert display_width(line[: line.index("/") - 1]) == position


def test_report_command_as_json(app: Flask, runner: FlaskCliRunner, camp: Camp) -> None:
    app.config["CLOCK_START"] = at(4, "10:00").isoformat()
    result = runner.invoke(main, ["learners", "report", "--cohort", str(camp.cohort.id), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["day"] == "2026-12-10" and data["camp_day"] == 4
    assert data["classes"][0]["advisor"] == "李老师"
    assert data["total"]["intent"] == {"A": 1, "B": 1, "C": 1, "-": 5}
