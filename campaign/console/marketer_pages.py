"""The marketer's cohort pages: open, pause and resume cohorts; a cohort's calendar; funnels.

:func:`register` adds these views to the marketer blueprint (``marketer.cohorts`` …), which
checks CSRF on every POST.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response

from campaign.cohorts import list_cohorts, open_cohort, pause_cohort, resume_cohort
from campaign.console.advisor_common import step_label
from campaign.console.auth import requires
from campaign.console.charts import Bar, Series, bar_chart, stacked_bar_chart
from campaign.console.i18n import reason_text
from campaign.console.marketer_cohorts import OUTCOMES, cohort_calendar, enrollment_count
from campaign.console.marketer_funnel import funnel_charts, table_rates
from campaign.console.marketer_journeys import next_monday
from campaign.db import get_session
from campaign.errors import CampaignError
from campaign.messages.channels.registry import (
    ChannelConfigError,
    build_channels,
    journey_channels,
    missing_channels,
)
from campaign.messages.planning import spec_of
from campaign.models import Cohort, Journey, Role
from campaign.offers.funnel import DIMENSIONS, funnel

OUTCOME_NAMES = {
    "sent": _l("sent"),
    "with_advisor": _l("with the advisor"),
    "scheduled": _l("scheduled"),
    "waiting": _l("waiting"),
    "held": _l("held back"),
    "failed": _l("failed"),
}
OUTCOME_COLORS = {
    "sent": "#16a34a",
    "with_advisor": "#0891b2",
    "scheduled": "#94a3b8",
    "waiting": "#f59e0b",
    "held": "#dc2626",
    "failed": "#7f1d1d",
}
DIMENSION_NAMES = {
    "stage": _l("Stage"),
    "advisor": _l("Advisor"),
    "tag": _l("Tag"),
    "step": _l("Step"),
    "variant": _l("Variant"),
}
MEASURE_NAMES = {
    "enrolled": _l("enrolled"),
    "joined": _l("joined the group"),
    "attended": _l("attended live"),
    "homework": _l("handed in homework"),
    "consulted": _l("consulted"),
    "deposit": _l("paid a deposit"),
    "paid": _l("paid"),
    "refunded": _l("refunded"),
    "reached": _l("reached"),
    "attributed": _l("last touch of a sale"),
}


def cohorts() -> str:
    """List cohorts (soonest start first) with their state and learners; open a new one."""
    session = get_session()
    rows = list_cohorts(session)
    return render_template(
        "console/marketer/cohorts.html",
        cohorts=rows,
        learners=enrollment_count(session, [c.id for c in rows]),
        journeys=list(session.scalars(select(Journey).order_by(Journey.key))),
        chosen=request.args.get("journey", ""),
        default_start=next_monday(date.today()),
    )


def _optional_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise CampaignError(_("%(name)s must be a whole number.", name=name)) from None


def open_cohort_view() -> Response:
    """Open a cohort of a journey's latest version from the form."""
    session = get_session()
    form = request.form
    try:
        try:
            starts_on = date.fromisoformat(form.get("starts_on", "").strip())
        except ValueError:
            raise CampaignError(_("The start date must look like 2026-12-07.")) from None
        cohort = open_cohort(
            session,
            form.get("journey", "").strip(),
            starts_on,
            timezone=form.get("timezone", "").strip() or None,
            title=form.get("title", "").strip() or None,
            capacity=_optional_int("capacity"),
        )
    except CampaignError as exc:
        session.rollback()
        flash(_("The cohort was not opened: %(reason)s", reason=exc), "error")
        return redirect(url_for("marketer.cohorts", journey=form.get("journey", "")), 303)
    cohort_id, title = cohort.id, cohort.title
    missing = _missing_channels(cohort)
    session.commit()
    flash(_("Opened cohort %(title)s.", title=title))
    if missing:
        flash(
            _("These channels are not configured yet: %(names)s. Ask an admin before D1.",
              names=", ".join(missing)),
            "error",
        )
    return redirect(url_for("marketer.cohort", cohort_id=cohort_id), 303)


def _missing_channels(cohort: Cohort) -> list[str]:
    """Return the channels the cohort's journey needs that the configuration lacks."""
    try:
        registry = build_channels(current_app.config)
    except ChannelConfigError:
        return []  # the admin's channel page shows that error
    needed = journey_channels(spec_of(cohort.version))
    return [str(channel) for channel in missing_channels(needed, registry)]


def _back(cohort_id: int) -> Response:
    if request.form.get("back") == "cohort":
        return redirect(url_for("marketer.cohort", cohort_id=cohort_id), 303)
    return redirect(url_for("marketer.cohorts"), 303)


