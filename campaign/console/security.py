"""CSRF on every console form and a rate limit on sign-in.

The REST API authenticates with bearer keys and the unsubscribe link with a signed token, so
CSRF is not checked app-wide; console blueprints call :func:`protect` before each request.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def init_app(app: Flask) -> None:
    """Install CSRF (checked by console blueprints) and the limiter."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("LOGIN_RATE_LIMIT", "10 per minute")
    csrf.init_app(app)
    limiter.init_app(app)


def protect() -> None:
    """Check the CSRF token of a state-changing request (a console blueprint's before_request)."""
    csrf.protect()
