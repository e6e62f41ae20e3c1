"""The marketer's pages: journeys and their versions, cohorts."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from campaign.cohorts import list_cohorts
from campaign.console.auth import requires
from campaign.console.security import protect
from campaign.db import get_session
from campaign.models import Journey, Role

blueprint = Blueprint("marketer", __name__, url_prefix="/marketer")


@blueprint.before_request
def _csrf() -> None:
    if request.method == "POST":
        protect()


@blueprint.get("/journeys")
@requires(Role.MARKETER)
def journeys() -> str:
    """List journeys with their published versions."""
    rows = list(get_session().scalars(select(Journey).order_by(Journey.key)))
    return render_template("console/marketer/journeys.html", journeys=rows)


@blueprint.get("/cohorts")
@requires(Role.MARKETER)
def cohorts() -> str:
    """List cohorts, soonest start first."""
    return render_template("console/marketer/cohorts.html", cohorts=list_cohorts(get_session()))
