"""The conversion funnel: joined → attended → homework → consulted → deposit → paid.

Each stage is defined by a fact the engine stores (per enrollment; an event without an
enrollment counts for every enrollment of its learner):

============  =====================================================================
joined        a ``joined_group`` event (the learner is in the class group)
attended      an ``attended_live`` event
homework      a ``homework_submitted`` event
consulted     a ``replied`` event, or the tag ``intent:A`` (asked the price / how to enroll)
deposit       a ``deposit_paid`` event
paid          a ``paid`` event (refunds are not subtracted; ``refunded`` counts them)
============  =====================================================================

A learner *reached* a stage when they did it or any later one (a buyer who never joined the
group still passed the "joined" step of the funnel), so counts never grow down the funnel and
the stage rates multiply to the conversion rate, as the playbook reads them. ``did`` keeps the
plain count of learners with each stage's own fact.

By step and by variant the question is different: of the learners a step (variant) reached
(sent; an advisor task once the advisor marked it sent), how many paid after it first reached
them, and how many sales name it as the last touch (``attributed``).

Counts of deleted learners come back from :mod:`campaign.offers.tallies`, so funnels stay whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from campaign.models import (
    Advisor,
    Cohort,
    Conversion,
    Delivery,
    Enrollment,
    LearnerEvent,
    Tag,
    Task,
)
from campaign.offers.attribution import reached_at_column, reached_filter
from campaign.offers.tallies import load_tallies, resolve_key

STAGES = ("joined", "attended", "homework", "consulted", "deposit", "paid")
STAGE_EVENTS = {
    "joined": "joined_group",
    "attended": "attended_live",
    "homework": "homework_submitted",
    "consulted": "replied",
    "deposit": "deposit_paid",
    "paid": "paid",
}
CONSULTED_TAG = "intent:A"
DIMENSIONS = ("stage", "advisor", "tag", "step", "variant")
STAGE_MEASURES = (
    "enrolled",
    *(f"stage.{s}" for s in STAGES),
    *(f"did.{s}" for s in STAGES),
    "refunded",
)
STEP_MEASURES = ("reached", "paid", "attributed")


class UnknownDimension(ValueError):
    """``by`` is not one of :data:`DIMENSIONS`."""


@dataclass
class FunnelRow:
    """One group of the funnel: a cohort, an advisor, a tag, a step or a step's variant."""

    key: str
    label: str
    counts: dict[str, int]  # stage views: enrolled, each stage (reached), refunded
    did: dict[str, int] = field(default_factory=dict)  # stage views: each stage's own fact
    anonymous: int = 0  # of ``enrolled`` (or ``reached``): deleted learners, from tallies

    @property
    def rates(self) -> dict[str, float | None]:
        """Stage rates (of the stage before) and the conversion; paid per reached by step."""
        if "reached" in self.counts:
            return {"paid": _ratio(self.counts["paid"], self.counts["reached"])}
        rates: dict[str, float | None] = {}
        previous = self.counts["enrolled"]
        for stage in STAGES:
            rates[stage] = _ratio(self.counts[stage], previous)
            previous = self.counts[stage]
        rates["conversion"] = _ratio(self.counts["paid"], self.counts["enrolled"])
        return rates

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "counts": dict(self.counts),
            "did": dict(self.did),
            "rates": self.rates,
            "anonymous": self.anonymous,
        }


@dataclass
class Funnel:
    by: str
    cohort_id: int | None
    rows: list[FunnelRow]

    @property
    def columns(self) -> tuple[str, ...]:
        if self.by in ("step", "variant"):
            return STEP_MEASURES
        return ("enrolled", *STAGES, "refunded")

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "cohort_id": self.cohort_id,
            "stages": list(STAGES),
            "columns": list(self.columns),
            "rows": [row.as_dict() for row in self.rows],
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _scope(
    cohort: Any, enrollment: Any, cohort_id: int | None, enrollment_ids: Sequence[int] | None
) -> list[Any]:
    """Return the conditions "in this cohort" / "of these enrollments" on the given columns."""
    conditions = []
    if cohort_id is not None:
        conditions.append(cohort == cohort_id)
    if enrollment_ids is not None:
        conditions.append(enrollment.in_(list(enrollment_ids)))
    return conditions


def _event_of_enrollment(event: Any) -> Any:
    return and_(
        event.learner_id == Enrollment.learner_id,
        or_(event.enrollment_id == Enrollment.id, event.enrollment_id.is_(None)),
    )


