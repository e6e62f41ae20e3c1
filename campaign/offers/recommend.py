"""Score a journey's follow-on courses for one learner: pure, so it is tested without a database.

Why this shape:

- **Rules are the prior, data is the evidence.** A course whose ``for_tags`` match the learner's
  tags starts with a better prior conversion rate (Beta(a, b) with extra pseudo-conversions,
  more for a survey answer or an advisor's tag than for a rule's or an event's guess). What
  learners with the same tags actually did (offers of the course and how many converted) then
  moves the estimate: ``(conversions + a) / (offers + a + b)`` per course × tag, so five
  offers cannot outvote the rule but five hundred can.
- **Exploration** keeps the engine learning: when the runner-up is close to the best, a share
  ``offer.exploration`` of learners is offered the runner-up. The draw is a hash of the
  enrollment, so re-running gives the same answer (and the same message) every time.
- **PIPL art. 24**: a learner who asked for non-personalised offers gets the most bought course
  (the course list order on ties or without data), and the reason says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from campaign.journeys.spec import Course, JourneySpec

# How much a tag's source is trusted: the learner said it (survey) or an advisor heard it, more
# than a keyword rule guessed it, more than it was inferred from behaviour.
SOURCE_WEIGHT: Mapping[str, float] = {
    "survey": 1.0,
    "advisor": 1.0,
    "import": 0.8,
    "rule": 0.6,
    "event": 0.4,
}
PRIOR_A = 1.0  # Beta prior: about 10% conversion before any evidence (the playbook's 5-18%)
PRIOR_B = 9.0
RULE_PSEUDO = 3.0  # pseudo-conversions a fully trusted rule match adds to the prior
CLOSE_MARGIN = 0.2  # the runner-up is "close" within 20% of the best score

# What ``{{ offer.reason }}`` says for the playbook's goals ("你说想做 {{ offer.reason }}").
GOAL_PHRASES: Mapping[str, str] = {
    "goal:excel-automation": "用 Python 自动化处理 Excel",
    "goal:data-collection": "用 Python 自动采集网页数据",
    "goal:data-analysis": "用 Python 做数据分析",
    "goal:web": "用 Python 做网站",
    "goal:ai-apps": "用 Python 开发 AI 应用",
    "goal:career-change": "转行做数据分析或开发",
}
NON_PERSONALISED_POPULAR = "非个性化推荐(未使用你的个人画像):本课程是报名人数最多的课程"
NON_PERSONALISED_FIRST = "非个性化推荐(未使用你的个人画像):按课程列表顺序推荐"


@dataclass(frozen=True)
class LearnerTag:
    """A tag on the learner and who set it (``TagSource`` as text)."""

    name: str
    source: str

    @property
    def weight(self) -> float:
        return SOURCE_WEIGHT.get(self.source, 0.5)


@dataclass(frozen=True)
class Observed:
    """Decided offers of one course to learners with one tag, and how many converted."""

    offers: int
    conversions: int


Stats = Mapping[tuple[str, str], Observed]  # (course key, tag name) -> what was observed


@dataclass(frozen=True)
class CourseScore:
    course: Course
    score: float  # the posterior mean conversion rate
    rule_tag: str | None  # the learner's tag that matched the course's for_tags (best source)
    rule_weight: float
    evidence: int  # offers observed for this course among the learner's tags


@dataclass(frozen=True)
class Recommendation:
    course: Course
    score: float
    reason: str  # learner-facing, shown as {{ offer.reason }}
    personalised: bool
    explored: bool = False
    explanation: str = ""  # staff-facing: which rule, how much evidence, whether explored


def offered_courses(spec: JourneySpec) -> list[Course]:
    """Return the courses the journey's offer lists (every course when it lists none)."""
    keys = spec.offer.courses if spec.offer is not None and spec.offer.courses else ()
    if keys:
        return [spec.courses[k] for k in keys if k in spec.courses]
    return list(spec.courses.values())


def smoothed_rate(conversions: int, offers: int, a: float = PRIOR_A, b: float = PRIOR_B) -> float:
    """Return the Beta(a, b) posterior mean: small samples stay near the prior."""
    return (conversions + a) / (offers + a + b)


