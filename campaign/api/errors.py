"""Every API error is JSON ``{code, status, message, errors}``; ``errors`` names the wrong fields.

``errors`` maps a location (``json``, ``query``, ``path``) to fields and their messages, as
marshmallow reports them (``{"json": {"email": ["Not a valid email address."]}}``); items of a
list are keyed by their index. Errors a service raises (:class:`~campaign.errors.CampaignError`)
become 404 (something named does not exist) or 409 (the request conflicts with what is there).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

from flask import Blueprint, request
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, default_exceptions

from campaign.errors import CampaignError, NotFound

API_PREFIX = "/api"
MESSAGE_FIELDS_SHOWN = 3


class ErrorSchema(Schema):
    """The body of every error response."""

    code = fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    status = fields.String(required=True, metadata={"description": "The HTTP status name."})
    message = fields.String(
        required=True, metadata={"description": "What is wrong and how to put it right."}
    )
    errors = fields.Dict(
        required=True,
        metadata={
            "description": "Messages by location and field, such as "
            '{"json": {"email": ["Not a valid email address."]}}; empty when no field is at fault.'
        },
    )


def is_api_request() -> bool:
    """Tell whether the current request is for the REST API (other pages keep HTML errors)."""
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _flatten(errors: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            yield from _flatten(value, f"{path}.{key}" if path else str(key))
    elif isinstance(errors, list) and all(isinstance(one, str) for one in errors):
        yield path, " ".join(errors)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            yield from _flatten(value, f"{path}.{index}")
    else:
        yield path, str(errors)


def summarize(errors: Mapping[str, Any]) -> str:
    """Return a one-line message naming the first few wrong fields and what is wrong."""
    found = list(_flatten(errors))
    shown = "; ".join(f"{where}: {what}" for where, what in found[:MESSAGE_FIELDS_SHOWN])
    more = (
        f"; and {len(found) - MESSAGE_FIELDS_SHOWN} more"
        if len(found) > MESSAGE_FIELDS_SHOWN
        else ""
    )
    return f"the request is not valid: {shown}{more}"


def error_response(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Return the JSON body, status and headers for an HTTP error of the API."""
    code = error.code or 500
    data: Mapping[str, Any] = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages") or {}
    if not isinstance(errors, Mapping):
        errors = {"_schema": errors}
    message = data.get("message")
    if message is None and errors:
        message = summarize(errors)
    if message is None:
        message = error.description or error.name
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    if code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="campaign"')
    body = {"code": code, "status": error.name, "message": message, "errors": dict(errors)}
    return body, code, headers


def http_error(
    code: int, message: str | None = None, errors: Mapping[str, Any] | None = None
) -> HTTPException:
    """Return the HTTP error ``code`` carrying ``message`` and ``errors`` by field."""
    error = default_exceptions[code]()
    data: dict[str, Any] = {}
    if message is not None:
        data["message"] = message
    if errors is not None:
        data["errors"] = errors
    error.data = data  # type: ignore[attr-defined]
    return error


def fail(
    code: int, message: str | None = None, errors: Mapping[str, Any] | None = None
) -> NoReturn:
    """Stop the request with HTTP error ``code``, answered as JSON by :func:`error_response`."""
    raise http_error(code, message, errors)


def abort_field(location: str, field: str, message: str, *, status: int = 422) -> NoReturn:
    """Stop the request with an error on one field (``location`` is json, query or path)."""
    fail(status, f"{location}.{field}: {message}", {location: {field: [message]}})


def _service_error(error: CampaignError) -> tuple[dict[str, Any], int, dict[str, str]]:
    return error_response(http_error(404 if isinstance(error, NotFound) else 409, str(error)))


def _integrity_error(error: IntegrityError) -> tuple[dict[str, Any], int, dict[str, str]]:
    return error_response(
        http_error(
            409,
            "the request collided with a change made at the same time (such as the same "
            "learner created twice at once); send it again",
        )
    )


def register_service_errors(blueprint: Blueprint) -> None:
    """Answer service errors raised in ``blueprint``'s views as JSON 404/409."""
    blueprint.register_error_handler(CampaignError, _service_error)
    blueprint.register_error_handler(IntegrityError, _integrity_error)
