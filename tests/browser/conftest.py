"""Browser fixtures: the real console in Debian's Chromium, driven by Playwright.

Each test gets the real app on its own migrated SQLite database (in a tmp folder), seeded with
users of every role and a camp on D1 whose advisor tasks the engine made (``tests.engine``
helpers tick it in-process), served by werkzeug's WSGI server in a thread on 127.0.0.1. The
browser is started once per run; each page opens in a fresh context (no cookies), in Chinese.

Chromium comes from Debian (``make test`` installs it when ``/usr/bin/chromium`` is missing;
``CAMPAIGN_TEST_CHROMIUM`` points elsewhere). Without it these tests fail, they are never
skipped: a green run must mean the console was driven in a real browser.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from campaign import create_app, migrations
from campaign.cohorts import open_cohort
from campaign.db import database
from campaign.events import ingest_event
from campaign.journeys.spec import Channel
from campaign.messages.channels.base import ChannelAdapter
from campaign.messages.channels.log import LogChannel
from campaign.models import Advisor, Enrollment, Learner, Role, Tag, TagSource, Task, User
from campaign.publishing import publish_journey
from tests.engine.helpers import STARTS_ON, Camp, at

CHROMIUM = os.environ.get("CAMPAIGN_TEST_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000  # the machine may be busy: wait long, but never forever
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery"
NOW = at(1, "11:00")  # the console's frozen clock: camp day 1, 11:00 in Shanghai
COHORT_TITLE = "Python 体验营 · 12 月班"

JOURNEY = """\
journey: engine-camp
title: Python 7 天体验营
timezone: Asia/Shanghai
days: 7
reply_within: {default: 2h, D6: 30m}
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
  web-scraping: {title: "Python 爬虫实战", price: 2299, for_tags: ["goal:data-collection"]}
offer: {opens: "D5 20:00", closes: "D8 23:59"}
steps:
  - key: tip
    title: 每日小贴士
    at: "D1 09:00"
    channel: log
    template: "{{ learner.name }},今天的小贴士来了"
  - key: call
    title: 语音问候
    at: "D1 10:00"
    channel: advisor_task
    deadline: 2h
    voice: true
    variants:
      - key: warm
        weight: 1
        template: "给 {{ learner.name }} 打个语音,问问进度"
      - key: brief
        weight: 1
        template: "给 {{ learner.name }} 打个语音,简短一点"
  - key: join-nudge
    title: 进群提醒
    at: "D1 10:30"
    channel: log
    when: {not: {event: joined_group}}
    template: "{{ learner.name }},还差一步:进学习群领资料"
  - key: daily-tip
    title: 每日预告
    at: ["D2 09:00", "D3 09:00", "D4 09:00", "D5 09:00", "D6 09:00", "D7 09:00"]
    channel: log
    template: "{{ learner.name }},今天的直播 20:00 开始"
  - key: homework
    title: 作业提醒
    at: "D1 21:00"
    channel: advisor_task
    deadline: 1h
    template: "{{ learner.name }},今天的作业还差一点点"
"""

# Learners by external id: (name, advisor username, events before D1 11:00, points).
LEARNERS = {
    "ann": ("张安", "wang", ("joined_group", "attended_live", "homework_submitted"), 12),
    "bob": ("陈博", "wang", ("joined_group", "attended_live"), 8),
    "liu": ("刘洋", "wang", ("joined_group", "replied"), 5),
    "zhao": ("赵敏", "wang", ("joined_group",), 3),
    "cy": ("周晨", "li", ("joined_group", "attended_live", "homework_submitted"), 10),
    "wu": ("吴桐", "li", ("joined_group", "attended_live", "homework_submitted", "paid"), 15),
    "zheng": ("郑爽", "li", (), 0),
}


@dataclass
class World:
    """The seeded camp: its cohort, and each learner's enrollment and call task by external id."""

    cohort_id: int
    enrollments: dict[str, int] = field(default_factory=dict)
    call_tasks: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class Site:
    """The console served over HTTP, and its database for checking what the browser did."""

    url: str
    app: Flask
    world: World

    def session(self) -> Session:
        """Return a new session on the site's database (the caller closes it)."""
        return database(self.app).sessionmaker()


