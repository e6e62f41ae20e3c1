"""Gather, at send time, what one delivery needs: the learner's facts and the template context.

Conditions are evaluated when a step is due, on what is true then ("not submitted today" must
see today's homework), so nothing here is cached across deliveries except parsed journeys. The
facts of a whole batch are loaded at once by :mod:`campaign.messages.batch_facts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.journeys.calendar import camp_time_of, to_utc, zone
from campaign.journeys.spec import (
    CampTime,
    Course,
    JourneySpec,
    Step,
    TimeBase,
)
from campaign.models import (
    Advisor,
    Cohort,
    Enrollment,
    Learner,
    Tag,
)

if TYPE_CHECKING:
    from campaign.messages.rows import EnrollmentRow, LearnerRow

# What an advisor_task step's outcome is, for ``when: {outcome: …}``: the advisor's action, or
# "open" while the task waits for one (so "is: sent" means the advisor really sent it).
WELCOME_DETAIL = "welcome message sent"

TASK_OUTCOMES = {"open": "open", "sent": "sent", "skipped": "skipped", "postponed": "postponed"}


@dataclass(frozen=True)
class Offer:
    """The follow-on course offered to one learner, and why (the stored offer at send time).

    ``price`` is what the learner pays now (a formed group-buy's discount, the course price
    again once the offer closed); None means the course price. A non-personalised offer
    (PIPL art. 24) shows the course title as ``offer.reason``: its stored reason is about the
    choice, not about the learner.
    """

    course: Course
    reason: str
    price: float | None = None
    personalised: bool = True


def choose_offer(
    spec: JourneySpec, tags: frozenset[str], pinned: str | None = None
) -> Offer | None:
    """Pick the course whose ``for_tags`` match the learner's tags (rule-based, in YAML order).

    A step's ``course:`` pins the choice. Without a matching tag the first offered course is
    used with a neutral reason, the non-personalised offer. The send path uses the stored
    offer (:func:`campaign.offers.render.offer_for_send`); this stays for callers without a
    database.
    """
    offered = [
        spec.courses[k] for k in (spec.offer.courses if spec.offer else ()) if k in spec.courses
    ]
    courses = offered or list(spec.courses.values())
    if pinned and pinned in spec.courses:
        return Offer(spec.courses[pinned], "")
    for course in courses:
        for tag in course.for_tags:
            if tag in tags:
                return Offer(course, tag.partition(":")[2].replace("-", " "))
    return Offer(courses[0], "") if courses else None


def learner_zone(learner: Learner | LearnerRow, cohort: Cohort) -> ZoneInfo:
    """Return the learner's clock: their own timezone if known and valid, else the cohort's."""
    for name in (learner.timezone, cohort.timezone):
        if name:
            try:
                return zone(name)
            except KeyError:
                continue
    return ZoneInfo("UTC")


def step_zone(step: Step, learner: Learner | LearnerRow | None, cohort: Cohort) -> ZoneInfo:
    """Return the clock a step's windows are read on (``tz: learner`` or the cohort's)."""
    if step.tz is TimeBase.LEARNER and learner is not None:
        return learner_zone(learner, cohort)
    return zone(cohort.timezone)


def camp_start(cohort: Cohort) -> datetime:
    """Return ``D1 00:00`` of the cohort as a UTC instant."""
    return to_utc(cohort.starts_on, CampTime(1, 0), zone(cohort.timezone))


def learner_tags(session: Session, learner_id: int) -> frozenset[str]:
    """Return the learner's current tag names."""
    return frozenset(session.scalars(select(Tag.name).where(Tag.learner_id == learner_id)))


def local_day_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the start and end (UTC) of the local calendar day containing ``now``."""
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time(), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)


def period_start(now: datetime, tz: ZoneInfo, period: str) -> datetime:
    """Return the start of the learner's current day, week (Monday) or month."""
    local = now.astimezone(tz).date()
    if period == "week":
        local -= timedelta(days=local.weekday())
    elif period == "month":
        local = local.replace(day=1)
    return datetime.combine(local, time(), tzinfo=tz)


def rank_in_cohort(session: Session, enrollment: Enrollment | EnrollmentRow) -> int:
    """Return the learner's place on the cohort's points leaderboard (ties share a place)."""
    ahead = session.scalar(
        select(func.count(Enrollment.id)).where(
            Enrollment.cohort_id == enrollment.cohort_id, Enrollment.points > enrollment.points
        )
    )
    return int(ahead or 0) + 1


def _format_local(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def render_context(
    *,
    spec: JourneySpec,
    cohort: Cohort,
    now: datetime,
    links: Mapping[str, str],
    learner: Learner | LearnerRow | None = None,
    enrollment: Enrollment | EnrollmentRow | None = None,
    advisor: Advisor | None = None,
    tags: frozenset[str] = frozenset(),
    rank: int | None = None,
    offer: Offer | None = None,
) -> dict[str, Any]:
    """Build the variables of ``campaign.messages.templates.CONTEXT_SCHEMA`` for one send."""
    tz = zone(cohort.timezone)
    today = camp_time_of(cohort.starts_on, now, tz)
    context: dict[str, Any] = {
        "advisor": {
            "name": advisor.name if advisor else "",
            "wecom_userid": advisor.wecom_userid if advisor else None,
        },
        "cohort": {
            "title": cohort.title,
            "starts_on": _format_date(cohort.starts_on),
            "day": f"D{today.day}",
            "days_left": max(spec.days - today.day, 0) if today.day > 0 else spec.days,
        },
        "journey": {"title": spec.title},
        "links": {key: links.get(key, "") for key in ("unsubscribe", "group", "homework", "live")},
    }
    if learner is not None and enrollment is not None:
        context["learner"] = {
            "name": learner.name,
            "points": enrollment.points,
            "rank": rank,
            "tags": sorted(tags),
            "level": _tag_value(tags, "level"),
            "persona": _tag_value(tags, "persona"),
            "goal": _tag_value(tags, "goal"),
        }
    if offer is not None and spec.offer is not None:
        opens = to_utc(cohort.starts_on, spec.offer.opens, tz)
        closes = to_utc(cohort.starts_on, spec.offer.closes, tz)
        price = offer.course.price if offer.price is None else offer.price
        context["offer"] = {
            "reason": (offer.reason if offer.personalised else "") or offer.course.title,
            "course": {
                "key": offer.course.key,
                "title": offer.course.title,
                "price": f"{offer.course.price:g}",
                "url": offer.course.url or "",
            },
            "opens": _format_local(opens, tz),
            "closes": _format_local(closes, tz),
            "price": f"{price:g}",
        }
    return context


def offer_window(spec: JourneySpec, cohort: Cohort) -> tuple[datetime, datetime] | None:
    """Return the offer's opening and closing instants for the cohort (None without an offer)."""
    if spec.offer is None:
        return None
    tz = zone(cohort.timezone)
    return to_utc(cohort.starts_on, spec.offer.opens, tz), to_utc(
        cohort.starts_on, spec.offer.closes, tz
    )


def _tag_value(tags: frozenset[str], group: str) -> str | None:
    for tag in sorted(tags):
        name, _, value = tag.partition(":")
        if name == group and value:
            return value
    return None


def _format_date(day: date) -> str:
    return f"{day.month}月{day.day}日"
