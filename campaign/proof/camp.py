"""The camp a chaos run drains: two small journeys whose rows end in several terminal states.

Learners are enrolled "two hours ago" (a backlog: the engine was down), so every row is due at
once and the outcome of each row is known in advance, whatever order the engine takes them in:

``chaos-camp`` (about 4/5 of the rows), per learner:

- ``welcome`` (webhook): sent;
- ``tip`` (webhook, ``when`` the learner has a ``goal:`` tag, every other learner has one):
  sent, or skipped "condition false";
- ``call`` (advisor_task): sent, a task for the advisor;
- ``late`` (webhook, ``expires_after: 30m``, planned two hours ago): expired.

One learner in 50 is on do-not-disturb (all four skipped "do not disturb"), one in 50 has
dropped out (all four cancelled "enrollment not active"). The daily cap (3) is never reached
here, so the webhook rows' outcome does not depend on order: a row retried after a kill is
judged the same way as the first time.

``chaos-capped`` (the rest), per learner: ``promo-a`` and ``promo-b`` on WeCom (routed to the
log channel, which writes an outbox file) under a cap of one a day: one sent, one skipped
"daily cap reached".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, text, update
from sqlalchemy.orm import Session, sessionmaker

from campaign.cohorts import open_cohort
from campaign.messages.planning import NewEnrollment, enroll
from campaign.models import Advisor, Cohort, Enrollment, EnrollmentState, Learner
from campaign.models.tag import Tag, TagSource
from campaign.publishing import publish_journey

MAIN = """\
journey: chaos-camp
title: 混沌测试营
timezone: UTC
days: 3
caps: {automated_1v1_per_day: 3}
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  - key: welcome
    title: 欢迎
    at: "D-1 00:00"
    catch_up: true
    channel: webhook
    quiet_hours: exempt
    priority: 90
    template: "{{ learner.name }} 你好,欢迎加入 {{ cohort.title }}(班主任 {{ advisor.name }})"
  - key: tip
    title: 学习建议
    at: "D-1 00:00"
    catch_up: true
    channel: webhook
    quiet_hours: exempt
    priority: 50
    when: {tag: "goal:*"}
    template: "{{ learner.name }},你想用 Python 做「{{ learner.goal }}」,今天的小课正适合你"
  - key: call
    title: 电话回访
    at: "D-1 00:00"
    catch_up: true
    channel: advisor_task
    quiet_hours: exempt
    deadline: 2h
    template: "给 {{ learner.name }} 打个招呼,问问学习目标"
  - key: late
    title: 直播提醒
    at: "D-1 00:00"
    catch_up: true
    channel: webhook
    quiet_hours: exempt
    priority: 70
    expires_after: 30m
    template: "{{ learner.name }},直播马上开始"
"""

CAPPED = """\
journey: chaos-capped
title: 混沌测试营(限额)
timezone: UTC
days: 3
caps: {automated_1v1_per_day: 1}
milestones:
  awards: {at: "D3 20:00", kind: peak}
  graduation: {at: "D3 20:40", kind: end}
steps:
  - key: promo-a
    at: "D-1 00:00"
    catch_up: true
    channel: wecom
    quiet_hours: exempt
    priority: 60
    template: "{{ learner.name }},今晚 8 点公开课,记得来"
  - key: promo-b
    at: "D-1 00:00"
    catch_up: true
    channel: wecom
    quiet_hours: exempt
    priority: 40
    template: "{{ learner.name }},公开课回放已上线"
