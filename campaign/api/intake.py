"""Take in a batch of learning events: each item accepted, a duplicate, or an error by field.

Every item is checked on its own first (schema, learner, repeats); the good ones then go
through :func:`campaign.events.ingest_event` in one transaction. Should a service refuse one of
them (or a concurrent request take in the same event id first), the transaction is rolled back
and the good items go again, each in its own savepoint, so that one refusal costs only its own
item: good items are stored even when others fail.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign.api.schemas.events import EventInSchema
from campaign.api.schemas.fields import load_item
from campaign.api.upserts import learners_by_external_id
from campaign.errors import CampaignError
from campaign.events import ingest_event
from campaign.models import LearnerEvent

# Clocks of integrations drift; an event further ahead than this is a wrong offset, not drift.
FUTURE_TOLERANCE = timedelta(minutes=10)
LOOKUP_CHUNK = 500


class ItemStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    ERROR = "error"


@dataclass
class ItemResult:
    """What became of one item; ``errors`` maps fields to messages when it is an error."""

    index: int
    event_id: str | None
    status: ItemStatus = ItemStatus.ACCEPTED
    errors: dict[str, Any] = field(default_factory=dict)

    def fail(self, field_name: str, message: str) -> None:
        self.status = ItemStatus.ERROR
        self.errors.setdefault(field_name, []).append(message)


@dataclass(frozen=True)
class _Good:
    result: ItemResult
    learner_id: int
    data: dict[str, Any]


def _known_event_ids(session: Session, event_ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(event_ids), LOOKUP_CHUNK):
        chunk = event_ids[start : start + LOOKUP_CHUNK]
        known.update(
            session.scalars(
                select(LearnerEvent.external_id).where(LearnerEvent.external_id.in_(chunk))
            )
        )
    return known


def _check_items(
    session: Session, items: Sequence[Any], now: datetime
) -> tuple[list[ItemResult], list[_Good]]:
    schema = EventInSchema()
    results: list[ItemResult] = []
    loaded: list[tuple[ItemResult, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        data, errors = load_item(schema, item)
        raw_id = item.get("event_id") if isinstance(item, dict) else None
        result = ItemResult(index, raw_id if isinstance(raw_id, str) else None)
        results.append(result)
        if data is None:
            result.status, result.errors = ItemStatus.ERROR, errors
            continue
        result.event_id = data["event_id"]
        if data["occurred_at"] > now + FUTURE_TOLERANCE:
            result.fail("occurred_at", "is in the future; check the UTC offset")
        elif data["event_id"] in seen:
            result.status = ItemStatus.DUPLICATE  # the same event twice in one batch
        else:
            seen.add(data["event_id"])
            loaded.append((result, data))
    learners = learners_by_external_id(session, [data["learner"] for _, data in loaded])
    known = _known_event_ids(session, [data["event_id"] for _, data in loaded])
    good: list[_Good] = []
    for result, data in loaded:
        learner = learners.get(data["learner"])
        if data["event_id"] in known:
            result.status = ItemStatus.DUPLICATE
        elif learner is None:
            result.fail(
                "learner",
                f"no learner has the external id '{data['learner']}'; create it first with "
                "PUT /api/learners/{external_id}",
            )
        else:
            good.append(_Good(result, learner.id, data))
    return results, good


def _ingest(session: Session, item: _Good, now: datetime) -> None:
    event = ingest_event(
        session,
        learner_id=item.learner_id,
        name=item.data["type"],
        occurred_at=item.data["occurred_at"],
        now=now,
        external_id=item.data["event_id"],
        payload=item.data["payload"],
        source="api",
    )
    if event is None:
        item.result.status = ItemStatus.DUPLICATE


def _ingest_one_by_one(session: Session, good: Sequence[_Good], now: datetime) -> None:
    for item in good:
        item.result.status, item.result.errors = ItemStatus.ACCEPTED, {}
        try:
            with session.begin_nested():
                _ingest(session, item, now)
        except CampaignError as exc:
            item.result.fail("_schema", str(exc))
        except IntegrityError:
            if item.data["event_id"] not in _known_event_ids(session, [item.data["event_id"]]):
                raise
            item.result.status = ItemStatus.DUPLICATE  # taken in meanwhile by another request


def ingest_batch(session: Session, items: Sequence[Any], *, now: datetime) -> list[ItemResult]:
    """Take in ``items`` (raw JSON values) and commit; return one result per item, in order."""
    results, good = _check_items(session, items, now)
    try:
        for item in good:
            _ingest(session, item, now)
        session.commit()
    except (CampaignError, IntegrityError):
        session.rollback()
        _ingest_one_by_one(session, good, now)
        session.commit()
    return results
