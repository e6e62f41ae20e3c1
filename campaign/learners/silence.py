"""The daily silence scan: tag learners who stopped checking in, and tell their advisor.

Run once a day per cohort (``campaign learners scan-silence``, or the dispatcher through
:func:`scan_open_cohorts`); running it again the same day adds nothing.

A learner is *quiet since* their last check-in, or since the camp started (``D1 00:00``) or
they enrolled, whichever is latest: nobody is silent for the days before they could check in.

- **Tags.** Each ``silent_for`` rule of the journey sets its tag (source ``rule``) on an active
  learner quiet for at least that long. When several such rules of one exclusive group match
  (``activity:missed-two`` at 2d, ``activity:silent`` at 3d) only the longest applies, so the
  tag does not flip between them. A check-in takes rule-set silence tags away again.
- **个人跟进.** When an active learner has been quiet for the *silence threshold* (the
  shortest ``silent_for`` of the journey, else :data:`DEFAULT_SILENT_FOR`) and has no
  follow-up task since they went quiet, their advisor gets a task with the learner's context
  (last check-in, points and rank, homework, live classes, tags), due at the next 12:00 at
  least two hours away. Learners who opted out or asked not to be disturbed get none.
- **Quiet class.** From ``D3`` to the last camp day, when fewer than 30% of an advisor's class
  (at least :data:`MIN_CLASS_SIZE` learners) checked in on a camp day, the advisor gets one task
  for that day. The day checked is today from 18:00 on the cohort's clock, else yesterday:
  a morning scan judges a complete day, not one that has just begun.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal, select
from sqlalchemy.orm import Session, joinedload

from campaign.errors import NotFound
from campaign.journeys.calendar import camp_time_of, zone
from campaign.journeys.spec import JourneySpec, TagRule
from campaign.learners.common import CURRENT_STATES, event_counts_for, local_day_window
from campaign.learners.tags import EXCLUSIVE_GROUPS, add_tag, clear_silence_tags
from campaign.messages.context import camp_start, rank_in_cohort
from campaign.messages.planning import spec_of
from campaign.models import (
    Cohort,
    CohortState,
    Enrollment,
    EnrollmentState,
    Learner,
    LearnerEvent,
    TagSource,
    Task,
)

DEFAULT_SILENT_FOR = timedelta(days=3)  # the playbook's third tier: three missed days
CLASS_QUIET_SHARE = 0.3
CLASS_QUIET_FROM_DAY = 3  # D1 and D2 are the ramp-up: a low share there is no alarm yet
MIN_CLASS_SIZE = 3  # below that the personal follow-ups already cover everyone
DAY_JUDGED_FROM = time(18, 0)
FOLLOW_UP_AT = time(12, 0)
FOLLOW_UP_LEAD = timedelta(hours=2)
SILENCE_STEP = "silence-followup"
CLASS_QUIET_STEP = "class-quiet"


@dataclass
class SilenceScan:
    """What one scan of one cohort did."""

    cohort_id: int
    camp_day: int
    skipped: str | None = None  # why nothing was scanned (before D1, after the camp)
    silent: int = 0  # active learners quiet for the silence threshold
    tagged: list[tuple[int, str]] = field(default_factory=list)  # (learner id, tag) newly set
    cleared: list[tuple[int, str]] = field(default_factory=list)
    learner_tasks: list[Task] = field(default_factory=list)
    class_tasks: list[Task] = field(default_factory=list)


def silence_threshold(spec: JourneySpec) -> timedelta:
    """Return how long without a check-in makes a learner silent for follow-up tasks."""
    windows = [rule.silent_for for rule in spec.tag_rules if rule.silent_for is not None]
    return min(windows) if windows else DEFAULT_SILENT_FOR


def last_check_ins(session: Session, cohort_id: int, as_of: datetime) -> dict[int, datetime | None]:
    """Return each enrollment's last check-in at or before ``as_of`` (None: never)."""
    rows = session.execute(
        select(Enrollment.id, func.max(LearnerEvent.occurred_at))
        .select_from(Enrollment)
        .outerjoin(
            LearnerEvent,
            and_(
                LearnerEvent.learner_id == Enrollment.learner_id,
                LearnerEvent.name == "checked_in",
                LearnerEvent.occurred_at <= as_of,
                event_counts_for(Enrollment.id),
            ),
        )
        .where(Enrollment.cohort_id == cohort_id)
        .group_by(Enrollment.id)
    )
    return {enrollment_id: last for enrollment_id, last in rows}


