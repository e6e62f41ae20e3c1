"""The engine's reasons and the journey's step titles, as the console shows them.

The engine writes why a delivery was held back in English ("condition false", "waiting: quiet
hours", "failed after 3 attempts: …"); a Chinese browser sees them in Chinese, known prefixes
included, and any text the console does not know (a channel's own error) as it was written.
The cohort calendar names steps by their title in the journey, not their key.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.console.i18n import REASONS, reason_text
from campaign.journeys.planner import LATE_JOIN_REASON
from campaign.messages.governor import Reason
from campaign.models import Delivery, DeliveryStatus
from tests.console.conftest import People, sign_in
from tests.console.test_advisor import World, build_world, freeze
from tests.engine.helpers import at

CHINESE = "zh-CN,zh;q=0.9"


def chinese(client: FlaskClient) -> FlaskClient:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = CHINESE
    return client


def text_of(page: str) -> str:
    """Return the page's text without tags, entities resolved (the title is in a span)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("condition false", "条件不满足"),
        ("daily cap reached", "已达每日上限"),
        ("waiting: quiet hours", "等待中：免打扰时段"),
        ("task created for the advisor", "已为班主任创建任务"),
        (LATE_JOIN_REASON, "报名时已过发送时间"),
        ("retrying: HTTP 503 Service Unavailable", "重试中：HTTP 503 Service Unavailable"),
        ("failed after 3 attempts: SMTP 451 try later", "尝试 3 次后失败：SMTP 451 try later"),
        ("skipped: condition false", "已跳过：条件不满足"),
        ("failed: failed after 2 attempts: boom", "失败：尝试 2 次后失败：boom"),
        ("advisor skipped: 学员请假", "班主任跳过：学员请假"),
        ("WeCom send_welcome_msg errcode 41051: code expired", None),  # unknown: as written
        ("", ""),
    ],
)
def test_reasons_in_chinese(app: Flask, reason: str, shown: str | None) -> None:
    with app.test_request_context(headers={"Accept-Language": CHINESE}):
        assert reason_text(reason) == (reason if shown is None else shown)


def test_every_governor_reason_has_a_chinese_text_and_english_is_unchanged(app: Flask) -> None:
    assert set(Reason) <= set(REASONS)
    samples = [*Reason, "waiting: quiet hours", "failed after 3 attempts: x", "expired: expired"]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for reason in samples:
            assert reason_text(reason) == reason
    with app.test_request_context(headers={"Accept-Language": CHINESE}):
        for reason in Reason:
            assert reason_text(reason) != str(reason), reason


@pytest.fixture
def world(session: Session, tmp_path: Path, people: People) -> World:
    return build_world(session, tmp_path, people)


def test_a_chinese_advisor_sees_the_timeline_reasons_in_chinese(
    app: Flask, client: FlaskClient, world: World, session: Session
) -> None:
    ann = world.enrollments["ann"]
    homework = session.scalar(
        select(Delivery).where(Delivery.enrollment_id == ann.id, Delivery.step_key == "homework")
    )
    assert homework is not None
    homework.reason = "waiting: quiet hours"
    session.commit()
    freeze(app, at(1, "11:00"))
    sign_in(chinese(client), "wang")
    page = text_of(client.get(f"/advisor/learners/{ann.id}").get_data(as_text=True))
    assert "等待中：免打扰时段" in page
    assert "已为班主任创建任务" in page  # the call step went out as a task
    assert "waiting: quiet hours" not in page and "task created for the advisor" not in page


def test_the_cohort_calendar_shows_step_titles_and_chinese_reasons(
    app: Flask, client: FlaskClient, world: World, session: Session
) -> None:
    tip = session.scalar(select(Delivery).where(Delivery.step_key == "tip").limit(1))
    assert tip is not None
    tip.status, tip.reason = DeliveryStatus.SKIPPED, "condition false"
    session.commit()
    freeze(app, at(1, "11:00"))
    sign_in(chinese(client), "mia")
    response = client.get(f"/marketer/cohorts/{world.camp.cohort.id}")
    assert response.status_code == 200
    page = text_of(response.get_data(as_text=True))
    for title in ("每日小贴士", "语音问候", "作业提醒"):  # the steps' titles in the journey
        assert title in page, title
    assert "已跳过：条件不满足: 1" in page
    assert "condition false" not in page
