"""Tags through the API: add (idempotent, source kept), list, remove."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_tag_is_added_once_with_its_source(api: Api) -> None:
    api.learner("t-1")
    first = api.post("/api/learners/t-1/tags", json={"name": "goal:excel", "source": "survey"})
    assert first.status_code == 201
    assert (first.json["name"], first.json["group"], first.json["source"]) == (
        "goal:excel",
        "goal",
        "survey",
    )
    again = api.post("/api/learners/t-1/tags", json={"name": "goal:excel", "source": "advisor"})
    assert again.status_code == 200
    assert again.json["source"] == "survey"  # the first source is kept
    listed = api.get("/api/learners/t-1/tags")
    assert [tag["name"] for tag in listed.json] == ["goal:excel"]
    assert "X-Pagination" in listed.headers


def test_an_automatic_source_does_not_move_intent_down(api: Api) -> None:
    api.learner("t-2")
    api.post("/api/learners/t-2/tags", json={"name": "intent:A"})
    lower = api.post("/api/learners/t-2/tags", json={"name": "intent:C", "source": "import"})
    assert lower.status_code == 200
    assert lower.json["name"] == "intent:A"
    by_advisor = api.post("/api/learners/t-2/tags", json={"name": "intent:C", "source": "advisor"})
    assert by_advisor.status_code == 201


def test_bad_tags_are_refused_with_the_field(api: Api) -> None:
    api.learner("t-3")
    for body, field in (
        ({"name": "no-group"}, "name"),
        ({"name": f"{'g' * 51}:x"}, "name"),
        ({"name": "goal:x", "source": "rule"}, "source"),
        ({"name": "goal:x", "source": "nope"}, "source"),
        ({"name": "goal:x", "weight": 3}, "weight"),
    ):
        response = api.post("/api/learners/t-3/tags", json=body)
        assert response.status_code == 422, body
        assert field in response.json["errors"]["json"], body


def test_a_tag_is_removed_and_removing_it_again_is_404(api: Api) -> None:
    api.learner("t-4")
    api.post("/api/learners/t-4/tags", json={"name": "goal:data-collection"})
    removed = api.delete("/api/learners/t-4/tags/goal:data-collection")
    assert removed.status_code == 204
    assert api.get("/api/learners/t-4").json["tags"] == []
    again = api.delete("/api/learners/t-4/tags/goal:data-collection")
    assert again.status_code == 404
    assert "has no tag" in again.json["message"]
    assert api.delete("/api/learners/nobody/tags/goal:x").status_code == 404