def stage_counts(
    session: Session,
    *,
    by: str,
    cohort_id: int | None = None,
    enrollment_ids: Sequence[int] | None = None,
) -> list[tuple[int, str | None, dict[str, int]]]:
    """Return (cohort id, group key, counts by measure) for a stage view (stage/advisor/tag).

    One SQL statement: per enrollment, which stage facts exist; then per group, sums.
    """
    event = aliased(LearnerEvent)
    intent = aliased(Tag)
    did = {
        stage: func.max(case((event.name == name, 1), else_=0)).label(f"did_{stage}")
        for stage, name in STAGE_EVENTS.items()
        if stage != "consulted"
    }
    did["consulted"] = func.max(
        case((or_(event.name == STAGE_EVENTS["consulted"], intent.id.is_not(None)), 1), else_=0)
    ).label("did_consulted")
    refunded = func.max(case((event.name == "refunded", 1), else_=0)).label("did_refunded")
    per_enrollment = (
        select(
            Enrollment.id,
            Enrollment.cohort_id,
            Enrollment.advisor_id,
            Enrollment.learner_id,
            *(did[s] for s in STAGES),
            refunded,
        )
        .outerjoin(
            event,
            and_(
                _event_of_enrollment(event),
                event.name.in_([*STAGE_EVENTS.values(), "refunded"]),
            ),
        )
        .outerjoin(
            intent, and_(intent.learner_id == Enrollment.learner_id, intent.name == CONSULTED_TAG)
        )
        .where(*_scope(Enrollment.cohort_id, Enrollment.id, cohort_id, enrollment_ids))
        .group_by(Enrollment.id, Enrollment.cohort_id, Enrollment.advisor_id, Enrollment.learner_id)
        .subquery()
    )
    sub = per_enrollment.c
    measures: list[Any] = [func.count().label("enrolled")]
    for index, stage in enumerate(STAGES):
        later = [sub[f"did_{s}"] == 1 for s in STAGES[index:]]
        measures.append(func.sum(case((or_(*later), 1), else_=0)).label(f"stage.{stage}"))
        measures.append(func.sum(sub[f"did_{stage}"]).label(f"did.{stage}"))
    measures.append(func.sum(sub.did_refunded).label("refunded"))
    if by == "stage":
        group: Any = sub.cohort_id
        query = select(sub.cohort_id, group, *measures).group_by(sub.cohort_id)
    elif by == "advisor":
        group = sub.advisor_id
        query = select(sub.cohort_id, group, *measures).group_by(sub.cohort_id, group)
    else:
        tag = aliased(Tag)
        group = tag.name
        query = (
            select(sub.cohort_id, group, *measures)
            .join(tag, tag.learner_id == sub.learner_id)
            .group_by(sub.cohort_id, group)
        )
    names = [m.name for m in measures]
    return [
        (
            row[0],
            None if row[1] is None else str(row[1]),
            {n: int(v or 0) for n, v in zip(names, row[2:], strict=True)},
        )
        for row in session.execute(query)
    ]


def step_counts(
    session: Session,
    *,
    by: str,
    cohort_id: int | None = None,
    enrollment_ids: Sequence[int] | None = None,
) -> list[tuple[int, str, dict[str, int]]]:
    """Return (cohort id, step or "step/variant", reached/paid/attributed) per step (variant)."""
    reached = reached_at_column()
    keys: list[Any] = [Delivery.step_key]
    if by == "variant":
        keys.append(func.coalesce(Delivery.variant, "a"))
    touches = (
        select(
            Delivery.cohort_id,
            Delivery.enrollment_id,
            *[k.label(f"k{i}") for i, k in enumerate(keys)],
            func.min(reached).label("first"),
        )
        .outerjoin(Task, Task.delivery_id == Delivery.id)
        .where(
            reached_filter(),
            Delivery.enrollment_id.is_not(None),
            *_scope(Delivery.cohort_id, Delivery.enrollment_id, cohort_id, enrollment_ids),
        )
        .group_by(Delivery.cohort_id, Delivery.enrollment_id, *keys)
        .subquery()
    )
    event = aliased(LearnerEvent)
    paid = (
        select(Enrollment.id.label("enrollment_id"), func.min(event.occurred_at).label("paid_at"))
        .join(event, _event_of_enrollment(event))
        .where(
            event.name == "paid",
            *_scope(Enrollment.cohort_id, Enrollment.id, cohort_id, enrollment_ids),
        )
        .group_by(Enrollment.id)
        .subquery()
    )
    group = [touches.c[f"k{i}"] for i in range(len(keys))]
    query = (
        select(
            touches.c.cohort_id,
            *group,
            func.count(),
            func.sum(case((paid.c.paid_at >= touches.c.first, 1), else_=0)),
        )
        .select_from(touches)
        .outerjoin(paid, paid.c.enrollment_id == touches.c.enrollment_id)
        .group_by(touches.c.cohort_id, *group)
    )
    results: dict[tuple[int, str], dict[str, int]] = {}
    for row in session.execute(query):
        key = "/".join(str(k) for k in row[1 : 1 + len(group)])
        results[(row[0], key)] = {
            "reached": int(row[-2]),
            "paid": int(row[-1] or 0),
            "attributed": 0,
        }
    attributed_keys: list[Any] = [Conversion.step_key]
    if by == "variant":
        attributed_keys.append(func.coalesce(Conversion.variant, "a"))
    attributed = (
        select(Conversion.cohort_id, *attributed_keys, func.count(Conversion.id))
        .where(
            Conversion.step_key.is_not(None),
            *_scope(Conversion.cohort_id, Conversion.enrollment_id, cohort_id, enrollment_ids),
        )
        .group_by(Conversion.cohort_id, *attributed_keys)
    )
    for row in session.execute(attributed):
        key = "/".join(str(k) for k in row[1:-1])
        counts = results.setdefault((row[0], key), {"reached": 0, "paid": 0, "attributed": 0})
        counts["attributed"] += int(row[-1])
    return [(cohort, key, counts) for (cohort, key), counts in sorted(results.items())]