def quiet_since(enrollment: Enrollment, last: datetime | None, started: datetime) -> datetime:
    """Return since when an enrollment has been quiet (see the module's description)."""
    return max(started, enrollment.enrolled_at, last or started)


def _matching_silence_rules(spec: JourneySpec, quiet_for: timedelta) -> list[TagRule]:
    """Return the ``silent_for`` rules that apply, the longest one per exclusive group."""
    matching = [r for r in spec.tag_rules if r.silent_for is not None and quiet_for >= r.silent_for]
    best: dict[str, TagRule] = {}
    plain: list[TagRule] = []
    for rule in matching:
        group = rule.tag.partition(":")[0]
        if group not in EXCLUSIVE_GROUPS:
            plain.append(rule)
        elif group not in best or (rule.silent_for or timedelta()) > (
            best[group].silent_for or timedelta()
        ):
            best[group] = rule
    return plain + list(best.values())


def next_follow_up(now: datetime, tz: ZoneInfo) -> datetime:
    """Return the next local 12:00 at least two hours after ``now`` (a task's deadline)."""
    local = now.astimezone(tz)
    day = local.date()
    while True:
        due = datetime.combine(day, FOLLOW_UP_AT, tzinfo=tz)
        if due - local >= FOLLOW_UP_LEAD:
            return due.astimezone(now.tzinfo)
        day += timedelta(days=1)


