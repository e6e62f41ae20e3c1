"""Anonymous counts that outlive deleted learners, so cohort funnels stay whole.

When a learner's data is deleted their rows go, but the cohort's funnel must not shrink
backwards: the deletion adds what the learner contributed (enrolled, each stage reached,
reached by a step, paid after it) to :class:`AnonymousTally` rows, keyed only by cohort and a
metric name. No learner id, name or time is kept.

Metric names (``metric`` is at most 64 characters):

- cohort: ``enrolled``, ``stage:<stage>`` (reached), ``did:<stage>``, ``refunded``
- per dimension: ``<kind>:<measure>:<key>``, kind ``advisor``/``tag``/``step``/``variant``,
  e.g. ``advisor:stage.paid:3``, ``tag:enrolled:goal:web``, ``variant:paid:recommend/b``

A name longer than 64 characters keeps a hash of its key instead (``<kind>:<measure>#<hash>``);
the funnel matches it against the keys it knows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaign.models import AnonymousTally

MAX_METRIC = 64


def metric_name(kind: str, measure: str, key: str | None = None) -> str:
    """Return the tally metric for ``measure`` of ``key`` in dimension ``kind``."""
    if kind == "cohort":
        return measure if measure in ("enrolled", "refunded") else measure.replace(".", ":", 1)
    name = f"{kind}:{measure}:{key}"
    if len(name) <= MAX_METRIC:
        return name
    digest = hashlib.sha256(str(key).encode()).hexdigest()[:16]
    return f"{kind}:{measure}#{digest}"


@dataclass(frozen=True)
class Tally:
    cohort_id: int | None
    kind: str
    measure: str
    key: str | None  # None for cohort metrics; "#<hash>" for hashed names
    count: int


def parse_metric(metric: str) -> tuple[str, str, str | None]:
    """Return (kind, measure, key) of a metric name (inverse of :func:`metric_name`)."""
    if metric in ("enrolled", "refunded"):
        return "cohort", metric, None
    head, _, rest = metric.partition(":")
    if head in ("stage", "did"):
        return "cohort", f"{head}.{rest}", None
    measure, sep, key = rest.partition(":")
    if not sep and "#" in measure:
        measure, _, digest = measure.partition("#")
        return head, measure, f"#{digest}"
    return head, measure, key


def load_tallies(session: Session, *, cohort_id: int | None = None) -> list[Tally]:
    """Return the anonymous tallies (of one cohort)."""
    query = select(AnonymousTally)
    if cohort_id is not None:
        query = query.where(AnonymousTally.cohort_id == cohort_id)
    tallies = []
    for row in session.scalars(query):
        kind, measure, key = parse_metric(row.metric)
        tallies.append(Tally(row.cohort_id, kind, measure, key, row.count))
    return tallies


def resolve_key(key: str | None, kind: str, measure: str, known: Iterable[str]) -> str | None:
    """Map a hashed tally key back to the known key it was made from (or keep it)."""
    if key is None or not key.startswith("#"):
        return key
    for candidate in known:
        if metric_name(kind, measure, candidate).endswith(key):
            return candidate
    return key


def add_tallies(session: Session, counts: Mapping[tuple[int, str], int]) -> None:
    """Add ``counts`` ((cohort id, metric) -> n) to the tallies, creating rows as needed.

    One upsert per row (``ON CONFLICT DO UPDATE count = count + n``), so two deletions at once
    never lose a count.
    """
    rows = [
        {"cohort_id": cohort_id, "metric": metric, "count": n}
        for (cohort_id, metric), n in sorted(counts.items())
        if n
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for row in rows:
        statement = make_insert(AnonymousTally).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["cohort_id", "metric"],
            set_={"count": AnonymousTally.count + statement.excluded.count},
        )
        session.execute(statement)
