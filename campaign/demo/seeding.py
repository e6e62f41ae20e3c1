"""Seed the demo camp: publish the journey, open a cohort, create advisors and learners.

The learners come from the simulator's synthetic cohort (``campaign.journeys.sim_learners``), so
the demo and ``campaign journeys simulate`` draw the same kind of people: the playbook's tag
mix, activity tiers, a share abroad, a few minors and opt-outs, buyers once the offer opens.
What the simulator keeps as timestamps becomes a timeline of :class:`Action` on the virtual
clock, which the feeder applies as the clock reaches each one, as an integration would.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.cohorts import open_cohort
from campaign.journeys.calendar import to_utc, zone
from campaign.journeys.lint import lint_text
from campaign.journeys.sim_learners import SimLearner, make_learners
from campaign.journeys.spec import CampTime, JourneySpec
from campaign.models import Advisor, Learner, Role, Tag, TagSource, User
from campaign.publishing import JourneyHasErrors, publish_journey

ADVISORS = (("王芳", "demo-wangfang"), ("李静", "demo-lijing"), ("陈晨", "demo-chenchen"))
ADVISOR_DAILY_TASKS = 150
"""Each advisor's daily task capacity: roomy for 100 learners each, so it rarely bites."""
DEMO_PASSWORD = "campaign-demo"
"""The console password of every demo user: printed at start, the same on every run."""
STAFF = (("admin", Role.ADMIN, "演示管理员"), ("marketer", Role.MARKETER, "演示市场 · 周敏"))
"""The demo's console users besides the advisors (``advisor1``..``advisor3``)."""

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧"
GIVEN_NAMES = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛",
    "明", "超", "霞", "平", "刚", "浩然", "子涵", "欣怡", "梓轩", "雨泽", "一诺", "思远",
    "晨曦", "佳怡", "宇航", "嘉欣", "俊杰", "雅婷", "志强", "晓峰", "婉清",
)  # fmt: skip
SURVEY_GROUPS = ("goal", "level", "persona")  # tags the sign-up survey sets; the rest are imports
FIRST_ENROLL_AFTER = timedelta(minutes=2)
"""The first sign-up comes a little after the virtual start, once the engine is listening."""
PREP_DAYS = 2
"""D1 is the date two days after the virtual start: the prep days are the rest of today and
tomorrow (D-2 and D-1), the sign-up window of the playbook."""


class ActionKind(enum.IntEnum):
    """What the feeder does; the value orders actions due at the same instant."""

    ENROLL = 0
    EVENT = 1
    TAG = 2


@dataclass(frozen=True)
class Action:
    """One thing that happens to a learner at ``at`` (virtual UTC instant)."""

    at: datetime
    kind: ActionKind
    learner_id: int
    name: str = ""  # the event or tag name
    advisor_id: int | None = None
    external_id: str | None = None  # the integration's id: re-posting an event is harmless

    def sort_key(self) -> tuple[datetime, int, int]:
        return self.at, int(self.kind), self.learner_id


@dataclass
class SeededCamp:
    """What the demo needs to run and print the camp it seeded."""

    cohort_id: int
    title: str
    version: int
    start: datetime  # the virtual start: sign-ups begin a little after it
    starts_on: date
    timezone: str
    days: int
    learners: int
    advisors: dict[int, str]
    actions: list[Action]
    end_at: datetime  # the camp is over: D(days+2) 12:00, after the offer closed
    hard_end_at: datetime  # the latest the demo waits for learners abroad
    lint_warnings: int = 0
    names: dict[int, str] = field(default_factory=dict)  # learner id -> name

    def camp_time(self, moment: datetime) -> tuple[int, datetime]:
        """Return the camp day (``D-1`` is -1, ``D1`` is 1) and local time of ``moment``."""
        local = moment.astimezone(zone(self.timezone))
        index = (local.date() - self.starts_on).days
        return (index + 1 if index >= 0 else index), local


def publish_example(session: Session, path: Path) -> tuple[JourneySpec, int, int]:
    """Lint and publish the journey at ``path``; return its spec, version number, warnings.

    :raises JourneyHasErrors: when lint finds errors (nothing is published).
    """
    text = path.read_text(encoding="utf-8")
    result = lint_text(text, str(path))
    if result.spec is None or not result.ok:
        raise JourneyHasErrors(str(path), result.findings)
    version, _ = publish_journey(session, text, str(path))
    return result.spec, version.number, len(result.findings)


