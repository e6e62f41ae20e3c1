"""Import learners from a CSV file and enroll them in a cohort, in bulk and idempotently.

The whole file is judged first (:mod:`campaign.learners.csvfile`); then the good rows are
written in chunks: learners upserted by ``external_id``, enrolled through
:func:`campaign.messages.planning.enroll` (which plans their deliveries in bulk and keeps those
already enrolled), tags added with source ``import``. Importing the same file again changes
nothing: equal values are not rewritten, enrollments and tags already there are kept.

An empty cell leaves the learner's value as it is (a sheet that lacks phone numbers does not
erase them), and an existing enrollment keeps its advisor (a handover is a deliberate act:
WeCom allows two transfers per customer in 90 days).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from campaign.errors import CampaignError, NotFound
from campaign.events import enroll_learners
from campaign.journeys.calendar import zone
from campaign.learners.csvfile import (
    AdvisorIndex,
    ImportFileError,
    LearnerRow,
    ParsedFile,
    RowProblem,
    decode,
    parse_learners,
)
from campaign.learners.tags import tag_learner
from campaign.messages.planning import NewEnrollment
from campaign.models import Advisor, Cohort, CohortState, Enrollment, Learner, TagSource

CHUNK = 500

Progress = Callable[[int], None]


class CohortClosed(CampaignError):
    """A cohort that takes no new learners."""


@dataclass
class ImportResult:
    """What an import did; ``problems`` are the rows left out, with line and reason."""

    filename: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    enrolled: int = 0
    already_enrolled: int = 0
    tags_added: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def good(self) -> int:
        """Return how many rows were imported."""
        return self.created + self.updated + self.unchanged

    @property
    def bad_lines(self) -> int:
        """Return how many lines were left out (a line may have several problems)."""
        return len({problem.line for problem in self.problems})

    def summary(self) -> str:
        """Return the one-line summary the command ends with."""
        return (
            f"{self.filename}: {self.read} rows, {self.good} imported "
            f"({self.created} new, {self.updated} updated, {self.unchanged} unchanged; "
            f"{self.enrolled} enrolled, {self.already_enrolled} already enrolled; "
            f"{self.tags_added} tags added), {self.bad_lines} bad"
        )


def advisor_index(session: Session) -> AdvisorIndex:
    """Load every advisor's id and name (a school has dozens, not thousands)."""
    by_id: dict[int, str] = {}
    by_name: dict[str, list[int]] = defaultdict(list)
    for advisor_id, name in session.execute(select(Advisor.id, Advisor.name)):
        by_id[advisor_id] = name
        by_name[name].append(advisor_id)
    return AdvisorIndex(by_id, dict(by_name))


def read_learner_file(session: Session, path: Path, *, today_at: datetime) -> ParsedFile:
    """Read and judge a learners file (nothing written).

    :raises ImportFileError: when the file cannot be read or lacks a required column.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from exc
    text, note = decode(data, str(path))
    parsed = parse_learners(text, str(path), advisor_index(session), today=today_at.date())
    if note:
        parsed.notes.insert(0, note)
    return parsed


def _open_cohort(session: Session, cohort_id: int) -> Cohort:
    cohort = session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound(f"cohort {cohort_id} does not exist")
    if cohort.state is not CohortState.OPEN:
        raise CohortClosed(f"cohort {cohort_id} is {cohort.state}: it takes no new learners")
    return cohort


def _over_capacity(session: Session, cohort: Cohort, rows: list[LearnerRow]) -> set[int]:
    """Return the lines of rows that would enroll past the cohort's capacity."""
    if cohort.capacity is None:
        return set()
    taken = int(
        session.scalar(select(func.count(Enrollment.id)).where(Enrollment.cohort_id == cohort.id))
        or 0
    )
    enrolled: set[str] = set()
    for start in range(0, len(rows), CHUNK):
        ids = [row.external_id for row in rows[start : start + CHUNK]]
        enrolled.update(
            session.scalars(
                select(Learner.external_id)
                .join(Enrollment, Enrollment.learner_id == Learner.id)
                .where(Enrollment.cohort_id == cohort.id, Learner.external_id.in_(ids))
            )
        )
    room = max(cohort.capacity - taken, 0)
    over: set[int] = set()
    for row in rows:
        if row.external_id in enrolled:
            continue
        if room:
            room -= 1
        else:
            over.add(row.line)
    return over


def import_learners(
    session: Session,
    path: Path,
    cohort_id: int,
    *,
    now: datetime,
    advisor_id: int | None = None,
    progress: Progress | None = None,
    commit: bool = False,
    parsed: ParsedFile | None = None,
) -> ImportResult:
    """Import a learners file into a cohort.

    :param advisor_id: the advisor of rows whose ``advisor`` cell is empty.
    :param progress: called with the number of rows written after each chunk.
    :param commit: commit after each chunk (the CLI: a long import does not hold the write
        lock throughout, and re-running after a crash picks up where it stopped); otherwise
        the caller commits.
    :param parsed: the file already read with :func:`read_learner_file`.
    :raises NotFound: for an unknown cohort or advisor.
    :raises CohortClosed: when the cohort is paused or closed.
    :raises ImportFileError: when the file cannot be imported at all.
    """
    cohort = _open_cohort(session, cohort_id)
    if advisor_id is not None and session.get(Advisor, advisor_id) is None:
        raise NotFound(f"advisor {advisor_id} does not exist")
    if parsed is None:
        parsed = read_learner_file(session, path, today_at=now.astimezone(zone(cohort.timezone)))
    result = ImportResult(filename=str(path), read=parsed.read, notes=list(parsed.notes))
    result.problems = list(parsed.problems)
    over = _over_capacity(session, cohort, parsed.rows)
    result.problems += [
        RowProblem(line, f"cohort {cohort.id} is full (capacity {cohort.capacity})")
        for line in sorted(over)
    ]
    result.problems.sort(key=lambda problem: problem.line)
    rows = [row for row in parsed.rows if row.line not in over]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        _write_chunk(session, cohort, chunk, result, advisor_id=advisor_id, now=now)
        if commit:
            session.commit()
        if progress is not None:
            progress(len(chunk))
    return result


def _write_chunk(
    session: Session,
    cohort: Cohort,
    rows: Sequence[LearnerRow],
    result: ImportResult,
    *,
    advisor_id: int | None,
    now: datetime,
) -> None:
    existing = {
        learner.external_id: learner
        for learner in session.scalars(
            select(Learner)
            .options(selectinload(Learner.tags))
            .where(Learner.external_id.in_([row.external_id for row in rows]))
        )
    }
    learners: list[tuple[LearnerRow, Learner]] = []
    for row in rows:
        learner = existing.get(row.external_id)
        if learner is None:
            learner = Learner(external_id=row.external_id, created_at=now, tags=[], **row.fields)
            session.add(learner)
            result.created += 1
        else:
            changed = [k for k, v in row.fields.items() if getattr(learner, k) != v]
            for key in changed:
                setattr(learner, key, row.fields[key])
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
        learners.append((row, learner))
    session.flush()
    entries = [NewEnrollment(learner.id, row.advisor_id or advisor_id) for row, learner in learners]
    fresh = enroll_learners(session, cohort, entries, now=now)
    result.enrolled += len(fresh)
    result.already_enrolled += len(entries) - len(fresh)
    for row, learner in learners:
        for name in row.tags:
            if all(tag.name != name for tag in learner.tags):
                tag = tag_learner(learner, name, source=TagSource.IMPORT, now=now)
                result.tags_added += tag.name == name
    session.flush()

