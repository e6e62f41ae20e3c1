"""The web console: advisors work their day, marketers watch their camps, admins set things up.

``init_app`` wires sign-in (Flask-Login), CSRF on every console form, a login rate limit,
Chinese and English (Flask-Babel) and the viewer's timezone, then the console's blueprints.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from campaign.console import admin, advisor, auth, i18n, marketer, security


def init_app(app: Flask) -> None:
    """Attach the console to ``app``."""
    # Cookies only over HTTPS unless told otherwise (SECURE_COOKIES=false for plain-HTTP local use).
    secure = bool(app.config.get("SECURE_COOKIES", not app.testing))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=secure,
    )
    security.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    for module in (advisor, marketer, admin):
        app.register_blueprint(module.blueprint)

    @app.get("/")
    def home() -> Response:
        """Send each role to its start page."""
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(url_for(auth.start_page(current_user)))
