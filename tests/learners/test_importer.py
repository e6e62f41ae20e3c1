"""CSV import: good rows enrolled, bad rows reported by line, re-runs change nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.commands import main
from campaign.errors import NotFound
from campaign.learners.csvfile import ImportFileError
from campaign.learners.importer import CohortClosed, import_learners
from campaign.models import (
    Advisor,
    CohortState,
    Delivery,
    Enrollment,
    Learner,
    LearnerEvent,
    Tag,
)
from tests.engine.helpers import Camp, at, make_camp
from tests.learners.helpers import JOURNEY, enrollment_of, tags_of

HEADER = "external_id,name,phone,email,timezone,birth_date,wecom_external_userid,advisor,tags\n"


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    camp = make_camp(session, JOURNEY, tmp_path)
    session.add_all([Advisor(name="李老师"), Advisor(name="王老师")])
    session.commit()
    return camp


def advisors(session: Session) -> dict[str, int]:
    return {name: i for name, i in session.execute(select(Advisor.name, Advisor.id))}


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "l.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def snapshot(session: Session) -> tuple[object, ...]:
    """Everything an import may write, in a comparable form."""
    session.expire_all()
    learners = session.execute(
        select(
            Learner.external_id,
            Learner.name,
            Learner.phone,
            Learner.email,
            Learner.timezone,
            Learner.birth_date,
            Learner.wecom_external_userid,
        ).order_by(Learner.external_id)
    ).all()
    enrollments = session.execute(
        select(Enrollment.learner_id, Enrollment.advisor_id, Enrollment.state).order_by(
            Enrollment.id
        )
    ).all()
    tags = session.execute(select(Tag.learner_id, Tag.name, Tag.source, Tag.created_at)).all()
    counts = [
        session.scalar(select(func.count()).select_from(model))
        for model in (Delivery, LearnerEvent)
    ]
    return (learners, enrollments, sorted(tags), counts)


def test_import_reports_bad_rows_by_line_and_a_rerun_changes_nothing(
    runner: FlaskCliRunner, camp: Camp, tmp_path: Path
) -> None:
    ids = advisors(camp.session)
    text = (
        HEADER + "s001,张三,138 0013 8000,zhang@example.com,Asia/Shanghai,2001-05-31,wm001,李老师,"
        "goal:excel-automation;level:beginner\n"
        + "s002,李四,,,,,,,\n"
        + f"s003,王五,+86-139-0000-0000,wang@example.com,America/New_York,1999/12/01,,"
        f"{ids['王老师']},source:ads；goal:web\n"
        + "s004,Bad Email,,foo@,,,,,\n"
        + "s005,Bad Zone,,,Asia/Shangai,,,,\n"
        + "s006,Bad Date,,,,2001-02-30,,,\n"
        + "s001,Dup,,,,,,,\n"
        + "\n"
        + ",No Id,,,,,,,\n"
        + 's007,"Multi\nLine",,,,,,nobody,\n'
        + "s008,Bad Tag,,,,,,,Goal:web\n"
        + "s009,赵六,,,,,,,\n"
    )
    path = write(tmp_path, text)
    args = ["learners", "import", str(path), "--cohort", str(camp.cohort.id)]
    args += ["--advisor", str(ids["王老师"])]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "importing" not in result.output
    assert result.stderr.splitlines() == [
        f"{path}:5: 'foo@' is not an email address (email)",
        f"{path}:6: unknown timezone 'Asia/Shangai'; did you mean 'Asia/Shanghai'? (timezone)",
        f"{path}:7: '2001-02-30' is not a date like 2010-05-31 (birth_date)",
        f"{path}:8: duplicate external_id 's001' (first on line 2) (external_id)",
        f"{path}:10: external_id is empty; every learner needs one (external_id)",
        f"{path}:11: no advisor is named 'nobody' (advisor)",
        f"{path}:13: tag 'Goal:web' is not 'group:value' (lowercase group, no spaces), "
        "such as 'goal:excel-automation' (tags)",
    ]
    assert result.stdout == (
        f"{path}: 11 rows, 4 imported (4 new, 0 updated, 0 unchanged; 4 enrolled, "
        "0 already enrolled; 4 tags added), 7 bad\n"
    )
    s = camp.session
    learners = {one.external_id: one for one in s.scalars(select(Learner))}
    assert sorted(learners) == ["s001", "s002", "s003", "s009"]
    zhang, wang = learners["s001"], learners["s003"]
    assert (zhang.name, zhang.phone, zhang.email, zhang.timezone) == (
        "张三",
        "13800138000",
        "zhang@example.com",
        "Asia/Shanghai",
    )
    assert (zhang.birth_date, zhang.wecom_external_userid) == (date(2001, 5, 31), "wm001")
    assert (wang.phone, wang.birth_date) == ("+8613900000000", date(1999, 12, 1))
    advisor_of = {a: b for a, b in s.execute(select(Enrollment.learner_id, Enrollment.advisor_id))}
    assert advisor_of[zhang.id] == ids["李老师"]
    assert advisor_of[wang.id] == advisor_of[learners["s009"].id] == ids["王老师"]
    tags = s.execute(select(Tag.name, Tag.source).where(Tag.learner_id == wang.id)).all()
    assert sorted((name, str(source)) for name, source in tags) == [
        ("goal:web", "import"),
        ("source:ads", "import"),
    ]
    assert s.scalar(select(func.count()).select_from(Delivery)) > 0  # enrolled = planned

    before = snapshot(s)
    again = runner.invoke(main, args)
    assert again.exit_code == 1
    assert again.stdout.endswith(
        "4 imported (0 new, 0 updated, 4 unchanged; 0 enrolled, 4 already enrolled; "
        "0 tags added), 7 bad\n"
    )
    assert snapshot(s) == before


def test_a_missing_required_column_names_the_header(
    runner: FlaskCliRunner, camp: Camp, tmp_path: Path
) -> None:
    path = write(tmp_path, "external_id,nmae,phone\ns001,张三,\n")
    result = runner.invoke(main, ["learners", "import", str(path), "--cohort", str(camp.cohort.id)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path}:1: missing required column 'name' "
        "(the header has: external_id, nmae, phone; required: external_id, name)\n"
    )
    assert camp.session.scalars(select(Learner)).all() == []


def test_excel_files_utf8_with_bom_gbk_and_tabs(camp: Camp, tmp_path: Path) -> None:
    s = camp.session
    bom = write(tmp_path, "external_id,name\ns001,张三\n", "utf-8-sig", "bom.csv")
    gbk = write(tmp_path, "external_id,name,备注\ns002,李四,老学员\n", "gbk", "gbk.csv")
    tabs = write(tmp_path, "external_id\tname\tphone\ns003\t王五\t13900000000\n", name="t.csv")
    utf16 = write(tmp_path, "external_id\tname\ns004\t赵六\n", "utf-16", "unicode.txt")
    first = import_learners(s, bom, camp.cohort.id, now=at(-2, "9:00"))
    second = import_learners(s, gbk, camp.cohort.id, now=at(-2, "9:00"))
    third = import_learners(s, tabs, camp.cohort.id, now=at(-2, "9:00"))
    assert (first.good, first.notes, first.problems) == (1, [], [])
    assert second.good == 1
    assert second.notes[0].startswith(f"{gbk} is not UTF-8; read it as GB18030")
    assert second.notes[1] == f"{gbk}:1: column '备注' is not one the import reads; ignored"
    assert third.good == 1
    assert import_learners(s, utf16, camp.cohort.id, now=at(-2, "9:00")).good == 1
    names = {a: b for a, b in s.execute(select(Learner.external_id, Learner.name))}
    assert names == {"s001": "张三", "s002": "李四", "s003": "王五", "s004": "赵六"}


def test_upsert_changes_what_differs_and_keeps_what_is_empty(camp: Camp, tmp_path: Path) -> None:
    s = camp.session
    first = write(tmp_path, "external_id,name,email,phone\ns001,张三,z@example.com,13800000000\n")
    import_learners(s, first, camp.cohort.id, now=at(-2, "9:00"))
    second = write(tmp_path, "external_id,name,email,phone\ns001,张三丰,,13800000001\n", name="2")
    result = import_learners(s, second, camp.cohort.id, now=at(-2, "10:00"))
    assert (result.updated, result.enrolled, result.already_enrolled) == (1, 0, 1)
    learner = s.scalars(select(Learner)).one()
    assert (learner.name, learner.email, learner.phone) == (
        "张三丰",
        "z@example.com",
        "13800000001",
    )


def test_more_problems_excel_numbers_extra_cells_and_future_births(
    camp: Camp, tmp_path: Path
) -> None:
    text = (
        "external_id,name,phone,birth_date\n"
        "s001,A,1.38E+10,\n"
        "s002,B,12ab,\n"
        "s003,C,,2099-01-01\n"
        "s004,D,,,surplus\n"
    )
    result = import_learners(
        s := camp.session, write(tmp_path, text), camp.cohort.id, now=at(1, "9:00")
    )
    assert [(p.line, p.column, p.reason) for p in result.problems] == [
        (2, "phone", "'1.38E+10' is a number Excel rewrote; format the column as text"),
        (3, "phone", "'12ab' is not a phone number (digits, optionally a leading +)"),
        (4, "birth_date", "'2099-01-01' cannot be a birth date"),
        (5, None, "5 cells but the header has 4 columns"),
    ]
    assert s.scalars(select(Learner)).all() == []


def test_capacity_closed_cohorts_and_unknown_advisors(camp: Camp, tmp_path: Path) -> None:
    s = camp.session
    camp.cohort.capacity = 2
    s.commit()
    path = write(tmp_path, "external_id,name\ns001,A\ns002,B\ns003,C\n")
    result = import_learners(s, path, camp.cohort.id, now=at(-2, "9:00"))
    assert (result.enrolled, [(p.line, p.reason) for p in result.problems]) == (
        2,
        [(4, f"cohort {camp.cohort.id} is full (capacity 2)")],
    )
    rerun = import_learners(s, path, camp.cohort.id, now=at(-2, "9:00"))
    assert (rerun.already_enrolled, rerun.bad_lines) == (2, 1)
    with pytest.raises(NotFound, match="advisor 999"):
        import_learners(s, path, camp.cohort.id, now=at(-2, "9:00"), advisor_id=999)
    camp.cohort.state = CohortState.PAUSED
    s.commit()
    with pytest.raises(CohortClosed, match="is paused"):
        import_learners(s, path, camp.cohort.id, now=at(-2, "9:00"))
    with pytest.raises(ImportFileError, match="is empty"):
        camp.cohort.state = CohortState.OPEN
        import_learners(s, write(tmp_path, "", name="empty.csv"), camp.cohort.id, now=at(1, "9:00"))


WELCOMING = JOURNEY.replace(
    "tag_rules:\n", 'tag_rules:\n  - {on: enrolled, tag: "stage:new"}\n'
).replace("points:\n", "points:\n  enrolled: 3\n")


def test_rules_on_enrolled_tag_and_pay_the_newcomers_once(session: Session, tmp_path: Path) -> None:
    """A journey whose rules react to ``enrolled`` tags the imported learners and pays their
    points, as the same event posted through the API would; a re-run pays nothing twice."""
    camp = make_camp(session, WELCOMING, tmp_path)
    path = write(tmp_path, HEADER + "s001,张三,,,,,,,\ns002,李四,,,,,,,\n")
    for _ in range(2):
        import_learners(session, path, camp.cohort.id, now=at(-2, "10:00"), commit=True)
    session.expire_all()
    learners = session.scalars(select(Learner).order_by(Learner.external_id)).all()
    assert [tags_of(session, one) for one in learners] == [{"stage:new": "rule"}] * 2
    assert [enrollment_of(session, one).points for one in learners] == [3, 3]


def test_a_journey_without_rules_on_enrolled_adds_no_tags_or_points(
    camp: Camp, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER + "s001,张三,,,,,,,\n")
    import_learners(camp.session, path, camp.cohort.id, now=at(-2, "10:00"), commit=True)
    [learner] = camp.session.scalars(select(Learner)).all()
    assert tags_of(camp.session, learner) == {}
    assert enrollment_of(camp.session, learner).points == 0
