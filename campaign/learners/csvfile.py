"""Read and check a learners CSV file: encodings Excel writes, one checked row per line.

Nothing is written here: :func:`parse_learners` turns the file's text into good rows and
problems (``FILE:LINE: reason (field)``), so the whole file is judged before the import
touches the database, and a file with a missing column imports nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import available_timezones

from campaign.errors import CampaignError, did_you_mean
from campaign.journeys.calendar import is_timezone
from campaign.learners.tags import InvalidTag, check_tag_name

REQUIRED = ("external_id", "name")
OPTIONAL = (
    "phone",
    "email",
    "timezone",
    "birth_date",
    "wecom_external_userid",
    "advisor",
    "tags",
)
COLUMNS = REQUIRED + OPTIONAL
LIMITS = {"external_id": 100, "name": 200, "email": 320, "wecom_external_userid": 64}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")  # ISO, and what Excel shows in China
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE = re.compile(r"^\+?\d{5,20}$")
PHONE_NOISE = re.compile(r"[\s\-().]")
EXCEL_NUMBER = re.compile(r"^\d(\.\d+)?E\+\d+$", re.IGNORECASE)
TAG_SEPARATORS = re.compile(r"[;；]")  # the full-width semicolon of a Chinese keyboard too


class ImportFileError(CampaignError):
    """A file that cannot be imported at all (unreadable, missing a required column)."""


@dataclass(frozen=True)
class RowProblem:
    """Why one line of the file was not imported, and which column is at fault."""

    line: int
    reason: str
    column: str | None = None

    def format(self, filename: str) -> str:
        """Return ``FILE:LINE: reason (column)``, the form editors and CI logs link to."""
        where = f" ({self.column})" if self.column else ""
        return f"{filename}:{self.line}: {self.reason}{where}"


@dataclass(frozen=True)
class LearnerRow:
    """One good line: the learner's fields (only the cells that were filled) and its extras."""

    line: int
    external_id: str
    fields: Mapping[str, Any]  # name, and any of phone, email, timezone, birth_date, wecom id
    advisor_id: int | None
    tags: tuple[str, ...]


