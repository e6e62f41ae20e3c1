"""The camp of the scale run: a 7-day journey, N learners, 15 deliveries planned for each.

Per learner the journey plans 15 rows (7 morning lessons, 5 homework reminders with a
condition, one advisor call on D1, one selling step on D6, one calm thank-you after the
graduation) plus 7 group posts for the cohort; two ``on:`` steps (homework praise, hand-over
after payment) plan nothing until their event arrives. Every step is exempt from quiet hours
and the cap (3 automated 1v1 a day) is above what a day sends, so what the governor decides
does not depend on the hour the run starts: a third of the learners handed in today's homework
(their reminder is skipped, "condition false") and advisors (one per 500 learners) take at most
300 tasks a day (the rest of the calls are skipped, "advisor's daily capacity reached").

The learners and advisors are inserted set-based (``INSERT … SELECT generate_series``); the
enrollments and their deliveries go through the engine's own
:func:`campaign.messages.planning.enroll`, in chunks of :data:`ENROLL_CHUNK` learners, as an
import would: that is the planning the run times.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import click
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from campaign.cohorts import open_cohort
from campaign.messages.planning import NewEnrollment, enroll
from campaign.models import Cohort
from campaign.publishing import publish_journey

JOURNEY_KEY = "scale-camp"
JOURNEY = """\
journey: scale-camp
title: 规模测试营
timezone: Asia/Shanghai
days: 7
caps: {automated_1v1_per_day: 3}
milestones:
  live-1: {at: "D1 20:00", kind: live, title: 第一次直播课}
  learning-path: {at: "D5 20:00", kind: live, title: 学习路径直播}
  awards: {at: "D7 20:00", kind: peak, title: 颁奖典礼}
  graduation: {at: "D7 20:40", kind: end, title: 结营仪式}
courses:
  office-automation:
    title: Python 自动化办公
    price: 1999
    for_tags: ["goal:excel"]
    url: https://example.com/courses/office-automation
  data-analysis:
    title: Python 数据分析
    price: 2499
    for_tags: ["goal:data"]
    url: https://example.com/courses/data-analysis
offer:
  opens: "D5 20:00"
  closes: "D8 23:59"
  courses: [office-automation, data-analysis]
steps:
  - key: task-card
    title: 今日任务卡(群)
    at: "D1..D7 08:30"
    channel: wecom
    audience: cohort
    quiet_hours: exempt
    template: "【第 {{ cohort.day }} 天任务卡】今天的小课已解锁:{{ links.homework }}"
  - key: morning
    title: 今日小课(1v1)
    at: "D1..D7 09:00"
    channel: wecom
    quiet_hours: exempt
    priority: 60
    template: "{{ learner.name }},第 {{ cohort.day }} 天的小课已解锁:{{ links.homework }}\
(班主任 {{ advisor.name }})"
  - key: homework-reminder
    title: 作业提醒(未交的同学)
    at: "D1..D5 19:00"
    channel: wecom
    quiet_hours: exempt
    priority: 50
    when: {not: {event: homework_submitted, within: today}}
    template: "{{ learner.name }},今天的作业还没交哦,睡前花 10 分钟就能完成:{{ links.homework }}"
  - key: call
    title: 开课首日电话回访
    at: "D1 10:00"
    channel: advisor_task
    quiet_hours: exempt
    deadline: 4h
    template: "给 {{ learner.name }} 打个电话,问问第一天的小课跟不跟得上"
  - key: recommend
    title: 推荐正式课
    at: "D6 12:00"
    channel: wecom
    selling: true
    quiet_hours: exempt
    priority: 70
    template: "{{ learner.name }},「{{ offer.course.title }}」体验营价 ¥{{ offer.price }},\
{{ offer.closes }} 截止:{{ offer.course.url }}"
  - key: graduation-thanks
    title: 结营感谢(不推销)
    at: {after: graduation, offset: 30m}
    channel: wecom
    quiet_hours: exempt
    template: "恭喜结营,{{ learner.name }}!这 7 天你一共拿了 {{ learner.points }} 分,\
谢谢你一路坚持。"
  - key: praise
    title: 交作业的表扬
    on: homework_submitted
    delay: 10m
    channel: wecom
    quiet_hours: exempt
    template: "{{ learner.name }},作业收到啦,继续保持!"
  - key: paid-handover
    title: 付款后转入正式班
    on: paid
    channel: advisor_task
    deadline: 2h
    template: "恭喜 {{ learner.name }} 报名「{{ offer.course.title }}」,24 小时内拉进正式班级群"
"""
ROWS_PER_LEARNER = 15
COHORT_ROWS = 7  # the group posts, one a day
CAMP_TZ = ZoneInfo("Asia/Shanghai")
LEARNERS_PER_ADVISOR = 500
ADVISOR_CAPACITY = 300  # tasks an advisor takes a day
HOMEWORK_EVERY = 3  # learner ids divisible by this handed in today's homework
STARTS_IN_DAYS = 3  # D1 is this many days away: nothing is due while planning
ENROLL_CHUNK = 2000  # learners per enroll() call (one transaction)
CHANNELS = {"log": {"path": "/dev/null", "logger": False}, "wecom": "log"}
LINKS = {"homework": "https://example.com/camp/today", "group": "", "live": ""}

Echo = Callable[[str], None]


@dataclass
class Camp:
    """What was set up."""

    cohort_id: int
    starts_on: date  # D1
    learners: int
    advisors: int
    first_learner_id: int
    homework_events: int = 0

    def day_window(self, day: int) -> tuple[datetime, datetime]:
        """Return the UTC bounds of camp day ``day`` (1 = D1) on the cohort's clock."""
        start = datetime.combine(self.starts_on + timedelta(days=day - 1), datetime.min.time())
        local = start.replace(tzinfo=CAMP_TZ)
        return local, local + timedelta(days=1)


