"""Initial schema: journeys and their versions, cohorts, advisors, learners, enrollments, tags.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Enums are stored as their string values in VARCHAR(20) (no native enum types), see
# campaign.db.enum_type; the allowed values are noted beside each column.


def _instant(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "advisors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("wecom_userid", sa.String(length=64), nullable=True),
        sa.Column("daily_task_capacity", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisors")),
        sa.UniqueConstraint("wecom_userid", name=op.f("uq_advisors_wecom_userid")),
    )
    op.create_table(
        "journeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
        sa.UniqueConstraint("key", name=op.f("uq_journeys_key")),
    )
    op.create_table(
        "learners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("wecom_external_userid", sa.String(length=64), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learners")),
        sa.UniqueConstraint("external_id", name=op.f("uq_learners_external_id")),
    )
    op.create_table(
        "journey_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("spec_json", sa.JSON(), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        _instant("published_at"),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_journey_versions_journey_id_journeys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_versions")),
        sa.UniqueConstraint(
            "journey_id", "content_hash", name=op.f("uq_journey_versions_journey_id_content_hash")
        ),
        sa.UniqueConstraint(
            "journey_id", "number", name=op.f("uq_journey_versions_journey_id_number")
        ),
    )
    op.create_index(op.f("ix_journey_versions_journey_id"), "journey_versions", ["journey_id"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("group", sa.String(length=50), nullable=False),
        # survey | rule | advisor | event | import
        sa.Column("source", sa.String(length=20), nullable=False),
        _instant("created_at"),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_tags_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("learner_id", "name", name=op.f("uq_tags_learner_id_name")),
    )
    op.create_index(op.f("ix_tags_group"), "tags", ["group"])
    op.create_index(op.f("ix_tags_learner_id"), "tags", ["learner_id"])
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("journey_version_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        # open | paused | closed
        sa.Column("state", sa.String(length=20), nullable=False),
        _instant("created_at"),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journeys.id"], name=op.f("fk_cohorts_journey_id_journeys")
        ),
        sa.ForeignKeyConstraint(
            ["journey_version_id"],
            ["journey_versions.id"],
            name=op.f("fk_cohorts_journey_version_id_journey_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
    )
    op.create_index(op.f("ix_cohorts_journey_id"), "cohorts", ["journey_id"])
    op.create_index(op.f("ix_cohorts_journey_version_id"), "cohorts", ["journey_version_id"])
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=True),
        sa.Column("journey_version_id", sa.Integer(), nullable=False),
        # active | graduated | converted | dropped | opted_out
        sa.Column("state", sa.String(length=20), nullable=False),
        _instant("enrolled_at"),
        sa.ForeignKeyConstraint(
            ["advisor_id"], ["advisors.id"], name=op.f("fk_enrollments_advisor_id_advisors")
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_enrollments_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["journey_version_id"],
            ["journey_versions.id"],
            name=op.f("fk_enrollments_journey_version_id_journey_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_enrollments_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint(
            "cohort_id", "learner_id", name=op.f("uq_enrollments_cohort_id_learner_id")
        ),
    )
    op.create_index(op.f("ix_enrollments_advisor_id"), "enrollments", ["advisor_id"])
    op.create_index(op.f("ix_enrollments_cohort_id"), "enrollments", ["cohort_id"])
    op.create_index(
        op.f("ix_enrollments_journey_version_id"), "enrollments", ["journey_version_id"]
    )
    op.create_index(op.f("ix_enrollments_learner_id"), "enrollments", ["learner_id"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes on both databases.
    for table in (
        "enrollments",
        "cohorts",
        "tags",
        "journey_versions",
        "learners",
        "journeys",
        "advisors",
    ):
        op.drop_table(table)
