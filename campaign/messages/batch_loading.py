"""Load, for a whole claimed batch at once, everything its send-time checks read
(:class:`campaign.messages.batch_facts.BatchFacts`).

The worker used to ask the database a dozen questions per delivery (the row again, the
enrollment, the learner, the tags, the events, the daily-cap count…), so a delivery cost a
dozen round trips. Here each kind of fact is one query for the whole batch (rows, cohorts,
enrollments, learners, advisors, tags, events, outcomes, recent sends, advisor tasks, welcome
events): a batch of 500 costs about ten statements, and the checks run in Python.

Counts against budgets (the daily cap, the WeCom quota, the advisor's capacity) are kept as the
instants of recent sends, so each row counts on its own learner's local day, and a send decided
earlier in the same batch is added before the next row is weighed (higher priority first).

Exactness across workers: the batch's delivery rows, its learners and the advisors it hands
tasks to are locked for the transaction that decides (``FOR UPDATE`` on PostgreSQL, always in
the order rows, learners, advisors and by id within each, so two workers cannot deadlock;
``BEGIN IMMEDIATE`` on SQLite, one writer at a time), and the decision is written (``sending``
counts against the cap and the advisor's capacity) before the locks are let go.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db import among
from campaign.journeys.conditions import FACT_EVENTS, FACT_OUTCOMES, facts_used
from campaign.journeys.spec import AUTOMATED_CHANNELS, Audience, Channel, JourneySpec
from campaign.messages import context as ctx
from campaign.messages.batch_facts import COUNTED, DAY_WINDOW, QUOTA_WINDOW, BatchFacts, Target
from campaign.messages.dispatch import id_among
from campaign.messages.planning import spec_of
from campaign.messages.rows import (
    CLAIMED_COLUMNS,
    ENROLLMENT_COLUMNS,
    LEARNER_COLUMNS,
    ClaimedRow,
    EnrollmentRow,
    LearnerRow,
)
from campaign.models import (
    Advisor,
    Cohort,
    Delivery,
    DeliveryStatus,
    Enrollment,
    JourneyVersion,
    LearnerEvent,
    Tag,
    Task,
)


def load_batch(
    session: Session,
    ids: Iterable[int],
    token: str,
    *,
    now: datetime,
    wecom_period: str | None,
) -> tuple[list[Target], BatchFacts]:
    """Lock and load the rows of ``ids`` still claimed under ``token``, and their facts.

    Returns the targets in sending order (higher priority first, then earlier due) and the
    facts. Call inside the transaction that will record the decisions.
    """
    locking = session.get_bind().dialect.name == "postgresql"
    query = (
        select(*CLAIMED_COLUMNS)
        .where(
            id_among(session, list(ids)),
            Delivery.status == DeliveryStatus.CLAIMED,
            Delivery.claim_token == token,
        )
        .order_by(Delivery.id)
    )
    if locking:
        # A row locked elsewhere is being reclaimed by the sweeper, or taken by a newer job
        # for the same rows: it is not this job's any more, and waiting could deadlock.
        query = query.with_for_update(skip_locked=True)
    rows = [ClaimedRow(*row) for row in session.execute(query)]
    rows.sort(key=lambda row: (-row.priority, row.due_at, row.id))
    if not rows:
        return [], BatchFacts()
    cohorts = _by_id(session, Cohort, {row.cohort_id for row in rows})
    enrollments = _rows_by_id(
        session,
        EnrollmentRow,
        ENROLLMENT_COLUMNS,
        {row.enrollment_id for row in rows if row.enrollment_id},
    )
    learners = _rows_by_id(
        session,
        LearnerRow,
        LEARNER_COLUMNS,
        {e.learner_id for e in enrollments.values()},
        lock=locking,
    )
    advisor_ids = {e.advisor_id for e in enrollments.values() if e.advisor_id} | {
        row.advisor_id for row in rows if row.advisor_id and not row.enrollment_id
    }
    advisors = _by_id(session, Advisor, advisor_ids)
    specs: dict[int, JourneySpec] = {}
    targets = [
        _target(session, row, cohorts, enrollments, learners, advisors, specs) for row in rows
    ]
    if locking:
        _lock_advisors(session, _busy_advisors(targets))
    facts = BatchFacts(tags=_tags(session, {t.learner.id for t in targets if t.learner}))
    _load_conditions(session, targets, facts)
    _load_budgets(session, targets, facts, now, wecom_period)
    facts.welcomes = _welcomes(session, rows)
    return targets, facts


def _rows_by_id(
    session: Session, row_class: Any, columns: list[Any], ids: set[int], *, lock: bool = False
) -> dict[int, Any]:
    """Load ``ids`` of a table as plain row objects (see :mod:`campaign.messages.rows`)."""
    if not ids:
        return {}
    id_column = columns[0]
    query = select(*columns).where(among(session, id_column, ids)).order_by(id_column)
    if lock:
        # In id order, so two workers never wait on each other in a circle; NO KEY UPDATE, so
        # rows that only refer to the learner (events, tags) can still be written meanwhile.
        query = query.with_for_update(key_share=True)
    return {row[0]: row_class(*row) for row in session.execute(query)}


def _by_id(session: Session, model: Any, ids: set[int], *, lock: bool = False) -> dict[int, Any]:
    if not ids:
        return {}
    query = select(model).where(among(session, model.id, ids)).order_by(model.id)
    if lock:
        # In id order, so two workers never wait on each other in a circle; NO KEY UPDATE, so
        # rows that only refer to the learner (events, tags) can still be written meanwhile.
        query = query.with_for_update(key_share=True)
    return {one.id: one for one in session.scalars(query)}


def _busy_advisors(targets: list[Target]) -> set[int]:
    """The advisors the batch may hand a task to: their daily capacity is weighed."""
    return {t.advisor.id for t in targets if t.advisor and t.step.channel is Channel.ADVISOR_TASK}


def _lock_advisors(session: Session, advisor_ids: set[int]) -> None:
    """Lock the advisors whose capacity the batch weighs, after the learners and in id order.

    Without it two workers deciding tasks for one advisor both count from the same baseline
    and together hand out more than the capacity. ``NO KEY UPDATE``: new tasks and deliveries
    that only refer to the advisor are not blocked.
    """
    if advisor_ids:
        session.execute(
            select(Advisor.id)
            .where(among(session, Advisor.id, advisor_ids))
            .order_by(Advisor.id)
            .with_for_update(key_share=True)
        ).all()


def _target(
    session: Session,
    row: ClaimedRow,
    cohorts: dict[int, Cohort],
    enrollments: dict[int, EnrollmentRow],
    learners: dict[int, LearnerRow],
    advisors: dict[int, Advisor],
    specs: dict[int, JourneySpec],
) -> Target:
    cohort = cohorts[row.cohort_id]
    version = cohort.version
    enrollment = enrollments.get(row.enrollment_id) if row.enrollment_id else None
    if enrollment is not None and enrollment.journey_version_id != cohort.journey_version_id:
        # Learners finish on the version they began.
        own = session.get(JourneyVersion, enrollment.journey_version_id)
        assert own is not None
        version = own
    spec = specs.get(version.id)
    if spec is None:  # parsed once per version for the batch (the cache key holds the YAML)
        spec = specs[version.id] = spec_of(version)
    if enrollment is None:
        advisor = advisors.get(row.advisor_id) if row.advisor_id else None
        return Target(row, cohort, spec, spec.step(row.step_key), advisor=advisor)
    return Target(
        row,
        cohort,
        spec,
        spec.step(row.step_key),
        enrollment=enrollment,
        learner=learners[enrollment.learner_id],
        advisor=advisors.get(enrollment.advisor_id) if enrollment.advisor_id else None,
    )


def _tags(session: Session, learner_ids: set[int]) -> dict[int, frozenset[str]]:
    if not learner_ids:
        return {}
    found: dict[int, set[str]] = defaultdict(set)
    for learner_id, name in session.execute(
        select(Tag.learner_id, Tag.name).where(among(session, Tag.learner_id, learner_ids))
    ):
        found[learner_id].add(name)
    return {learner_id: frozenset(names) for learner_id, names in found.items()}


def _load_conditions(session: Session, targets: list[Target], facts: BatchFacts) -> None:
    """Load events and step outcomes, only for the rows whose condition reads them."""
    event_learners: set[int] = set()
    outcome_enrollments: set[int] = set()
    for target in targets:
        if target.enrollment is None or target.learner is None:
            continue
        used = facts_used(target.step.when)
        if FACT_EVENTS in used:
            event_learners.add(target.learner.id)
        if FACT_OUTCOMES in used:
            outcome_enrollments.add(target.enrollment.id)
    if event_learners:
        events: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
        for learner_id, name, at in session.execute(
            select(LearnerEvent.learner_id, LearnerEvent.name, LearnerEvent.occurred_at).where(
                among(session, LearnerEvent.learner_id, event_learners)
            )
        ):
            events[learner_id].append((name, at))
        facts.events = dict(events)
    if outcome_enrollments:
        outcomes: dict[int, dict[str, str]] = defaultdict(dict)
        for enrollment_id, step_key, status, task_status in session.execute(
            select(Delivery.enrollment_id, Delivery.step_key, Delivery.status, Task.status)
            .outerjoin(Task, Task.delivery_id == Delivery.id)
            .where(among(session, Delivery.enrollment_id, outcome_enrollments))
            .order_by(Delivery.due_at)
        ):
            outcomes[enrollment_id][step_key] = (
                ctx.TASK_OUTCOMES[task_status] if task_status else str(status)
            )
        facts.outcomes = dict(outcomes)


def _load_budgets(
    session: Session,
    targets: list[Target],
    facts: BatchFacts,
    now: datetime,
    wecom_period: str | None,
) -> None:
    """Load the recent sends each budget counts: per learner, and tasks per advisor.

    The query reaches deliveries through the learner's enrollments (index on
    ``enrollment_id``) and leaves status and channel to Python: a plan that cannot be tempted
    into scanning every sent row of the table when the statistics are stale.
    """
    capped = {t.learner.id for t in targets if t.learner and t.step.is_automated_1v1}
    quota = {
        t.learner.id
        for t in targets
        if t.learner and wecom_period is not None and t.step.channel is Channel.WECOM
    }
    if capped or quota:
        since = now - max(
            DAY_WINDOW if capped else timedelta(0),
            QUOTA_WINDOW.get(wecom_period or "month", QUOTA_WINDOW["month"])
            if quota
            else timedelta(0),
        )
        recent = session.execute(
            select(
                Enrollment.learner_id,
                Delivery.sent_at,
                Delivery.status,
                Delivery.channel,
                Delivery.audience,
                Delivery.reason,
            )
            .join(Enrollment, Enrollment.id == Delivery.enrollment_id)
            .where(among(session, Enrollment.learner_id, capped | quota), Delivery.sent_at >= since)
        )
        for learner_id, sent_at, status, channel, audience, reason in recent:
            if status not in COUNTED:
                continue
            if (
                learner_id in capped
                and audience == Audience.LEARNER
                and channel in AUTOMATED_CHANNELS
                and sent_at >= now - DAY_WINDOW
            ):
                facts.automated_sends[learner_id].append(sent_at)
            if learner_id in quota and channel == Channel.WECOM and reason != ctx.WELCOME_DETAIL:
                facts.wecom_sends[learner_id].append(sent_at)
    busy = _busy_advisors(targets)
    if busy:
        for advisor_id, created_at in session.execute(
            select(Task.advisor_id, Task.created_at).where(
                among(session, Task.advisor_id, busy), Task.created_at >= now - DAY_WINDOW
            )
        ):
            facts.advisor_tasks[advisor_id].append(created_at)
        # A task decided by another worker is a `sending` row until its task is written (the
        # task and the row's `sent` land in one commit): count those too.
        for advisor_id, sent_at in session.execute(
            select(Delivery.advisor_id, Delivery.sent_at).where(
                Delivery.status == DeliveryStatus.SENDING,
                Delivery.channel == Channel.ADVISOR_TASK,
                among(session, Delivery.advisor_id, busy),
                Delivery.sent_at >= now - DAY_WINDOW,
            )
        ):
            facts.advisor_tasks[advisor_id].append(sent_at)


def _welcomes(session: Session, rows: list[ClaimedRow]) -> dict[int, dict[str, Any]]:
    """Return WeCom welcome details for the rows that answer an add-contact event.

    WeCom allows a welcome only through the ``welcome_code`` of the add event, within 20 s of
    it; the integration posts that event with the code in its payload.
    """
    wanted = {
        row.id: int(row.occurrence[3:])
        for row in rows
        if row.occurrence.startswith("on:") and row.occurrence[3:].isdigit()
    }
    if not wanted:
        return {}
    events = {
        event.id: event
        for event in session.scalars(
            select(LearnerEvent).where(LearnerEvent.id.in_(sorted(set(wanted.values()))))
        )
    }
    welcomes = {}
    for delivery_id, event_id in wanted.items():
        event = events.get(event_id)
        if event is not None and event.payload and event.payload.get("welcome_code"):
            welcomes[delivery_id] = {
                "welcome_code": str(event.payload["welcome_code"]),
                "added_at": event.occurred_at,
            }
    return welcomes