def seed_camp(
    session: Session, journey: Path, *, start: datetime, learners: int, seed: int
) -> SeededCamp:
    """Publish ``journey``, open a cohort whose D1 is two days after ``start``, seed people.

    Nothing is enrolled yet: enrollments are actions of the timeline, spread over the prep
    days. The caller commits.
    """
    spec, version_number, warnings = publish_example(session, journey)
    tz = zone(spec.timezone)
    starts_on = start.astimezone(tz).date() + timedelta(days=PREP_DAYS)
    cohort = open_cohort(session, spec.key, starts_on, title=f"{spec.title} · 演示 {starts_on}")
    advisors = _advisors(session)
    rng = random.Random(seed)
    synthetic = make_learners(spec, starts_on, learners, random.Random(seed))
    rows = [_learner(one, cohort.id, starts_on, rng) for one in synthetic]
    session.add_all(rows)
    session.flush()
    session.add_all(
        Tag(learner_id=row.id, name=name, source=_tag_source(name), created_at=start)
        for row, one in zip(rows, synthetic, strict=True)
        for name in sorted(one.base_tags)
    )
    camp_start = to_utc(starts_on, CampTime(1, 0), tz)
    window = (start + FIRST_ENROLL_AFTER, to_utc(starts_on, CampTime(-1, 23 * 60), tz))
    actions: list[Action] = []
    advisor_ids = sorted(advisors)
    for number, (row, one) in enumerate(zip(rows, synthetic, strict=True)):
        actions += _timeline(
            one,
            row.id,
            advisor_ids[number % len(advisor_ids)],
            f"demo-c{cohort.id}-{number}",
            window=window,
            camp_start=camp_start,
            tz=tz,
            rng=rng,
            project_day=_project_day(spec, starts_on, tz),
        )
    actions.sort(key=Action.sort_key)
    return SeededCamp(
        cohort_id=cohort.id,
        title=cohort.title,
        start=start,
        version=version_number,
        starts_on=starts_on,
        timezone=spec.timezone,
        days=spec.days,
        learners=len(rows),
        advisors=advisors,
        actions=actions,
        end_at=to_utc(starts_on, CampTime(spec.days + 2, 12 * 60), tz),
        hard_end_at=to_utc(starts_on, CampTime(spec.days + 3, 6 * 60), tz),
        lint_warnings=warnings,
        names={row.id: row.name for row in rows},
    )


def _advisors(session: Session) -> dict[int, str]:
    """Return the three demo advisors, created on first use (their WeCom ids are unique)."""
    found: dict[int, str] = {}
    for name, userid in ADVISORS:
        advisor = _advisor(session, name, userid)
        found[advisor.id] = advisor.name
    return found


def _advisor(session: Session, name: str, userid: str) -> Advisor:
    """Return the demo advisor with WeCom id ``userid``, created on first use."""
    advisor = session.scalar(select(Advisor).where(Advisor.wecom_userid == userid))
    if advisor is None:
        advisor = Advisor(name=name, wecom_userid=userid, daily_task_capacity=ADVISOR_DAILY_TASKS)
        session.add(advisor)
        session.flush()
    return advisor


@dataclass(frozen=True)
class SignIn:
    """A console user of the demo, as printed at start."""

    username: str
    password: str | None  # None: the account existed with another password, left as it was
    role: Role
    name: str


def seed_users(session: Session) -> list[SignIn]:
    """Return the demo's console users, created on first use: an admin, a marketer, and
    ``advisor1``..``advisor3`` tied to the three demo advisors (:data:`ADVISORS`).

    Idempotent: an account that exists is left as it is (its password is not reset, so a
    password someone chose survives another run); the sign-in says so. An advisor already
    tied to another console user keeps that user. The caller commits.
    """
    wanted: list[tuple[str, Role, str, Advisor | None]] = [
        (username, role, name, None) for username, role, name in STAFF
    ]
    for number, (name, userid) in enumerate(ADVISORS, start=1):
        wanted.append((f"advisor{number}", Role.ADVISOR, name, _advisor(session, name, userid)))
    signins = []
    for username, role, name, advisor in wanted:
        user = None
        if advisor is not None:  # the advisor's own console user, whatever its name
            user = session.scalar(select(User).where(User.advisor_id == advisor.id))
        if user is None:
            user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(
                username=username,
                display_name=name,
                role=role,
                advisor_id=advisor.id if advisor is not None else None,
            )
            user.set_password(DEMO_PASSWORD)
            session.add(user)
            session.flush()
        known = user.check_password(DEMO_PASSWORD)
        signins.append(
            SignIn(user.username, DEMO_PASSWORD if known else None, user.role, user.display_name)
        )
    return signins


