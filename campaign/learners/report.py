"""The daily class report (班级日报): per cohort and advisor, one camp day in numbers.

The playbook's 22:00 internal report: joins, attendance, check-ins, silence, points and intent
mix, so an advisor sees where their class stands and whom to call tomorrow. Definitions:

- *learners*: enrollments in the class (active, converted or graduated) enrolled before the
  day ended; dropped and opted-out enrollments are out of the class;
- every count stops at the end of the day, or at the moment of the report for today;
- *joined*: of those, who joined the group (a ``joined_group`` event) by the end of the day;
- *attended* / *checked in*: who had an ``attended_live`` / ``checked_in`` event that local
  day (cohort clock);
- *silent*: active learners quiet for the silence threshold at the end of the day (or now, for
  today), as the silence scan counts them;
- *points*: the ledger's sum at the end of the day, and the top three;
- *intent*: the current ``intent:*`` tags (A, B, C; ``-`` for none). Intent is exclusive and
  replaced as it changes, so a past day's report shows today's mix.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.errors import NotFound
from campaign.journeys.calendar import zone
from campaign.learners.common import event_counts_for, local_day_window
from campaign.learners.silence import silence_threshold, silent_learner_ids
from campaign.messages.planning import spec_of
from campaign.models import (
    Advisor,
    Cohort,
    Enrollment,
    EnrollmentState,
    Learner,
    LearnerEvent,
    PointsEntry,
    Tag,
)

REPORTED_STATES = (EnrollmentState.ACTIVE, EnrollmentState.CONVERTED, EnrollmentState.GRADUATED)
INTENT_LEVELS = ("A", "B", "C", "-")
NO_ADVISOR = "(no advisor)"


@dataclass(frozen=True)
class ClassDay:
    """One class (an advisor's learners in the cohort) on one day; ``advisor_id`` None for the
    learners without an advisor, and for the cohort's total line."""

    advisor_id: int | None
    advisor: str
    learners: int = 0
    joined: int = 0
    attended: int = 0
    checked_in: int = 0
    silent: int = 0
    points: int = 0
    top: tuple[tuple[str, int], ...] = ()
    intent: dict[str, int] = field(default_factory=dict)

    @property
    def points_avg(self) -> float:
        """Return the mean points per learner (0 for an empty class)."""
        return self.points / self.learners if self.learners else 0.0


@dataclass(frozen=True)
class DailyReport:
    """The report of one cohort on one local day: a line per class and the total."""

    cohort_id: int
    cohort_title: str
    day: date
    camp_day: int
    as_of: datetime
    classes: tuple[ClassDay, ...]
    total: ClassDay


@dataclass
class _Learner:
    enrollment_id: int
    learner_id: int
    advisor_id: int | None
    name: str


def daily_report(
    session: Session, cohort_id: int, *, now: datetime, day: date | None = None
) -> DailyReport:
    """Build the report of ``day`` (default: today on the cohort's clock).

    :raises NotFound: when the cohort does not exist.
    """
    cohort = session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound(f"cohort {cohort_id} does not exist")
    tz = zone(cohort.timezone)
    day = day or now.astimezone(tz).date()
    start, end = local_day_window(day, tz)
    as_of = min(end, now)
    camp_day = (day - cohort.starts_on).days
    camp_day = camp_day + 1 if camp_day >= 0 else camp_day  # there is no D0
    members = [
        _Learner(*row)
        for row in session.execute(
            select(Enrollment.id, Enrollment.learner_id, Enrollment.advisor_id, Learner.name)
            .join(Learner, Learner.id == Enrollment.learner_id)
            .where(
                Enrollment.cohort_id == cohort.id,
                Enrollment.state.in_(REPORTED_STATES),
                Enrollment.enrolled_at < as_of,
            )
            .order_by(Enrollment.id)
        )
    ]
    ids = [m.enrollment_id for m in members]
    joined = _with_event(session, ids, "joined_group", None, as_of)
    attended = _with_event(session, ids, "attended_live", start, as_of)
    checked = _with_event(session, ids, "checked_in", start, as_of)
    silent = silent_learner_ids(session, cohort, as_of, silence_threshold(spec_of(cohort.version)))
    points = _points_at(session, ids, as_of)
    intents = _intents(session, [m.learner_id for m in members])
    advisors = {i: name for i, name in session.execute(select(Advisor.id, Advisor.name))}

    groups: dict[int | None, list[_Learner]] = defaultdict(list)
    for member in members:
        groups[member.advisor_id].append(member)

    def line(advisor_id: int | None, name: str, people: list[_Learner]) -> ClassDay:
        mix = Counter(intents.get(p.learner_id, "-") for p in people)
        ranked = sorted(people, key=lambda p: (-points.get(p.enrollment_id, 0), p.name))
        return ClassDay(
            advisor_id=advisor_id,
            advisor=name,
            learners=len(people),
            joined=sum(p.enrollment_id in joined for p in people),
            attended=sum(p.enrollment_id in attended for p in people),
            checked_in=sum(p.enrollment_id in checked for p in people),
            silent=sum(p.enrollment_id in silent for p in people),
            points=sum(points.get(p.enrollment_id, 0) for p in people),
            top=tuple((p.name, points.get(p.enrollment_id, 0)) for p in ranked[:3]),
            intent={level: mix.get(level, 0) for level in INTENT_LEVELS},
        )

    classes = tuple(
        line(advisor_id, advisors.get(advisor_id, NO_ADVISOR) if advisor_id else NO_ADVISOR, people)
        for advisor_id, people in sorted(
            groups.items(), key=lambda item: (item[0] is None, advisors.get(item[0] or 0, ""))
        )
    )
    return DailyReport(
        cohort_id=cohort.id,
        cohort_title=cohort.title,
        day=day,
        camp_day=camp_day,
        as_of=as_of,
        classes=classes,
        total=line(None, "total", members),
    )


def _with_event(
    session: Session, ids: list[int], name: str, start: datetime | None, end: datetime
) -> set[int]:
    """Return the enrollments among ``ids`` with an event ``name`` in [start, end)."""
    if not ids:
        return set()
    query = (
        select(Enrollment.id)
        .join(LearnerEvent, LearnerEvent.learner_id == Enrollment.learner_id)
        .where(
            Enrollment.id.in_(ids),
            LearnerEvent.name == name,
            LearnerEvent.occurred_at < end,
            event_counts_for(Enrollment.id),
        )
        .distinct()
    )
    if start is not None:
        query = query.where(LearnerEvent.occurred_at >= start)
    return set(session.scalars(query))


def _points_at(session: Session, ids: list[int], end: datetime) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(PointsEntry.enrollment_id, func.sum(PointsEntry.delta))
        .where(PointsEntry.enrollment_id.in_(ids), PointsEntry.created_at < end)
        .group_by(PointsEntry.enrollment_id)
    )
    return {enrollment_id: int(total or 0) for enrollment_id, total in rows}


