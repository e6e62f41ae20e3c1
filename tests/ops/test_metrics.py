"""``GET /metrics``: deliveries by state, dispatch lag, queue depth and live processes.

Read from a real database (SQLite, then PostgreSQL) and a private Redis at scrape time.
"""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaign.health import Heartbeat
from campaign.journeys.spec import Channel
from campaign.messages.dispatch import Batch
from campaign.messages.dispatcher import enqueuer
from campaign.models import Delivery, DeliveryStatus
from tests.e2e.camp import add_learners, enroll_all, open_camp
from tests.e2e.conftest import RedisServer
from tests.engine.helpers import STARTS_ON, at
from tests.ops.helpers import app_on, closed_port_url, samples

JOURNEY = """\
journey: ops-metrics
title: 指标测试营
timezone: Asia/Shanghai
days: 3
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  - key: morning
    at: "D1 10:00"
    channel: webhook
    template: "{{ learner.name }},早上好"
  - key: next-day
    at: "D2 10:00"
    channel: email
    template: "{{ learner.name }},第二天"
"""


def scrape(app: Flask) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    return text, samples(text)


def plan(session: Session, learners: int = 4) -> None:
    """Plan two rows a learner (D1 10:00 webhook, D2 10:00 email); one sent, one claimed."""
    cohort = open_camp(session, JOURNEY, STARTS_ON)
    enroll_all(session, cohort, add_learners(session, learners, "m"), now=at(-1, "10:00"))
    first, second = session.scalars(select(Delivery.id).order_by(Delivery.id).limit(2)).all()
    session.execute(update(Delivery).where(Delivery.id == first).values(status="sent"))
    session.execute(update(Delivery).where(Delivery.id == second).values(status="claimed"))
    session.commit()


def test_metrics_show_deliveries_by_state_lag_and_queue_depth(
    app: Flask, session: Session, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    plan(session)
    app.config.update(
        REDIS_URL=redis_server.url,
        METRICS_CACHE_SECONDS=0,
        METRICS_COUNT_SECONDS=0,
        CLOCK_START=at(1, "10:30").isoformat(),  # the D1 rows have waited 30 minutes
    )
    enqueue = enqueuer(redis_client)
    for n in range(3):
        enqueue(Batch(token=f"t{n}", channel=Channel.WEBHOOK, ids=(n + 1,)))
    beat = Heartbeat("worker", redis_client, details={"queues": ["campaign:email"]})
    beat.tick()
    beat.publish()
    text, found = scrape(app)

    assert found[("campaign_deliveries", (("status", "pending"),))] == 6
    assert found[("campaign_deliveries", (("status", "sent"),))] == 1
    assert found[("campaign_deliveries", (("status", "claimed"),))] == 1
    assert found[("campaign_deliveries", (("status", "failed"),))] == 0  # every state, always
    assert {labels for name, labels in found if name == "campaign_deliveries"} == {
        (("status", status.value),) for status in DeliveryStatus
    }
    lag = found[("campaign_dispatch_lag_seconds", ())]
    assert 1800 <= lag < 1800 + 120, lag
    assert found[("campaign_queue_jobs", (("queue", "campaign:webhook"),))] == 3
    assert found[("campaign_queue_jobs", (("queue", "campaign:email"),))] == 0
    assert found[("campaign_queue_failed_jobs", (("queue", "campaign:webhook"),))] == 0
    assert found[("campaign_queue_workers", (("queue", "campaign:email"),))] == 1
    assert found[("campaign_queue_workers", (("queue", "campaign:webhook"),))] == 0
    assert found[("campaign_processes", (("kind", "worker"), ("state", "ok")))] == 1
    assert found[("campaign_processes", (("kind", "dispatcher"), ("state", "ok")))] == 0
    assert found[("campaign_metrics_source_up", (("source", "database"),))] == 1
    assert found[("campaign_metrics_source_up", (("source", "redis"),))] == 1
    # Aggregates only: no learner's name or address leaves through the metrics.
    assert "m0000" not in text
    assert "example.com" not in text


def test_nothing_due_means_no_lag(app: Flask, session: Session) -> None:
    plan(session)
    app.config.update(METRICS_CACHE_SECONDS=0, CLOCK_START=at(1, "09:00").isoformat())
    _, found = scrape(app)
    assert found[("campaign_dispatch_lag_seconds", ())] == 0
    assert ("campaign_queue_jobs", (("queue", "campaign:log"),)) not in found  # no Redis set


def test_a_scrape_with_redis_down_still_reports_the_database(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    with app_on(tmp_path / "down", DATABASE_URL=database_url, REDIS_URL=closed_port_url()) as down:
        _, found = scrape(down)
    assert found[("campaign_metrics_source_up", (("source", "redis"),))] == 0
    assert found[("campaign_metrics_source_up", (("source", "database"),))] == 1
    assert found[("campaign_deliveries", (("status", "pending"),))] == 0


def test_scrapes_are_cached_and_the_count_by_state_refreshed_less_often(
    app: Flask, session: Session
) -> None:
    settings = {"DATABASE_URL": app.config["DATABASE_URL"]}
    with (
        app_on(Path(app.instance_path) / "a", **settings, METRICS_CACHE_SECONDS=60) as cached,
        app_on(
            Path(app.instance_path) / "b",
            **settings,
            METRICS_CACHE_SECONDS=0,
            METRICS_COUNT_SECONDS=60,
            CLOCK_START=at(1, "10:30").isoformat(),
        ) as counted_once,
    ):
        _, before = scrape(cached)
        _, first = scrape(counted_once)
        plan(session)
        _, again = scrape(cached)
        _, second = scrape(counted_once)
    assert again == before  # the whole scrape came from the cache
    pending = ("campaign_deliveries", (("status", "pending"),))
    assert first[pending] == second[pending] == 0  # the count waits for its next refresh
    assert second[("campaign_dispatch_lag_seconds", ())] >= 1800  # the lag is fresh
    _, fresh = scrape(app)
    assert fresh[pending] == 6


def test_metrics_can_be_turned_off(tmp_path: Path, database_url: str) -> None:
    with app_on(tmp_path / "off", DATABASE_URL=database_url, METRICS_ENABLED=False) as off:
        assert off.test_client().get("/metrics").status_code == 404
