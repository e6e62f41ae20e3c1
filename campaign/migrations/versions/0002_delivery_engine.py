"""The delivery engine: deliveries, advisor tasks, learner events, consent and goal columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("advisor_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column(
            "audience",
            sa.Enum("learner", "advisor", "cohort", name="audience", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("step_key", sa.String(length=100), nullable=False),
        sa.Column("occurrence", sa.String(length=64), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "advisor_task",
                "wecom",
                "email",
                "sms",
                "webhook",
                "log",
                name="channel",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "claimed",
                "sending",
                "sent",
                "skipped",
                "expired",
                "cancelled",
                "failed",
                "verify",
                name="deliverystatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=40), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisor_id"], ["advisors.id"], name=op.f("fk_deliveries_advisor_id_advisors")
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_deliveries_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_deliveries_enrollment_id_enrollments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "cohort_id",
            "target",
            "step_key",
            "occurrence",
            name=op.f("uq_deliveries_cohort_id_target_step_key_occurrence"),
        ),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_enrollment_id"), ["enrollment_id"], unique=False
        )
        batch_op.create_index("ix_deliveries_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_deliveries_status_lease_until", ["status", "lease_until"], unique=False
        )

    op.create_table(
        "learner_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_learner_events_enrollment_id_enrollments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_learner_events_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learner_events")),
        sa.UniqueConstraint("external_id", name=op.f("uq_learner_events_external_id")),
    )
    with op.batch_alter_table("learner_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learner_events_enrollment_id"), ["enrollment_id"], unique=False
        )
        batch_op.create_index(
            "ix_learner_events_learner_id_name", ["learner_id", "name"], unique=False
        )

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("advisor_id", sa.Integer(), nullable=True),
        sa.Column("step_key", sa.String(length=100), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("voice", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "sent",
                "skipped",
                "postponed",
                name="taskstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("outcome_reason", sa.String(length=200), nullable=True),
        sa.Column("postponed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["advisor_id"], ["advisors.id"], name=op.f("fk_tasks_advisor_id_advisors")
        ),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_tasks_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_tasks_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_tasks_enrollment_id_enrollments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_tasks_delivery_id")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_advisor_id"), ["advisor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_cohort_id"), ["cohort_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_enrollment_id"), ["enrollment_id"], unique=False)

    # Plain ADD COLUMN works on both databases (SQLite needs no table copy for it), which also
    # keeps `campaign db upgrade --sql` working on SQLite.
    op.add_column("enrollments", sa.Column("goal_reached_at", sa.DateTime(timezone=True)))
    op.add_column(
        "enrollments", sa.Column("points", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("learners", sa.Column("opted_out_at", sa.DateTime(timezone=True)))
    op.add_column(
        "learners",
        sa.Column("do_not_disturb", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("do_not_disturb")
        batch_op.drop_column("opted_out_at")

    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_column("points")
        batch_op.drop_column("goal_reached_at")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_enrollment_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_cohort_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_advisor_id"))

    op.drop_table("tasks")
    with op.batch_alter_table("learner_events", schema=None) as batch_op:
        batch_op.drop_index("ix_learner_events_learner_id_name")
        batch_op.drop_index(batch_op.f("ix_learner_events_enrollment_id"))

    op.drop_table("learner_events")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_status_lease_until")
        batch_op.drop_index("ix_deliveries_status_due_at")
        batch_op.drop_index(batch_op.f("ix_deliveries_enrollment_id"))

    op.drop_table("deliveries")
