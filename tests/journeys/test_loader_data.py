"""The loader's plain data: what publishing hashes and stores."""

from __future__ import annotations

import json

from campaign.journeys.lint import lint_text
from campaign.journeys.loader import content_hash
from tests.journeys.conftest import journey, step

EVENT_STEP = "  - key: welcome\n    on: enrolled\n    channel: wecom\n    template: hi\n"


def test_keys_stay_as_written_and_clock_times_stay_text() -> None:
    text = journey(EVENT_STEP).replace(
        "days: 7", 'days: 7\nquiet_hours: {start: 21:30, end: "08:00"}'
    )
    data = lint_text(text, "camp.yaml").data
    assert data is not None
    assert data["steps"][0]["on"] == "enrolled"
    assert data["quiet_hours"] == {"start": "21:30", "end": "08:00"}
    assert json.loads(json.dumps(data)) == data


def test_hash_ignores_comments_and_layout_but_not_content() -> None:
    text = journey(EVENT_STEP, step())
    relaid = "# a comment\n" + text.replace("days: 7", "days:    7   # seven")
    first = lint_text(text, "a.yaml").data
    second = lint_text(relaid, "b.yaml").data
    assert content_hash(first) == content_hash(second)
    changed = lint_text(text.replace("days: 7", "days: 8"), "c.yaml").data
    assert content_hash(changed) != content_hash(first)
