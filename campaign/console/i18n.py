"""Chinese and English, and times in the viewer's timezone.

The locale is the user's choice, else the browser's best match (Chinese for a Chinese
browser); the timezone is the user's, else ``CONSOLE_TIMEZONE`` (default Asia/Shanghai).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from flask_babel import Babel, format_datetime, get_locale
from flask_login import current_user

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


def viewer_zone() -> ZoneInfo:
    """Return the viewer's timezone as a ZoneInfo."""
    return ZoneInfo(select_timezone())


def init_app(app: Flask) -> None:
    """Install Babel and the ``local_time`` template filter."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.add_template_filter(local_time, "local_time")
    app.add_template_global(get_locale, "get_locale")
