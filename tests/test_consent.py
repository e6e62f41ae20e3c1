"""Consent evidence (who, when, how, the text shown) and what a grant or withdrawal changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from campaign.consent import InvalidConsent, consent_history, current_consent, record_consent
from campaign.errors import NotFound
from campaign.models import ConsentKind, DeliveryStatus, TagSource
from campaign.offers.evidence import clear_evidence_cache
from campaign.offers.listing import list_offers
from campaign.offers.recommend import NON_PERSONALISED_FIRST
from campaign.offers.service import open_offers
from tests.engine.helpers import Camp, at
from tests.offers.helpers import OPEN, event, offer_camp, tag

SIGNUP = at(-2, "10:00")
TEXT = "我同意接收课程推荐与优惠信息,可随时回复 TD 退订。"


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    clear_evidence_cache()
    return offer_camp(session, tmp_path)


def test_the_evidence_is_kept_and_the_latest_record_holds(camp: Camp, session: Session) -> None:
    ann = camp.learner("ann")
    granted = record_consent(
        session,
        ann.id,
        kind="marketing",
        granted=True,
        method="form",
        text_shown=TEXT,
        recorded_by="signup-page",
        now=at(-3, "09:00"),
    )
    withdrawn = record_consent(
        session,
        ann.id,
        kind=ConsentKind.MARKETING,
        granted=False,
        method="wecom",
        text_shown="回复 TD 退订",
        recorded_by="王老师",
        now=at(2, "09:00"),
    )
    session.commit()
    history = consent_history(session, ann.id)
    assert [(r.kind, r.granted, r.method, r.recorded_by, r.recorded_at) for r in history] == [
        (ConsentKind.MARKETING, True, "form", "signup-page", at(-3, "09:00")),
        (ConsentKind.MARKETING, False, "wecom", "王老师", at(2, "09:00")),
    ]
    assert history[0].text_shown == TEXT
    assert current_consent(session, ann.id) == {ConsentKind.MARKETING: withdrawn}
    assert granted.id != withdrawn.id  # a new record, never an update


def test_withdrawing_marketing_is_an_opt_out_and_a_grant_lifts_it(
    camp: Camp, session: Session
) -> None:
    ann = camp.learner("ann")
    camp.enroll(ann, now=SIGNUP)
    record_consent(
        session,
        ann.id,
        kind="marketing",
        granted=False,
        method="api",
        text_shown=TEXT,
        recorded_by="crm",
        now=at(3, "10:00"),
    )
    session.commit()
    assert ann.opted_out_at == at(3, "10:00")
    camp.tick(at(4, "20:00"))
    [showcase] = camp.deliveries("showcase")
    assert (showcase.status, showcase.reason) == (DeliveryStatus.SKIPPED, "opted out")
    record_consent(
        session,
        ann.id,
        kind="marketing",
        granted=True,
        method="form",
        text_shown=TEXT,
        recorded_by="learner",
        now=at(5, "10:00"),
    )
    session.commit()
    assert ann.opted_out_at is None


def test_withdrawing_personalisation_rechooses_open_offers(camp: Camp, session: Session) -> None:
    ann, bob = camp.learner("ann"), camp.learner("bob")
    camp.enroll(ann, bob, now=SIGNUP)
    for learner in (ann, bob):
        tag(session, learner, "goal:data-analysis", TagSource.SURVEY, SIGNUP)
    open_offers(session, camp.cohort, OPEN)
    event(session, bob, "deposit_paid", OPEN)  # bob committed to his offer: it stays
    for learner in (ann, bob):
        record_consent(
            session,
            learner.id,
            kind="personalisation",
            granted=False,
            method="app-settings",
            text_shown="关闭个性化推荐",
            recorded_by="learner",
            now=at(6, "10:00"),
        )
    session.commit()
    assert not ann.personalised_offers and not bob.personalised_offers
    offers = {o.learner_id: o for o in list_offers(session)}
    assert (offers[ann.id].course_key, offers[ann.id].reason, offers[ann.id].personalised) == (
        "office-automation",
        NON_PERSONALISED_FIRST,
        False,
    )
    assert (offers[bob.id].course_key, offers[bob.id].personalised) == ("data-analysis", True)
    record_consent(
        session,
        ann.id,
        kind="personalisation",
        granted=True,
        method="app-settings",
        text_shown="开启个性化推荐",
        recorded_by="learner",
        now=at(6, "11:00"),
    )
    session.commit()
    [again] = [o for o in list_offers(session) if o.learner_id == ann.id]
    assert (again.course_key, again.personalised) == ("data-analysis", True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "newsletter"}, "unknown consent kind 'newsletter'"),
        ({"method": " "}, "method is required"),
        ({"text_shown": ""}, "the text shown is required"),
        ({"recorded_by": ""}, "recorded_by is required"),
        ({"method": "x" * 51}, "at most 50"),
    ],
)
def test_incomplete_evidence_is_refused(
    camp: Camp, session: Session, fields: dict[str, str], message: str
) -> None:
    ann = camp.learner("ann")
    evidence = {
        "kind": "showcase",
        "method": "form",
        "text_shown": "同意展示作品",
        "recorded_by": "learner",
    }
    with pytest.raises(InvalidConsent, match=message):
        record_consent(session, ann.id, granted=True, now=OPEN, **(evidence | fields))  # type: ignore[arg-type]


def test_an_unknown_learner_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        record_consent(
            session,
            999,
            kind="guardian",
            granted=True,
            method="form",
            text_shown="监护人同意",
            recorded_by="parent",
            now=OPEN,
        )
