"""``/api/events``: learning events from the school's platforms, in batches."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from campaign.api.base import ApiBlueprint
from campaign.api.intake import ItemStatus, ingest_batch
from campaign.api.lookups import now
from campaign.api.schemas.events import EventBatchResultSchema, EventBatchSchema
from campaign.apikeys import Scope
from campaign.db import get_session

blp = ApiBlueprint(
    "events",
    __name__,
    url_prefix="/api/events",
    description="Learning events: check-ins, homework, attendance, contest scores, payments…",
)


@blp.route("")
class Events(MethodView):
    @blp.requires(Scope.EVENTS_WRITE)
    @blp.arguments(EventBatchSchema)
    @blp.response(200, EventBatchResultSchema)
    def post(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Post a batch of events

        Up to 1,000 events. Each is taken in once by its `event_id`: sending it again reports
        `duplicate` and changes nothing. Each item is checked on its own: the response lists,
        in the order sent, `accepted`, `duplicate`, or `error` with messages by field, and good
        items are stored even when others fail.
        """
        results = ingest_batch(get_session(), batch["events"], now=now())
        counts = {status.value: 0 for status in ItemStatus}
        for result in results:
            counts[result.status.value] += 1
        return {**counts, "results": results}
