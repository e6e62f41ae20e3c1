"""``campaign journeys simulate PATH``: show what a journey will do to a cohort before it runs.

The command lints the file first (a journey with errors is not simulated: its findings are
printed, as ``lint`` prints them, and the exit status is 1), then runs
:func:`campaign.journeys.simulate.simulate` and prints the cohort's calendar as an aligned table,
JSON or CSV. The output depends only on the file, the options and the seed.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import unicodedata
from datetime import date, datetime
from pathlib import Path

import click

from campaign.journeys.findings import Severity
from campaign.journeys.lint import lint_text
from campaign.journeys.sim_report import HoldReason, ReportRow, RowKind, SimulationReport
from campaign.journeys.simulate import simulate as run_simulation
from campaign.journeys.simulate import work_units
from campaign.journeys.spec import JourneySpec, MilestoneKind

MILESTONE_MARKS = {
    MilestoneKind.PEAK: "★ peak",
    MilestoneKind.END: "● end",
    MilestoneKind.RITUAL: "◆ ritual",
    MilestoneKind.LIVE: "▶ live",
}
MAX_LEARNERS = 1_000_000


@click.command("simulate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--starts-on", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The cohort's first camp day (D1), as YYYY-MM-DD.")
@click.option("--learners", required=True, type=click.IntRange(1, MAX_LEARNERS),
              help="How many synthetic learners to enroll.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="The same seed gives the same learners and the same report.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True,
              help="table: aligned calendar; json: rows and totals; csv: one line per row.")
def simulate(path: Path, starts_on: datetime, learners: int, seed: int,
             output_format: str) -> None:
    """Run the journey in PATH over synthetic learners and print the cohort's calendar.

    For every step occurrence: its local time, channel, how many learners it reaches, and how
    many are held back and why (condition, quiet hours, cap, expiry, consent, goal reached).
    Exits 1 without simulating when the journey has lint errors.
    """
    spec = _load(path)
    report = _run(spec, starts_on.date(), learners, seed)
    if output_format == "json":
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    elif output_format == "csv":
        click.echo(format_csv(report), nl=False)
    else:
        click.echo(format_table(report))


def _load(path: Path) -> JourneySpec:
    """Lint the file; print its warnings, or its findings and exit 1 when it has errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        click.echo(f"{path}: error: cannot read the journey: {reason}", err=True)
        sys.exit(1)
    result = lint_text(text, str(path))
    for finding in result.findings:
        click.echo(finding.format(), err=True)
    if result.spec is None:
        errors = sum(f.severity is Severity.ERROR for f in result.findings)
        click.echo(f"{errors} error(s): fix them (campaign journeys lint {path}) and simulate "
                   "again", err=True)
        sys.exit(1)
    return result.spec


def _run(spec: JourneySpec, starts_on: date, learners: int, seed: int) -> SimulationReport:
    """Simulate, with a progress bar on stderr when a person is watching it."""
    if not sys.stderr.isatty():
        return run_simulation(spec, starts_on, learners, seed)
    with click.progressbar(length=work_units(spec), label="simulating", file=sys.stderr) as bar:
        return run_simulation(spec, starts_on, learners, seed, progress=bar.update)


# --- table -----------------------------------------------------------------------------------

def _width(text: str) -> int:
    """Return the columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def held_text(row: ReportRow) -> str:
    """Say how many were held back and why: ``condition 120, quiet hours 3``."""
    return ", ".join(f"{reason} {count}" for reason, count in row.held_in_order())


def _notes(row: ReportRow) -> str:
    notes: list[str] = []
    if row.fired is not None:
        notes.append(f"fired for {row.fired} learners")
    if row.moved:
        notes.append(f"moved {row.moved}")
    if row.deferred:
        notes.append(f"deferred {row.deferred}")
    if row.clock.value == "learner":
        notes.append("learner's clock")
    if row.selling:
        notes.append("selling")
    return "; ".join(notes)


def _table_cells(row: ReportRow) -> list[str]:
    when = row.local_time.strftime("%a %Y-%m-%d %H:%M") if row.local_time else row.trigger or ""
    day = str(row.camp_time) if row.camp_time else ""
    if row.kind is RowKind.MILESTONE:
        mark = MILESTONE_MARKS[row.milestone_kind] if row.milestone_kind else ""
        return [when, day, row.key, mark, "", "", "", ""]
    to = row.audience.value if row.audience else ""
    return [when, day, row.key, row.channel.value if row.channel else "", to, str(row.reached),
            held_text(row), _notes(row)]


def format_table(report: SimulationReport) -> str:
    """Render the report as aligned columns with a header and the totals."""
    header = ["local time", "day", "step", "channel", "to", "reached", "held back", "notes"]
    lines = [[*header]] + [_table_cells(row) for row in report.rows]
    widths = [max(_width(cells[i]) for cells in lines) for i in range(len(header))]
    right = {5}
    out = [
        f"{report.journey}: {report.title}",
        f"cohort starting {report.starts_on.isoformat()} ({report.timezone}), "
        f"{report.learners} synthetic learners, {report.advisors} advisors, seed {report.seed}",
        "",
    ]
    for cells in lines:
        out.append("  ".join(_pad(cell, widths[i], i in right)
                             for i, cell in enumerate(cells)).rstrip())
    totals = report.totals
    held = ", ".join(f"{r} {totals.held[r]}" for r in HoldReason if totals.held.get(r))
    out += [
        "",
        f"reached {totals.reached}; held back {sum(totals.held.values())}"
        + (f" ({held})" if held else "")
        + f"; moved by quiet hours {totals.moved}; deferred by the cap {totals.deferred}",
        f"advisor tasks {totals.advisor_tasks}; automated 1v1 messages {totals.automated_1v1}",
        f"learners: paid {totals.learners_paid}, opted out {totals.learners_opted_out}, "
        f"under 14 {totals.learners_minor}, outside {report.timezone} "
        f"{totals.learners_other_timezone}",
    ]
    return "\n".join(out)


# --- csv -------------------------------------------------------------------------------------

CSV_FIELDS = ["kind", "local_time", "camp_time", "step", "title", "channel", "audience", "clock",
              "selling", "milestone", "trigger", "fired", "reached",
              *[f"held_{reason.value.replace(' ', '_')}" for reason in HoldReason],
              "held_total", "moved", "deferred"]


def format_csv(report: SimulationReport) -> str:
    """Render the rows as CSV with a header line (totals are the column sums)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in report.rows:
        data = row.as_dict()
        writer.writerow([
            data["kind"], data["local_time"] or "", data["camp_time"] or "", row.key,
            row.title or "", data["channel"] or "", data["audience"] or "", data["clock"],
            "yes" if row.selling else "no", data["milestone"] or "", row.trigger or "",
            "" if row.fired is None else row.fired, row.reached,
            *[row.held.get(reason, 0) for reason in HoldReason],
            row.held_total, row.moved, row.deferred,
        ])
    return buffer.getvalue()
