"""Prepare one due delivery: apply every send-time check, then render its message.

Conditions and budgets are read now, when the step is due, never when it was planned. On
PostgreSQL the learner row is locked for the transaction, so two workers sending to the same
learner cannot both take the last slot of the daily cap.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.journeys.calendar import zone
from campaign.journeys.conditions import evaluate
from campaign.journeys.spec import Channel, JourneySpec, Step, Variant
from campaign.messages import context as ctx
from campaign.messages.channels.base import OutgoingMessage, Recipient
from campaign.messages.governor import Budgets, Decision, Reason, Verdict, govern
from campaign.messages.governor import Learner as GovLearner
from campaign.messages.planning import spec_of
from campaign.messages.settings import SendSettings
from campaign.messages.templates import render
from campaign.models import (
    Advisor,
    Cohort,
    CohortState,
    Delivery,
    Enrollment,
    EnrollmentState,
    Learner,
)
from campaign.offers.render import offer_for_send

PAUSE_RECHECK = timedelta(minutes=10)
"""How often a paused cohort's due deliveries are looked at again (they wait, never lapse)."""
COHORT_PAUSED = Reason.COHORT_PAUSED  # stored on the row as "waiting: cohort paused"


def prepare(
    session: Session, delivery: Delivery, cohort: Cohort, now: datetime, settings: SendSettings
) -> tuple[Decision, OutgoingMessage | None, Step]:
    """Apply every send-time check; on "send", render the message.

    A paused cohort's deliveries are deferred (held, not lost) until it resumes; then the usual
    checks apply, so a step whose ``expires_after`` ran out meanwhile expires rather than going
    out late.
    """
    spec = spec_of(cohort.version)
    step = spec.step(delivery.step_key)
    if cohort.state is CohortState.PAUSED:
        return Decision(Verdict.DEFER, COHORT_PAUSED, now + PAUSE_RECHECK), None, step
    enrollment = session.get(Enrollment, delivery.enrollment_id) if delivery.enrollment_id else None
    if enrollment is None:
        return _prepare_group(session, delivery, cohort, spec, step, now, settings)
    learner = _lock_learner(session, enrollment.learner_id)
    if enrollment.journey_version_id != cohort.journey_version_id:
        spec = spec_of(enrollment.version)
        step = spec.step(delivery.step_key)
    tz = ctx.learner_zone(learner, cohort)
    tags = ctx.learner_tags(session, learner.id)
    facts = ctx.learner_facts(session, enrollment, step, tags)
    holds = evaluate(
        step.when,
        facts,
        now=now,
        tz=ctx.step_zone(step, learner, cohort),
        camp_start=ctx.camp_start(cohort),
    )
    window = ctx.offer_window(spec, cohort)
    advisor = session.get(Advisor, enrollment.advisor_id) if enrollment.advisor_id else None
    welcome = ctx.welcome_of(session, delivery)
    budgets = Budgets(
        automated_sent_today=ctx.automated_sent_today(session, learner.id, now, tz)
        if step.is_automated_1v1
        else 0,
        automated_cap=spec.caps.automated_1v1_per_day,
        wecom_quota=settings.wecom_quota,
        wecom_sent_in_period=ctx.wecom_mass_sends(
            session, learner.id, now, tz, settings.wecom_quota_period
        )
        if settings.wecom_quota is not None and step.channel is Channel.WECOM and not welcome
        else 0,
        advisor_tasks_today=ctx.advisor_tasks_today(session, advisor.id, now, tz)
        if advisor and step.channel is Channel.ADVISOR_TASK
        else 0,
        advisor_capacity=advisor.daily_task_capacity if advisor else None,
    )
    decision = govern(
        step,
        now=now,
        due_at=delivery.planned_at,
        learner=GovLearner(
            tz,
            opted_out=learner.opted_out_at is not None,
            do_not_disturb=learner.do_not_disturb,
            is_minor=learner.is_minor(now.astimezone(tz).date()),
        ),
        enrollment_active=enrollment.state in (EnrollmentState.ACTIVE, EnrollmentState.CONVERTED)
        and cohort.state is not CohortState.CLOSED,
        goal_reached=enrollment.goal_reached_at is not None,
        offer_open=window is None or window[0] <= now <= window[1],
        condition_holds=holds,
        quiet_hours=spec.quiet_hours,
        budgets=budgets,
    )
    if not decision.goes_out:
        return decision, None, step
    offer = (
        offer_for_send(session, enrollment, spec, pinned=step.course, now=now)
        if spec.courses and _mentions_offer(step)
        else None
    )
    links = dict(settings.links)
    if settings.unsubscribe_url is not None:
        links["unsubscribe"] = settings.unsubscribe_url(learner.id)
    variables = ctx.render_context(
        spec=spec,
        cohort=cohort,
        now=now,
        links=links,
        learner=learner,
        enrollment=enrollment,
        advisor=advisor,
        tags=tags,
        # The rank is a count over the cohort: only worth its query when a text shows it.
        rank=ctx.rank_in_cohort(session, enrollment) if _mentions(step, "rank") else None,
        offer=offer,
    )
    variant = _variant(step, enrollment.id)
    text = render(variant.template, variables)
    message = OutgoingMessage(
        delivery_id=delivery.id,
        idempotency_key=delivery.idempotency_key,
        channel=step.channel,
        text=text,
        recipient=_recipient(learner, advisor, tz),
        journey_key=spec.key,
        step_key=step.key,
        selling=step.selling,
        subject=step.title or spec.title,
        unsubscribe_url=links.get("unsubscribe") or None,
        deadline=now + (step.deadline or settings.task_deadline),
        voice=step.voice,
        metadata={"variant": variant.key, "cohort_id": cohort.id, **welcome},
    )
    return decision, message, step