def funnel(session: Session, *, cohort_id: int | None = None, by: str = "stage") -> Funnel:
    """Return the funnel of one cohort (or all), grouped ``by`` stage (per cohort), advisor,
    tag, step or variant; deleted learners' anonymous counts included."""
    if by not in DIMENSIONS:
        raise UnknownDimension(
            f"cannot group the funnel by '{by}'; use one of {', '.join(DIMENSIONS)}"
        )
    step_view = by in ("step", "variant")
    measures = STEP_MEASURES if step_view else STAGE_MEASURES
    totals: dict[str, dict[str, int]] = {}
    anonymous: dict[str, int] = {}
    raw: Iterable[tuple[int, str | None, dict[str, int]]]
    raw = (step_counts if step_view else stage_counts)(session, by=by, cohort_id=cohort_id)
    for cohort, key, counts in raw:
        _add(totals, _group_key(by, cohort, key), counts, measures)
    known = set(totals)
    base = "reached" if step_view else "enrolled"
    for tally in load_tallies(session, cohort_id=cohort_id):
        if tally.kind != ("cohort" if by == "stage" else by):
            continue
        key = (
            str(tally.cohort_id)
            if by == "stage"
            else resolve_key(tally.key, by, tally.measure, known)
        )
        if key is None or tally.measure not in measures:
            continue
        _add(totals, key, {tally.measure: tally.count}, measures)
        if tally.measure == base:
            anonymous[key] = anonymous.get(key, 0) + tally.count
    labels = _labels(session, by, totals)
    rows = [
        _row(key, labels.get(key, key), counts, anonymous.get(key, 0), step_view)
        for key, counts in totals.items()
    ]
    rows.sort(key=lambda row: _sort_key(by, row))
    if by == "stage" and cohort_id is None and len(rows) > 1:
        everything: dict[str, dict[str, int]] = {}
        for counts in totals.values():
            _add(everything, "all", counts, measures)
        rows.append(
            _row("all", "all cohorts", everything["all"], sum(anonymous.values()), step_view)
        )
    return Funnel(by, cohort_id, rows)


def _group_key(by: str, cohort: int, key: str | None) -> str:
    if by == "stage":
        return str(cohort)
    if by == "advisor":
        return key if key is not None else "none"
    return str(key)


def _add(
    totals: dict[str, dict[str, int]], key: str, counts: dict[str, int], measures: Sequence[str]
) -> None:
    into = totals.setdefault(key, dict.fromkeys(measures, 0))
    for measure, value in counts.items():
        if measure in into:
            into[measure] += value


def _row(
    key: str, label: str, counts: dict[str, int], anonymous: int, step_view: bool
) -> FunnelRow:
    if step_view:
        return FunnelRow(key, label, dict(counts), anonymous=anonymous)
    stages = {"enrolled": counts["enrolled"]}
    stages.update({stage: counts[f"stage.{stage}"] for stage in STAGES})
    stages["refunded"] = counts["refunded"]
    did = {stage: counts[f"did.{stage}"] for stage in STAGES}
    return FunnelRow(key, label, stages, did, anonymous)


def _labels(session: Session, by: str, totals: dict[str, dict[str, int]]) -> dict[str, str]:
    """Return human names: cohort titles, advisor names; tags and steps name themselves."""
    ids = [int(key) for key in totals if key.isdigit()]
    if by == "stage" and ids:
        rows = session.execute(select(Cohort.id, Cohort.title).where(Cohort.id.in_(ids)))
        return {str(i): f"{title} (#{i})" for i, title in rows}
    if by == "advisor":
        labels = {"none": "(no advisor)"}
        if ids:
            rows = session.execute(select(Advisor.id, Advisor.name).where(Advisor.id.in_(ids)))
            labels.update({str(i): name for i, name in rows})
        return labels
    return {}


def _sort_key(by: str, row: FunnelRow) -> tuple[Any, ...]:
    if by in ("stage", "advisor"):
        return (not row.key.isdigit(), int(row.key) if row.key.isdigit() else 0, row.key)
    if by == "tag":
        return (-row.counts["enrolled"], row.key)
    return (-row.counts["reached"], row.key)
