"""A camp with an offer that has everything: several courses, a deposit, a group-buy, A/B texts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.events import ingest_event
from campaign.models import Advisor, Enrollment, Learner, LearnerEvent, Tag, TagSource, Task
from campaign.tasks import mark_sent
from tests.engine.helpers import Camp, at, make_camp

JOURNEY = """\
journey: engine-camp
title: 转化测试营
timezone: Asia/Shanghai
days: 7
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
  web-scraping: {title: "Python 爬虫实战", price: 2299, for_tags: ["goal:data-collection"]}
  data-analysis: {title: "Python 数据分析", price: 2499, for_tags: ["goal:data-analysis"]}
offer:
  opens: "D5 20:00"
  closes: "D8 23:59"
  deposit: 200
  group_buy: {size: 3, discount: 300}
  exploration: 0.2
events: [group_buy_joined]
steps:
  - key: welcome
    on: enrolled
    channel: wecom
    quiet_hours: exempt
    template: "{{ learner.name }} 你好"
  - key: showcase
    at: "D4 20:00"
    channel: wecom
    template: "今晚作品展示,{{ learner.name }} 记得来"
  - key: recommend
    at: "D5 21:00"
    channel: advisor_task
    selling: true
    variants:
      - key: warm
        template: >-
          你说想做 {{ offer.reason }},「{{ offer.course.title }}」¥{{ offer.price }},到
          {{ offer.closes }}。
      - key: direct
        template: "「{{ offer.course.title }}」¥{{ offer.price }},到 {{ offer.closes }}。"
  - key: last-call
    at: "D8 12:00"
    channel: wecom
    selling: true
    template: "「{{ offer.course.title }}」今晚 23:59 截止,¥{{ offer.price }}"
"""

OPEN = at(5, "20:30")  # inside the offer window
AFTER_CLOSE = at(9, "09:00")  # D8 23:59 has passed


def offer_camp(session: Session, tmp_path: Path) -> Camp:
    return make_camp(session, JOURNEY, tmp_path)


def tag(session: Session, learner: Learner, name: str, source: TagSource, when: datetime) -> None:
    session.add(Tag(learner_id=learner.id, name=name, source=source, created_at=when))
    session.flush()


def advisor(session: Session, name: str = "王老师") -> Advisor:
    person = Advisor(name=name)
    session.add(person)
    session.flush()
    return person


def enrollment_of(session: Session, learner: Learner) -> Enrollment:
    found = session.scalar(select(Enrollment).where(Enrollment.learner_id == learner.id))
    assert found is not None
    return found


def event(
    session: Session, learner: Learner, name: str, when: datetime, **payload: Any
) -> LearnerEvent | None:
    """Ingest an event with all its effects, as the API does, and commit."""
    recorded = ingest_event(
        session,
        learner_id=learner.id,
        name=name,
        occurred_at=when,
        now=when,
        payload=payload or None,
    )
    session.commit()
    return recorded


def mark_tasks_sent(session: Session, step_key: str, when: datetime) -> list[Task]:
    """The advisor sends every open task of a step (copy, sidebar or voice)."""
    tasks = list(session.scalars(select(Task).where(Task.step_key == step_key)))
    for task in tasks:
        mark_sent(session, task.id, now=when)
    session.commit()
    return tasks


def small_cohort(camp: Camp, **a1_fields: Any) -> dict[str, Learner]:
    """Six learners, two advisors, every stage and step outcome the funnel distinguishes.

    ====  =======  ==============================================================
    a1    advisor  joined, attended, homework, replied, deposit; the advisor sends
          A        the recommend task; pays after it (last touch: recommend)
    a2    A        joined, attended, homework
    a3    A        joined
    b1    B        never joined the group; pays on D4 before the offer opens
                   (last touch: welcome)
    b2    B        joined; tagged intent:A (consulted without a reply)
    b3    B        nothing
    ====  =======  ==============================================================

    goal:excel-automation is on a1, b1 and b2. ``a1_fields`` override a1's columns (name,
    external id, email…) before anything is sent to them.
    """
    session = camp.session
    teacher_a, teacher_b = advisor(session, "王老师"), advisor(session, "李老师")
    people = {name: camp.learner(name) for name in ("a1", "a2", "a3", "b1", "b2", "b3")}
    for column, value in a1_fields.items():
        setattr(people["a1"], column, value)
    session.flush()
    signup = at(-2, "10:00")
    camp.enroll(*(people[n] for n in ("a1", "a2", "a3")), now=signup, advisor=teacher_a)
    camp.enroll(*(people[n] for n in ("b1", "b2", "b3")), now=signup, advisor=teacher_b)
    for name in ("a1", "b1", "b2"):
        tag(session, people[name], "goal:excel-automation", TagSource.SURVEY, signup)
    tag(session, people["b2"], "intent:A", TagSource.ADVISOR, at(3, "12:00"))
    session.commit()
    camp.tick(signup)  # welcome to all six
    for name in ("a1", "a2", "a3", "b2"):
        event(session, people[name], "joined_group", at(-1, "09:00"))
    for name in ("a1", "a2"):
        event(session, people[name], "attended_live", at(1, "20:30"))
        event(session, people[name], "homework_submitted", at(1, "21:10"))
    event(session, people["b1"], "paid", at(4, "10:00"))
    camp.tick(at(4, "20:00"))  # showcase to all six
    camp.tick(at(5, "21:00"))  # recommend tasks for the five who have not paid
    tasks = session.scalars(select(Task).where(Task.step_key == "recommend")).all()
    a1 = enrollment_of(session, people["a1"])
    for task in tasks:
        if task.enrollment_id == a1.id:
            mark_sent(session, task.id, now=at(5, "21:05"))
    session.commit()
    event(session, people["a1"], "replied", at(5, "21:10"), text="多少钱?")
    event(session, people["a1"], "group_buy_joined", at(5, "21:20"))
    event(session, people["a1"], "deposit_paid", at(5, "21:30"))
    event(session, people["a1"], "paid", at(5, "22:00"))
    return people
