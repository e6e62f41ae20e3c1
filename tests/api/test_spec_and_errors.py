"""The OpenAPI spec, the docs page (no CDN), and JSON errors only under /api."""

from __future__ import annotations

import re

from flask import Flask

from campaign.apikeys import Scope
from tests.api.conftest import Api

OPERATIONS = ("get", "put", "post", "delete", "patch")


def test_the_spec_documents_every_operation_with_its_scope(app: Flask) -> None:
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in OPERATIONS
    ]
    assert len(operations) >= 17
    scopes = {scope.value for scope in Scope}
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation["security"] == [{"bearerAuth": []}], where
        assert operation["x-scope"] in scopes, where
        assert {"401", "403"} <= set(operation["responses"]), where
    paths = set(spec["paths"])
    assert {
        "/api/learners",
        "/api/learners/{external_id}",
        "/api/learners/{external_id}/tags",
        "/api/learners/{external_id}/consent",
        "/api/learners/{external_id}/export",
        "/api/cohorts/{cohort_id}/enrollments",
        "/api/cohorts/{cohort_id}/leaderboard",
        "/api/events",
        "/api/offers",
        "/api/conversions",
        "/api/reports/funnel",
    } <= paths
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "status", "message", "errors"}


def test_the_docs_page_loads_its_assets_from_the_package(app: Flask) -> None:
    client = app.test_client()
    with client.get("/api/docs/") as page:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
    assert "/api/openapi.json" in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/api/docs/") for source in sources)
    with client.get("/api/docs/swagger-ui-bundle.js") as script:
        assert script.status_code == 200
        assert len(script.get_data()) > 100_000


def test_errors_under_api_are_json_and_elsewhere_html(api: Api) -> None:
    missing = api.get("/api/no-such-thing")
    assert missing.status_code == 404
    assert set(missing.json) == {"code", "status", "message", "errors"}
    wrong_method = api.call("PATCH", "/api/learners")
    assert wrong_method.status_code == 405
    assert wrong_method.json["code"] == 405
    assert "GET" in wrong_method.headers["Allow"]
    with api.client.get("/no-such-page") as page:
        assert page.status_code == 404
        assert page.mimetype == "text/html"


def test_a_body_nested_too_deep_is_a_400(api: Api) -> None:
    body = '{"events": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.post("/api/events", data=body, content_type="application/json")
    assert response.status_code == 400
