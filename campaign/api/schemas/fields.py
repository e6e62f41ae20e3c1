"""Fields every API schema uses: text the databases can store, ids in range, aware instants.

Each refuses, with a message naming the field, what would otherwise reach the database and fail
there as a server error: a NUL character (PostgreSQL text cannot hold one), a lone surrogate,
an id past a 32-bit column, an instant outside the calendar once moved to UTC, a float that is
not a number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length, Range, Validator

MAX_ID = 2**31 - 1
MAX_PAYLOAD_BYTES = 16_384
MAX_PAYLOAD_DEPTH = 8


def check_storable_text(value: str) -> None:
    """Refuse text a database cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValidationError("must not contain the NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("is not valid Unicode text (a lone surrogate?)") from exc


class Text(fields.String):
    """A string without NUL characters or lone surrogates, surrounding blanks removed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        check_storable_text(text)
        return text


def text(
    max_length: int,
    *,
    min_length: int = 1,
    validate: Validator | None = None,
    **kwargs: Any,
) -> Text:
    """Return a :class:`Text` field of ``min_length`` to ``max_length`` characters.

    :param validate: a further check, run after the length.
    """
    checks: list[Validator] = [Length(min=min_length, max=max_length)]
    if validate is not None:
        checks.append(validate)
    return Text(validate=checks, **kwargs)


def ident(*, strict: bool = True, **kwargs: Any) -> fields.Integer:
    """Return a field for a row id: a whole number from 1 to 2**31 - 1.

    :param strict: refuse anything but a JSON integer (``"3"``, ``3.0``); query strings, which
        are text, pass False.
    """
    return fields.Integer(strict=strict, validate=Range(min=1, max=MAX_ID), **kwargs)


class Instant(fields.AwareDateTime):
    """An ISO 8601 instant with a UTC offset (``2026-12-07T20:00:00+08:00``), loaded as UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("is outside the years 1 to 9999 once moved to UTC") from exc


def _check_json(value: Any, depth: int) -> None:
    if depth > MAX_PAYLOAD_DEPTH:
        raise ValidationError(f"nests deeper than {MAX_PAYLOAD_DEPTH} levels")
    if isinstance(value, str):
        check_storable_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("holds a number that is not finite (NaN or Infinity)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_storable_text(str(key))
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


class Payload(fields.Dict):
    """A JSON object kept as is: finite numbers, storable text, bounded size and depth."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        _check_json(loaded, 1)
        if len(json.dumps(loaded, ensure_ascii=False).encode()) > MAX_PAYLOAD_BYTES:
            raise ValidationError(f"is larger than {MAX_PAYLOAD_BYTES} bytes as JSON")
        return loaded


class ItemByItem(fields.Nested):
    """A list item documented by its schema but validated later, one item at a time.

    A batch endpoint reports each bad item and still takes the good ones, so the whole body
    must not fail on one item: the view loads each item with the schema itself.
    """

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        return value


def load_item(schema: Schema, item: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Load one batch item; return ``(data, {})`` or ``(None, errors by field)``."""
    if not isinstance(item, Mapping):
        return None, {"_schema": ["must be a JSON object"]}
    try:
        return schema.load(item), {}
    except ValidationError as exc:
        messages = exc.messages
        return None, messages if isinstance(messages, dict) else {"_schema": messages}