def _format_moment(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def _count_events(session: Session, enrollment: Enrollment, name: str, as_of: datetime) -> int:
    return int(
        session.scalar(
            select(func.count(LearnerEvent.id)).where(
                LearnerEvent.learner_id == enrollment.learner_id,
                LearnerEvent.name == name,
                LearnerEvent.occurred_at <= as_of,
                event_counts_for(literal(enrollment.id)),
            )
        )
        or 0
    )


def follow_up_script(
    session: Session,
    enrollment: Enrollment,
    last: datetime | None,
    since: datetime,
    now: datetime,
    tz: ZoneInfo,
) -> str:
    """Write the 个人跟进 task: who, how long quiet, and what the advisor can build on."""
    learner = enrollment.learner
    days = max(int((now - since) / timedelta(days=1)), 1)
    when = f"最后一次打卡:{_format_moment(last, tz)}" if last else "还没有打过卡"
    tags = "、".join(tag.name for tag in learner.tags) or "无"
    return (
        f"个人跟进:{learner.name} 已经 {days} 天没有打卡({when})。\n"
        f"积分 {enrollment.points},班级第 {rank_in_cohort(session, enrollment)} 名;"
        f"作业 {_count_events(session, enrollment, 'homework_submitted', now)} 次,"
        f"到课 {_count_events(session, enrollment, 'attended_live', now)} 次。\n"
        f"标签:{tags}\n"
        "先发一条语音问问近况(忙、觉得难,还是别的原因),帮 TA 定一个今天就能完成的小目标;"
        "不催作业,不发课程广告。"
    )


def _has_follow_up_since(session: Session, enrollment_id: int, since: datetime) -> bool:
    return (
        session.scalar(
            select(Task.id).where(
                Task.enrollment_id == enrollment_id,
                Task.step_key == SILENCE_STEP,
                Task.created_at >= since,
            )
        )
        is not None
    )


def _judged_day(now: datetime, tz: ZoneInfo) -> date:
    local = now.astimezone(tz)
    return local.date() if local.time() >= DAY_JUDGED_FROM else local.date() - timedelta(days=1)


def scan_silence(session: Session, cohort_id: int, *, now: datetime) -> SilenceScan:
    """Scan one cohort: set silence tags, raise follow-up and quiet-class tasks (caller commits).

    :raises NotFound: when the cohort does not exist.
    """
    cohort = session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound(f"cohort {cohort_id} does not exist")
    spec = spec_of(cohort.version)
    tz = zone(cohort.timezone)
    day = camp_time_of(cohort.starts_on, now, tz).day
    scan = SilenceScan(cohort_id=cohort.id, camp_day=day)
    if day < 1:
        scan.skipped = f"the camp starts on {cohort.starts_on} (D1); nobody can be silent yet"
        return scan
    if day > spec.days:
        scan.skipped = f"the camp ended on D{spec.days}"
        return scan
    _scan_learners(session, cohort, scan, now=now, tz=tz)
    _scan_classes(session, cohort, spec, scan, now=now, tz=tz)
    return scan


def _scan_learners(
    session: Session, cohort: Cohort, scan: SilenceScan, *, now: datetime, tz: ZoneInfo
) -> None:
    started = camp_start(cohort)
    lasts = last_check_ins(session, cohort.id, now)
    enrollments = session.scalars(
        select(Enrollment)
        .options(
            joinedload(Enrollment.learner).selectinload(Learner.tags),
            joinedload(Enrollment.version),
        )
        .where(Enrollment.cohort_id == cohort.id, Enrollment.state == EnrollmentState.ACTIVE)
        .order_by(Enrollment.id)
    ).unique()
    for enrollment in enrollments:
        spec = spec_of(enrollment.version)
        last = lasts.get(enrollment.id)
        since = quiet_since(enrollment, last, started)
        quiet_for = now - since
        learner = enrollment.learner
        held = {tag.name for tag in learner.tags}
        rules = _matching_silence_rules(spec, quiet_for)
        for rule in rules:
            if rule.tag not in held:
                tag = add_tag(session, learner.id, rule.tag, source=TagSource.RULE, now=now)
                if tag.name == rule.tag:
                    scan.tagged.append((learner.id, rule.tag))
        stale = frozenset(
            r.tag for r in spec.tag_rules if r.silent_for is not None and r not in rules
        ) - {r.tag for r in rules}
        scan.cleared += [(learner.id, n) for n in clear_silence_tags(session, learner.id, stale)]
        if quiet_for < silence_threshold(spec):
            continue
        scan.silent += 1
        if learner.opted_out_at is not None or learner.do_not_disturb:
            continue
        if _has_follow_up_since(session, enrollment.id, since):
            continue
        task = Task(
            cohort_id=cohort.id,
            enrollment_id=enrollment.id,
            advisor_id=enrollment.advisor_id,
            step_key=SILENCE_STEP,
            script=follow_up_script(session, enrollment, last, since, now, tz),
            voice=True,
            due_at=next_follow_up(now, tz),
            created_at=now,
        )
        session.add(task)
        scan.learner_tasks.append(task)
    session.flush()


def check_in_share(
    session: Session, cohort: Cohort, day: date, tz: ZoneInfo
) -> dict[int | None, tuple[int, int, list[str]]]:
    """Return per advisor (None: no advisor) the class size, how many checked in on the local
    ``day``, and the names of those who did not. The class is every current enrollment
    (active or converted) enrolled before the day ended."""
    start, end = local_day_window(day, tz)
    checked = (
        select(LearnerEvent.id)
        .where(
            LearnerEvent.learner_id == Enrollment.learner_id,
            LearnerEvent.name == "checked_in",
            LearnerEvent.occurred_at >= start,
            LearnerEvent.occurred_at < end,
            event_counts_for(Enrollment.id),
        )
        .exists()
    )
    rows = session.execute(
        select(Enrollment.advisor_id, Enrollment.id, checked)
        .where(
            Enrollment.cohort_id == cohort.id,
            Enrollment.state.in_(CURRENT_STATES),
            Enrollment.enrolled_at < end,
        )
        .order_by(Enrollment.id)
    ).all()
    classes: dict[int | None, tuple[int, int, list[str]]] = {}
    missing: dict[int | None, list[int]] = defaultdict(list)
    for advisor_id, enrollment_id, did in rows:
        size, count, names = classes.get(advisor_id, (0, 0, []))
        classes[advisor_id] = (size + 1, count + (1 if did else 0), names)
        if not did:
            missing[advisor_id].append(enrollment_id)
    for advisor_id, ids in missing.items():
        enrollments = session.scalars(
            select(Enrollment).options(joinedload(Enrollment.learner)).where(Enrollment.id.in_(ids))
        )
        classes[advisor_id][2].extend(sorted(e.learner.name for e in enrollments))
    return classes


def _scan_classes(
    session: Session,
    cohort: Cohort,
    spec: JourneySpec,
    scan: SilenceScan,
    *,
    now: datetime,
    tz: ZoneInfo,
) -> None:
    day = _judged_day(now, tz)
    camp_day = (day - cohort.starts_on).days + 1
    if not CLASS_QUIET_FROM_DAY <= camp_day <= spec.days:
        return
    step_key = f"{CLASS_QUIET_STEP}:D{camp_day}"
    for advisor_id, (size, count, absent) in sorted(
        check_in_share(session, cohort, day, tz).items(), key=lambda item: item[0] or 0
    ):
        if size < MIN_CLASS_SIZE or count >= CLASS_QUIET_SHARE * size:
            continue
        exists = session.scalar(
            select(Task.id).where(
                Task.cohort_id == cohort.id,
                Task.advisor_id.is_(None) if advisor_id is None else Task.advisor_id == advisor_id,
                Task.step_key == step_key,
            )
        )
        if exists is not None:
            continue
        names = "、".join(absent[:10]) + (f" 等 {len(absent)} 人" if len(absent) > 10 else "")
        task = Task(
            cohort_id=cohort.id,
            enrollment_id=None,
            advisor_id=advisor_id,
            step_key=step_key,
            script=(
                f"班级沉默提醒:{cohort.title} D{camp_day} 只有 {count}/{size} 人打卡"
                f"({count * 100 // size}%,低于 {int(CLASS_QUIET_SHARE * 100)}%)。\n"
                f"还没打卡:{names}。\n"
                "在群里发一个轻松的互动(投票、5 分钟小挑战),点名表扬今天打卡的同学;"
                "明早的任务卡写短一点。"
            ),
            voice=False,
            due_at=next_follow_up(now, tz),
            created_at=now,
        )
        session.add(task)
        scan.class_tasks.append(task)
    session.flush()


def scan_open_cohorts(session: Session, *, now: datetime) -> list[SilenceScan]:
    """Scan every open or paused cohort that is within its camp days (for the dispatcher)."""
    cohorts = session.scalars(
        select(Cohort)
        .where(Cohort.state.in_([CohortState.OPEN, CohortState.PAUSED]))
        .order_by(Cohort.id)
    )
    scans = [scan_silence(session, cohort.id, now=now) for cohort in cohorts]
    return [scan for scan in scans if scan.skipped is None]


def silent_learner_ids(
    session: Session, cohort: Cohort, as_of: datetime, window: timedelta
) -> set[int]:
    """Return the active enrollments quiet for ``window`` at ``as_of`` (the report's count)."""
    started = camp_start(cohort)
    lasts = last_check_ins(session, cohort.id, as_of)
    rows = session.scalars(
        select(Enrollment).where(
            Enrollment.cohort_id == cohort.id,
            Enrollment.state == EnrollmentState.ACTIVE,
            Enrollment.enrolled_at <= as_of,
        )
    )
    return {e.id for e in rows if as_of - quiet_since(e, lasts.get(e.id), started) >= window}
