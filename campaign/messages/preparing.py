"""Prepare one due delivery: apply every send-time check, then render its message.

Conditions and budgets are read now, when the step is due, never when it was planned, from
the facts loaded for the whole batch under its locks (:mod:`campaign.messages.batch_facts`).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from campaign.journeys.calendar import zone
from campaign.journeys.spec import Channel, Step, Variant
from campaign.messages import context as ctx
from campaign.messages.batch_facts import BatchFacts, Target
from campaign.messages.channels.base import OutgoingMessage, Recipient
from campaign.messages.dispatch import RESEND_REASON
from campaign.messages.governor import SEND, Budgets, Decision, Reason, Verdict, govern
from campaign.messages.governor import Learner as GovLearner
from campaign.messages.rows import ClaimedRow, LearnerRow
from campaign.messages.settings import SendSettings
from campaign.messages.templates import render
from campaign.models import Advisor, CohortState, Enrollment, EnrollmentState
from campaign.offers.render import offer_for_send

PAUSE_RECHECK = timedelta(minutes=10)
"""How often a paused cohort's due deliveries are looked at again (they wait, never lapse)."""
COHORT_PAUSED = Reason.COHORT_PAUSED  # stored on the row as "waiting: cohort paused"


def prepare(
    session: Session, target: Target, facts: BatchFacts, now: datetime, settings: SendSettings
) -> tuple[Decision, OutgoingMessage | None]:
    """Apply every send-time check to one row of a batch; on "send", render the message.

    The facts were loaded for the whole batch (:mod:`campaign.messages.batch_facts`); the
    session is used only for what a text shows and few rows need: the offer and the rank.
    A paused cohort's deliveries are deferred (held, not lost) until it resumes; then the usual
    checks apply, so a step whose ``expires_after`` ran out meanwhile expires rather than going
    out late.
    """
    delivery, cohort, spec, step = target.delivery, target.cohort, target.spec, target.step
    resend = is_resend(delivery)
    if cohort.state is CohortState.PAUSED and not resend:
        return Decision(Verdict.DEFER, COHORT_PAUSED, now + PAUSE_RECHECK), None
    enrollment, learner, advisor = target.enrollment, target.learner, target.advisor
    if enrollment is None or learner is None:
        return _prepare_group(target, now, settings, resend=resend)
    tz = ctx.learner_zone(learner, cohort)
    tags = facts.tags_of(learner.id)
    holds = facts.condition_holds(
        target, now=now, tz=ctx.step_zone(step, learner, cohort), camp_start=ctx.camp_start(cohort)
    )
    window = ctx.offer_window(spec, cohort)
    welcome = facts.welcomes.get(delivery.id, {})
    budgets = Budgets(
        automated_sent_today=facts.automated_sent_today(learner.id, now, tz)
        if step.is_automated_1v1
        else 0,
        automated_cap=spec.caps.automated_1v1_per_day,
        wecom_quota=settings.wecom_quota,
        wecom_sent_in_period=facts.wecom_sent_in_period(
            learner.id, now, tz, settings.wecom_quota_period
        )
        if settings.wecom_quota is not None and step.channel is Channel.WECOM and not welcome
        else 0,
        advisor_tasks_today=facts.advisor_tasks_today(advisor.id, now, tz)
        if advisor and step.channel is Channel.ADVISOR_TASK
        else 0,
        advisor_capacity=advisor.daily_task_capacity if advisor else None,
    )
    decision = (
        SEND
        if resend
        else govern(
            step,
            now=now,
            due_at=delivery.planned_at,
            learner=GovLearner(
                tz,
                opted_out=learner.opted_out_at is not None,
                do_not_disturb=learner.do_not_disturb,
                is_minor=learner.is_minor(now.astimezone(tz).date()),
            ),
            enrollment_active=enrollment.state
            in (EnrollmentState.ACTIVE, EnrollmentState.CONVERTED)
            and cohort.state is not CohortState.CLOSED,
            goal_reached=enrollment.goal_reached_at is not None,
            offer_open=window is None or window[0] <= now <= window[1],
            condition_holds=holds,
            quiet_hours=spec.quiet_hours,
            budgets=budgets,
        )
    )
    if not decision.goes_out:
        return decision, None
    offer = (
        offer_for_send(
            session, _orm_enrollment(session, enrollment.id), spec, pinned=step.course, now=now
        )
        if spec.courses and _mentions_offer(step) and not resend
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
        rank=ctx.rank_in_cohort(session, enrollment)
        if _mentions(step, "rank") and not resend
        else None,
        offer=offer,
    )
    variant = _variant(step, enrollment.id)
    text = delivery.text if resend and delivery.text else render(variant.template, variables)
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
    return decision, message


def _orm_enrollment(session: Session, enrollment_id: int) -> Enrollment:
    """The enrollment as an ORM object, for the offer service (which stores offers on it)."""
    found = session.get(Enrollment, enrollment_id)
    assert found is not None
    return found


def is_resend(delivery: ClaimedRow) -> bool:
    """Tell whether the row is a send cut off mid-way on a channel that de-duplicates: it goes
    out again as it was, with its stored text and under the same key, and is not decided again:
    the first attempt may have reached the learner, so a fresh "no" (expired, capped) would
    record as not sent a message the learner has."""
    return delivery.reason == RESEND_REASON and delivery.attempts > 0


def needs_session(target: Target) -> bool:
    """Tell whether preparing the row reads or writes the database (offer, rank)."""
    step = target.step
    if is_resend(target.delivery):
        return False
    return target.enrollment is not None and (
        (bool(target.spec.courses) and _mentions_offer(step)) or _mentions(step, "rank")
    )


def _prepare_group(
    target: Target, now: datetime, settings: SendSettings, *, resend: bool
) -> tuple[Decision, OutgoingMessage | None]:
    """Group steps (cohort, advisor) skip per-learner checks; quiet hours use the cohort clock."""
    delivery, cohort, spec, step = target.delivery, target.cohort, target.spec, target.step
    tz = zone(cohort.timezone)
    decision = (
        SEND
        if resend
        else govern(
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
    )
    if not decision.goes_out:
        return decision, None
    advisor = target.advisor
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
        text=delivery.text if resend and delivery.text else render(variant.template, variables),
        recipient=recipient,
        journey_key=spec.key,
        step_key=step.key,
        subject=step.title or spec.title,
        voice=step.voice,
        metadata={"variant": variant.key, "cohort_id": cohort.id, "audience": str(step.audience)},
    )
    return decision, message


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


def _recipient(learner: LearnerRow, advisor: Advisor | None, tz: Any) -> Recipient:
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