@dataclass
class ParsedFile:
    """The judged file: good rows, problems, notes (encoding, ignored columns), lines read."""

    rows: list[LearnerRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read: int = 0  # data rows (blank lines not counted)


@dataclass(frozen=True)
class AdvisorIndex:
    """Advisors by id and by name, to resolve the ``advisor`` column."""

    by_id: Mapping[int, str]
    by_name: Mapping[str, list[int]]

    def resolve(self, text: str) -> tuple[int | None, str | None]:
        """Return (advisor id, None) or (None, the reason it cannot be resolved)."""
        if text.isdigit():
            if int(text) in self.by_id:
                return int(text), None
            return None, f"no advisor has id {text}"
        ids = self.by_name.get(text, [])
        if len(ids) == 1:
            return ids[0], None
        if ids:
            return None, f"{len(ids)} advisors are named '{text}'; give the id ({sorted(ids)})"
        return None, f"no advisor is named '{text}'{did_you_mean(text, self.by_name)}"


def decode(data: bytes, filename: str) -> tuple[str, str | None]:
    """Return the file's text and a note when it was not UTF-8.

    Excel writes UTF-8 with a BOM ("CSV UTF-8"), UTF-16 ("Unicode text") or, on Chinese
    Windows, GBK; GB18030 is GBK's superset, so a GBK file reads right as GB18030.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as first:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{filename} is neither UTF-8 nor GB18030 text (byte {first.start}); "
                "save it from Excel as 'CSV UTF-8'"
            ) from exc
    return text, (
        f"{filename} is not UTF-8; read it as GB18030 (GBK, what Excel writes on Chinese "
        "Windows). If names look wrong, save the file as 'CSV UTF-8' and import it again"
    )


def _header(raw: list[str], filename: str, parsed: ParsedFile) -> list[str]:
    names = [cell.strip().lower() for cell in raw]
    seen: set[str] = set()
    for name in names:
        if name in seen and name:
            raise ImportFileError(f"{filename}:1: column '{name}' appears twice in the header")
        seen.add(name)
    missing = [name for name in REQUIRED if name not in seen]
    if missing:
        has = ", ".join(n for n in names if n) or "nothing"
        raise ImportFileError(
            f"{filename}:1: missing required column '{missing[0]}' "
            f"(the header has: {has}; required: {', '.join(REQUIRED)})"
        )
    for name in names:
        if name and name not in COLUMNS:
            parsed.notes.append(
                f"{filename}:1: column '{name}' is not one the import reads; ignored"
                f"{did_you_mean(name, COLUMNS)}"
            )
    return names


def parse_learners(text: str, filename: str, advisors: AdvisorIndex, *, today: date) -> ParsedFile:
    """Judge every line of a learners CSV; see ``docs/learners.md`` for the format.

    :raises ImportFileError: when the file is empty, has no required column or is not CSV.
    """
    parsed = ParsedFile()
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        raw_header = next(reader, None)
        if raw_header is None:
            raise ImportFileError(f"{filename} is empty; the first line must be the header")
        header = _header(raw_header, filename, parsed)
        first_seen: dict[str, int] = {}  # a bad first line still makes a later one ambiguous
        id_column = header.index("external_id")
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            parsed.read += 1
            row, problems = _check_row(start, header, cells, advisors, today)
            external_id = cells[id_column].strip() if id_column < len(cells) else ""
            if external_id in first_seen:
                problems.append(
                    RowProblem(
                        start,
                        f"duplicate external_id '{external_id}' "
                        f"(first on line {first_seen[external_id]})",
                        "external_id",
                    )
                )
            elif external_id:
                first_seen[external_id] = start
            if problems:
                parsed.problems += problems
            elif row is not None:
                parsed.rows.append(row)
    except csv.Error as exc:
        raise ImportFileError(f"{filename}:{reader.line_num}: not valid CSV: {exc}") from exc
    return parsed


def _check_row(
    line: int, header: list[str], cells: list[str], advisors: AdvisorIndex, today: date
) -> tuple[LearnerRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        problems.append(
            RowProblem(line, f"{len(cells)} cells but the header has {len(header)} columns")
        )
    values = {name: cells[i].strip() for i, name in enumerate(header) if name and i < len(cells)}

    def bad(column: str, reason: str) -> None:
        problems.append(RowProblem(line, reason, column))

    for column in REQUIRED:
        if not values.get(column):
            bad(column, f"{column} is empty; every learner needs one")
    for column, limit in LIMITS.items():
        if len(values.get(column, "")) > limit:
            bad(column, f"longer than {limit} characters")
    fields: dict[str, Any] = {"name": values.get("name", "")}
    if phone := values.get("phone"):
        digits = PHONE_NOISE.sub("", phone)
        if EXCEL_NUMBER.match(phone):
            bad("phone", f"'{phone}' is a number Excel rewrote; format the column as text")
        elif not PHONE.match(digits):
            bad("phone", f"'{phone}' is not a phone number (digits, optionally a leading +)")
        else:
            fields["phone"] = digits
    if email := values.get("email"):
        if EMAIL.match(email):
            fields["email"] = email
        else:
            bad("email", f"'{email}' is not an email address")
    if timezone := values.get("timezone"):
        if is_timezone(timezone):
            fields["timezone"] = timezone
        else:
            hint = did_you_mean(timezone, available_timezones()) or (
                "; use an IANA name such as 'Asia/Shanghai'"
            )
            bad("timezone", f"unknown timezone '{timezone}'{hint}")
    if born := values.get("birth_date"):
        parsed_date = _date(born)
        if parsed_date is None:
            bad("birth_date", f"'{born}' is not a date like 2010-05-31")
        elif parsed_date > today or parsed_date.year < 1900:
            bad("birth_date", f"'{born}' cannot be a birth date")
        else:
            fields["birth_date"] = parsed_date
    if wecom := values.get("wecom_external_userid"):
        fields["wecom_external_userid"] = wecom
    advisor_id = None
    if advisor := values.get("advisor"):
        advisor_id, reason = advisors.resolve(advisor)
        if reason:
            bad("advisor", reason)
    tags: list[str] = []
    for tag in (t.strip() for t in TAG_SEPARATORS.split(values.get("tags", ""))):
        if not tag:
            continue
        try:
            check_tag_name(tag)
        except InvalidTag as exc:
            bad("tags", str(exc))
            continue
        if tag not in tags:
            tags.append(tag)
    if problems:
        return None, problems
    row = LearnerRow(line, values["external_id"], fields, advisor_id, tuple(tags))
    return row, []


def _date(text: str) -> date | None:
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None
