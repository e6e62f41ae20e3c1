"""Bearer API keys on every operation: 401 without a live key, 403 without the scope needed."""

from __future__ import annotations

from flask import current_app, g, request

from campaign.api.errors import fail
from campaign.apikeys import KeyRejected, Scope, authenticate
from campaign.clock import clock_from_config
from campaign.db import get_session
from campaign.models import ApiKey

SECURITY_SCHEME = "bearerAuth"


def authorize(scope: Scope) -> ApiKey:
    """Return the request's key if it is live and holds ``scope``; abort with 401 or 403."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        fail(401, "send an API key: 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        fail(401, "use the Bearer scheme: 'Authorization: Bearer <key>'")
    session = get_session()
    try:
        key = authenticate(session, token, now=clock_from_config(current_app.config).now())
    except KeyRejected as exc:
        fail(401, str(exc))
    if scope.value not in key.scope_set:
        fail(
            403,
            message=f"the API key '{key.prefix}' does not have the scope '{scope}' this "
            f"operation needs (it has: {key.scopes}); ask for a key with it",
        )
    if session.dirty:
        session.commit()  # last_used_at, before the view's own work begins
    g.api_key = key
    return key
