"""Tags: names, idempotency, exclusive and ranked groups, auto-tag rules on events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from campaign.commands import main
from campaign.errors import NotFound
from campaign.learners.tags import InvalidTag, add_tag, list_tags, remove_tag
from campaign.models import Learner, TagSource
from tests.engine.helpers import Camp, at, make_camp
from tests.learners.helpers import JOURNEY, post, tags_of


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    return make_camp(session, JOURNEY, tmp_path)


@pytest.fixture
def ann(camp: Camp) -> Learner:
    learner = camp.learner("ann")
    camp.enroll(learner, now=at(-2, "10:00"))
    return learner


def test_add_tag_keeps_the_first_source_and_time(camp: Camp, ann: Learner) -> None:
    first = add_tag(camp.session, ann.id, "goal:web", source=TagSource.SURVEY, now=at(1, "9:00"))
    again = add_tag(camp.session, ann.id, "goal:web", source=TagSource.ADVISOR, now=at(2, "9:00"))
    assert again.id == first.id
    assert (again.source, again.created_at, again.group) == (
        TagSource.SURVEY,
        at(1, "9:00"),
        "goal",
    )
    add_tag(camp.session, ann.id, "goal:ai-apps", source=TagSource.ADVISOR, now=at(2, "9:00"))
    assert [t.name for t in list_tags(camp.session, ann.id)] == ["goal:ai-apps", "goal:web"]


@pytest.mark.parametrize("name", ["goal", "Goal:web", "goal:", "goal:two words", ":web", "x" * 101])
def test_add_tag_refuses_names_that_are_not_group_value(
    camp: Camp, ann: Learner, name: str
) -> None:
    with pytest.raises(InvalidTag):
        add_tag(camp.session, ann.id, name, source=TagSource.ADVISOR, now=at(1, "9:00"))


def test_tags_of_an_unknown_learner(camp: Camp) -> None:
    with pytest.raises(NotFound, match="learner 999"):
        add_tag(camp.session, 999, "goal:web", source=TagSource.ADVISOR, now=at(1, "9:00"))


def test_exclusive_groups_hold_one_value(camp: Camp, ann: Learner) -> None:
    s = camp.session
    add_tag(s, ann.id, "level:beginner", source=TagSource.SURVEY, now=at(-1, "9:00"))
    add_tag(s, ann.id, "level:some", source=TagSource.RULE, now=at(1, "9:00"))
    add_tag(s, ann.id, "activity:silent", source=TagSource.RULE, now=at(4, "9:00"))
    add_tag(s, ann.id, "activity:every-day", source=TagSource.RULE, now=at(5, "9:00"))
    s.commit()
    assert tags_of(s, ann) == {"level:some": "rule", "activity:every-day": "rule"}


def test_ranked_groups_only_move_up_automatically(camp: Camp, ann: Learner) -> None:
    s = camp.session
    add_tag(s, ann.id, "intent:A", source=TagSource.RULE, now=at(1, "9:00"))
    kept = add_tag(s, ann.id, "intent:B", source=TagSource.RULE, now=at(2, "9:00"))
    assert kept.name == "intent:A"
    add_tag(s, ann.id, "stage:homework", source=TagSource.EVENT, now=at(1, "9:00"))
    add_tag(s, ann.id, "stage:attended", source=TagSource.EVENT, now=at(1, "20:00"))
    assert set(tags_of(s, ann)) == {"intent:A", "stage:homework"}
    # An advisor's judgment is the exception: it may move a learner down.
    add_tag(s, ann.id, "intent:C", source=TagSource.ADVISOR, now=at(3, "9:00"))
    add_tag(s, ann.id, "intent:B", source=TagSource.SURVEY, now=at(4, "9:00"))
    s.commit()
    assert tags_of(s, ann) == {"intent:B": "survey", "stage:homework": "event"}


def test_remove_tag(camp: Camp, ann: Learner) -> None:
    add_tag(camp.session, ann.id, "goal:web", source=TagSource.ADVISOR, now=at(1, "9:00"))
    assert remove_tag(camp.session, ann.id, "goal:web") is True
    assert remove_tag(camp.session, ann.id, "goal:web") is False
    camp.session.commit()
    assert tags_of(camp.session, ann) == {}


def test_a_survey_answer_sets_the_goal_from_the_survey(camp: Camp, ann: Learner) -> None:
    post(camp, ann, "survey_answered", at(-1, "9:00"), {"question": "goal", "answer": "a "})
    post(camp, ann, "survey_answered", at(-1, "9:01"), {"question": "level", "answer": "B"})
    post(camp, ann, "survey_answered", at(-1, "9:02"), {"question": "goal", "answer": ["B", "C"]})
    tags = tags_of(camp.session, ann)
    assert tags == {"goal:excel-automation": "survey", "goal:data-collection": "survey"}
    tag = next(t for t in list_tags(camp.session, ann.id) if t.name == "goal:excel-automation")
    assert tag.created_at == at(-1, "9:00")  # when it was answered


def test_keywords_in_a_reply_set_intent_a(camp: Camp, ann: Learner) -> None:
    bob = camp.learner("bob")
    camp.enroll(bob, now=at(-2, "10:00"))
    post(camp, ann, "replied", at(5, "21:00"), {"text": "老师,正式课多少钱呀?"})
    post(camp, bob, "replied", at(5, "21:00"), {"text": "What is the PRICE?"})
    post(camp, bob, "replied", at(5, "21:05"), {"text": 42})  # not text: no match, no error
    assert tags_of(camp.session, ann) == {"intent:A": "rule"}
    assert tags_of(camp.session, bob) == {"intent:A": "rule"}


def test_a_rule_without_a_match_key_fires_on_its_event(camp: Camp, ann: Learner) -> None:
    post(camp, ann, "poll_voted", at(4, "20:30"), {"option": "web"})
    assert tags_of(camp.session, ann) == {"intent:B": "rule"}
    post(camp, ann, "replied", at(5, "21:00"), {"text": "怎么报名?"})
    post(camp, ann, "poll_voted", at(5, "21:30"))  # B after A: stays A
    assert tags_of(camp.session, ann) == {"intent:A": "rule"}


def test_no_rule_no_tag_and_no_enrollment_no_tag(camp: Camp, ann: Learner) -> None:
    post(camp, ann, "replied", at(5, "21:00"), {"text": "谢谢老师"})
    stranger = camp.learner("stranger")
    camp.session.commit()
    post(camp, stranger, "replied", at(5, "21:00"), {"text": "多少钱"})
    assert tags_of(camp.session, ann) == {}
    assert tags_of(camp.session, stranger) == {}


def test_a_check_in_ends_rule_set_silence_but_not_an_advisors(camp: Camp, ann: Learner) -> None:
    bob = camp.learner("bob")
    camp.enroll(bob, now=at(-2, "10:00"))
    add_tag(camp.session, ann.id, "activity:silent", source=TagSource.RULE, now=at(4, "22:00"))
    add_tag(camp.session, bob.id, "activity:silent", source=TagSource.ADVISOR, now=at(4, "22:00"))
    camp.session.commit()
    post(camp, ann, "checked_in", at(5, "8:00"))
    post(camp, bob, "checked_in", at(5, "8:00") + timedelta(minutes=1))
    assert tags_of(camp.session, ann) == {}
    assert tags_of(camp.session, bob) == {"activity:silent": "advisor"}


def test_tag_command(runner: FlaskCliRunner, camp: Camp, ann: Learner) -> None:
    added = runner.invoke(main, ["learners", "tag", "ann", "goal:web", "intent:C"])
    assert added.exit_code == 0, added.output
    assert added.output.splitlines()[0].startswith("goal:web (advisor, since ")
    removed = runner.invoke(main, ["learners", "tag", str(ann.id), "goal:web", "--remove"])
    assert removed.output == "removed goal:web\n"
    assert tags_of(camp.session, ann) == {"intent:C": "advisor"}
    bad = runner.invoke(main, ["learners", "tag", "ann", "Goal"])
    assert bad.exit_code == 1 and bad.output.startswith("Error: tag 'Goal' is not 'group:value'")
    nobody = runner.invoke(main, ["learners", "tag", "nobody", "goal:web"])
    assert nobody.output == "Error: no learner has external id or id 'nobody'\n"