def _learner(one: SimLearner, cohort_id: int, starts_on: date, rng: random.Random) -> Learner:
    """Make the learner row of a synthetic learner: a Chinese name, contacts, birth date."""
    name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
    born = None
    if one.minor:  # 12 years old at the start of the camp: no marketing (governor)
        born = date(starts_on.year - 12, starts_on.month, 1)
    elif rng.random() < 0.6:
        born = date(rng.randint(1975, 2006), rng.randint(1, 12), rng.randint(1, 28))
    return Learner(
        external_id=f"demo-c{cohort_id}-{one.index:04d}",
        name=name,
        timezone=one.timezone,
        phone=f"+86 138{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.7 else None,
        wecom_external_userid=f"wm-demo-{cohort_id}-{one.index}",
        birth_date=born,
    )


def _tag_source(name: str) -> TagSource:
    return TagSource.SURVEY if name.partition(":")[0] in SURVEY_GROUPS else TagSource.IMPORT


def _project_day(spec: JourneySpec, starts_on: date, tz: ZoneInfo) -> datetime | None:
    """Return the contest day's midnight when the journey has a ``project_submitted`` event."""
    contest = spec.milestones.get("contest")
    if "project_submitted" not in spec.events or contest is None:
        return None
    return to_utc(starts_on, CampTime(contest.at.day, 0), tz)


def _timeline(
    one: SimLearner,
    learner_id: int,
    advisor_id: int,
    key: str,
    *,
    window: tuple[datetime, datetime],
    camp_start: datetime,
    tz: ZoneInfo,
    rng: random.Random,
    project_day: datetime | None,
) -> list[Action]:
    """Turn one synthetic learner into actions: enroll, then events and tags in time order.

    The simulator spreads sign-ups over D-3..D-1; the demo starts part-way through the prep
    days, so a sign-up before the start is drawn again inside what is left of them, and the
    learner's sign-up-day events (joining the group, the survey, an early opt-out) move with
    it. Camp-day events keep their times.
    """
    drawn = _instant(one.enrolled_at)
    enrolled = drawn if window[0] <= drawn <= window[1] else _redraw(window, tz, rng)
    shift = enrolled - drawn
    actions = [Action(enrolled, ActionKind.ENROLL, learner_id, advisor_id=advisor_id)]

    def moved(moment: float) -> datetime:
        at = _instant(moment)
        if at < camp_start:
            at = min(max(at + shift, enrolled + timedelta(minutes=1)), camp_start)
        return at

    for name, times in sorted(one.event_times.items()):
        if name == "enrolled":
            continue
        for number, moment in enumerate(times):
            actions.append(
                Action(
                    moved(moment),
                    ActionKind.EVENT,
                    learner_id,
                    name,
                    external_id=f"{key}-{name}-{number}",
                )
            )
    if project_day is not None and "contest_scored" in one.event_times:
        submitted = project_day + timedelta(minutes=rng.uniform(10.5 * 60, 17.5 * 60))
        actions.append(
            Action(
                submitted,
                ActionKind.EVENT,
                learner_id,
                "project_submitted",
                external_id=f"{key}-project_submitted-0",
            )
        )
    for since, tag in one.timed_tags:
        actions.append(Action(moved(since), ActionKind.TAG, learner_id, tag))
    return actions


def _instant(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _redraw(window: tuple[datetime, datetime], tz: ZoneInfo, rng: random.Random) -> datetime:
    """Draw a sign-up instant in ``window``, mostly between 08:00 and 23:30 local time."""
    first, last = window
    span = (last - first).total_seconds()
    moment = first
    for _ in range(20):
        moment = first + timedelta(seconds=rng.uniform(0, span))
        local = moment.astimezone(tz)
        if 8 <= local.hour < 23 or rng.random() < 0.15:
            break
    return moment
