"""Campaign: a course-conversion campaign engine for online trial camps.

``create_app`` is the one place configuration is read, so importing any module of the package
(the pure journey language above all) reads no file and no environment variable.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(
    test_config: dict[str, Any] | None = None, instance_path: str | None = None
) -> Flask:
    """Build the Flask application.

    Configuration is layered, each layer overriding the one before: the defaults below, then
    ``instance/config.py`` (if present), then ``CAMPAIGN_*`` environment variables (so
    ``CAMPAIGN_DATABASE_URL`` sets ``DATABASE_URL``), then ``test_config``.

    :param test_config: settings that win over everything else (tests pass their database here).
    :param instance_path: the folder holding ``config.py`` and the SQLite file; defaults to
        ``CAMPAIGN_INSTANCE_PATH``, else
        Flask's ``instance/`` beside the package.
    """
    # Imported here so that ``import campaign.journeys...`` (pure, used by workers, the linter and
    # the benchmarks) does not drag Flask in through this package's ``__init__``.
    from flask import Flask, jsonify

    from campaign import db

    if instance_path is None:
        instance_path = os.environ.get("CAMPAIGN_INSTANCE_PATH") or None
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        DATABASE_URL=f"sqlite:///{os.path.join(app.instance_path, 'campaign.db')}",
        DATABASE_ECHO=False,
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("CAMPAIGN")
    if test_config is not None:
        app.config.from_mapping(test_config)

    db.init_app(app)

    from campaign.unsubscribe import blueprint as unsubscribe

    app.register_blueprint(unsubscribe)

    from campaign import api, console

    console.init_app(app)
    api.init_app(app)

    @app.get("/healthz")
    def healthz() -> Any:
        """Tell a load balancer the process is up (no database round trip: liveness only)."""
        return jsonify(status="ok")

    from campaign import health, metrics

    health.init_app(app)  # GET /readyz: the database and Redis answer
    metrics.init_app(app)  # GET /metrics (METRICS_ENABLED, default on): Prometheus text

    return app
