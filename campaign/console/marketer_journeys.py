"""What the marketer's journey pages show: annotated sources, diffs and simulated calendars.

Pure helpers (no Flask, no database): the views in :mod:`campaign.console.marketer` call the
domain services and hand their results here to be shaped for the templates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from campaign.journeys.findings import Finding, Severity
from campaign.journeys.sim_report import ReportRow, RowKind, SimulationReport

MAX_SOURCE_BYTES = 512 * 1024
"""The largest journey the editor takes (a real camp's YAML is a few tens of KiB)."""
MAX_SIM_LEARNERS = 10_000
"""The most synthetic learners the console simulates in one request (about a second)."""


class BadUpload(ValueError):
    """An uploaded journey that cannot be read; the message says why."""


@dataclass
class SourceLine:
    """One line of a journey's source, with the lint findings that point at it."""

    number: int
    text: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> str:
        """Return the worst severity on this line (``""`` when clean), for the line's style."""
        if any(f.severity is Severity.ERROR for f in self.findings):
            return "error"
        return "warning" if self.findings else ""


def annotate(source: str, findings: list[Finding]) -> list[SourceLine]:
    """Return the source's lines, numbered from 1, each with its findings.

    A finding past the last line (the end of the document) is shown on the last line; one
    before the first (no position) on the first.
    """
    lines = [SourceLine(number, text) for number, text in enumerate(source.splitlines(), 1)]
    if not lines:
        lines = [SourceLine(1, "")]
    for finding in findings:
        index = min(max(finding.line, 1), len(lines)) - 1
        lines[index].findings.append(finding)
    return lines


def counts(findings: list[Finding]) -> dict[str, int]:
    """Return how many errors and warnings there are."""
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    return {"errors": errors, "warnings": len(findings) - errors}


def decode_upload(data: bytes) -> str:
    """Return an uploaded journey's text.

    :raises BadUpload: when it is too large or not UTF-8 text.
    """
    if len(data) > MAX_SOURCE_BYTES:
        raise BadUpload(f"the file is larger than {MAX_SOURCE_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadUpload(f"the file is not UTF-8 text (byte {exc.start})") from None
    return text.replace("\r\n", "\n")


def clean_filename(name: str | None, fallback: str) -> str:
    """Return a file name to record with a version: the last path part, or ``fallback``."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base[:200] or fallback


@dataclass
class DiffLine:
    """One line of a unified diff and how to show it."""

    text: str
    kind: str  # add, del, hunk, meta or context


def diff_lines(unified: str) -> list[DiffLine]:
    """Classify each line of a unified diff for colouring."""
    lines = []
    for text in unified.splitlines():
        if text.startswith(("+++", "---")):
            kind = "meta"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        lines.append(DiffLine(text, kind))
    return lines


@dataclass
class SimDay:
    """One camp day of a simulation: deliveries that went out and that were held back."""

    label: str
    reached: int = 0
    held: int = 0


def reach_by_day(report: SimulationReport) -> list[SimDay]:
    """Sum the simulated calendar's rows per camp day (event-triggered steps have no day)."""
    days: dict[int, SimDay] = {}
    for row in report.rows:
        if row.kind is not RowKind.STEP or row.camp_time is None:
            continue
        day = row.camp_time.day
        label = f"D{day}"
        if row.local_time is not None:
            label += f" {row.local_time:%m-%d}"
        entry = days.setdefault(day, SimDay(label))
        entry.reached += row.reached
        entry.held += row.held_total
    return [days[day] for day in sorted(days)]  # D-2, D-1, D1, D2: there is no D0


def held_reasons(rows: list[ReportRow]) -> list[tuple[str, int]]:
    """Return the hold reasons over all rows, most frequent first."""
    total: dict[str, int] = defaultdict(int)
    for row in rows:
        for reason, count in row.held.items():
            total[str(reason)] += count
    return sorted(total.items(), key=lambda item: (-item[1], item[0]))


def next_monday(today: date) -> date:
    """Return the Monday after ``today`` (a week ahead when today is a Monday)."""
    return today + timedelta(days=7 - today.weekday())
