"""A learner's data: export everything held on them, or delete it everywhere.

What belongs to a learner is found from the schema, not from a hand-kept list: the learner's
row, every row whose foreign key points at it, every row pointing at those (enrollments →
deliveries → tasks, events → points entries…), table by table over :data:`Base.metadata`. A
table added later is covered without touching this module, and export and deletion can never
disagree about what "everything" is.

Deletion keeps the cohort funnels whole: before the rows go, what the learner contributed to
the funnel (enrolled, stages reached, steps that reached them, paid) is added to anonymous
tallies (:mod:`campaign.offers.tallies`). Free texts shared with other learners (an advisor's
class task listing who has not checked in, a rendered group message) have the learner's name
and identifiers replaced by ``[已删除]``. Copies outside the database (channel providers, the
outbox log, backups) are outside its reach and are named in ``docs/offers.md``.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, Text, delete, func, select, update
from sqlalchemy.orm import Session

from campaign.db import Base
from campaign.errors import NotFound
from campaign.models import GroupBuy, Learner, Offer
from campaign.offers.funnel import stage_counts, step_counts
from campaign.offers.tallies import add_tallies, metric_name

REDACTED = "[已删除]"
# Tables of published content: never rewritten (a journey's text is hashed and immutable).
IMMUTABLE_TABLES = frozenset({"journeys", "journey_versions"})
# Friendlier keys in the export for some tables; others keep their table name.
EXPORT_KEYS = {
    "learner_events": "events",
    "points_entries": "points",
    "coupon_redemptions": "coupons",
    "consent_records": "consent",
}


def owned_rows(session: Session, learner_id: int) -> dict[str, list[int]]:
    """Return, per table, the primary keys of the rows that belong to the learner.

    Tables are visited parents first, so one pass follows every chain of foreign keys.
    """
    owned: dict[str, set[int]] = {"learners": {learner_id}}
    for table in Base.metadata.sorted_tables:
        if table.name == "learners":
            continue
        pk = _pk(table)
        found: set[int] = set()
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            ids = owned.get(parent)
            if not ids or fk.column is not _pk(fk.column.table):
                continue
            found.update(_select_in(session, table, pk, fk.parent, ids))
        if found:
            owned[table.name] = found
    return {name: sorted(ids) for name, ids in owned.items()}


def learner_tables() -> list[str]:
    """Return the tables that can hold a learner's rows: learners and every table whose
    foreign keys lead there (the schema's answer to "what do we hold on a person")."""
    reachable = ["learners"]
    for table in Base.metadata.sorted_tables:
        if table.name in reachable:
            continue
        if any(fk.column.table.name in reachable for fk in table.foreign_keys):
            reachable.append(table.name)
    return reachable


def _pk(table: Any) -> Any:
    columns = list(table.primary_key.columns)
    assert len(columns) == 1, f"{table.name}: one-column primary keys only"
    return columns[0]


def _select_in(session: Session, table: Table, pk: Any, column: Any, ids: set[int]) -> set[int]:
    values = sorted(ids)
    found: set[int] = set()
    for start in range(0, len(values), 1000):
        chunk = values[start : start + 1000]
        found.update(session.scalars(select(pk).where(column.in_(chunk))))
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _rows(session: Session, table: Table, ids: list[int]) -> list[dict[str, Any]]:
    pk = _pk(table)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), 1000):
        query = select(table).where(pk.in_(ids[start : start + 1000])).order_by(pk)
        rows += [
            {key: _jsonable(value) for key, value in row._mapping.items()}
            for row in session.execute(query)
        ]
    return rows


def export_learner(session: Session, learner_id: int) -> dict[str, Any]:
    """Return everything held on the learner, table by table, as JSON-ready data.

    ``learner`` is the learner's row; ``enrollments``, ``tags``, ``events``, ``deliveries``
    (with the texts sent), ``tasks``, ``points``, ``coupons``, ``offers``, ``conversions``,
    ``consent`` and any other table holding their rows are lists; ``group_buys`` shows the
    group-buys their offers are in (shared rows, kept on deletion; the membership goes).

    :raises NotFound: no such learner.
    """
    if session.get(Learner, learner_id) is None:
        raise NotFound(f"learner {learner_id} does not exist")
    tables = Base.metadata.tables
    export: dict[str, Any] = {}
    for name, ids in owned_rows(session, learner_id).items():
        rows = _rows(session, tables[name], ids)
        if name == "learners":
            export["learner"] = rows[0]
        else:
            export[EXPORT_KEYS.get(name, name)] = rows
    for name in learner_tables():
        if name != "learners":
            export.setdefault(EXPORT_KEYS.get(name, name), [])
    group_ids = session.scalars(
        select(Offer.group_buy_id).where(
            Offer.id.in_([o["id"] for o in export.get("offers", [])]),
            Offer.group_buy_id.is_not(None),
        )
    )
    export["group_buys"] = _rows(session, GroupBuy.__table__, sorted(set(group_ids)))  # type: ignore[arg-type]
    return export


