"""Bulk writes of new rows: ``COPY`` on PostgreSQL, multi-row ``INSERT`` on SQLite.

Planning a cohort writes a row per learner and step. Through multi-row ``INSERT`` statements
most of the time went to building and parsing statements with tens of thousands of
placeholders (measured: 2,000 enrollments with their rows and events took 2.5 s on
PostgreSQL, a third of it in the driver's placeholder parsing); ``COPY`` streams the values
instead. Only for rows that cannot collide with a unique key (new ids): rows that may already
exist go through :func:`campaign.messages.planning.insert_ignoring_duplicates`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def copy_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    if not is_postgresql(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    names = ", ".join(f'"{name}"' for name in columns)
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_plain(row[name]) for name in columns])


def next_ids(session: Session, table: Table, count: int) -> list[int] | None:
    """Reserve ``count`` ids from the table's sequence (PostgreSQL), so rows can be copied
    with their ids known; None elsewhere (the caller inserts and reads the ids back)."""
    if count == 0 or not is_postgresql(session):
        return None
    return list(
        session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": count},
        )
    )


def _plain(value: Any) -> Any:
    """Turn what a model column holds into what ``COPY`` takes (enum values, JSON text)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
