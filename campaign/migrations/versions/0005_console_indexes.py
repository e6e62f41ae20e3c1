"""Indexes the advisor's console needs at scale (a million enrollments).

- tasks (advisor_id, status, due_at): the task queue (an advisor's open tasks by deadline), the
  count of later tasks and of replies owed read only the advisor's open tasks. It replaces the
  index on advisor_id alone, which it covers.
- tasks (advisor_id, done_at): the reply report counts what the advisor answered today without
  visiting every task they ever had.
- enrollments (cohort_id, points): the learner page's place on the leaderboard and class size
  (counts over the cohort, read from the index alone). It replaces the index on cohort_id alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_advisor_id_status_due_at", ["advisor_id", "status", "due_at"], unique=False
        )
        batch_op.create_index("ix_tasks_advisor_id_done_at", ["advisor_id", "done_at"], unique=False)
        batch_op.drop_index(batch_op.f("ix_tasks_advisor_id"))

    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_cohort_id_points", ["cohort_id", "points"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_enrollments_cohort_id"))


def downgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollments_cohort_id"), ["cohort_id"], unique=False)
        batch_op.drop_index("ix_enrollments_cohort_id_points")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_advisor_id"), ["advisor_id"], unique=False)
        batch_op.drop_index("ix_tasks_advisor_id_done_at")
        batch_op.drop_index("ix_tasks_advisor_id_status_due_at")
