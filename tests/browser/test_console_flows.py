"""The console driven in real Chromium: an advisor works a task to "sent", tags a learner and
records a payment; a marketer opens a cohort's funnel; an advisor cannot open another advisor's
learner. A last test walks the main pages and saves their screenshots under docs/screenshots/.

The console's clock is frozen on camp day 1 at 11:00 (Shanghai); the browser asks for Chinese.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from campaign.events import EFFECTS
from campaign.models import (
    Conversion,
    Enrollment,
    EnrollmentState,
    LearnerEvent,
    Tag,
    TagSource,
    Task,
    TaskStatus,
)
from tests.browser.conftest import COHORT_TITLE, OpenPage, Site, screenshot, sign_in

BROKEN_CHANNEL = "channel: pigeon"  # not a channel: the editor's lint shows an error at its line


def offers_record_conversions() -> bool:
    """Whether the offers feature turns a ``paid`` event into a conversion row."""
    return any(getattr(effect, "__name__", "") == "offer_effects" for effect in EFFECTS)


def test_advisor_marks_a_task_sent(site: Site, open_page: OpenPage) -> None:
    world = site.world
    task_id = world.call_tasks["ann"]
    page = open_page()
    sign_in(page, "wang")

    expect(page).to_have_url(re.compile(r"/advisor/tasks$"))
    expect(page.get_by_role("heading", name="我的任务", level=1)).to_be_visible()
    queue = page.locator("table.tasks tbody tr")
    mine = {world.call_tasks[key] for key in ("ann", "bob", "liu", "zhao")}
    expect(page.locator(f'tr[data-task="{task_id}"]')).to_be_visible()
    shown = {int(row.get_attribute("data-task") or 0) for row in queue.all()}
    assert mine <= shown and world.call_tasks["cy"] not in shown  # li's learner is not here

    row = page.locator(f'tr[data-task="{task_id}"]')
    row.get_by_role("link", name=re.compile("给 张安 打个语音")).click()
    expect(page).to_have_url(re.compile(rf"/advisor/tasks/{task_id}$"))
    expect(page.get_by_role("heading", name="语音问候 · 张安")).to_be_visible()
    expect(page.locator(f"#script-{task_id}")).to_contain_text("给 张安 打个语音")
    page.locator(".actions").get_by_role("button", name="已发送", exact=True).click()

    expect(page).to_have_url(re.compile(r"/advisor/tasks$"))
    expect(page.locator("p.flash.ok")).to_have_text("已标记为已发送。")
    expect(page.locator(f'tr[data-task="{task_id}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-task="{world.call_tasks["bob"]}"]')).to_be_visible()
    with site.session() as session:
        task = session.get(Task, task_id)
        assert task is not None and task.status is TaskStatus.SENT and task.done_at is not None


def test_advisor_tags_a_learner_and_records_a_payment(site: Site, open_page: OpenPage) -> None:
    world = site.world
    enrollment_id = world.enrollments["bob"]
    page = open_page()
    sign_in(page, "wang")
    page.locator(f'tr[data-task="{world.call_tasks["bob"]}"]').get_by_role(
        "link", name="陈博", exact=True
    ).click()
    expect(page).to_have_url(re.compile(rf"/advisor/learners/{enrollment_id}$"))
    expect(page.get_by_role("heading", name="陈博", level=1)).to_be_visible()

    page.get_by_label("添加标签").fill("intent:A")
    page.get_by_role("button", name="添加", exact=True).click()
    expect(page.locator("p.flash.ok")).to_have_text("已添加标签 intent:A。")
    tag = page.locator('li.tag[data-tag="intent:A"]')
    expect(tag).to_be_visible()
    expect(tag).to_contain_text("班主任")  # its source: the advisor

    page.get_by_label("购买的课程").select_option("web-scraping")
    page.get_by_label("实付金额").fill("2099")
    page.get_by_role("button", name="记录付款").click()
    expect(page.locator("p.flash.ok")).to_have_text("已记录付款:Python 爬虫实战。")
    expect(page.locator('tr[data-event="paid"]')).to_be_visible()

    with site.session() as session:
        enrollment = session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        learner_id = enrollment.learner_id
        tags = session.scalars(select(Tag).where(Tag.learner_id == learner_id)).all()
        assert [(t.name, t.source) for t in tags] == [("intent:A", TagSource.ADVISOR)]
        paid = session.scalars(
            select(LearnerEvent).where(
                LearnerEvent.learner_id == learner_id, LearnerEvent.name == "paid"
            )
        ).all()
        assert len(paid) == 1 and paid[0].source == "console"
        payload = paid[0].payload or {}
        assert payload["course"] == "web-scraping" and payload["amount"] == 2099
        assert enrollment.state is EnrollmentState.CONVERTED
        if offers_record_conversions():
            conversion = session.scalar(
                select(Conversion).where(Conversion.enrollment_id == enrollment_id)
            )
            assert conversion is not None and conversion.course_key == "web-scraping"
            assert conversion.amount == 2099
            assert conversion.advisor_id == enrollment.advisor_id
    if offers_record_conversions():
        expect(page.locator("[data-conversion]")).to_contain_text("web-scraping ¥2099")


def test_marketer_opens_a_cohorts_funnel(site: Site, open_page: OpenPage) -> None:
    page = open_page()
    sign_in(page, "mia")
    page.get_by_role("banner").get_by_role("link", name="营期").click()
    page.get_by_role("link", name=COHORT_TITLE, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/marketer/cohorts/{site.world.cohort_id}$"))
    page.get_by_role("link", name="漏斗").click()

    expect(page).to_have_url(re.compile(rf"/marketer/cohorts/{site.world.cohort_id}/funnel$"))
    expect(page.get_by_role("heading", name=re.compile("漏斗"), level=1)).to_be_visible()
    chart = page.locator(".chart-card svg[role=img]").first
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    assert chart.locator("rect").count() > 0  # bars are drawn, not just a frame


def test_advisor_cannot_open_another_advisors_learner(site: Site, open_page: OpenPage) -> None:
    world = site.world
    page = open_page()
    sign_in(page, "wang")
    for path in (
        f"/advisor/learners/{world.enrollments['cy']}",
        f"/advisor/tasks/{world.call_tasks['cy']}",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
        assert world.names["cy"] not in page.content()
    response = page.goto(f"/advisor/learners/{world.enrollments['ann']}")  # wang's own: shown
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", name="张安", level=1)).to_be_visible()


def test_screenshots_of_the_main_pages(site: Site, open_page: OpenPage) -> None:
    world = site.world
    page = open_page()
    page.goto("/login")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    screenshot(page, "login")

    sign_in(page, "wang")
    expect(page.locator("table.tasks")).to_be_visible()
    screenshot(page, "advisor-tasks")
    page.goto(f"/advisor/tasks/{world.call_tasks['ann']}")
    expect(page.locator(".script")).to_be_visible()
    screenshot(page, "advisor-task")
    page.goto(f"/advisor/learners/{world.enrollments['liu']}")
    expect(page.locator("p.reply-owed")).to_be_visible()
    screenshot(page, "advisor-learner")
    page.goto(f"/advisor/cohorts/{world.cohort_id}/leaderboard")
    expect(page.locator("table.leaderboard")).to_be_visible()
    screenshot(page, "advisor-leaderboard")

    page = open_page()
    sign_in(page, "mia")
    page.goto("/marketer/journeys")
    expect(page.get_by_role("link", name=re.compile("engine-camp")).first).to_be_visible()
    screenshot(page, "marketer-journeys")
    page.goto("/marketer/editor?journey=engine-camp")
    source = page.locator("textarea[name=source]")
    text = source.input_value()
    assert "channel: log" in text
    source.fill(text.replace("channel: log", BROKEN_CHANNEL, 1))
    page.get_by_role("button", name="检查").click()
    expect(page.locator("table.source .finding.error")).to_be_visible()
    screenshot(page, "marketer-editor-lint")
    page.goto(f"/marketer/cohorts/{world.cohort_id}")
    expect(page.locator(".chart-card svg").first).to_be_visible()
    screenshot(page, "marketer-cohort-calendar")
    page.goto(f"/marketer/cohorts/{world.cohort_id}/funnel")
    expect(page.locator(".chart-card svg").first).to_be_visible()
    screenshot(page, "marketer-funnel")

    page = open_page()
    sign_in(page, "admin")
    page.goto("/admin/users")
    expect(page.get_by_role("cell", name="mia", exact=True)).to_be_visible()
    screenshot(page, "admin-users")
