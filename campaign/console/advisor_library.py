"""Reference pages: the script library of the advisor's journeys, their cohorts and the
cohort leaderboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import abort, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.console.advisor_common import (
    CHANNEL_LABELS,
    EVENT_LABELS,
    _,
    blueprint,
    format_duration,
    label,
    mine,
    now,
    viewer_advisor_id,
)
from campaign.console.auth import requires, sees_all
from campaign.db import get_session
from campaign.journeys.calendar import camp_time_of, zone
from campaign.journeys.spec import CampTime, Channel, JourneySpec, Step
from campaign.learners.points import leaderboard
from campaign.messages.planning import spec_of
from campaign.models import Cohort, Enrollment, JourneyVersion, Role

TOP = 100  # leaderboard places shown; the advisor's own learners below the cut are added


@dataclass
class LibraryVersion:
    """One journey version the advisor's learners are on, with its steps."""

    version: JourneyVersion
    spec: JourneySpec
    cohorts: list[str] = field(default_factory=list)


def step_timing(spec: JourneySpec, step: Step) -> str:
    """Say when a step happens: its camp times (milestones resolved) or the event it follows."""
    if step.on is not None:
        event = label(EVENT_LABELS, step.on.event)
        if step.on.delay:
            return _(
                "%(delay)s after: %(event)s", delay=format_duration(step.on.delay), event=event
            )
        return _("on: %(event)s", event=event)
    times: list[CampTime] = [spec.resolve(at) for at in step.at]
    return ", ".join(str(t) for t in times)


def library_versions(session: Session, advisor_id: int | None) -> list[LibraryVersion]:
    """Return the journey versions of the advisor's cohorts (their learners' and the cohorts'
    current ones), newest cohort first."""
    query = (
        select(Cohort.title, Enrollment.journey_version_id, Cohort.journey_version_id)
        .join(Enrollment, Enrollment.cohort_id == Cohort.id)
        .distinct()
    )
    if advisor_id is not None:
        query = query.where(Enrollment.advisor_id == advisor_id)
    pairs = session.execute(query).all()
    cohorts_of: dict[int, set[str]] = {}
    for title, enrolled_on, current in pairs:
        for version_id in {enrolled_on, current}:
            cohorts_of.setdefault(version_id, set()).add(title)
    versions = session.scalars(
        select(JourneyVersion)
        .where(JourneyVersion.id.in_(cohorts_of))
        .order_by(JourneyVersion.journey_id, JourneyVersion.number.desc())
    )
    found = []
    for version in versions:
        try:
            spec = spec_of(version)
        except ValueError:
            continue
        found.append(LibraryVersion(version, spec, sorted(cohorts_of[version.id])))
    return found


@blueprint.get("/scripts")
@requires(Role.ADVISOR)
def scripts() -> str:
    """Show each step's template and variants, for reference (read-only)."""
    advisor_only = request.args.get("advisor_only") == "1"
    versions = library_versions(get_session(), viewer_advisor_id())
    return render_template(
        "console/advisor/scripts.html",
        versions=versions,
        advisor_only=advisor_only,
        advisor_task=Channel.ADVISOR_TASK,
        timing=step_timing,
        channel_label=lambda channel: label(CHANNEL_LABELS, channel),
        duration=lambda delta: format_duration(delta) if isinstance(delta, timedelta) else "",
    )


@blueprint.get("/cohorts")
@requires(Role.ADVISOR)
def cohorts() -> str:
    """List the advisor's cohorts: class size, their learners, today's camp day."""
    session = get_session()
    query = (
        select(
            Cohort,
            func.count(Enrollment.id),
        )
        .join(Enrollment, Enrollment.cohort_id == Cohort.id)
        .where(mine(Enrollment.advisor_id))
        .group_by(Cohort.id)
        .order_by(Cohort.starts_on.desc(), Cohort.id)
    )
    current = now()
    rows = [
        (cohort, count, camp_time_of(cohort.starts_on, current, zone(cohort.timezone)).day)
        for cohort, count in session.execute(query).all()
    ]
    return render_template("console/advisor/cohorts.html", rows=rows)


@blueprint.get("/cohorts/<int:cohort_id>/leaderboard")
@requires(Role.ADVISOR)
def cohort_leaderboard(cohort_id: int) -> str:
    """Show the cohort's points leaderboard (equal points share a rank), the advisor's
    learners marked; only for a cohort the advisor has learners in."""
    session = get_session()
    cohort = session.get(Cohort, cohort_id)
    advisor_id = viewer_advisor_id()
    if cohort is None:
        abort(404)
    if not sees_all() and not session.scalar(
        select(Enrollment.id)
        .where(Enrollment.cohort_id == cohort_id, mine(Enrollment.advisor_id))
        .limit(1)
    ):
        abort(404)
    standings = leaderboard(session, cohort_id)
    top = [s for s in standings if s.rank <= TOP]
    below = [s for s in standings if s.rank > TOP and s.advisor_id == advisor_id]
    return render_template(
        "console/advisor/leaderboard.html",
        cohort=cohort,
        top=top,
        below=below,
        size=len(standings),
        advisor_id=advisor_id,
    )
