"""Chinese and English, and times in the viewer's timezone.

The locale is the user's choice, else the browser's best match (Chinese for a Chinese
browser); the timezone is the user's, else ``CONSOLE_TIMEZONE`` (default Asia/Shanghai).

The engine records why a delivery was held back in English (``Delivery.reason``: the
governor's :class:`~campaign.messages.governor.Reason` values, "waiting: quiet hours",
"failed after 3 attempts: …"); :func:`reason_text` (the ``reason`` template filter) shows the
known ones in the viewer's language and leaves any other text (a channel's own error) as it is.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from flask_babel import Babel, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from campaign.journeys.planner import LATE_JOIN_REASON
from campaign.messages.context import WELCOME_DETAIL
from campaign.messages.dispatch import VERIFY_REASON
from campaign.messages.governor import Reason

LOCALES = ("zh", "en")
babel = Babel()


def select_locale() -> str:
    """Return the viewer's language."""
    chosen = getattr(current_user, "locale", None) if current_user else None
    if chosen in LOCALES:
        return str(chosen)
    return request.accept_languages.best_match(LOCALES) or "zh"


def select_timezone() -> str:
    """Return the viewer's timezone name."""
    chosen = getattr(current_user, "timezone", None) if current_user else None
    return str(chosen or current_app.config.get("CONSOLE_TIMEZONE", "Asia/Shanghai"))


def local_time(moment: datetime | None, fmt: str = "MM-dd HH:mm") -> str:
    """Render an instant in the viewer's timezone (``format_datetime`` applies it)."""
    if moment is None:
        return ""
    return str(format_datetime(moment, fmt))


REASONS = {
    Reason.NOT_ACTIVE: _l("enrollment not active"),
    Reason.GOAL_REACHED: _l("goal reached (paid)"),
    Reason.OFFER_CLOSED: _l("offer closed"),
    Reason.OPTED_OUT: _l("opted out"),
    Reason.DO_NOT_DISTURB: _l("do not disturb"),
    Reason.MINOR: _l("under 14: no marketing"),
    Reason.NO_CONTACT: _l("no address on this channel"),
    Reason.CONDITION_FALSE: _l("condition false"),
    Reason.EXPIRED: _l("expired"),
    Reason.QUIET_HOURS: _l("quiet hours"),
    Reason.SMS_HOURS: _l("outside SMS hours (08:00-21:00)"),
    Reason.CAPPED: _l("daily cap reached"),
    Reason.WECOM_QUOTA: _l("WeCom mass-send quota used"),
    Reason.ADVISOR_CAPACITY: _l("advisor's daily capacity reached"),
    Reason.COHORT_PAUSED: _l("cohort paused"),
    LATE_JOIN_REASON: _l("enrolled after it was due"),
    VERIFY_REASON: _l("the worker stopped during the send; check the channel before sending again"),
    WELCOME_DETAIL: _l("welcome message sent"),
    "task created for the advisor": _l("task created for the advisor"),
    "retrying after the worker stopped (same idempotency key)": _l(
        "retrying after the worker stopped (same idempotency key)"
    ),
    "already in the outbox (same idempotency key)": _l(
        "already in the outbox (same idempotency key)"
    ),
    "accepted by the SMS gateway": _l("accepted by the SMS gateway"),
    "logged": _l("logged"),
}
"""The engine's reasons (and send details) as written on a delivery, and what to show."""

PREFIXES = (
    ("waiting: ", _l("waiting: %(reason)s")),
    ("retrying: ", _l("retrying: %(reason)s")),
    ("could not prepare: ", _l("could not prepare: %(reason)s")),
    ("advisor skipped: ", _l("advisor skipped: %(reason)s")),
    ("written to ", _l("written to %(reason)s")),
    ("accepted by ", _l("accepted by %(reason)s")),
)
"""Reasons that start with a known phrase; the rest (itself translated if known) follows."""

FAILED_AFTER = re.compile(r"failed after (\d+) attempts: (.*)", re.DOTALL)
STATUSES = {
    "skipped": _l("skipped"),
    "expired": _l("expired"),
    "cancelled": _l("cancelled"),
    "failed": _l("failed"),
    "verify": _l("to verify"),
}
"""The delivery states the cohort calendar puts before a reason ("skipped: condition false")."""


def reason_text(reason: str | None) -> str:
    """Return an engine reason in the viewer's language; unknown text is returned as it is.

    Known reasons are translated whole; a known prefix ("waiting: ", "retrying: ",
    "failed after N attempts: ", a delivery state and a colon) is translated and what follows
    it is translated in turn, so "waiting: quiet hours" becomes "等待中：免打扰时段".
    """
    if not reason:
        return ""
    known = REASONS.get(reason)
    if known is not None:
        return str(known)
    failed = FAILED_AFTER.fullmatch(reason)
    if failed:
        return str(_l("failed after %(n)s attempts: %(reason)s")) % {
            "n": failed[1],
            "reason": reason_text(failed[2]),
        }
    for prefix, text in PREFIXES:
        if reason.startswith(prefix):
            return str(text) % {"reason": reason_text(reason[len(prefix) :])}
    status, colon, rest = reason.partition(": ")
    if colon and status in STATUSES:
        return str(_l("%(status)s: %(reason)s")) % {
            "status": STATUSES[status],
            "reason": reason_text(rest),
        }
    return reason


def viewer_zone() -> ZoneInfo:
    """Return the viewer's timezone as a ZoneInfo."""
    return ZoneInfo(select_timezone())


def init_app(app: Flask) -> None:
    """Install Babel and the ``local_time`` and ``reason`` template filters."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(reason_text, "reason")
    app.add_template_global(get_locale, "get_locale")
