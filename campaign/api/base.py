"""The blueprint every API resource uses: strict query strings, scopes, JSON service errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser, is_json_request

from campaign.api.auth import SECURITY_SCHEME, authorize
from campaign.api.errors import fail, register_service_errors
from campaign.apikeys import Scope

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V", bound=type)

PAGINATION_ARGUMENTS = frozenset({"page", "page_size"})


class StrictParser(FlaskParser):
    """Parse query strings with the schema's own ``unknown`` (RAISE), so a misspelt filter is an
    error rather than silently ignored; refuse a body that is not JSON (415) rather than read it
    as empty; answer JSON nested too deep for the parser with a 400."""

    def __init__(self) -> None:
        super().__init__()
        self.DEFAULT_UNKNOWN_BY_LOCATION = {
            **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
            "query": None,
            "querystring": None,
        }

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req) and req.get_data(cache=True):
            fail(415, message="send the body as JSON, with 'Content-Type: application/json'")
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            fail(400, errors={"json": ["The JSON body nests too deeply."]})


class QuerySchema(ma.Schema):
    """A query string schema: unknown parameters are errors, except the pagination ones."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _leave_pagination_out(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        return {name: data[name] for name in data if name not in PAGINATION_ARGUMENTS}


class ApiBlueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """A resource's blueprint: ``@blp.requires(scope)`` guards and documents each operation.

    flask-smorest has no type hints; the decorators are re-declared here with theirs, so that
    the views stay typed.
    """

    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        register_service_errors(self)

    def route(self, rule: str, **options: Any) -> Callable[[V], V]:
        """Register a ``MethodView`` at ``rule`` (see flask-smorest's ``Blueprint.route``)."""
        decorator: Callable[[V], V] = super().route(rule, **options)
        return decorator

    def arguments(self, schema: Any, **options: Any) -> Callable[[F], F]:
        """Parse and validate arguments with ``schema`` and pass them to the view."""
        decorator: Callable[[F], F] = super().arguments(schema, **options)
        return decorator

    def response(self, status_code: int, schema: Any = None, **options: Any) -> Callable[[F], F]:
        """Serialize what the view returns with ``schema``."""
        decorator: Callable[[F], F] = super().response(status_code, schema, **options)
        return decorator

    def alt_response(self, status_code: int, **options: Any) -> Callable[[F], F]:
        """Document another response of the view."""
        decorator: Callable[[F], F] = super().alt_response(status_code, **options)
        return decorator

    def paginate(self, pager: Any = None, **options: Any) -> Callable[[F], F]:
        """Page what the view returns (``page``, ``page_size``; ``X-Pagination``)."""
        decorator: Callable[[F], F] = super().paginate(pager, **options)
        return decorator

    def doc(self, **options: Any) -> Callable[[F], F]:
        """Add ``options`` to the operation's OpenAPI description."""
        decorator: Callable[[F], F] = super().doc(**options)
        return decorator

    def requires(self, scope: Scope) -> Callable[[F], F]:
        """Let the decorated operation run only for a live key holding ``scope``.

        Put it above every other decorator, so that a request without a key is refused before
        its arguments are parsed.
        """

        def decorator(view: F) -> F:
            @functools.wraps(view)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                authorize(scope)
                return view(*args, **kwargs)

            documented = self.doc(security=[{SECURITY_SCHEME: []}], **{"x-scope": scope.value})(
                guarded
            )
            documented = self.alt_response(401, response="UNAUTHORIZED")(documented)
            documented = self.alt_response(403, response="FORBIDDEN")(documented)
            return documented  # type: ignore[return-value]

        return decorator
