"""``/api/offers`` and ``/api/conversions``: what was recommended, and what it led to."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Page

from campaign.api.base import ApiBlueprint
from campaign.api.paging import PAGINATION
from campaign.api.schemas.offers import (
    ConversionQuerySchema,
    ConversionSchema,
    OfferQuerySchema,
    OfferSchema,
)
from campaign.apikeys import Scope
from campaign.db import get_session
from campaign.offers.listing import ConversionView, OfferView, list_conversions, list_offers

blp = ApiBlueprint(
    "offers",
    __name__,
    url_prefix="/api",
    description="Offers (the follow-on course recommended to each enrollment) and conversions.",
)


@blp.route("/offers")
class Offers(MethodView):
    @blp.requires(Scope.OFFERS_READ)
    @blp.arguments(OfferQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, OfferSchema(many=True))
    @blp.paginate(Page, **PAGINATION)
    def get(self, **filters: Any) -> list[OfferView]:
        """List offers

        Oldest first, with the reason, the price now (discounted in a formed group-buy, back
        to the course price once closed) and real group-buy counters. Paginated.
        """
        return list_offers(get_session(), **filters)


@blp.route("/conversions")
class Conversions(MethodView):
    @blp.requires(Scope.OFFERS_READ)
    @blp.arguments(ConversionQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, ConversionSchema(many=True))
    @blp.paginate(Page, **PAGINATION)
    def get(self, **filters: Any) -> list[ConversionView]:
        """List conversions

        In the order they were paid, each attributed to its cohort, advisor, offer, and the
        last step and variant that reached the learner. Paginated.
        """
        return list_conversions(get_session(), **filters)
