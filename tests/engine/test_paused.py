"""A paused cohort holds its deliveries (deferred, not lost); resuming lets them go out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from campaign.cohorts import InvalidCohort, pause_cohort, resume_cohort
from campaign.errors import NotFound
from campaign.models import CohortState, DeliveryStatus
from tests.engine.helpers import Camp, at, make_camp

JOURNEY = """\
journey: engine-camp
title: 暂停测试营
timezone: Asia/Shanghai
days: 7
caps: {automated_1v1_per_day: 5}
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
steps:
  - key: morning-note
    at: "D2 09:00"
    channel: log
    template: "早上好 {{ learner.name }}"
  - key: live-reminder
    at: "D2 10:00"
    channel: log
    expires_after: 1h
    template: "直播十分钟后开始 {{ learner.name }}"
"""


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    return make_camp(session, JOURNEY, tmp_path)


def statuses(camp: Camp) -> dict[str, tuple[str, str | None]]:
    return {d.step_key: (str(d.status), d.reason) for d in camp.deliveries()}


def test_paused_cohort_holds_deliveries_and_resuming_sends_them(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(1, "08:00"))
    pause_cohort(camp.session, camp.cohort.id)
    camp.session.commit()

    outcomes = camp.tick(at(2, "09:05"))
    assert outcomes == {"deferred": 1}
    assert statuses(camp)["morning-note"] == ("pending", "waiting: cohort paused")
    assert camp.sent_lines() == []

    # Still paused hours later: still held, still pending (never dropped, never expired early).
    camp.run_until(at(2, "12:00"), start=at(2, "09:30"), step=timedelta(minutes=30))
    held = statuses(camp)
    assert held["morning-note"] == ("pending", "waiting: cohort paused")
    assert held["live-reminder"] == ("pending", "waiting: cohort paused")
    assert camp.sent_lines() == []

    resume_cohort(camp.session, camp.cohort.id)
    camp.session.commit()
    camp.run_until(at(2, "13:00"), start=at(2, "12:10"), step=timedelta(minutes=10))
    after = statuses(camp)
    assert after["morning-note"][0] == "sent"
    # Its hour ran out while the cohort was paused: expired with the reason, never sent late.
    assert after["live-reminder"] == ("expired", "expired")
    assert [line["step"] for line in camp.sent_lines()] == ["morning-note"]


def test_pause_and_resume_change_the_state_and_are_idempotent(camp: Camp) -> None:
    cohort_id = camp.cohort.id
    assert pause_cohort(camp.session, cohort_id).state is CohortState.PAUSED
    assert pause_cohort(camp.session, cohort_id).state is CohortState.PAUSED
    assert resume_cohort(camp.session, cohort_id).state is CohortState.OPEN
    assert resume_cohort(camp.session, cohort_id).state is CohortState.OPEN


def test_a_closed_cohort_cannot_be_paused_or_resumed(camp: Camp) -> None:
    camp.cohort.state = CohortState.CLOSED
    camp.session.commit()
    with pytest.raises(InvalidCohort, match="closed"):
        pause_cohort(camp.session, camp.cohort.id)
    with pytest.raises(InvalidCohort, match="closed"):
        resume_cohort(camp.session, camp.cohort.id)
    with pytest.raises(NotFound):
        pause_cohort(camp.session, 999_999)


def test_an_open_cohort_still_sends(camp: Camp) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=at(1, "08:00"))
    assert camp.tick(at(2, "09:05")) == {"sent": 1}
    assert camp.deliveries("morning-note")[0].status == DeliveryStatus.SENT
