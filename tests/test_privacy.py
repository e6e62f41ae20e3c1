"""A learner's data: the export holds everything, the deletion leaves nothing but counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, select
from sqlalchemy.orm import Session

from campaign.consent import record_consent
from campaign.db import Base
from campaign.errors import NotFound
from campaign.models import (
    AnonymousTally,
    CouponRedemption,
    Enrollment,
    GroupBuy,
    Learner,
    PointsEntry,
    Task,
)
from campaign.offers.evidence import clear_evidence_cache
from campaign.offers.funnel import DIMENSIONS, funnel
from campaign.privacy import REDACTED, delete_learner, export_learner, learner_tables
from tests.engine.helpers import Camp, at
from tests.offers.helpers import enrollment_of, offer_camp, small_cohort

IDENTITY = {
    "external_id": "stu-7f3a-delete-me",
    "name": "韩梅梅",
    "email": "meimei@example.com",
    "phone": "13800138000",
    "wecom_external_userid": "wmXyZ-meimei",
}


@pytest.fixture
def camp(session: Session, tmp_path: Path) -> Camp:
    clear_evidence_cache()
    return offer_camp(session, tmp_path)


def rich_learner(camp: Camp) -> tuple[Learner, dict[str, Learner]]:
    """a1 of the small cohort, with points, a coupon, consent and a class task naming her."""
    session = camp.session
    people = small_cohort(camp, **IDENTITY)
    learner = people["a1"]
    enrollment = enrollment_of(session, learner)
    session.add(PointsEntry(enrollment_id=enrollment.id, delta=5, reason="homework"))
    session.add(
        CouponRedemption(enrollment_id=enrollment.id, coupon_key="kit", points=5, code="C-1")
    )
    record_consent(
        session,
        learner.id,
        kind="marketing",
        granted=True,
        method="form",
        text_shown="同意接收课程推荐",
        recorded_by="signup-page",
        now=at(-2, "10:00"),
    )
    # A class-wide task (no enrollment) that names her, as the silence scan writes them.
    session.add(
        Task(
            cohort_id=camp.cohort.id,
            advisor_id=enrollment.advisor_id,
            step_key="class-quiet:D2",
            script=f"还没打卡:{IDENTITY['name']}、a2。",
            due_at=at(3, "12:00"),
        )
    )
    session.commit()
    return learner, people


def every_view(session: Session) -> dict[str, list[tuple[str, dict[str, int], dict[str, int]]]]:
    return {
        by: [(row.key, row.counts, row.did) for row in funnel(session, by=by).rows]
        for by in DIMENSIONS
    }


def test_the_export_holds_everything_on_the_learner(camp: Camp, session: Session) -> None:
    learner, people = rich_learner(camp)
    data = export_learner(session, learner.id)
    json.dumps(data)  # JSON-ready as it is
    assert data["learner"]["external_id"] == IDENTITY["external_id"]
    assert data["learner"]["email"] == IDENTITY["email"]
    for key in (
        "enrollments",
        "tags",
        "events",
        "deliveries",
        "tasks",
        "points",
        "coupons",
        "offers",
        "conversions",
        "consent",
        "group_buys",
    ):
        assert data[key], f"{key} is empty"
    assert {t["name"] for t in data["tags"]} == {"goal:excel-automation"}
    assert {e["name"] for e in data["events"]} >= {
        "enrolled",
        "joined_group",
        "attended_live",
        "homework_submitted",
        "replied",
        "group_buy_joined",
        "deposit_paid",
        "paid",
    }
    steps = {d["step_key"]: d for d in data["deliveries"]}
    assert set(steps) >= {"welcome", "showcase", "recommend", "last-call"}
    assert steps["welcome"]["text"] == f"{IDENTITY['name']} 你好"
    assert data["offers"][0]["deposit_paid_at"] == at(5, "21:30").isoformat()
    assert data["conversions"][0]["step_key"] == "recommend"
    assert data["consent"][0]["text_shown"] == "同意接收课程推荐"
    assert data["points"][0]["delta"] == 5 and data["coupons"][0]["code"] == "C-1"
    assert data["group_buys"][0]["size"] == 3
    # Only her rows: nothing of the other five learners.
    enrollment_ids = {e["id"] for e in data["enrollments"]}
    assert {e["learner_id"] for e in data["enrollments"]} == {learner.id}
    assert {d["enrollment_id"] for d in data["deliveries"]} == enrollment_ids
    assert all(t["enrollment_id"] in enrollment_ids for t in data["tasks"])
    assert people["a2"].id not in {e["learner_id"] for e in data["events"]}
    # Every table that can hold a learner's rows is in the export, even when empty.
    assert len(learner_tables()) == 11


def scan(session: Session, learner_id: int, enrollment_ids: set[int]) -> list[str]:
    """Return every place in every table where the learner can still be found."""
    found = []
    identifiers = [v for v in IDENTITY.values() if v]
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            for column in table.columns:
                value: Any = row[column.name]
                if value is None:
                    continue
                targets = {fk.column.table.name for fk in column.foreign_keys}
                if "learners" in targets and value == learner_id:
                    found.append(f"{table.name}.{column.name} = learner {value}")
                if "enrollments" in targets and value in enrollment_ids:
                    found.append(f"{table.name}.{column.name} = enrollment {value}")
                if (table.name, column.name) == ("deliveries", "target") and value in {
                    f"e{i}" for i in enrollment_ids
                }:
                    found.append(f"deliveries.target = {value}")
                if isinstance(column.type, String | Text | JSON):
                    text = (
                        json.dumps(value, ensure_ascii=False)
                        if not isinstance(value, str)
                        else value
                    )
                    found += [
                        f"{table.name}.{column.name} contains {needle!r}"
                        for needle in identifiers
                        if needle in text
                    ]
    return found


def test_deletion_reaches_every_table_and_keeps_the_funnel_whole(
    camp: Camp, session: Session
) -> None:
    learner, people = rich_learner(camp)
    enrollment_ids = set(
        session.scalars(select(Enrollment.id).where(Enrollment.learner_id == learner.id))
    )
    before = every_view(session)
    assert scan(session, learner.id, enrollment_ids) != []  # the scan does find her before
    result = delete_learner(session, learner.id, now=at(10, "10:00"))
    session.commit()
    session.expire_all()
    assert scan(session, learner.id, enrollment_ids) == []
    assert result["deleted"]["learners"] == 1
    assert result["deleted"]["enrollments"] == 1
    assert result["redacted_texts"] == 1  # the class task
    assert set(result["deleted"]) >= {
        "tags",
        "learner_events",
        "deliveries",
        "tasks",
        "points_entries",
        "coupon_redemptions",
        "offers",
        "conversions",
        "consent_records",
    }
    [class_task] = session.scalars(select(Task).where(Task.step_key == "class-quiet:D2"))
    assert class_task.script == f"还没打卡:{REDACTED}、a2。"
    # The funnel of the cohort, its advisors, tags, steps and variants is unchanged ...
    assert every_view(session) == before
    [row] = funnel(session, cohort_id=camp.cohort.id).rows
    assert row.anonymous == 1 and row.counts["paid"] == 2
    # ... through anonymous counts only: a cohort id, a metric, a number.
    tallies = {t.metric: t.count for t in session.scalars(select(AnonymousTally))}
    assert tallies["enrolled"] == 1 and tallies["stage:paid"] == 1
    assert tallies["step:attributed:recommend"] == 1
    assert session.scalar(select(GroupBuy.id)) is not None  # shared with others: kept
    assert len(list(session.scalars(select(Enrollment)))) == 5
    # A second deletion adds to the same tallies.
    delete_learner(session, people["b1"].id, now=at(10, "11:00"))
    session.commit()
    assert every_view(session) == before
    enrolled = session.scalar(
        select(AnonymousTally.count).where(AnonymousTally.metric == "enrolled")
    )
    assert enrolled == 2


def test_unknown_learners_are_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        export_learner(session, 12345)
    with pytest.raises(NotFound):
        delete_learner(session, 12345, now=at(1, "10:00"))