def set_up(sessions: sessionmaker[Session], learners: int, *, now: datetime) -> Camp:
    """Publish the journey, open the cohort, insert the advisors and the learners."""
    advisors = max(1, math.ceil(learners / LEARNERS_PER_ADVISOR))
    starts_on = now.astimezone(CAMP_TZ).date() + timedelta(days=STARTS_IN_DAYS)
    with sessions() as session:
        publish_journey(session, JOURNEY, "scale-camp.yaml")
        cohort = open_cohort(session, JOURNEY_KEY, starts_on, title=f"规模测试营 {now:%Y-%m-%d}")
        session.execute(
            text(
                "INSERT INTO advisors (name, daily_task_capacity)"
                " SELECT '班主任' || g, :capacity FROM generate_series(1, :n) AS g"
            ),
            {"n": advisors, "capacity": ADVISOR_CAPACITY},
        )
        session.execute(
            text(
                "INSERT INTO learners (external_id, name, timezone, do_not_disturb,"
                " personalised_offers, created_at)"
                " SELECT 'scale-' || g, '学员' || g, 'Asia/Shanghai', false, true, :now"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": learners, "now": now},
        )
        first = int(session.scalar(text("SELECT min(id) FROM learners")) or 0)
        session.commit()
        return Camp(cohort.id, starts_on, learners, advisors, first)


def _learner_chunks(sessions: sessionmaker[Session], size: int) -> Iterator[list[int]]:
    last = 0
    while True:
        with sessions() as session:
            ids = list(
                session.scalars(
                    text("SELECT id FROM learners WHERE id > :last ORDER BY id LIMIT :n"),
                    {"last": last, "n": size},
                )
            )
        if not ids:
            return
        yield ids
        last = ids[-1]


def plan(
    sessions: sessionmaker[Session], camp: Camp, *, now: datetime, echo: Echo
) -> tuple[float, list[tuple[int, float, float]]]:
    """Enroll every learner through ``enroll()`` in chunks; return the seconds it took and,
    at every tenth, (learners done, seconds so far, 1-minute load average).

    Advisors get consecutive blocks of learners (a class each). Progress: click's bar on a
    terminal, else a line every tenth.
    """
    with sessions() as session:
        advisor_ids = list(session.scalars(text("SELECT id FROM advisors ORDER BY id")))
    done = 0
    tenths: list[tuple[int, float, float]] = []
    next_line = camp.learners / 10
    started = time.perf_counter()
    with click.progressbar(
        length=camp.learners, label="planning", file=sys.stderr, show_pos=True
    ) as bar:
        for chunk in _learner_chunks(sessions, ENROLL_CHUNK):
            entries = [
                NewEnrollment(
                    lid, advisor_ids[(lid - camp.first_learner_id) // LEARNERS_PER_ADVISOR]
                )
                for lid in chunk
            ]
            with sessions() as session:
                cohort = session.get(Cohort, camp.cohort_id)
                assert cohort is not None
                enroll(session, cohort, entries, now=now)
                session.commit()
            bar.update(len(chunk))
            done += len(chunk)
            if done >= next_line:
                seconds = time.perf_counter() - started
                tenths.append((done, round(seconds, 2), round(os.getloadavg()[0], 2)))
                if not sys.stderr.isatty():
                    echo(
                        f"  planned {done:,}/{camp.learners:,} learners in {seconds:.1f} s "
                        f"(load {tenths[-1][2]})"
                    )
                while next_line <= done:
                    next_line += camp.learners / 10
    return time.perf_counter() - started, tenths


def add_homework(sessions: sessionmaker[Session], camp: Camp, *, now: datetime) -> int:
    """Record today's homework for every third learner (set-based, so no ``on:`` step is
    planned for it: the run measures the reminders' condition, not event ingestion)."""
    with sessions() as session:
        added = session.execute(
            text(
                "INSERT INTO learner_events (learner_id, enrollment_id, name, occurred_at,"
                " source, recorded_at)"
                " SELECT learner_id, id, 'homework_submitted', :now, 'bench', :now"
                " FROM enrollments WHERE cohort_id = :cohort AND learner_id % :every = 0"
            ),
            {"now": now, "cohort": camp.cohort_id, "every": HOMEWORK_EVERY},
        ).rowcount
        session.commit()
    camp.homework_events = int(added or 0)
    return camp.homework_events


def analyze(engine: Engine) -> float:
    """ANALYZE the tables planning filled (what autovacuum does when it is on); seconds."""
    started = time.perf_counter()
    with engine.connect() as connection:
        for table in ("deliveries", "enrollments", "learners", "learner_events", "tasks"):
            connection.execute(text(f"ANALYZE {table}"))
        connection.commit()
    return time.perf_counter() - started


def make_day_due(
    sessions: sessionmaker[Session], camp: Camp, day: int, *, now: datetime
) -> tuple[int, float]:
    """Make every row of camp day ``day`` due at ``now`` with one UPDATE; (rows, seconds)."""
    start, end = camp.day_window(day)
    began = time.perf_counter()
    with sessions() as session:
        moved = session.execute(
            text(
                "UPDATE deliveries SET due_at = :now, planned_at = :now"
                " WHERE cohort_id = :cohort AND status = 'pending'"
                " AND due_at >= :start AND due_at < :end"
            ),
            {"now": now, "cohort": camp.cohort_id, "start": start, "end": end},
        ).rowcount
        session.commit()
    return int(moved or 0), time.perf_counter() - began