def reason_for(course: Course, matched_tag: str | None) -> str:
    """Return the learner-facing phrase: the goal they gave, or the course title."""
    if matched_tag is not None and matched_tag in GOAL_PHRASES:
        return GOAL_PHRASES[matched_tag]
    return course.title


def score_course(course: Course, tags: Sequence[LearnerTag], stats: Stats) -> CourseScore:
    """Score one course: a rule-shaped prior updated by what learners with these tags did."""
    matches = [t for t in tags if t.name in course.for_tags]
    best = max(matches, key=lambda t: t.weight, default=None)
    rule_weight = best.weight if best is not None else 0.0
    a = PRIOR_A + RULE_PSEUDO * rule_weight
    total_weight = 0.0
    weighted = 0.0
    evidence = 0
    for tag in tags:
        seen = stats.get((course.key, tag.name))
        if seen is None or seen.offers <= 0:
            continue
        weight = seen.offers * tag.weight
        weighted += weight * smoothed_rate(seen.conversions, seen.offers, a, PRIOR_B)
        total_weight += weight
        evidence += seen.offers
    score = weighted / total_weight if total_weight else a / (a + PRIOR_B)
    return CourseScore(course, score, best.name if best else None, rule_weight, evidence)


def rank_courses(
    courses: Sequence[Course], tags: Sequence[LearnerTag], stats: Stats
) -> list[CourseScore]:
    """Return every course scored, best first; ties keep the journey's course order."""
    scored = [score_course(c, tags, stats) for c in courses]
    order = {c.key: i for i, c in enumerate(courses)}
    return sorted(scored, key=lambda s: (-s.score, order[s.course.key]))


def exploration_draw(enrollment_id: int) -> float:
    """Return a number in [0, 1) fixed for the enrollment (no RNG state, no database)."""
    digest = hashlib.sha256(f"offer-exploration:{enrollment_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def recommend(
    spec: JourneySpec,
    *,
    enrollment_id: int,
    tags: Iterable[LearnerTag],
    stats: Stats,
    personalised: bool = True,
    popularity: Mapping[str, int] | None = None,
) -> Recommendation | None:
    """Choose the course to offer one enrollment, with its reason; None without courses."""
    courses = offered_courses(spec)
    if not courses:
        return None
    if not personalised:
        return non_personalised(courses, popularity or {})
    ranked = rank_courses(courses, list(tags), stats)
    chosen, explored = ranked[0], False
    exploration = spec.offer.exploration if spec.offer is not None else 0.0
    if len(ranked) > 1:
        runner_up = ranked[1]
        close = runner_up.score >= chosen.score * (1 - CLOSE_MARGIN)
        if close and exploration_draw(enrollment_id) < exploration:
            chosen, explored = runner_up, True
    return Recommendation(
        course=chosen.course,
        score=chosen.score,
        reason=reason_for(chosen.course, chosen.rule_tag),
        personalised=True,
        explored=explored,
        explanation=_explain(chosen, explored, exploration),
    )


def non_personalised(courses: Sequence[Course], popularity: Mapping[str, int]) -> Recommendation:
    """Return the offer for a learner who opted out of profiling: the most bought course."""
    order = {c.key: i for i, c in enumerate(courses)}
    best = min(courses, key=lambda c: (-popularity.get(c.key, 0), order[c.key]))
    bought = popularity.get(best.key, 0)
    return Recommendation(
        course=best,
        score=0.0,
        reason=NON_PERSONALISED_POPULAR if bought else NON_PERSONALISED_FIRST,
        personalised=False,
        explanation=f"non-personalised: {best.key} ({bought} bought it)",
    )


def _explain(chosen: CourseScore, explored: bool, exploration: float) -> str:
    parts = [f"{chosen.course.key} scored {chosen.score:.3f}"]
    if chosen.rule_tag:
        parts.append(f"rule {chosen.rule_tag} (weight {chosen.rule_weight:g})")
    else:
        parts.append("no rule matched")
    parts.append(f"{chosen.evidence} offers observed among the learner's tags")
    if explored:
        parts.append(f"runner-up offered by exploration ({exploration:.0%})")
    return "; ".join(parts)
