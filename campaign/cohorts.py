"""Open, list, pause and resume cohorts (营期), each pinned to the journey version that was latest
when it opened.

The pin is what lets marketers keep editing a journey while a camp runs: publishing again makes
a new version for the next cohort and leaves this one alone. No Flask here.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from campaign.errors import CampaignError, NotFound, did_you_mean
from campaign.journeys.calendar import is_timezone
from campaign.models import Cohort, CohortState
from campaign.publishing import find_journey, latest_version


class InvalidCohort(CampaignError):
    """A cohort setting (timezone, capacity, title) that cannot be used."""


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA timezone such as ``Asia/Shanghai``.

    :raises InvalidCohort: with the closest known name when there is one.
    """
    if not is_timezone(name):
        hint = (
            did_you_mean(name, available_timezones())
            or "; use an IANA name such as 'Asia/Shanghai'"
        )
        raise InvalidCohort(f"unknown timezone '{name}'{hint}")
    return name


def open_cohort(
    session: Session,
    journey_key: str,
    starts_on: date,
    timezone: str | None = None,
    title: str | None = None,
    capacity: int | None = None,
) -> Cohort:
    """Open a cohort of journey ``journey_key`` whose ``D1`` is ``starts_on``.

    :param timezone: the cohort's clock; defaults to the timezone the journey names.
    :param title: defaults to the journey's title and the start date.
    :param capacity: the most learners it takes; ``None`` for no limit.
    :raises NotFound: when the journey is not published.
    :raises InvalidCohort: for an unknown timezone or a capacity below 1.
    """
    journey = find_journey(session, journey_key)
    version = latest_version(session, journey)
    zone = check_timezone(timezone if timezone is not None else str(version.spec_json["timezone"]))
    if capacity is not None and capacity < 1:
        raise InvalidCohort(f"capacity {capacity} is not a number of learners; give 1 or more")
    name = title.strip() if title is not None else f"{journey.title} · {starts_on.isoformat()}"
    if not name:
        raise InvalidCohort("the cohort title is empty; give one or leave it out for the default")
    cohort = Cohort(
        journey=journey,
        version=version,
        title=name,
        starts_on=starts_on,
        timezone=zone,
        capacity=capacity,
        state=CohortState.OPEN,
    )
    session.add(cohort)
    session.flush()
    return cohort


def list_cohorts(session: Session, journey_key: str | None = None) -> list[Cohort]:
    """Return cohorts, soonest start first, of one journey or of all."""
    query = (
        select(Cohort)
        .options(joinedload(Cohort.journey), joinedload(Cohort.version))
        .order_by(Cohort.starts_on, Cohort.id)
    )
    if journey_key is not None:
        query = query.where(Cohort.journey_id == find_journey(session, journey_key).id)
    return list(session.scalars(query))


def _change_state(
    session: Session, cohort_id: int, expect: CohortState, to: CohortState, verb: str
) -> Cohort:
    cohort = session.get(Cohort, cohort_id, with_for_update=True)
    if cohort is None:
        raise NotFound(f"cohort {cohort_id} does not exist")
    if cohort.state is to:
        return cohort
    if cohort.state is not expect:
        raise InvalidCohort(
            f"cohort {cohort_id} is {cohort.state}; only a cohort that is {expect} can be {verb}"
        )
    cohort.state = to
    session.flush()
    return cohort


def pause_cohort(session: Session, cohort_id: int) -> Cohort:
    """Pause an open cohort: its deliveries are held (deferred, not lost) until it resumes.

    Pausing a paused cohort changes nothing.

    :raises NotFound: when there is no such cohort.
    :raises InvalidCohort: when the cohort is closed.
    """
    return _change_state(session, cohort_id, CohortState.OPEN, CohortState.PAUSED, "paused")


def resume_cohort(session: Session, cohort_id: int) -> Cohort:
    """Resume a paused cohort: held deliveries go out again at their next check.

    Steps whose ``expires_after`` ran out while the cohort was paused expire then, with that
    reason, rather than going out late. Resuming an open cohort changes nothing.

    :raises NotFound: when there is no such cohort.
    :raises InvalidCohort: when the cohort is closed.
    """
    return _change_state(session, cohort_id, CohortState.PAUSED, CohortState.OPEN, "resumed")
