"""``campaign learners …``: import, tags, points, coupons, the silence scan and the class report."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.clock import clock_from_config
from campaign.commands.errors import reports_user_errors
from campaign.db import session_scope
from campaign.errors import NotFound
from campaign.learners.importer import import_learners, read_learner_file
from campaign.learners.points import leaderboard, redeem
from campaign.learners.report import daily_report, format_report
from campaign.learners.silence import SilenceScan, scan_open_cohorts, scan_silence
from campaign.learners.tags import add_tag, remove_tag
from campaign.models import Enrollment, Learner, TagSource


def _now() -> datetime:
    return clock_from_config(current_app.config).now()


@click.group("learners")
def learners() -> None:
    """Import learners; tags, points and coupons; silence scan and class report."""


@learners.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--cohort", "cohort_id", type=int, required=True, help="Cohort to enroll them in.")
@click.option(
    "--advisor",
    "advisor_id",
    type=int,
    help="Advisor id for rows whose 'advisor' cell is empty.",
)
@with_appcontext
@reports_user_errors
def import_command(file: Path, cohort_id: int, advisor_id: int | None) -> None:
    """Import learners from a CSV FILE and enroll them in a cohort.

    Columns: external_id, name (required); phone, email, timezone, birth_date,
    wecom_external_userid, advisor (id or name), tags (separated by ';'). Bad rows are
    listed as FILE:LINE: reason (column) and left out; the others are imported. Importing the
    same file again changes nothing. Exits 1 when any row was bad.
    """
    now = _now()
    with session_scope() as session:
        parsed = read_learner_file(session, file, today_at=now)
        for note in parsed.notes:
            click.echo(f"note: {note}", err=True)
        on_terminal = sys.stdout.isatty()  # a log or a pipe gets no bar, only the summary
        with click.progressbar(
            length=len(parsed.rows), label="importing", hidden=not on_terminal
        ) as bar:
            result = import_learners(
                session,
                file,
                cohort_id,
                now=now,
                advisor_id=advisor_id,
                progress=bar.update,
                commit=True,
                parsed=parsed,
            )
    for problem in result.problems:
        click.echo(problem.format(str(file)), err=True)
    click.echo(result.summary())
    if result.problems:
        raise click.exceptions.Exit(1)


def _learner_id(session: Session, learner: str) -> int:
    """Find a learner by external id, else by numeric id."""
    found = session.scalar(select(Learner.id).where(Learner.external_id == learner))
    if found is None and learner.isdigit() and session.get(Learner, int(learner)) is not None:
        found = int(learner)
    if found is None:
        raise NotFound(f"no learner has external id or id '{learner}'")
    return int(found)


@learners.command("tag")
@click.argument("learner")
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Take the tags off instead.")
@with_appcontext
@reports_user_errors
def tag_command(learner: str, tags: tuple[str, ...], remove: bool) -> None:
    """Tag LEARNER (external id or id) as an advisor: TAGS are group:value."""
    now = _now()
    with session_scope() as session:
        learner_id = _learner_id(session, learner)
        for name in tags:
            if remove:
                gone = remove_tag(session, learner_id, name)
                click.echo(f"{'removed' if gone else 'did not have'} {name}")
            else:
                tag = add_tag(session, learner_id, name, source=TagSource.ADVISOR, now=now)
                click.echo(f"{tag.name} ({tag.source}, since {tag.created_at:%Y-%m-%d %H:%M})")


@learners.command("leaderboard")
@click.option("--cohort", "cohort_id", type=int, required=True)
@click.option("--top", type=click.IntRange(min=1), help="Show the first N places (ties kept).")
@with_appcontext
@reports_user_errors
def leaderboard_command(cohort_id: int, top: int | None) -> None:
    """Print a cohort's points leaderboard; equal points share a place (1, 1, 3)."""
    with session_scope() as session:
        standings = leaderboard(session, cohort_id, limit=top)
    if not standings:
        click.echo(f"cohort {cohort_id} has no learners yet")
        return
    for s in standings:
        click.echo(f"{s.rank:>4}  {s.points:>6}  {s.name}  (enrollment {s.enrollment_id})")


@learners.command("redeem")
@click.argument("enrollment_id", type=int)
@click.argument("coupon")
@with_appcontext
@reports_user_errors
def redeem_command(enrollment_id: int, coupon: str) -> None:
    """Buy COUPON (a key of the journey's coupons) with an enrollment's points."""
    with session_scope() as session:
        redemption = redeem(session, enrollment_id, coupon, now=_now())
        enrollment = session.get(Enrollment, enrollment_id)
        left = enrollment.points if enrollment is not None else 0
    click.echo(
        f"coupon {coupon}: code {redemption.code} (cost {redemption.points} points, {left} left)"
    )


def _echo_scan(scan: SilenceScan) -> None:
    if scan.skipped:
        click.echo(f"cohort {scan.cohort_id}: nothing to scan: {scan.skipped}")
        return
    click.echo(
        f"cohort {scan.cohort_id} D{scan.camp_day}: {scan.silent} silent; "
        f"{len(scan.tagged)} tags set, {len(scan.cleared)} cleared; "
        f"{len(scan.learner_tasks)} follow-up tasks, {len(scan.class_tasks)} quiet-class tasks"
    )


@learners.command("scan-silence")
@click.option(
    "--cohort", "cohort_id", type=int, help="[default: every open cohort in its camp days]"
)
@with_appcontext
@reports_user_errors
def scan_silence_command(cohort_id: int | None) -> None:
    """Tag silent learners and raise advisor tasks for them and for quiet classes (daily)."""
    now = _now()
    with session_scope() as session:
        if cohort_id is not None:
            scans = [scan_silence(session, cohort_id, now=now)]
        else:
            scans = scan_open_cohorts(session, now=now)
    if not scans:
        click.echo("no cohort is in its camp days; nothing to scan")
    for scan in scans:
        _echo_scan(scan)


@learners.command("report")
@click.option("--cohort", "cohort_id", type=int, required=True)
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day, YYYY-MM-DD [default: today on the cohort's clock].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@with_appcontext
@reports_user_errors
def report_command(cohort_id: int, day: datetime | None, as_json: bool) -> None:
    """Print the daily class report: joins, attendance, check-ins, silence, points, intent."""
    with session_scope() as session:
        report = daily_report(session, cohort_id, now=_now(), day=day.date() if day else None)
    if as_json:
        click.echo(json.dumps(asdict(report), default=_json_default, ensure_ascii=False, indent=2))
        return
    for line in format_report(report):
        click.echo(line)


def _json_default(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
