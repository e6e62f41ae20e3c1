"""The advisor's learners: a list, one learner's page, and what an advisor records about a
learner (tags, a message the learner sent, a payment)."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from campaign.console.advisor_common import (
    _,
    back,
    blueprint,
    form_token,
    load_enrollment,
    mine,
    now,
)
from campaign.console.advisor_context import learner_context, safe_spec
from campaign.console.auth import requires
from campaign.db import get_session
from campaign.events import ingest_event
from campaign.learners.replies import OPEN_STATUSES, open_reply_task
from campaign.learners.tags import InvalidTag, add_tag, remove_tag
from campaign.models import Cohort, Enrollment, Learner, Role, Tag, TagSource, Task
from campaign.tasks import mark_sent

LIST_LIMIT = 200
PROTECTED_GROUPS = frozenset({"compliance"})  # set by the learner or an admin, not undone here
FORM_TOKEN = re.compile(r"^[0-9a-f]{32}$")
MAX_MESSAGE = 4000
MAX_AMOUNT = 1_000_000


def learner_page(enrollment_id: int) -> str:
    """Return the URL of a learner's page."""
    return url_for("advisor.learner", enrollment_id=enrollment_id)


def _external_id() -> str | None:
    """Return the event id a console form carries (a re-posted form records nothing new)."""
    token = request.form.get("form", "")
    return f"console:{token}" if FORM_TOKEN.match(token) else None


def _payload(enrollment: Enrollment, **values: Any) -> dict[str, Any]:
    return {
        **values,
        "cohort_id": enrollment.cohort_id,
        "enrollment_id": enrollment.id,
        "logged_by": current_user.username,
    }


@blueprint.get("/learners")
@requires(Role.ADVISOR)
def learners() -> str:
    """List the advisor's learners (search by name or id), with points and open tasks."""
    search = request.args.get("q", "").strip()
    open_tasks = (
        select(Task.enrollment_id, func.count(Task.id).label("open"))
        .where(Task.status.in_(OPEN_STATUSES), mine(Task.advisor_id))
        .group_by(Task.enrollment_id)
        .subquery()
    )
    query = (
        select(
            Enrollment,
            Learner.name,
            Learner.external_id,
            Cohort.title,
            func.coalesce(open_tasks.c.open, 0),
        )
        .join(Learner, Learner.id == Enrollment.learner_id)
        .join(Cohort, Cohort.id == Enrollment.cohort_id)
        .outerjoin(open_tasks, open_tasks.c.enrollment_id == Enrollment.id)
        .where(mine(Enrollment.advisor_id))
        .order_by(Cohort.starts_on.desc(), Learner.name, Enrollment.id)
        .limit(LIST_LIMIT)
    )
    if search:
        pattern = f"%{search.replace('%', '').replace('_', '')}%"
        query = query.where(or_(Learner.name.like(pattern), Learner.external_id.like(pattern)))
    rows = get_session().execute(query).all()
    return render_template(
        "console/advisor/learners.html", rows=rows, search=search, limit=LIST_LIMIT
    )


@blueprint.get("/learners/<int:enrollment_id>")
@requires(Role.ADVISOR)
def learner(enrollment_id: int) -> str:
    """Show one learner's context: tags, points and rank, events, every delivery."""
    enrollment = load_enrollment(enrollment_id)
    session = get_session()
    return render_template(
        "console/advisor/learner.html",
        ctx=learner_context(session, enrollment, now()),
        reply_task=open_reply_task(session, enrollment.id),
        token=form_token,
    )


@blueprint.post("/learners/<int:enrollment_id>/tags")
@requires(Role.ADVISOR)
def add_learner_tag(enrollment_id: int) -> Response:
    """Give the learner a tag (source: advisor)."""
    enrollment = load_enrollment(enrollment_id)
    session = get_session()
    name = request.form.get("name", "").strip()
    try:
        # An advisor's tag is a human judgment: it replaces another value of an exclusive group.
        add_tag(session, enrollment.learner_id, name, source=TagSource.ADVISOR, now=now())
    except InvalidTag:
        session.rollback()
        flash(_("A tag is group:value, such as goal:excel-automation."), "error")
        return back(learner_page(enrollment.id))
    session.commit()
    flash(_("Tagged %(tag)s.", tag=name), "ok")
    return back(learner_page(enrollment.id))