def _intents(session: Session, learner_ids: list[int]) -> dict[int, str]:
    if not learner_ids:
        return {}
    rows = session.execute(
        select(Tag.learner_id, Tag.name).where(
            Tag.learner_id.in_(learner_ids), Tag.group == "intent"
        )
    )
    intents: dict[int, str] = {}
    for learner_id, name in rows:
        value = name.partition(":")[2]
        intents[learner_id] = value if value in INTENT_LEVELS else "-"
    return intents


# --- the table ------------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(width - display_width(text), 0)
    return gap + text if right else text + gap


def _share(part: int, whole: int) -> str:
    return f"{part} ({part * 100 // whole}%)" if whole else str(part)


def format_report(report: DailyReport) -> list[str]:
    """Render the report as aligned text lines: a title, a header, a line per class, the total."""
    header = (
        "advisor",
        "learners",
        "joined",
        "attended",
        "checked in",
        "silent",
        "points avg",
        "intent A/B/C/-",
        "top 3",
    )
    rows: list[tuple[str, ...]] = []
    for c in (*report.classes, report.total):
        rows.append(
            (
                c.advisor,
                str(c.learners),
                _share(c.joined, c.learners),
                _share(c.attended, c.learners),
                _share(c.checked_in, c.learners),
                str(c.silent),
                f"{c.points_avg:.1f}",
                "/".join(str(c.intent.get(level, 0)) for level in INTENT_LEVELS),
                ", ".join(f"{name} {points}" for name, points in c.top) or "-",
            )
        )
    widths = [max(display_width(r[i]) for r in (header, *rows)) for i in range(len(header))]
    right = {1, 2, 3, 4, 5, 6}

    def render(row: tuple[str, ...]) -> str:
        cells = [_cell(text, widths[i], i in right) for i, text in enumerate(row)]
        return "  ".join(cells).rstrip()

    title = (
        f"class report · cohort {report.cohort_id} '{report.cohort_title}' · "
        f"{report.day.isoformat()} (D{report.camp_day})"
    )
    lines = [title, render(header)]
    lines += [render(row) for row in rows[:-1]]
    lines.append("-" * display_width(render(rows[-1])))
    lines.append(render(rows[-1]))
    return lines
