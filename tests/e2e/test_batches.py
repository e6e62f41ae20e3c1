"""How the dispatcher cuts claimed rows into jobs: one learner's rows never span two jobs.

A worker sends a batch in priority order, which is what makes "the higher priority wins the last
slot of the daily cap" true. If a learner's two rows due at the same moment landed in two jobs,
two workers would weigh them at once, in whatever order they got there (and on SQLite, without
a lock on the learner, both could pass the cap). The end-to-end test sees this only by chance;
here it is checked directly on the claim.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from campaign.messages.dispatch import claim_due
from campaign.models import Delivery
from tests.e2e.camp import add_learners, enroll_all, open_camp
from tests.engine.helpers import STARTS_ON, at

JOURNEY = """\
journey: e2e-batches
title: 分批测试营
timezone: Asia/Shanghai
days: 3
caps: {automated_1v1_per_day: 1}
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  - key: urgent
    at: "D1 10:00"
    channel: webhook
    priority: 90
    template: "{{ learner.name }},重要通知"
  - key: casual
    at: "D1 10:00"
    channel: webhook
    priority: 40
    template: "{{ learner.name }},随便聊聊"
"""


def test_a_learners_rows_due_together_go_in_one_job(session: Session) -> None:
    cohort = open_camp(session, JOURNEY, STARTS_ON)
    enroll_all(session, cohort, add_learners(session, 7, "b"), now=at(-1, "10:00"))
    batches = claim_due(
        session, now=at(1, "10:00"), limit=100, lease=timedelta(seconds=30), job_size=3
    )
    session.commit()
    target_of = {row.id: row.target for row in session.query(Delivery)}
    assert sorted(i for batch in batches for i in batch.ids) == sorted(target_of)
    jobs_per_target: dict[str, set[int]] = {}
    for number, batch in enumerate(batches):
        assert len(batch.ids) <= 3
        for delivery_id in batch.ids:
            jobs_per_target.setdefault(target_of[delivery_id], set()).add(number)
    assert len(jobs_per_target) == 7
    assert all(len(jobs) == 1 for jobs in jobs_per_target.values()), jobs_per_target