@blueprint.post("/learners/<int:enrollment_id>/tags/remove")
@requires(Role.ADVISOR)
def remove_learner_tag(enrollment_id: int) -> Response:
    """Take a tag off the learner (compliance tags set by others stay)."""
    enrollment = load_enrollment(enrollment_id)
    session = get_session()
    name = request.form.get("name", "").strip()
    held = session.scalar(
        select(Tag).where(Tag.learner_id == enrollment.learner_id, Tag.name == name)
    )
    if held is not None and held.group in PROTECTED_GROUPS and held.source != TagSource.ADVISOR:
        flash(_("%(tag)s protects the learner and cannot be removed here.", tag=name), "error")
        return back(learner_page(enrollment.id))
    if remove_tag(session, enrollment.learner_id, name):
        session.commit()
        flash(_("Removed %(tag)s.", tag=name), "ok")
    return back(learner_page(enrollment.id))


@blueprint.post("/learners/<int:enrollment_id>/reply")
@requires(Role.ADVISOR)
def log_reply(enrollment_id: int) -> Response:
    """Log a message the learner sent: a ``replied`` event, which opens a reply task.

    With "already answered" ticked, the reply task is closed at once.
    """
    enrollment = load_enrollment(enrollment_id)
    session = get_session()
    text = request.form.get("text", "").strip()[:MAX_MESSAGE]
    if not text:
        flash(_("Write what the learner said."), "error")
        return back(learner_page(enrollment.id))
    current = now()
    event = ingest_event(
        session,
        learner_id=enrollment.learner_id,
        name="replied",
        occurred_at=current,
        now=current,
        external_id=_external_id(),
        payload=_payload(enrollment, text=text),
        source="console",
    )
    if event is None:
        flash(_("This message was already logged."), "ok")
        return back(learner_page(enrollment.id))
    task = open_reply_task(session, enrollment.id)
    if task is not None and request.form.get("answered") == "1":
        mark_sent(session, task.id, now=current)
        task = None
    session.commit()
    if task is not None:
        flash(_("Message logged: a reply is owed."), "ok")
    else:
        flash(_("Message logged."), "ok")
    return back(learner_page(enrollment.id))


def parse_amount(text: str) -> float | None:
    """Return the amount typed in yuan, None when left empty.

    :raises ValueError: when it is not a price.
    """
    text = text.strip().replace(",", "").lstrip("¥")
    if not text:
        return None
    value = float(text)
    if not 0 <= value <= MAX_AMOUNT:
        raise ValueError(text)
    return value


@blueprint.post("/learners/<int:enrollment_id>/conversion")
@requires(Role.ADVISOR)
def record_conversion(enrollment_id: int) -> Response:
    """Record a payment: a ``paid`` event with course and amount (offers attribute it)."""
    enrollment = load_enrollment(enrollment_id)
    session = get_session()
    spec = safe_spec(enrollment)
    course = request.form.get("course", "")
    if spec is None or course not in spec.courses:
        flash(_("Choose one of the journey's courses."), "error")
        return back(learner_page(enrollment.id))
    try:
        amount = parse_amount(request.form.get("amount", ""))
    except ValueError:
        flash(_("The amount is a price in yuan, such as 1999."), "error")
        return back(learner_page(enrollment.id))
    values: dict[str, Any] = {"course": course}
    if amount is not None:
        values["amount"] = amount
    current = now()
    event = ingest_event(
        session,
        learner_id=enrollment.learner_id,
        name="paid",
        occurred_at=current,
        now=current,
        external_id=_external_id(),
        payload=_payload(enrollment, **values),
        source="console",
    )
    session.commit()
    if event is None:
        flash(_("This payment was already recorded."), "ok")
    else:
        flash(_("Payment recorded: %(course)s.", course=spec.courses[course].title), "ok")
    return back(learner_page(enrollment.id))
