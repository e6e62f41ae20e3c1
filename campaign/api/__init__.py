"""The REST API at ``/api``: flask-smorest, an OpenAPI 3 spec at ``/api/openapi.json`` and a
Swagger UI at ``/api/docs`` served from the flask-swagger-ui package (no CDN).

One blueprint per resource; each operation needs a bearer API key with one scope
(:mod:`campaign.apikeys`). Lists are paginated (``page``, ``page_size``; metadata in the
``X-Pagination`` header). Errors are JSON ``{code, status, message, errors}``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_swagger_ui import get_swaggerui_blueprint  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException

from campaign.api import cohorts, consent, events, learners, offers, points, privacy, reports, tags
from campaign.api.auth import SECURITY_SCHEME
from campaign.api.errors import API_PREFIX, ErrorSchema, error_response, is_api_request

RESOURCES = (learners, tags, consent, privacy, cohorts, events, points, offers, reports)
DOCS_PATH = f"{API_PREFIX}/docs"


class CampaignApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, answering errors as JSON only under ``/api``."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        """Answer an HTTP error of the API as JSON; leave other pages' errors to Flask."""
        if not is_api_request():
            return error
        return error_response(error)


def init_app(app: Flask) -> CampaignApi:
    """Attach the API, its spec and its docs page to ``app``."""
    app.config.setdefault("API_TITLE", "Campaign API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": "Enroll learners, post learning events, tag learners, record "
                "consent, read offers, conversions, leaderboards and the funnel. Authenticate "
                "with 'Authorization: Bearer <key>' (campaign apikeys create). See docs/api.md."
            }
        },
    )
    api = CampaignApi(app)
    api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {"type": "http", "scheme": "bearer", "description": "An API key: '<prefix>.<secret>'."},
    )
    for resource in RESOURCES:
        api.register_blueprint(resource.blp)
    app.register_blueprint(
        get_swaggerui_blueprint(
            DOCS_PATH,
            f"{API_PREFIX}/openapi.json",
            config={"app_name": "Campaign API", "showExtensions": True},
            blueprint_name="api_docs",
        )
    )
    return api