"""

MAIN_ROWS = 4  # rows per learner of chaos-camp
CAPPED_ROWS = 2
BACKLOG = timedelta(hours=2)  # learners enrolled this long ago: everything is due
ENROLL_CHUNK = 2000
DND_EVERY, DND_AT = 50, 7  # learner i is on do-not-disturb when i % 50 == 7
DROPPED_AT = 13  # ... has dropped out when i % 50 == 13


@dataclass
class Camp:
    """What was set up: the cohorts, the rows planned, and how they must end."""

    cohort_ids: list[int] = field(default_factory=list)
    main_learners: int = 0
    capped_learners: int = 0
    expected: Counter[str] = field(default_factory=Counter)  # outcome key -> rows

    @property
    def rows(self) -> int:
        return sum(self.expected.values())


def split(deliveries: int) -> tuple[int, int]:
    """Return (chaos-camp learners, chaos-capped learners) for about ``deliveries`` rows."""
    main = max(1, deliveries * 4 // 5 // MAIN_ROWS)
    capped = max(1, (deliveries - main * MAIN_ROWS) // CAPPED_ROWS)
    return main, capped


def outcome_key(status: str, reason: str | None) -> str:
    """How an ending is counted: ``sent`` (whatever the channel said), else status: reason."""
    return status if status == "sent" or not reason else f"{status}: {reason}"


def expected_outcomes(main: int, capped: int) -> Counter[str]:
    """Return how the rows of ``main`` + ``capped`` learners must end (see the module doc)."""
    dnd = sum(1 for i in range(main) if i % DND_EVERY == DND_AT)
    dropped = sum(1 for i in range(main) if i % DND_EVERY == DROPPED_AT)
    tagged = sum(1 for i in range(main) if i % 2 == 0 and i % DND_EVERY not in (DND_AT, DROPPED_AT))
    plain = main - dnd - dropped
    found: Counter[str] = Counter()
    found["sent"] = plain * 2 + tagged + capped  # welcome + call, tip, promo-a or -b
    found["skipped: condition false"] = plain - tagged
    found["expired: expired"] = plain
    found["skipped: do not disturb"] = dnd * MAIN_ROWS
    found["cancelled: enrollment not active"] = dropped * MAIN_ROWS
    found["skipped: daily cap reached"] = capped
    return +found


def set_up(sessions: sessionmaker[Session], deliveries: int, *, now: datetime) -> Camp:
    """Publish both journeys, open a cohort of each, add and enroll the learners."""
    main, capped = split(deliveries)
    enrolled_at = now - BACKLOG
    starts_on = enrolled_at.date() + timedelta(days=1)  # D-1 00:00 is before the enrollment
    camp = Camp(main_learners=main, capped_learners=capped)
    with sessions() as session:
        for source, name in ((MAIN, "chaos-camp.yaml"), (CAPPED, "chaos-capped.yaml")):
            publish_journey(session, source, name)
        advisors = [Advisor(name=name) for name in ("王芳", "李静", "陈晨")]
        session.add_all(advisors)
        cohorts = [
            open_cohort(session, key, starts_on, title=f"{key} {now:%Y-%m-%d %H:%M}")
            for key in ("chaos-camp", "chaos-capped")
        ]
        session.commit()
        advisor_ids = [a.id for a in advisors]
        camp.cohort_ids = [c.id for c in cohorts]
    main_ids = _learners(sessions, "m", main, tagged=True)
    capped_ids = _learners(sessions, "c", capped, tagged=False)
    for cohort_id, learner_ids in zip(camp.cohort_ids, (main_ids, capped_ids), strict=True):
        _enroll(sessions, cohort_id, learner_ids, advisor_ids, enrolled_at)
    dropped = [lid for i, lid in enumerate(main_ids) if i % DND_EVERY == DROPPED_AT]
    with sessions() as session:
        if dropped:
            session.execute(
                update(Enrollment)
                .where(Enrollment.learner_id.in_(dropped))
                .values(state=EnrollmentState.DROPPED)
            )
        if session.get_bind().dialect.name == "postgresql":  # what autovacuum would do
            for table in ("deliveries", "enrollments", "learners", "tags", "learner_events"):
                session.execute(text(f"ANALYZE {table}"))
        session.commit()
    camp.expected = expected_outcomes(main, capped)
    return camp


def _learners(
    sessions: sessionmaker[Session], prefix: str, count: int, *, tagged: bool
) -> list[int]:
    rows = [
        {
            "external_id": f"chaos-{prefix}{i}",
            "name": f"学员{prefix}{i}",
            "timezone": "UTC",
            "do_not_disturb": tagged and i % DND_EVERY == DND_AT,
        }
        for i in range(count)
    ]
    ids: list[int] = []
    with sessions() as session:
        for start in range(0, len(rows), 10_000):
            ids += session.scalars(
                insert(Learner).returning(Learner.id, sort_by_parameter_order=True),
                rows[start : start + 10_000],
            ).all()
        if tagged:
            tags = [
                {
                    "learner_id": lid,
                    "name": "goal:data",
                    "group": "goal",
                    "source": TagSource.IMPORT,
                }
                for i, lid in enumerate(ids)
                if i % 2 == 0
            ]
            for start in range(0, len(tags), 10_000):
                session.execute(insert(Tag), tags[start : start + 10_000])
        session.commit()
    return ids


def _enroll(
    sessions: sessionmaker[Session],
    cohort_id: int,
    learner_ids: Sequence[int],
    advisor_ids: Sequence[int],
    at: datetime,
) -> None:
    for start in range(0, len(learner_ids), ENROLL_CHUNK):
        chunk = learner_ids[start : start + ENROLL_CHUNK]
        with sessions() as session:
            cohort = session.get(Cohort, cohort_id)
            assert cohort is not None
            entries = [NewEnrollment(lid, advisor_ids[lid % len(advisor_ids)]) for lid in chunk]
            enroll(session, cohort, entries, now=at)
            session.commit()