def _prepare_group(
    session: Session,
    delivery: Delivery,
    cohort: Cohort,
    spec: JourneySpec,
    step: Step,
    now: datetime,
    settings: SendSettings,
) -> tuple[Decision, OutgoingMessage | None, Step]:
    """Group steps (cohort, advisor) skip per-learner checks; quiet hours use the cohort clock."""
    tz = zone(cohort.timezone)
    decision = govern(
        step,
        now=now,
        due_at=delivery.planned_at,
        learner=GovLearner(tz),
        enrollment_active=cohort.state is not CohortState.CLOSED,
        goal_reached=False,
        offer_open=True,
        condition_holds=True,
        quiet_hours=spec.quiet_hours,
        budgets=Budgets(automated_cap=10**6),
    )
    if not decision.goes_out:
        return decision, None, step
    advisor = session.get(Advisor, delivery.advisor_id) if delivery.advisor_id else None
    variables = ctx.render_context(
        spec=spec, cohort=cohort, now=now, links=settings.links, advisor=advisor
    )
    variant = _variant(step, delivery.id)
    recipient = Recipient(
        learner_id=0,
        external_id=f"cohort-{cohort.id}",
        name=cohort.title,
        timezone=cohort.timezone,
        advisor_name=advisor.name if advisor else None,
        advisor_wecom_userid=advisor.wecom_userid if advisor else None,
    )
    message = OutgoingMessage(
        delivery_id=delivery.id,
        idempotency_key=delivery.idempotency_key,
        channel=step.channel,
        text=render(variant.template, variables),
        recipient=recipient,
        journey_key=spec.key,
        step_key=step.key,
        subject=step.title or spec.title,
        voice=step.voice,
        metadata={"variant": variant.key, "cohort_id": cohort.id, "audience": str(step.audience)},
    )
    return decision, message, step


def _mentions(step: Step, word: str) -> bool:
    """Tell whether any of the step's texts uses ``word`` (e.g. ``learner.rank``)."""
    return any(word in variant.template for variant in step.variants)


def _mentions_offer(step: Step) -> bool:
    """Tell whether any text of the step may show ``offer``: only then is the offer read (or
    created), so ordinary reminders cost no offer query."""
    return any("offer" in variant.template for variant in step.variants)


def _variant(step: Step, seed: int) -> Variant:
    """Pick an A/B variant by weight, stable per enrollment (the same learner, the same text)."""
    if len(step.variants) == 1:
        return step.variants[0]
    chooser = random.Random(f"{step.key}:{seed}")
    return chooser.choices(step.variants, weights=[v.weight for v in step.variants])[0]


def _lock_learner(session: Session, learner_id: int) -> Learner:
    """Load the learner, locked on PostgreSQL so two workers cannot both use the last cap slot."""
    query = (
        select(Learner).where(Learner.id == learner_id).execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    learner = session.scalar(query)
    assert learner is not None
    return learner


def _recipient(learner: Learner, advisor: Advisor | None, tz: Any) -> Recipient:
    return Recipient(
        learner_id=learner.id,
        external_id=learner.external_id,
        name=learner.name,
        timezone=str(tz),
        email=learner.email,
        phone=learner.phone,
        wecom_external_userid=learner.wecom_external_userid,
        advisor_name=advisor.name if advisor else None,
        advisor_wecom_userid=advisor.wecom_userid if advisor else None,
    )
