"""The marketer's pages: journeys (versions, lint, diff, the editor, the simulated calendar).

The cohort pages (open, pause, resume, the calendar of deliveries, funnels) live in
:mod:`campaign.console.marketer_pages` and are added to this blueprint by :func:`register`.
Views parse the request, call one service, and render; the shaping for the templates is in
:mod:`campaign.console.marketer_journeys`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from campaign.console import marketer_pages
from campaign.console.auth import requires
from campaign.console.charts import Bar, Series, bar_chart, stacked_bar_chart
from campaign.console.marketer_journeys import (
    MAX_SIM_LEARNERS,
    BadUpload,
    annotate,
    clean_filename,
    counts,
    decode_upload,
    diff_lines,
    held_reasons,
    next_monday,
    reach_by_day,
)
from campaign.console.security import protect
from campaign.db import get_session
from campaign.errors import NotFound
from campaign.journeys.findings import Finding
from campaign.journeys.lint import lint_text
from campaign.journeys.simulate import simulate as run_simulation
from campaign.messages.planning import spec_of
from campaign.models import Journey, JourneyVersion, Role
from campaign.publishing import (
    JourneyHasErrors,
    diff_versions,
    find_journey,
    find_version,
    latest_version,
    publish_journey,
)

blueprint = Blueprint("marketer", __name__, url_prefix="/marketer")


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        protect()


def _journey(key: str) -> Journey:
    try:
        return find_journey(get_session(), key)
    except NotFound as exc:
        abort(404, str(exc))


def _version(journey: Journey, ref: str) -> JourneyVersion:
    try:
        return find_version(get_session(), journey, ref)
    except NotFound as exc:
        abort(404, str(exc))


@blueprint.get("/journeys")
@requires(Role.MARKETER)
def journeys() -> str:
    """List journeys with their published versions."""
    rows = list(get_session().scalars(select(Journey).order_by(Journey.key)))
    return render_template("console/marketer/journeys.html", journeys=rows)


@blueprint.get("/journeys/<key>")
@requires(Role.MARKETER)
def journey(key: str) -> str:
    """Show a journey: its versions, the lint of its latest version, and a diff picker."""
    found = _journey(key)
    latest = latest_version(get_session(), found)
    findings = lint_text(latest.source, latest.filename).findings
    return render_template(
        "console/marketer/journey.html",
        journey=found,
        versions=list(reversed(found.versions)),
        latest=latest,
        findings=findings,
        counts=counts(findings),
    )


@blueprint.get("/journeys/<key>/versions/<ref>")
@requires(Role.MARKETER)
def version(key: str, ref: str) -> str:
    """Show one version's source with line numbers and its lint findings at their lines."""
    found = _journey(key)
    chosen = _version(found, ref)
    findings = lint_text(chosen.source, chosen.filename).findings
    return render_template(
        "console/marketer/version.html",
        journey=found,
        version=chosen,
        lines=annotate(chosen.source, findings),
        findings=findings,
        counts=counts(findings),
    )


@blueprint.get("/journeys/<key>/diff")
@requires(Role.MARKETER)
def diff(key: str) -> str:
    """Compare two versions (``?a=1&b=2``; default: the previous and the latest)."""
    found = _journey(key)
    numbers = [v.number for v in found.versions]
    a = request.args.get("a") or str(numbers[-2] if len(numbers) > 1 else numbers[-1])
    b = request.args.get("b") or str(numbers[-1])
    try:
        result = diff_versions(get_session(), key, a, b)
    except NotFound as exc:
        abort(404, str(exc))
    return render_template(
        "console/marketer/diff.html",
        journey=found,
        diff=result,
        lines=diff_lines(result.unified),
        versions=list(reversed(found.versions)),
    )


def _render_editor(
    text: str, filename: str, findings: list[Finding] | None, status: int = 200
) -> tuple[str, int]:
    page = render_template(
        "console/marketer/editor.html",
        source=text,
        filename=filename,
        lines=annotate(text, findings) if findings is not None else [],
        findings=findings,
        counts=counts(findings or []),
    )
    return page, status


