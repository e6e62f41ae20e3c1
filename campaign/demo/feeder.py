"""Apply the demo's timeline on warped time, as the school's integrations and advisors would.

Sign-ups go through :func:`campaign.messages.planning.enroll` and learning events through
:func:`campaign.events.ingest_event` (``record_event`` plus every feature's effects), the same
calls the API makes; tags an advisor
would set (``activity:silent``) are written as advisor tags. Nothing here sends: the dispatcher
and worker processes do.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from campaign.clock import Clock
from campaign.demo.seeding import Action, ActionKind
from campaign.events import enroll_learners, ingest_event
from campaign.messages.planning import NewEnrollment
from campaign.models import Cohort, Tag, TagSource

ADVISOR_TAG_GROUPS = frozenset({"activity"})  # set by the advisor in the playbook


@dataclass
class FeedStats:
    """What the feeder has applied so far."""

    enrolled: int = 0
    events: Counter[str] = field(default_factory=Counter)
    tags: int = 0


class Feeder:
    """Apply due actions in order; after a write that planned something due now, call
    ``after_write`` (the demo runs one dispatch pass there, so a welcome does not wait a tick).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        cohort_id: int,
        actions: Iterable[Action],
        *,
        triggers: frozenset[str] = frozenset(),
        after_write: Callable[[], object] | None = None,
    ) -> None:
        """:param triggers: events that start ``on:`` steps (``paid``): they plan a send now."""
        self.sessions = sessions
        self.clock = clock
        self.cohort_id = cohort_id
        self.triggers = triggers
        self.after_write = after_write
        self.stats = FeedStats()
        self._queue = deque(sorted(actions, key=Action.sort_key))

    @property
    def remaining(self) -> int:
        return len(self._queue)

    def step(self) -> list[Action]:
        """Apply every action due by now, in one transaction; return them."""
        now = self.clock.now()
        due: list[Action] = []
        while self._queue and self._queue[0].at <= now:
            due.append(self._queue.popleft())
        if not due:
            return due
        session = self.sessions()
        try:
            self._apply(session, due)
            session.commit()
        finally:
            session.close()
        planned = any(
            a.kind is ActionKind.ENROLL or (a.kind is ActionKind.EVENT and a.name in self.triggers)
            for a in due
        )
        if planned and self.after_write is not None:
            self.after_write()
        return due

    def _apply(self, session: Session, due: list[Action]) -> None:
        entries = [
            NewEnrollment(a.learner_id, a.advisor_id) for a in due if a.kind is ActionKind.ENROLL
        ]
        if entries:
            cohort = session.get(Cohort, self.cohort_id)
            assert cohort is not None
            # "now" is read after the batch is gathered: the welcome is due the moment the
            # learner is enrolled, and its 20 s window counts from there.
            now = self.clock.now()
            self.stats.enrolled += len(enroll_learners(session, cohort, entries, now=now))
        for action in due:
            if action.kind is ActionKind.EVENT:
                recorded = ingest_event(
                    session,
                    learner_id=action.learner_id,
                    name=action.name,
                    occurred_at=action.at,
                    now=self.clock.now(),
                    external_id=action.external_id,
                    source="demo",
                )
                if recorded is not None:
                    self.stats.events[action.name] += 1
            elif action.kind is ActionKind.TAG:
                self._tag(session, action)

    def _tag(self, session: Session, action: Action) -> None:
        exists = session.scalar(
            select(Tag.id).where(Tag.learner_id == action.learner_id, Tag.name == action.name)
        )
        if exists is not None:
            return
        group = action.name.partition(":")[0]
        source = TagSource.ADVISOR if group in ADVISOR_TAG_GROUPS else TagSource.EVENT
        session.add(
            Tag(learner_id=action.learner_id, name=action.name, source=source, created_at=action.at)
        )
        self.stats.tags += 1