def _tallies_of(session: Session, enrollment_ids: list[int]) -> dict[tuple[int, str], int]:
    """Return what the enrollments add to the funnel, as (cohort id, metric) -> count."""
    counts: dict[tuple[int, str], int] = defaultdict(int)
    if not enrollment_ids:
        return counts
    for by, kind in (("stage", "cohort"), ("advisor", "advisor"), ("tag", "tag")):
        for cohort, key, measures in stage_counts(session, by=by, enrollment_ids=enrollment_ids):
            if by == "advisor" and key is None:
                key = "none"
            for measure, value in measures.items():
                counts[(cohort, metric_name(kind, measure, key))] += value
    for by in ("step", "variant"):
        for cohort, key, measures in step_counts(session, by=by, enrollment_ids=enrollment_ids):
            for measure, value in measures.items():
                counts[(cohort, metric_name(by, measure, key))] += value
    return counts


def _identifiers(learner: Learner) -> list[str]:
    """Return the texts that identify the learner in free text, longest first.

    Too short a text would redact other people's words: a name needs two characters (most
    Chinese names have two or three), an id, e-mail or phone six.
    """
    ids = [learner.external_id, learner.email, learner.phone, learner.wecom_external_userid]
    found = [text.strip() for text in ids if text and len(text.strip()) >= 6]
    if learner.name and len(learner.name.strip()) >= 2:
        found.append(learner.name.strip())
    return sorted(set(found), key=len, reverse=True)


def _scrub_shared_texts(session: Session, learner: Learner, owned: dict[str, list[int]]) -> int:
    """Replace the learner's name and ids in other rows' free texts; returns rows changed."""
    changed = 0
    for table in Base.metadata.sorted_tables:
        if table.name in IMMUTABLE_TABLES or table.name == "learners":
            continue
        pk = _pk(table)
        own = owned.get(table.name, [])
        for column in table.columns:
            if not isinstance(column.type, Text):
                continue
            for text in _identifiers(learner):
                query = (
                    update(table)
                    .where(column.contains(text, autoescape=True))
                    .values({column.name: _replace(column, text)})
                )
                if own:
                    query = query.where(pk.not_in(own))
                result = session.execute(query.execution_options(synchronize_session=False))
                changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def _replace(column: Any, text: str) -> Any:
    return func.replace(column, text, REDACTED)


def _forget(session: Session, owned: dict[str, list[int]]) -> None:
    """Detach the ORM objects of rows about to be deleted (the session must not flush them)."""
    ids = {name: set(values) for name, values in owned.items()}
    for obj in list(session.identity_map.values()):
        table = getattr(obj, "__table__", None)
        if table is not None and getattr(obj, "id", None) in ids.get(table.name, ()):
            session.expunge(obj)


def delete_learner(session: Session, learner_id: int, *, now: datetime) -> dict[str, Any]:
    """Delete the learner's rows from every table, keeping only anonymous funnel counts.

    :returns: rows deleted per table, texts redacted elsewhere, tallies added, and ``now``.
    :raises NotFound: no such learner.
    """
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"learner {learner_id} does not exist")
    owned = owned_rows(session, learner_id)
    tallies = _tallies_of(session, owned.get("enrollments", []))
    add_tallies(session, tallies)
    redacted = _scrub_shared_texts(session, learner, owned)
    session.flush()
    _forget(session, owned)
    deleted: dict[str, int] = {}
    for table in reversed(Base.metadata.sorted_tables):
        ids = owned.get(table.name)
        if not ids:
            continue
        pk = _pk(table)
        for start in range(0, len(ids), 1000):
            session.execute(delete(table).where(pk.in_(ids[start : start + 1000])))
        deleted[table.name] = len(ids)
    session.flush()
    return {
        "learner_id": learner_id,
        "deleted": deleted,
        "redacted_texts": redacted,
        "tallies_added": sum(tallies.values()),
        "deleted_at": now.isoformat(),
    }