def pause(cohort_id: int) -> Response:
    """Pause a cohort: its deliveries wait (nothing is lost) until it resumes."""
    session = get_session()
    try:
        cohort = pause_cohort(session, cohort_id)
    except CampaignError as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back(cohort_id)
    title = cohort.title
    session.commit()
    flash(_("Paused %(title)s: its messages wait until you resume it.", title=title))
    return _back(cohort_id)


def resume(cohort_id: int) -> Response:
    """Resume a paused cohort: waiting deliveries go out at their next check."""
    session = get_session()
    try:
        cohort = resume_cohort(session, cohort_id)
    except CampaignError as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back(cohort_id)
    title = cohort.title
    session.commit()
    flash(_("Resumed %(title)s.", title=title))
    return _back(cohort_id)


def _cohort(cohort_id: int) -> Cohort:
    cohort = get_session().get(Cohort, cohort_id)
    if cohort is None:
        abort(404)
    return cohort


def cohort(cohort_id: int) -> str:
    """A cohort's calendar: per local day and step, what went out, what was held back and why."""
    found = _cohort(cohort_id)
    session = get_session()
    calendar = cohort_calendar(session, found)
    series = [Series(str(OUTCOME_NAMES[o]), OUTCOME_COLORS[o]) for o in OUTCOMES]
    by_day = stacked_bar_chart(
        [
            (f"{day.label} {day.day:%m-%d}", [day.counts[o] for o in OUTCOMES])
            for day in calendar.days
        ],
        series,
        title=_("Deliveries per day"),
        empty=_("No deliveries planned yet: enroll learners first."),
    )
    reasons = bar_chart(
        [
            Bar(f"{OUTCOME_NAMES[outcome]} · {reason_text(why)}", n)
            for outcome, why, n in calendar.reasons
        ],
        title=_("Held back or waiting, and why"),
        color="#f59e0b",
        empty=_("Nothing held back."),
    )
    spec = spec_of(found.version)
    return render_template(
        "console/marketer/cohort.html",
        cohort=found,
        calendar=calendar,
        step_title=lambda key: step_label(spec, key),
        learners=enrollment_count(session, [found.id]).get(found.id, 0),
        outcomes=OUTCOMES,
        outcome_names=OUTCOME_NAMES,
        by_day=by_day,
        reasons=reasons,
    )


def _funnel_page(cohort: Cohort | None) -> str:
    by = request.args.get("by", "stage")
    if by not in DIMENSIONS:
        abort(404)
    result = funnel(get_session(), cohort_id=cohort.id if cohort else None, by=by)
    names = {key: str(value) for key, value in MEASURE_NAMES.items()}
    titles = {
        "conversion": _("Conversion (paid of enrolled) by %(by)s", by=DIMENSION_NAMES[by]),
        "paid_after": _("Paid after being reached, by %(by)s", by=DIMENSION_NAMES[by]),
        "attributed": _("Sales whose last touch was this %(by)s", by=DIMENSION_NAMES[by]),
    }
    columns = result.columns
    return render_template(
        "console/marketer/funnel.html",
        cohort=cohort,
        by=by,
        dimensions=DIMENSIONS,
        dimension_names=DIMENSION_NAMES,
        charts=funnel_charts(result, names, titles),
        columns=columns,
        column_names=names,
        rows=[(row, table_rates(row, columns)) for row in result.rows],
    )


def cohort_funnel(cohort_id: int) -> str:
    """A cohort's funnel by stage, advisor, tag, step or variant (``?by=``)."""
    return _funnel_page(_cohort(cohort_id))


def all_funnel() -> str:
    """The funnel over every cohort."""
    return _funnel_page(None)


def register(blueprint: Blueprint) -> None:
    """Add the cohort pages to the marketer blueprint."""
    marketer = requires(Role.MARKETER)
    routes: list[tuple[str, str, Any, list[str]]] = [
        ("/cohorts", "cohorts", cohorts, ["GET"]),
        ("/cohorts", "open_cohort", open_cohort_view, ["POST"]),
        ("/cohorts/<int:cohort_id>", "cohort", cohort, ["GET"]),
        ("/cohorts/<int:cohort_id>/pause", "pause", pause, ["POST"]),
        ("/cohorts/<int:cohort_id>/resume", "resume", resume, ["POST"]),
        ("/cohorts/<int:cohort_id>/funnel", "cohort_funnel", cohort_funnel, ["GET"]),
        ("/funnel", "funnel", all_funnel, ["GET"]),
    ]
    for rule, endpoint, view, methods in routes:
        blueprint.add_url_rule(rule, endpoint, marketer(view), methods=methods)
