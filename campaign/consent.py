"""Consent: keep the evidence (who, when, how, the exact text shown) and act on it at once.

Each grant or withdrawal is a new :class:`ConsentRecord`, never an update, so the history shows
what the learner agreed to at any time; the latest record of a kind is what holds. Recording
also changes what the engine does, in the same transaction:

- ``marketing`` withdrawn is an opt-out (marketing stops on every channel); a new grant, with
  its evidence, lifts it;
- ``personalisation`` withdrawn (PIPL art. 24) makes the learner's offers non-personalised,
  and open offers not yet committed to (no deposit, no group-buy) are chosen again without
  their profile; a grant turns personalisation back on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError, NotFound
from campaign.models import ConsentKind, ConsentRecord, Learner
from campaign.offers.service import refresh_open_offers

MAX_METHOD = 50  # column sizes
MAX_RECORDED_BY = 100


class InvalidConsent(CampaignError):
    """Consent evidence that is incomplete or of an unknown kind."""


def _kind(kind: ConsentKind | str) -> ConsentKind:
    try:
        return ConsentKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in ConsentKind)
        raise InvalidConsent(f"unknown consent kind '{kind}'; use one of {known}") from None


def _required(value: str, what: str, limit: int | None = None) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidConsent(f"{what} is required: consent without it is no evidence")
    if limit is not None and len(text) > limit:
        raise InvalidConsent(f"{what} is {len(text)} characters; at most {limit}")
    return text


def record_consent(
    session: Session,
    learner_id: int,
    *,
    kind: ConsentKind | str,
    granted: bool,
    method: str,
    text_shown: str,
    recorded_by: str,
    now: datetime,
) -> ConsentRecord:
    """Record a grant or withdrawal with its evidence and apply it (see the module doc).

    :param method: how it was given: ``form``, ``wecom``, ``api``, ``advisor``,
        ``unsubscribe-link``.
    :param text_shown: the exact text the learner saw when deciding.
    :param recorded_by: who recorded it: an API key's name, an advisor, ``learner``.
    :raises NotFound: no such learner.
    :raises InvalidConsent: unknown kind, missing method, text or recorder.
    """
    consent_kind = _kind(kind)
    record = ConsentRecord(
        learner_id=learner_id,
        kind=consent_kind,
        granted=bool(granted),
        method=_required(method, "method", MAX_METHOD),
        text_shown=_required(text_shown, "the text shown"),
        recorded_by=_required(recorded_by, "recorded_by", MAX_RECORDED_BY),
        recorded_at=now,
    )
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"learner {learner_id} does not exist")
    session.add(record)
    if consent_kind is ConsentKind.MARKETING:
        if not granted and learner.opted_out_at is None:
            learner.opted_out_at = now
        elif granted:
            learner.opted_out_at = None
    elif consent_kind is ConsentKind.PERSONALISATION and learner.personalised_offers != granted:
        learner.personalised_offers = bool(granted)
        session.flush()
        refresh_open_offers(session, learner_id, now)
    session.flush()
    return record


def consent_history(session: Session, learner_id: int) -> list[ConsentRecord]:
    """Return every consent record of the learner, oldest first."""
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.learner_id == learner_id)
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        )
    )


def current_consent(session: Session, learner_id: int) -> dict[ConsentKind, ConsentRecord]:
    """Return the record that holds now for each kind the learner has decided on."""
    current: dict[ConsentKind, ConsentRecord] = {}
    for record in consent_history(session, learner_id):
        current[record.kind] = record
    return current