@blueprint.get("/editor")
@requires(Role.MARKETER)
def editor() -> tuple[str, int]:
    """Edit a journey's YAML (``?journey=KEY`` starts from its latest version) or a new one."""
    key = request.args.get("journey")
    if not key:
        return _render_editor("", "journey.yaml", None)
    latest = latest_version(get_session(), _journey(key))
    findings = lint_text(latest.source, latest.filename).findings
    return _render_editor(latest.source, latest.filename, findings)


@blueprint.post("/editor")
@requires(Role.MARKETER)
def editor_submit() -> Any:
    """Check the YAML (pasted or uploaded) and show its findings at their lines; or publish it.

    Errors block publishing (the page comes back with status 422 and nothing is stored);
    warnings do not.
    """
    text = request.form.get("source", "").replace("\r\n", "\n")
    filename = clean_filename(request.form.get("filename"), "journey.yaml")
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        try:
            text = decode_upload(upload.read())
        except BadUpload as exc:
            flash(_("Cannot read %(name)s: %(reason)s", name=upload.filename, reason=exc), "error")
            return _render_editor(text, filename, None, 400)
        filename = clean_filename(upload.filename, filename)
    if not text.strip():
        flash(_("Paste a journey or choose a YAML file first."), "error")
        return _render_editor(text, filename, None, 400)
    if request.form.get("action") != "publish":
        return _render_editor(text, filename, lint_text(text, filename).findings)
    session = get_session()
    try:
        published, created = publish_journey(session, text, filename)
    except JourneyHasErrors as exc:
        session.rollback()
        errors = counts(exc.findings)["errors"]
        flash(_("Not published: %(n)d error(s) to fix first.", n=errors), "error")
        return _render_editor(text, filename, exc.findings, 422)
    key, number = published.journey.key, published.number
    session.commit()
    if created:
        flash(_("Published %(key)s version %(n)d.", key=key, n=number))
    else:
        flash(_("No change: this is already version %(n)d of %(key)s.", key=key, n=number))
    return redirect(url_for("marketer.journey", key=key), 303)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        flash(_("%(name)s must be a whole number.", name=name), "error")
        return default
    if not low <= value <= high:
        flash(_("%(name)s must be between %(low)d and %(high)d.", name=name, low=low, high=high),
              "error")
        return min(max(value, low), high)
    return value


@blueprint.get("/journeys/<key>/simulate")
@requires(Role.MARKETER)
def simulate(key: str) -> str:
    """Simulate a version over N synthetic learners: the calendar table and reach per day."""
    found = _journey(key)
    ref = request.args.get("version", "").strip()
    chosen = _version(found, ref) if ref else latest_version(get_session(), found)
    learners = _int_arg("learners", 300, 1, MAX_SIM_LEARNERS)
    seed = _int_arg("seed", 1, 0, 2**31 - 1)
    starts_on = next_monday(date.today())
    if request.args.get("starts_on"):
        try:
            starts_on = date.fromisoformat(request.args["starts_on"])
        except ValueError:
            flash(_("The start date must look like 2026-12-07."), "error")
    report = run_simulation(spec_of(chosen), starts_on, learners, seed)
    days = reach_by_day(report)
    chart = stacked_bar_chart(
        [(day.label, (day.reached, day.held)) for day in days],
        [Series(_("reached"), "#2563eb"), Series(_("held back"), "#f59e0b")],
        title=_("Reach per camp day"),
        empty=_("no data"),
    )
    reasons = held_reasons(report.rows)
    reasons_chart: Markup = bar_chart(
        [Bar(reason, count) for reason, count in reasons],
        title=_("Held back, by reason"),
        color="#f59e0b",
        empty=_("Nothing was held back."),
    )
    return render_template(
        "console/marketer/simulate.html",
        journey=found,
        version=chosen,
        versions=list(reversed(found.versions)),
        report=report,
        learners=learners,
        seed=seed,
        starts_on=starts_on,
        max_learners=MAX_SIM_LEARNERS,
        chart=chart,
        reasons_chart=reasons_chart,
    )


marketer_pages.register(blueprint)
