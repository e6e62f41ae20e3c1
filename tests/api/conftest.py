"""Fixtures for the REST API: a camp (journey, open cohort, advisor), keys, and a client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from campaign.apikeys import Scope, create_key
from campaign.cohorts import open_cohort
from campaign.models import Advisor
from campaign.publishing import publish_journey

JOURNEY = """\
journey: api-camp
title: 接口测试营
timezone: Asia/Shanghai
days: 7
events: [quiz_passed]
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
  web-scraping: {title: "Python 爬虫实战", price: 2299, for_tags: ["goal:data-collection"]}
offer: {opens: "D5 20:00", closes: "D8 23:59"}
tag_rules:
  - {on: survey_answered, question: goal, answer: A, tag: "goal:excel-automation"}
points:
  checked_in: 2
  homework_submitted: 10
  contest_scored: {by_rank: [50, 30, 20], default: 5}
coupons:
  coupon-10: {title: 10 元优惠券, points: 20, value: 10}
steps:
  - key: welcome
    on: enrolled
    channel: log
    template: "{{ learner.name }} 你好"
  - key: standing
    at: "D5 09:00"
    channel: log
    template: "{{ learner.name }}:{{ learner.points }} 分"
"""

ALL_SCOPES = tuple(scope.value for scope in Scope)


def now() -> datetime:
    """Return the current instant (the API runs on the real clock in these tests)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass
class Api:
    """A client, a session, a cohort with an advisor, and a key with every scope."""

    client: FlaskClient
    session: Session
    cohort_id: int
    advisor_id: int
    token: str

    def key(self, *scopes: str, name: str = "test") -> str:
        """Create a key with ``scopes`` and return its token."""
        created = create_key(self.session, name, scopes, now=now())
        self.session.commit()
        return created.token

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> TestResponse:
        """Send a request with a bearer key (every scope unless ``token`` says otherwise)."""
        response = self.client.open(path, method=method, headers=self.headers(token), **kwargs)
        response.close()
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("DELETE", path, **kwargs)

    def learner(self, external_id: str, name: str | None = None, **details: Any) -> None:
        """Create a learner through the API."""
        body = {"name": name or external_id, **details}
        response = self.put(f"/api/learners/{external_id}", json=body)
        assert response.status_code == 201, response.json

    def enroll(self, *external_ids: str, cohort_id: int | None = None) -> dict[str, Any]:
        """Create and enroll learners (named as their ids) with the camp's advisor."""
        items = [
            {"external_id": one, "advisor_id": self.advisor_id, "learner": {"name": one}}
            for one in external_ids
        ]
        response = self.post(
            f"/api/cohorts/{cohort_id or self.cohort_id}/enrollments", json={"enrollments": items}
        )
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json  # type: ignore[assignment]
        assert body["error"] == 0, body
        return body

    def events(self, *events: dict[str, Any]) -> dict[str, Any]:
        """Post events; return the batch result."""
        response = self.post("/api/events", json={"events": list(events)})
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json  # type: ignore[assignment]
        return body


def event(event_id: str, learner: str, type_: str, **extra: Any) -> dict[str, Any]:
    """Return an event item that happened a minute ago."""
    return {
        "event_id": event_id,
        "learner": learner,
        "type": type_,
        "occurred_at": iso(now() - timedelta(minutes=1)),
        **extra,
    }


def open_camp(session: Session, starts_on: date | None = None) -> tuple[int, int]:
    """Publish the API journey, open a cohort and add an advisor; return their ids."""
    publish_journey(session, JOURNEY, "api-camp.yaml")
    cohort = open_cohort(session, "api-camp", starts_on or date.today())
    advisor = Advisor(name="王老师")
    session.add(advisor)
    session.commit()
    return cohort.id, advisor.id


@pytest.fixture
def api(app: Flask, session: Session) -> Iterator[Api]:
    """Yield the API of an app on a migrated database with one open cohort."""
    cohort_id, advisor_id = open_camp(session)
    token = create_key(session, "integration", ALL_SCOPES, now=now()).token
    session.commit()
    yield Api(app.test_client(), session, cohort_id, advisor_id, token)
