"""The dispatcher's index: pending rows by due time, then priority.

The claim takes the earliest due pending rows, higher priority first
(``ORDER BY due_at, priority DESC LIMIT n``). On the index (status, due_at) PostgreSQL had to
read and sort every pending row due at the same instant to pick the first ``n`` by priority:
with 100,000 rows due at once, each claim of 1,000 sorted the whole remaining burst. The
partial index (due_at, priority DESC) WHERE status = 'pending' hands them over in claim
order, and holds only the rows still waiting: the claimed, sending and sent versions of a row
add no entry to it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_pending_due_at",
        "deliveries",
        ["due_at", sa.text("priority DESC")],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.drop_index("ix_deliveries_status_due_at", table_name="deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_deliveries_status_due_at", "deliveries", ["status", "due_at"], unique=False
    )
    op.drop_index("ix_deliveries_pending_due_at", table_name="deliveries")