def seed(session: Session, tmp_path: Path) -> World:
    """Create the users and a camp on D1 with tasks, events, tags, points and one payment."""
    advisors = {"wang": Advisor(name="王老师"), "li": Advisor(name="李老师")}
    session.add_all(advisors.values())
    session.flush()
    for username, display, role, advisor in (
        ("admin", "管理员", Role.ADMIN, None),
        ("mia", "市场部 Mia", Role.MARKETER, None),
        ("wang", "王老师", Role.ADVISOR, advisors["wang"]),
        ("li", "李老师", Role.ADVISOR, advisors["li"]),
    ):
        user = User(
            username=username,
            display_name=display,
            role=role,
            advisor_id=advisor.id if advisor else None,
        )
        user.set_password(PASSWORD)
        session.add(user)
    session.commit()

    publish_journey(session, JOURNEY, "camp.yaml")
    cohort = open_cohort(session, "engine-camp", STARTS_ON, title=COHORT_TITLE)
    session.commit()
    log = LogChannel(None, logger="tests.browser.outbox")  # the timeline says "logged"
    adapters: dict[Channel, ChannelAdapter] = {Channel.LOG: log}
    camp = Camp(session, cohort, tmp_path / "outbox.jsonl", adapters=adapters)
    learners = {key: Learner(external_id=key, name=name) for key, (name, *_) in LEARNERS.items()}
    session.add_all(learners.values())
    session.flush()
    for key, (_name, owner, _events, _points) in LEARNERS.items():
        camp.enroll(learners[key], now=at(-2, "10:00"), advisor=advisors[owner])
    for key, name, source in (
        ("ann", "goal:excel-automation", TagSource.SURVEY),
        ("liu", "goal:data-collection", TagSource.SURVEY),
        ("liu", "contact:night", TagSource.ADVISOR),
    ):
        session.add(Tag(learner_id=learners[key].id, name=name, source=source))
    session.commit()
    camp.tick(at(1, "09:00"))
    camp.tick(at(1, "10:00"))

    enrollments = {e.learner.external_id: e for e in session.scalars(select(Enrollment))}
    for minutes, (key, (_name, _owner, events, _points)) in enumerate(LEARNERS.items()):
        enrollment = enrollments[key]
        for event in events:
            moment = at(1, f"10:{10 + minutes:02d}")
            payload: dict[str, object] = {
                "cohort_id": enrollment.cohort_id,
                "enrollment_id": enrollment.id,
            }
            if event == "replied":
                payload["text"] = "老师,第一天的作业第三题我不太会"
            if event == "paid":
                payload.update(course="office-automation", amount=1999)
            ingest_event(
                session,
                learner_id=enrollment.learner_id,
                name=event,
                occurred_at=moment,
                now=moment,
                payload=payload,
                source="seed",
            )
        session.commit()
    camp.tick(at(1, "10:30"))  # the join nudge: held back for those already in the group
    for key, (*_rest, points) in LEARNERS.items():
        enrollments[key].points = points
    session.commit()

    tasks = session.scalars(select(Task).where(Task.step_key == "call")).all()
    by_enrollment = {task.enrollment_id: task.id for task in tasks}
    return World(
        cohort_id=camp.cohort.id,
        enrollments={key: e.id for key, e in enrollments.items()},
        call_tasks={key: by_enrollment[e.id] for key, e in enrollments.items()},
        names={key: name for key, (name, *_rest) in LEARNERS.items()},
    )


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without a log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Serve the seeded console on 127.0.0.1 (a free port) for one test."""
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    migrations.upgrade(url)
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "CLOCK_START": NOW.isoformat()},
        instance_path=str(tmp_path / "instance"),
    )
    with database(app).sessionmaker() as session:
        world = seed(session, tmp_path)
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="console-server", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.port}", app, world)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
        database(app).engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Start Debian's Chromium once for the run (headless, no network of its own)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: `make test` installs Debian's chromium "
            "(apt-get install -y chromium), or set CAMPAIGN_TEST_CHROMIUM.",
            pytrace=False,
        )
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
        )
        try:
            yield chromium
        finally:
            chromium.close()


OpenPage = Callable[[], Page]


@pytest.fixture
def open_page(browser: Browser, site: Site) -> Iterator[OpenPage]:
    """Return a function opening a page in a fresh context: a Chinese browser in Shanghai.

    A script error on any page fails the test.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_page() -> Page:
        context = browser.new_context(
            base_url=site.url,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            viewport=VIEWPORT,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()
    assert not errors, f"script errors on the console's pages: {errors}"


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person would, and wait for the start page."""
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出")).to_be_visible()


def screenshot(page: Page, name: str) -> None:
    """Save the whole page as ``docs/screenshots/<name>.png`` (replacing the last run's)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=SCREENSHOTS / f"{name}.png", full_page=True, animations="disabled", caret="hide"
    )
