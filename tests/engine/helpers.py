"""Drive the delivery engine in-process for tests: publish, open, enroll, tick the clock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.clock import FrozenClock
from campaign.cohorts import open_cohort
from campaign.journeys.spec import Channel
from campaign.messages.channels.base import ChannelAdapter
from campaign.messages.channels.log import LogChannel
from campaign.messages.dispatch import claim_due, sweep
from campaign.messages.planning import NewEnrollment, enroll
from campaign.messages.sending import send_batch
from campaign.messages.settings import SendSettings
from campaign.models import Advisor, Cohort, Delivery, Learner
from campaign.publishing import publish_journey

STARTS_ON = date(2026, 12, 7)  # D1, a Monday; Asia/Shanghai is UTC+8


def at(day: int, clock: str) -> datetime:
    """Return the UTC instant of camp day ``day`` at ``clock`` on the Shanghai calendar."""
    from campaign.journeys.calendar import to_utc, zone
    from campaign.journeys.spec import CampTime
    from campaign.journeys.times import parse_clock

    return to_utc(STARTS_ON, CampTime(day, parse_clock(clock)), zone("Asia/Shanghai"))


@dataclass
class Camp:
    """A published journey, an open cohort, and an outbox the log channel writes to."""

    session: Session
    cohort: Cohort
    outbox: Path
    adapters: dict[Channel, ChannelAdapter] = field(default_factory=dict)
    settings: SendSettings = field(default_factory=SendSettings)

    def learner(self, name: str, **fields: object) -> Learner:
        learner = Learner(external_id=name, name=name, **fields)
        self.session.add(learner)
        self.session.flush()
        return learner

    def many_learners(self, count: int, prefix: str = "learner") -> list[Learner]:
        learners = [Learner(external_id=f"{prefix}{i}", name=f"{prefix}{i}") for i in range(count)]
        self.session.add_all(learners)
        self.session.flush()
        return learners

    def enroll(self, *learners: Learner, now: datetime, advisor: Advisor | None = None) -> None:
        entries = [NewEnrollment(one.id, advisor.id if advisor else None) for one in learners]
        enroll(self.session, self.cohort, entries, now=now)
        self.session.commit()

    def tick(self, now: datetime) -> dict[str, int]:
        """Run one dispatcher pass and send every batch it claims, as the workers would."""
        sweep(self.session, now=now, idempotent={Channel.LOG})
        batches = claim_due(
            self.session, now=now, limit=10_000, lease=timedelta(seconds=30), job_size=100
        )
        self.session.commit()
        totals: dict[str, int] = {}
        for batch in batches:
            result = send_batch(
                self.session,
                list(batch.ids),
                batch.token,
                clock=FrozenClock(now),
                adapters=self.adapters,
                settings=self.settings,
            )
            for key, value in result.outcomes.items():
                totals[key] = totals.get(key, 0) + value
        return totals

    def run_until(
        self, end: datetime, start: datetime, step: timedelta = timedelta(minutes=30)
    ) -> None:
        now = start
        while now <= end:
            self.tick(now)
            now += step

    def sent_lines(self) -> list[dict[str, object]]:
        if not self.outbox.exists():
            return []
        return [json.loads(line) for line in self.outbox.read_text(encoding="utf-8").splitlines()]

    def deliveries(self, step_key: str | None = None) -> list[Delivery]:
        query = select(Delivery).order_by(Delivery.due_at, Delivery.id)
        if step_key:
            query = query.where(Delivery.step_key == step_key)
        self.session.expire_all()
        return list(self.session.scalars(query))


def make_camp(session: Session, journey_text: str, tmp_path: Path) -> Camp:
    publish_journey(session, journey_text, "camp.yaml")
    cohort = open_cohort(session, "engine-camp", STARTS_ON, title="Engine camp")
    session.commit()
    outbox = tmp_path / "outbox.jsonl"
    log = LogChannel(outbox, logger=None)
    return Camp(session, cohort, outbox, adapters={Channel.LOG: log, Channel.WECOM: log})
