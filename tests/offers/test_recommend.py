"""Scoring without a database: reasons, source weights, smoothing, exploration, PIPL art. 24."""

from __future__ import annotations

from dataclasses import replace

import pytest

from campaign.journeys.loader import load_journey
from campaign.journeys.spec import JourneySpec
from campaign.offers.recommend import (
    CLOSE_MARGIN,
    NON_PERSONALISED_FIRST,
    NON_PERSONALISED_POPULAR,
    PRIOR_A,
    PRIOR_B,
    LearnerTag,
    Observed,
    exploration_draw,
    offered_courses,
    rank_courses,
    recommend,
    smoothed_rate,
)
from tests.offers.helpers import JOURNEY


@pytest.fixture(scope="module")
def spec() -> JourneySpec:
    loaded = load_journey(JOURNEY, "offer-camp.yaml").spec
    assert loaded is not None
    return loaded


def no_exploration(spec: JourneySpec) -> JourneySpec:
    assert spec.offer is not None
    return replace(spec, offer=replace(spec.offer, exploration=0.0))


def test_a_goal_tag_gives_its_phrase_as_the_reason(spec: JourneySpec) -> None:
    choice = recommend(
        no_exploration(spec),
        enrollment_id=1,
        tags=[LearnerTag("goal:excel-automation", "survey")],
        stats={},
    )
    assert choice is not None
    assert choice.course.key == "office-automation"
    assert choice.reason == "用 Python 自动化处理 Excel"
    assert choice.personalised
    assert "rule goal:excel-automation" in choice.explanation


def test_without_a_known_goal_phrase_the_reason_is_the_course_title(spec: JourneySpec) -> None:
    choice = recommend(no_exploration(spec), enrollment_id=1, tags=[], stats={})
    assert choice is not None
    assert choice.course.key == "office-automation"  # all equal: the journey's order decides
    assert choice.reason == "Python 自动化办公"


def test_a_survey_answer_outweighs_a_guess_from_behaviour(spec: JourneySpec) -> None:
    tags = [
        LearnerTag("goal:data-collection", "event"),
        LearnerTag("goal:data-analysis", "survey"),
    ]
    ranked = rank_courses(offered_courses(spec), tags, {})
    assert [s.course.key for s in ranked] == ["data-analysis", "web-scraping", "office-automation"]
    assert ranked[0].rule_weight > ranked[1].rule_weight > ranked[2].rule_weight
    # An advisor's tag is trusted like a survey answer, a rule's guess less, an event's least.
    weights = [LearnerTag("goal:web", s).weight for s in ("survey", "advisor", "rule", "event")]
    assert weights[0] == weights[1] > weights[2] > weights[3]


def test_smoothing_is_the_beta_posterior_mean() -> None:
    assert smoothed_rate(0, 0) == pytest.approx(PRIOR_A / (PRIOR_A + PRIOR_B))
    assert smoothed_rate(3, 10) == pytest.approx((3 + PRIOR_A) / (10 + PRIOR_A + PRIOR_B))
    assert smoothed_rate(1, 1) < 0.2  # one sale in one offer is no 100% course
    assert smoothed_rate(400, 1000) == pytest.approx(0.4, abs=0.01)


def test_a_few_observations_do_not_outvote_the_rule_but_many_do(spec: JourneySpec) -> None:
    tags = [LearnerTag("goal:excel-automation", "survey")]
    spec = no_exploration(spec)
    few = {("web-scraping", "goal:excel-automation"): Observed(offers=3, conversions=2)}
    choice = recommend(spec, enrollment_id=7, tags=tags, stats=few)
    assert choice is not None and choice.course.key == "office-automation"
    many = {
        ("web-scraping", "goal:excel-automation"): Observed(offers=300, conversions=150),
        ("office-automation", "goal:excel-automation"): Observed(offers=300, conversions=15),
    }
    choice = recommend(spec, enrollment_id=7, tags=tags, stats=many)
    assert choice is not None and choice.course.key == "web-scraping"
    assert choice.score == pytest.approx(smoothed_rate(150, 300, PRIOR_A, PRIOR_B), abs=1e-9)
    # The learner never said they want scraping: the reason is the course, not a goal.
    assert choice.reason == "Python 爬虫实战"
    assert "300 offers observed" in choice.explanation


def test_observations_of_tags_the_learner_lacks_do_not_count(spec: JourneySpec) -> None:
    stats = {("web-scraping", "goal:web"): Observed(offers=1000, conversions=900)}
    tags = [LearnerTag("goal:excel-automation", "survey")]
    choice = recommend(no_exploration(spec), enrollment_id=1, tags=tags, stats=stats)
    assert choice is not None and choice.course.key == "office-automation"


def test_exploration_is_deterministic_per_enrollment(spec: JourneySpec) -> None:
    tags = [LearnerTag("goal:excel-automation", "rule"), LearnerTag("goal:data-collection", "rule")]
    first = [recommend(spec, enrollment_id=i, tags=tags, stats={}) for i in range(300)]
    again = [recommend(spec, enrollment_id=i, tags=tags, stats={}) for i in range(300)]
    assert first == again
    assert exploration_draw(42) == exploration_draw(42)
    assert 0 <= exploration_draw(42) < 1


def test_close_calls_explore_the_runner_up_at_the_journeys_share(spec: JourneySpec) -> None:
    assert spec.offer is not None and spec.offer.exploration == 0.2
    # Two equally strong rule matches: a close call every time.
    tags = [LearnerTag("goal:excel-automation", "rule"), LearnerTag("goal:data-collection", "rule")]
    choices = [recommend(spec, enrollment_id=i, tags=tags, stats={}) for i in range(2000)]
    explored = [c for c in choices if c is not None and c.explored]
    assert 0.17 < len(explored) / len(choices) < 0.23
    assert {c.course.key for c in explored} == {"web-scraping"}
    assert all(c.reason == "用 Python 自动采集网页数据" for c in explored)
    never = no_exploration(spec)
    assert not any(
        (c := recommend(never, enrollment_id=i, tags=tags, stats={})) and c.explored
        for i in range(500)
    )


def test_a_clear_winner_is_never_explored_away(spec: JourneySpec) -> None:
    tags = [LearnerTag("goal:excel-automation", "survey")]
    ranked = rank_courses(offered_courses(spec), tags, {})
    assert ranked[1].score < ranked[0].score * (1 - CLOSE_MARGIN)
    choices = [recommend(spec, enrollment_id=i, tags=tags, stats={}) for i in range(500)]
    assert all(c is not None and not c.explored for c in choices)


def test_non_personalised_offers_ignore_the_profile_and_say_so(spec: JourneySpec) -> None:
    tags = [LearnerTag("goal:data-analysis", "survey")]
    first = recommend(spec, enrollment_id=1, tags=tags, stats={}, personalised=False)
    assert first is not None
    assert first.course.key == "office-automation"  # the course list order
    assert first.reason == NON_PERSONALISED_FIRST and not first.personalised
    popular = recommend(
        spec,
        enrollment_id=1,
        tags=tags,
        stats={},
        personalised=False,
        popularity={"web-scraping": 5, "office-automation": 2},
    )
    assert popular is not None
    assert popular.course.key == "web-scraping"  # the most bought course
    assert popular.reason == NON_PERSONALISED_POPULAR


def test_a_journey_without_courses_recommends_nothing(spec: JourneySpec) -> None:
    bare = replace(spec, courses={}, offer=None)
    assert recommend(bare, enrollment_id=1, tags=[], stats={}) is None
