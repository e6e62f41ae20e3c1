"""One-click unsubscribe: the link in every marketing email, and RFC 8058's POST.

The link carries a signed learner id, so it works without signing in and cannot be forged to
unsubscribe someone else. An opt-out on any channel stops marketing on all of them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template_string, request
from itsdangerous import BadSignature, URLSafeSerializer

from campaign.clock import clock_from_config
from campaign.db import get_session
from campaign.messages.planning import record_event
from campaign.models import Learner

SALT = "campaign.unsubscribe"

blueprint = Blueprint("unsubscribe", __name__)

PAGE = """<!doctype html>
<html lang="zh"><meta charset="utf-8"><title>退订 / Unsubscribe</title>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
{% if done %}
<p>已退订:我们不会再向你发送营销消息。<br>You are unsubscribed: no more marketing messages.</p>
{% else %}
<p>{{ name }},确定不再接收课程推荐和营销消息吗?<br>Stop receiving course offers and marketing?</p>
<form method="post"><button type="submit">退订 / Unsubscribe</button></form>
{% endif %}
</body></html>"""


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def unsubscribe_url(base_url: str, secret: str, learner_id: int) -> str:
    """Return the signed one-click unsubscribe link of a learner."""
    return f"{base_url}/unsubscribe/{_serializer(secret).dumps(learner_id)}"


def _learner(token: str) -> Learner:
    try:
        learner_id = int(_serializer(str(current_app.config["SECRET_KEY"])).loads(token))
    except (BadSignature, TypeError, ValueError):
        abort(404)
    learner = get_session().get(Learner, learner_id)
    if learner is None:
        abort(404)
    return learner


@blueprint.get("/unsubscribe/<token>")
def confirm(token: str) -> Any:
    """Show what the link does; nothing changes on GET (mail scanners follow links)."""
    learner = _learner(token)
    return render_template_string(PAGE, name=learner.name, done=learner.opted_out_at is not None)


@blueprint.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Any:
    """Record the opt-out (from the page's button or a mail client's one-click POST)."""
    learner = _learner(token)
    session = get_session()
    now = clock_from_config(current_app.config).now()
    record_event(
        session,
        learner_id=learner.id,
        name="opted_out",
        occurred_at=now,
        now=now,
        source="unsubscribe-link" if request.form.get("List-Unsubscribe") is None else "one-click",
        payload={"user_agent": request.headers.get("User-Agent", "")[:200]},
    )
    session.commit()
    return render_template_string(PAGE, name=learner.name, done=True)
