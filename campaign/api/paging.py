"""Paginated lists: ``page`` and ``page_size`` in the query, the metadata in ``X-Pagination``.

A list operation returns a :class:`Listing` (a SELECT and its session) paged by
:class:`SelectPage`, or a plain list paged by flask-smorest's ``Page``. ``SelectPage`` counts
the rows and fetches one page of them with LIMIT/OFFSET. A page past the end is an
empty list, never a query with an absurd offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_smorest import Page
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
PAGINATION = {"page_size": DEFAULT_PAGE_SIZE, "max_page_size": MAX_PAGE_SIZE}


@dataclass(frozen=True)
class Listing:
    """The rows of ``query`` (which must have a total ORDER BY, so that pages do not overlap)."""

    session: Session
    query: Select[Any]


class SelectPage(Page):  # type: ignore[misc]
    """One page of a :class:`Listing`."""

    collection: Listing

    @property
    def item_count(self) -> int:
        counted = select(func.count()).select_from(self.collection.query.order_by(None).subquery())
        return int(self.collection.session.scalar(counted) or 0)

    @property
    def items(self) -> list[Any]:
        first = self.page_params.first_item
        if self.page_params.item_count is not None and first >= self.page_params.item_count:
            return []
        query = self.collection.query.offset(first).limit(self.page_params.page_size)
        return list(self.collection.session.scalars(query))
