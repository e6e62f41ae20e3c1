"""``/api/learners/{external_id}/tags``: tags on a learner, with their source and time."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Page
from marshmallow import ValidationError

from campaign.api.base import ApiBlueprint
from campaign.api.errors import fail
from campaign.api.lookups import find_learner, now
from campaign.api.paging import PAGINATION
from campaign.api.schemas.learners import TagSchema
from campaign.api.schemas.tags import TagInSchema, check_tag
from campaign.apikeys import Scope
from campaign.db import get_session
from campaign.learners.tags import add_tag, list_tags, remove_tag
from campaign.models import Tag

blp = ApiBlueprint(
    "tags",
    __name__,
    url_prefix="/api/learners",
    description="Tags on learners (`group:value`), each with who set it and since when.",
)


@blp.route("/<external_id>/tags")
class LearnerTags(MethodView):
    @blp.requires(Scope.LEARNERS_READ)
    @blp.response(200, TagSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate(Page, **PAGINATION)
    def get(self, external_id: str) -> list[Tag]:
        """List a learner's tags

        By name. Paginated.
        """
        session = get_session()
        return list_tags(session, find_learner(session, external_id).id)

    @blp.requires(Scope.LEARNERS_WRITE)
    @blp.arguments(TagInSchema)
    @blp.response(201, TagSchema, description="The learner got the tag.")
    @blp.alt_response(
        200,
        schema=TagSchema,
        description="The learner already held it, or holds "
        "a higher value of the same ranked group, which is returned.",
    )
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body: dict[str, Any], external_id: str) -> tuple[Tag, int]:
        """Tag a learner

        Idempotent: a tag the learner holds keeps its first source and time. In a group that
        holds one value (activity, tier, level, intent, stage) the new value replaces the old,
        except that an automatic source never moves intent or stage down.
        """
        session = get_session()
        learner = find_learner(session, external_id)
        held = {tag.name for tag in learner.tags}
        tag = add_tag(session, learner.id, body["name"], source=body["source"], now=now())
        session.commit()
        return tag, 201 if tag.name == body["name"] and tag.name not in held else 200


@blp.route("/<external_id>/tags/<path:name>")
class LearnerTagByName(MethodView):
    @blp.requires(Scope.LEARNERS_WRITE)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, external_id: str, name: str) -> None:
        """Take a tag off a learner

        404 when the learner does not hold it.
        """
        session = get_session()
        learner = find_learner(session, external_id)
        try:
            check_tag(name)
        except ValidationError:
            fail(404, f"learner '{external_id}' has no tag '{name[:100]}'")
        if not remove_tag(session, learner.id, name):
            fail(404, f"learner '{external_id}' has no tag '{name[:100]}'")
        session.commit()
