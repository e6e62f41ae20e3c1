"""The database layer: UTC instants, SQLite settings, sessions, model rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from campaign.db import get_session, make_engine, session_scope
from campaign.journeys.spec import ENROLLMENT_STATES
from campaign.models import Cohort, CohortState, Journey, JourneyVersion, Learner, Tag, TagSource
from campaign.models.enrollment import EnrollmentState


def test_instants_come_back_aware_utc(session: Session) -> None:
    beijing = timezone(timedelta(hours=8))
    session.add(
        Learner(
            external_id="u1",
            name="小明",
            created_at=datetime(2026, 3, 2, 9, 30, tzinfo=beijing),
        )
    )
    session.commit()
    session.expunge_all()
    learner = session.scalars(select(Learner)).one()
    assert learner.created_at == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    assert learner.created_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(Learner(external_id="u1", name="小明", created_at=datetime(2026, 3, 2, 9, 30)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(Tag(learner_id=999, name="goal:web", source=TagSource.SURVEY))
    with pytest.raises(IntegrityError):
        session.flush()


def test_tag_group_is_derived_from_the_name(session: Session) -> None:
    learner = Learner(external_id="u1", name="小明")
    learner.tags.append(Tag(name="goal:excel-automation", source=TagSource.SURVEY))
    session.add(learner)
    session.commit()
    assert session.scalars(select(Tag.group)).one() == "goal"


def test_tag_without_a_group_is_refused() -> None:
    with pytest.raises(ValueError, match="group:value"):
        Tag(name="excel", source=TagSource.ADVISOR)


def test_enums_are_stored_as_their_values(session: Session) -> None:
    journey = Journey(key="camp", title="Camp")
    version = JourneyVersion(
        journey=journey, number=1, content_hash="0" * 64, source="", spec_json={}, filename="x"
    )
    session.add(
        Cohort(
            journey=journey,
            version=version,
            title="c",
            starts_on=date(2026, 3, 2),
            timezone="Asia/Shanghai",
        )
    )
    session.commit()
    stored = session.execute(text("SELECT state FROM cohorts")).scalar()
    assert stored == "open"
    assert session.scalars(select(Cohort.state)).one() is CohortState.OPEN


def test_enrollment_states_match_the_journey_language() -> None:
    assert tuple(EnrollmentState) == ENROLLMENT_STATES


def test_session_scope_commits_or_rolls_back(app: Flask) -> None:
    with session_scope(app) as db_session:
        db_session.add(Learner(external_id="kept", name="A"))
    with pytest.raises(RuntimeError), session_scope(app) as db_session:
        db_session.add(Learner(external_id="dropped", name="B"))
        db_session.flush()
        raise RuntimeError("boom")
    with session_scope(app) as db_session:
        assert list(db_session.scalars(select(Learner.external_id))) == ["kept"]


def test_get_session_is_one_per_context_and_closed_at_teardown(app: Flask) -> None:
    with app.app_context():
        first = get_session()
        assert get_session() is first
        first.add(Learner(external_id="u1", name="A"))
        first.flush()
    assert not first.in_transaction()
    with app.app_context():
        assert get_session() is not first
        assert get_session().scalar(select(Learner.id)) is None


@pytest.mark.postgres
def test_array_literals_read_back_as_written(postgres_url: str) -> None:
    """What the send path hands PostgreSQL as array literals comes back value for value:
    quotes, backslashes, commas, braces, the word NULL, Chinese text, instants."""
    from campaign.db import array_literal

    texts = ['a "quoted" word', "back\\slash", "a,b", "{braces}", "NULL", None, "", "你好 世界"]
    instants = [datetime(2026, 11, 23, 1, 2, 3, 4, tzinfo=UTC), None]
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            got_texts, got_ids, got_instants = connection.execute(
                text(
                    "SELECT CAST(:texts AS TEXT[]), CAST(:ids AS INTEGER[]),"
                    " CAST(:instants AS TIMESTAMP WITH TIME ZONE[])"
                ),
                {
                    "texts": array_literal(texts),
                    "ids": array_literal([3, -1, 2_000_000_000]),
                    "instants": array_literal(instants),
                },
            ).one()
    finally:
        engine.dispose()
    assert got_texts == texts
    assert got_ids == [3, -1, 2_000_000_000]
    assert got_instants == instants
    with pytest.raises(ValueError, match="naive"):
        array_literal([datetime(2026, 1, 1)])
