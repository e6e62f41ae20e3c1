"""Seed a synthetic school into a migrated PostgreSQL schema, set-based.

Everything per learner is derived in SQL from the learner's number with a hash
(:data:`PERMILLE`), so the rows agree with each other (a converted enrollment has its ``paid``
event, its conversion, its cancelled selling steps; an enrollment's points are the sum of its
ledger) and a run is reproducible. The shape, per enrollment, with ``C`` weekly cohorts and
enrollment ``i`` in cohort ``(i - 1) * C // N`` with advisor ``(i - 1) % A + 1``:

- cohorts: the last but one runs now (camp day D4 in the journey's timezone), the last starts
  in four days (D-3: sign-up follow-ups), the others are over, a week apart;
- every calendar occurrence of the journey's learner steps as a delivery (27 for the sample
  camp): past ones ``sent``, or ``skipped`` when the step's condition is false (65% of
  conditional occurrences), later ones ``pending``; ``cancelled`` after a learner dropped out or
  paid (selling steps);
- an advisor task per sent ``advisor_task`` delivery, due 2 hours after it; older than a day:
  82% sent, 12% skipped, 6% still open; of the last day: 55% sent, 5% skipped, 40% open (2% of
  those postponed to tomorrow 09:00);
- a message (``replied`` event) from 35% of learners who started the camp, each with its reply
  task (due 2 hours later: answered, some late, some still owed);
- events: enrolled, joined the group (85%), 0..n check-ins and homework on the camp days so
  far, a live class (60%), the payment; points: 10 a check-in, 20 a homework, as ledger rows;
- tags: goal (70%), level (45%), intent (20%, from D3), activity (30%);
- an offer for 70% of finished enrollments and every payer; a conversion per payer.

Rows go in in the order the engine would write them (an enrollment's deliveries together,
events, tasks and tags in time order). The loaded tables' secondary indexes and unique
constraints are dropped for the load and recreated from their exact catalogue definitions after
it, so the schema measured is the migrated one; foreign keys stay, with their per-row checks off
for the loading session (``session_replication_role = replica``, as ``pg_restore
--disable-triggers`` loads), or, without superuser rights, are dropped and added back (checked).
Then ``VACUUM (ANALYZE)`` of the schema's tables: what autovacuum does after a bulk insert.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import Connection, text
from werkzeug.security import generate_password_hash

PASSWORD = "bench-console-password"
LEARNERS_PER_ADVISOR = 500
DELIVERY_CHUNK = 25_000  # enrollments per INSERT of deliveries (each sorted in memory)
TASK_SLA = timedelta(hours=2)
TABLES = (
    "advisors",
    "users",
    "learners",
    "enrollments",
    "deliveries",
    "tasks",
    "learner_events",
    "points_entries",
    "tags",
    "offers",
    "conversions",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋",
    "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平",
    "刚", "桂英", "晨", "欣怡", "子涵", "浩然", "雨桐", "思远", "一鸣", "佳琪",
)  # fmt: skip
GOALS = ("excel-automation", "data-collection", "data-analysis", "web", "ai-apps", "career-change")
LEVELS = ("beginner", "some", "programmer")
MESSAGES = ("老师,第三题不会", "在吗", "今天的直播有回放吗?", "作业提交不了", "请问正式课怎么报名")

# A uniform number 0..999 from an integer and a salt (PostgreSQL's own integer hash).
PERMILLE = """
CREATE FUNCTION pg_temp.pm(n bigint, salt integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8($1 * 1000 + $2) & 2147483647) % 1000 $$
"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Seeded:
    """What was loaded, and how long it took."""

    enrollments: int
    cohorts: int
    advisors: int
    now: datetime
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


class Steps:
    """Time named steps of the load and say each on stderr."""

    def __init__(self, seeded: Seeded, label: str) -> None:
        self.seeded, self.label = seeded, label

    def run(
        self, name: str, connection: Connection, sql: str, *, quiet: bool = False, **params: Any
    ) -> int:
        start = time.perf_counter()
        result = connection.execute(text(sql), params)
        took = time.perf_counter() - start
        self.seeded.seconds[name] = self.seeded.seconds.get(name, 0.0) + took
        count = max(result.rowcount, 0)
        if not quiet:
            progress(f"  {self.label}: {name}: {count:,} rows in {took:.1f} s")
        return count

    def timed(self, name: str, start: float) -> None:
        took = time.perf_counter() - start
        self.seeded.seconds[name] = self.seeded.seconds.get(name, 0.0) + took
        progress(f"  {self.label}: {name} in {took:.1f} s")


def cohort_starts(count: int, today: date) -> list[date]:
    """Return each cohort's D1: weekly, the last but one on D4 today, the last on D-3."""
    current = max(count - 2, 0)
    return [today - timedelta(days=3) + timedelta(weeks=k - current) for k in range(count)]


def setup(session: Any, journey: tuple[str, str], starts: list[date]) -> tuple[int, list[int]]:
    """Publish the journey and open the cohorts (through the engine); return the ids."""
    from campaign.cohorts import open_cohort
    from campaign.publishing import publish_journey

    version, _ = publish_journey(session, *journey)
    cohorts = [
        open_cohort(session, version.journey.key, starts_on, title=f"{starts_on:%m月%d日}营")
        for starts_on in starts
    ]
    session.commit()
    return version.id, [c.id for c in cohorts]


def constraints(connection: Connection, *, foreign_keys: bool) -> tuple[list[str], list[str]]:
    """Return the statements that drop and recreate the loaded tables' secondary structures.

    Unique constraints and plain indexes (not primary keys), and foreign keys if
    ``foreign_keys``, from the catalogue: ``pg_get_constraintdef`` / ``pg_indexes.indexdef``
    give the exact migrated definitions.
    """
    tables = list(TABLES)
    found = connection.execute(
        text(
            """
            SELECT c.conrelid::regclass::text, c.conname, c.contype,
                   pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
              AND c.contype IN ('f', 'u') AND c.conrelid::regclass::text = ANY(:tables)
            ORDER BY c.contype, c.conname
            """
        ),
        {"tables": tables},
    ).all()
    indexes = connection.execute(
        text(
            """
            SELECT i.tablename, i.indexname, i.indexdef
            FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(:tables)
              AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c
                WHERE c.conrelid = CAST(i.tablename AS regclass)
                  AND c.conname = i.indexname)
            ORDER BY i.indexname
            """
        ),
        {"tables": tables},
    ).all()
    foreign = [row for row in found if row[2] == "f"] if foreign_keys else []
    unique = [row for row in found if row[2] == "u"]
    drop = [f'ALTER TABLE {t} DROP CONSTRAINT "{n}"' for t, n, _, _ in foreign + unique]
    drop += [f'DROP INDEX "{name}"' for _, name, _ in indexes]
    create = [definition for _, _, definition in indexes]
    create += [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, _, d in unique + foreign]
    return drop, create


def seed(
    url: str,
    enrollments: int,
    *,
    cohorts: int,
    journey: tuple[str, str],
    now: datetime | None = None,
    label: str = "seed",
) -> Seeded:
    """Load ``enrollments`` enrollments (and all that goes with them) into the schema at ``url``."""
    from campaign.db import make_engine, make_sessionmaker
    from campaign.journeys.calendar import zone
    from campaign.journeys.lint import lint_text

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    count = max(min(cohorts, enrollments), 1)
    advisors = max(round(enrollments / LEARNERS_PER_ADVISOR), 1)
    seeded = Seeded(enrollments, count, advisors, now)
    steps = Steps(seeded, label)
    spec = lint_text(journey[0], journey[1]).spec
    assert spec is not None, "the bench journey does not lint"
    tz = zone(spec.timezone)
    starts = cohort_starts(count, now.astimezone(tz).date())
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            version_id, cohort_ids = setup(session, journey, starts)
        with engine.connect() as connection:
            begin = time.perf_counter()
            connection.execute(text("SET synchronous_commit = off"))
            connection.execute(text("SET maintenance_work_mem = '512MB'"))
            connection.execute(text("SET work_mem = '256MB'"))
            connection.execute(text(PERMILLE))
            # A superuser loads as pg_restore --disable-triggers does: foreign keys stay, their
            # per-row checks are off for this session (the rows agree by construction). Others
            # drop the foreign keys and add them back (checked) after the load.
            superuser = bool(
                connection.execute(
                    text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                ).scalar()
            )
            if superuser:
                connection.execute(text("SET session_replication_role = replica"))
            drop, create = constraints(connection, foreign_keys=not superuser)
            for statement in drop:
                connection.execute(text(statement))
            connection.commit()
            steps.timed("drop secondary indexes and constraints", begin)
            _stage(connection, steps, spec, tz, starts, cohort_ids, enrollments, advisors, now)
            _load(connection, steps, version_id, advisors, now, tz)
            if superuser:
                connection.execute(text("SET session_replication_role = DEFAULT"))
            connection.commit()
            begin = time.perf_counter()
            for statement in create:
                started = time.perf_counter()
                connection.execute(text(statement))
                took = time.perf_counter() - started
                if took > 10:  # the big ones, to see where the load's time goes
                    progress(f"    {statement.split(' ON ')[0][:80]}: {took:.0f} s")
            connection.commit()
            steps.timed(f"recreate {len(create)} indexes and constraints", begin)
            for table in TABLES:
                seeded.rows[table] = int(
                    connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # What autovacuum does after a bulk insert (statistics, the visibility map that
            # index-only scans read), on this schema's tables only.
            begin = time.perf_counter()
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
            connection.execute(text(f"VACUUM (ANALYZE) {', '.join(sorted(tables))}"))
            steps.timed("VACUUM ANALYZE", begin)
    finally:
        engine.dispose()
    progress(
        f"  {label}: {seeded.total_seconds:.1f} s, "
        + ", ".join(f"{name} {rows:,}" for name, rows in seeded.rows.items())
    )
    return seeded


def _stage(
    connection: Connection,
    steps: Steps,
    spec: Any,
    tz: Any,
    starts: list[date],
    cohort_ids: list[int],
    enrollments: int,
    advisors: int,
    now: datetime,
) -> None:
    """Fill the temporary tables every load statement reads: cohorts, the plan, enrollments."""
    from campaign.journeys.planner import plan_calendar

    connection.execute(
        text(
            """
            CREATE TEMP TABLE seed_c (
              k integer, id integer, d1 timestamptz, phase text, span integer, tomorrow timestamptz)
            """
        )
    )
    tomorrow_9 = datetime.combine(
        now.astimezone(tz).date() + timedelta(days=1), clock_time(9), tzinfo=tz
    )
    cohort_rows = []
    for k, (cohort_id, starts_on) in enumerate(zip(cohort_ids, starts, strict=True)):
        d1 = datetime.combine(starts_on, clock_time(), tzinfo=tz).astimezone(UTC)
        elapsed = (now - d1).days  # whole camp days behind us
        phase = "past" if elapsed >= spec.days + 2 else "current" if elapsed >= 0 else "upcoming"
        span = min(max(elapsed, 0), spec.days)
        cohort_rows.append(
            {"k": k, "id": cohort_id, "d1": d1, "phase": phase, "span": span, "t9": tomorrow_9}
        )
    connection.execute(
        text("INSERT INTO seed_c VALUES (:k, :id, :d1, :phase, :span, :t9)"), cohort_rows
    )
    connection.execute(
        text(
            """
            CREATE TEMP TABLE seed_p (
              cohort_id integer, n integer, step_key text, occurrence text, channel text,
              priority integer, due_at timestamptz, conditional boolean, selling boolean,
              title text)
            """
        )
    )
    plan_rows = []
    for cohort_id, starts_on in zip(cohort_ids, starts, strict=True):
        for n, planned in enumerate(plan_calendar(spec, starts_on=starts_on, cohort_tz=tz)):
            step = spec.step(planned.step_key)
            plan_rows.append(
                {
                    "cohort_id": cohort_id,
                    "n": n,
                    "step_key": planned.step_key,
                    "occurrence": planned.occurrence,
                    "channel": str(planned.channel),
                    "priority": planned.priority,
                    "due_at": planned.due_at,
                    "conditional": step.when is not None,
                    "selling": bool(getattr(step, "selling", False)),
                    "title": step.title or step.key,
                }
            )
    connection.execute(
        text(
            """
            INSERT INTO seed_p VALUES (:cohort_id, :n, :step_key, :occurrence, :channel,
              :priority, :due_at, :conditional, :selling, :title)
            """
        ),
        plan_rows,
    )
    courses = list(spec.courses.values()) or []
    steps.run(
        "stage enrollments",
        connection,
        """
        CREATE TEMP TABLE seed_e AS
        SELECT s.*,
          CASE WHEN s.state = 'converted' THEN s.d1 + interval '4 days 21 hours'
               + pg_temp.pm(s.id, 2) * interval '3 minutes' END AS goal_raw,
          CASE WHEN s.state IN ('dropped', 'opted_out')
               THEN s.d1 + (pg_temp.pm(s.id, 3) % 3) * interval '1 day' + interval '12 hours'
          END AS ended_raw
        FROM (
          SELECT i AS id, c.id AS cohort_id, c.d1, c.phase, c.span, c.tomorrow,
            ((i - 1) % :advisors) + 1 AS advisor_id,
            CASE c.phase
              WHEN 'past' THEN CASE WHEN pg_temp.pm(i, 1) < 90 THEN 'converted'
                WHEN pg_temp.pm(i, 1) < 150 THEN 'dropped'
                WHEN pg_temp.pm(i, 1) < 160 THEN 'opted_out' ELSE 'graduated' END
              WHEN 'current' THEN CASE WHEN pg_temp.pm(i, 1) < 20 THEN 'converted'
                WHEN pg_temp.pm(i, 1) < 50 THEN 'dropped'
                WHEN pg_temp.pm(i, 1) < 55 THEN 'opted_out' ELSE 'active' END
              ELSE CASE WHEN pg_temp.pm(i, 1) < 20 THEN 'dropped' ELSE 'active' END
            END AS state,
            least(c.d1 - interval '5 days' + pg_temp.pm(i, 4) * interval '3 minutes',
                  CAST(:now AS timestamptz) - interval '10 minutes') AS enrolled_at,
            pg_temp.pm(i, 11) % (c.span + 1) AS n_ci,
            pg_temp.pm(i, 12) % (least(c.span, 4) + 1) AS n_hw,
            CASE WHEN c.phase = 'past' AND pg_temp.pm(i, 13) < 350
                   THEN c.d1 + (pg_temp.pm(i, 14) % 7) * interval '1 day' + interval '10 hours'
                        + pg_temp.pm(i, 15) * interval '40 seconds'
                 WHEN c.phase = 'current' AND pg_temp.pm(i, 13) < 350
                   THEN CAST(:now AS timestamptz) - pg_temp.pm(i, 14) * interval '3 minutes'
            END AS replied_at,
            (CAST(:courses AS text[]))[1 + pg_temp.pm(i, 27) % :course_count] AS course_key,
            (CAST(:prices AS float8[]))[1 + pg_temp.pm(i, 27) % :course_count] AS price
          FROM generate_series(1, CAST(:n AS bigint)) AS i
          JOIN seed_c c ON c.k = ((i - 1) * :cohorts) / :n
        ) s
        """,
        advisors=advisors,
        now=now,
        n=enrollments,
        cohorts=len(cohort_ids),
        courses=[c.key for c in courses] or ["course"],
        prices=[float(c.price) for c in courses] or [1999.0],
        course_count=max(len(courses), 1),
    )
    # A current camp's payment and a drop-out are in the past, not on a later camp day.
    connection.execute(
        text("ALTER TABLE seed_e ADD COLUMN goal_at timestamptz, ADD COLUMN ended_at timestamptz")
    )
    connection.execute(
        text(
            """
            UPDATE seed_e SET
              goal_at = CASE WHEN goal_raw > CAST(:now AS timestamptz)
                THEN CAST(:now AS timestamptz) - pg_temp.pm(id, 2) * interval '1 minute'
                ELSE goal_raw END,
              ended_at = CASE WHEN ended_raw > CAST(:now AS timestamptz)
                THEN greatest(enrolled_at, CAST(:now AS timestamptz) - interval '1 day')
                ELSE ended_raw END
            """
        ),
        {"now": now},
    )
    connection.execute(text("ALTER TABLE seed_e ADD PRIMARY KEY (id)"))
    connection.execute(text("ANALYZE seed_e"))


def _load(
    connection: Connection,
    steps: Steps,
    version_id: int,
    advisors: int,
    now: datetime,
    tz: Any,
) -> None:
    """Insert every table's rows from the staged enrollments and plan."""
    steps.run(
        "advisors",
        connection,
        """
        INSERT INTO advisors (id, name, daily_task_capacity)
        SELECT a, '班主任' || a, NULL FROM generate_series(1, :advisors) AS a
        """,
        advisors=advisors,
    )
    steps.run(
        "users",
        connection,
        """
        INSERT INTO users (username, display_name, password_hash, role, advisor_id, active,
                           created_at)
        SELECT 'advisor' || a, '班主任' || a, :hash, 'advisor', a, true, :now
        FROM generate_series(1, :advisors) AS a
        """,
        advisors=advisors,
        hash=generate_password_hash(PASSWORD, method="scrypt"),
        now=now,
    )
    steps.run(
        "learners",
        connection,
        """
        INSERT INTO learners (id, external_id, name, timezone, opted_out_at, do_not_disturb,
                              personalised_offers, created_at)
        SELECT id, 'L' || id,
          substr(CAST(:surnames AS text), 1 + pg_temp.pm(id, 30) % :surname_count, 1)
            || (CAST(:given AS text[]))[1 + pg_temp.pm(id, 31) % :given_count],
          'Asia/Shanghai',
          CASE WHEN state = 'opted_out' THEN ended_at END,
          pg_temp.pm(id, 32) < 10, pg_temp.pm(id, 33) >= 20, enrolled_at
        FROM seed_e ORDER BY id
        """,
        surnames=SURNAMES,
        surname_count=len(SURNAMES),
        given=list(GIVEN),
        given_count=len(GIVEN),
    )
    steps.run(
        "enrollments",
        connection,
        """
        INSERT INTO enrollments (id, cohort_id, learner_id, advisor_id, journey_version_id, state,
                                 enrolled_at, goal_reached_at, points)
        SELECT id, cohort_id, id, advisor_id, :version, state, enrolled_at, goal_at,
               10 * n_ci + 20 * n_hw
        FROM seed_e ORDER BY id
        """,
        version=version_id,
    )
    for table in ("advisors", "learners", "enrollments"):
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        )
    total = int(connection.execute(text("SELECT count(*) FROM seed_e")).scalar_one())
    made, reported, begin = 0, 0, time.perf_counter()
    for low in range(1, total + 1, DELIVERY_CHUNK):
        made += steps.run(
            "deliveries",
            connection,
            """
        INSERT INTO deliveries (cohort_id, enrollment_id, advisor_id, target, audience, step_key,
          occurrence, channel, priority, planned_at, due_at, status, reason, attempts, text,
          sent_at, updated_at)
        SELECT cohort_id, enrollment_id, advisor_id, 'e' || enrollment_id, 'learner', step_key,
          occurrence, channel, priority, due_at, due_at, status,
          CASE status WHEN 'skipped' THEN 'condition false' WHEN 'cancelled' THEN cancel END,
          CASE WHEN status IN ('sent', 'skipped') THEN 1 ELSE 0 END,
          CASE WHEN status = 'sent' THEN title || ':' || name || ',' || :body END,
          CASE WHEN status = 'sent' THEN due_at + (pm % 240) * interval '1 second' END,
          CASE WHEN status = 'pending' THEN planned ELSE due_at END
        FROM (
          SELECT e.cohort_id, e.id AS enrollment_id, e.advisor_id, p.step_key, p.occurrence,
            p.channel, p.priority, p.due_at, p.title, l.name, e.enrolled_at AS planned,
            pg_temp.pm(e.id, 100 + p.n) AS pm,
            CASE WHEN e.ended_at IS NOT NULL AND p.due_at > e.ended_at THEN 'cancelled'
                 WHEN e.goal_at IS NOT NULL AND p.selling AND p.due_at > e.goal_at
                   THEN 'cancelled'
                 WHEN p.due_at > :now THEN 'pending'
                 WHEN p.conditional AND pg_temp.pm(e.id, 100 + p.n) >= 350 THEN 'skipped'
                 ELSE 'sent' END AS status,
            CASE WHEN e.ended_at IS NOT NULL AND p.due_at > e.ended_at
                   THEN 'enrollment not active'
                 ELSE 'goal reached (paid)' END AS cancel
          FROM seed_e e
          JOIN seed_p p ON p.cohort_id = e.cohort_id
          JOIN learners l ON l.id = e.id
          WHERE e.id BETWEEN :low AND :high
        ) d
        ORDER BY d.enrollment_id, d.due_at, d.step_key
        """,
            quiet=True,
            now=now,
            body="今天的内容已经解锁,记得打卡哦 https://example.com/camp/today",
            low=low,
            high=low + DELIVERY_CHUNK - 1,
        )
        done = min(low + DELIVERY_CHUNK - 1, total)
        if done * 10 // total > reported:
            reported = done * 10 // total
            progress(
                f"  {steps.label}: deliveries: {made:,} rows for {done:,} enrollments "
                f"in {time.perf_counter() - begin:.1f} s"
            )
    steps.run(
        "tasks (advisor steps)",
        connection,
        """
        INSERT INTO tasks (delivery_id, cohort_id, enrollment_id, advisor_id, step_key, script,
          voice, due_at, status, outcome_reason, postponed_until, created_at, done_at)
        SELECT id, cohort_id, enrollment_id, advisor_id, step_key, text, pm % 10 = 0,
          CASE WHEN status = 'postponed' THEN tomorrow ELSE due END, status,
          CASE WHEN status = 'skipped' THEN 'learner asked for a break' END,
          CASE WHEN status = 'postponed' THEN tomorrow END,
          sent_at,
          CASE WHEN status IN ('sent', 'skipped')
               THEN least(sent_at + (pm % 180) * interval '1 minute', :now) END
        FROM (
          SELECT d.id, d.cohort_id, d.enrollment_id, d.advisor_id, d.step_key, d.text,
            d.sent_at, d.due_at + :sla AS due, c.tomorrow, pg_temp.pm(d.id, 6) AS pm,
            CASE
              WHEN d.due_at + :sla < CAST(:now AS timestamptz) - interval '1 day' THEN
                CASE WHEN pg_temp.pm(d.id, 6) < 820 THEN 'sent'
                     WHEN pg_temp.pm(d.id, 6) < 940 THEN 'skipped' ELSE 'open' END
              WHEN d.due_at + :sla < :now THEN
                CASE WHEN pg_temp.pm(d.id, 6) < 550 THEN 'sent'
                     WHEN pg_temp.pm(d.id, 6) < 600 THEN 'skipped'
                     WHEN pg_temp.pm(d.id, 6) < 620 THEN 'postponed' ELSE 'open' END
              ELSE CASE WHEN pg_temp.pm(d.id, 6) < 300 THEN 'sent' ELSE 'open' END
            END AS status
          FROM deliveries d JOIN seed_c c ON c.id = d.cohort_id
          WHERE d.channel = 'advisor_task' AND d.status = 'sent'
        ) t
        ORDER BY sent_at, id
        """,
        now=now,
        sla=TASK_SLA,
    )
    steps.run(
        "events",
        connection,
        """
        INSERT INTO learner_events (learner_id, enrollment_id, name, occurred_at, source,
                                    payload, recorded_at)
        SELECT id, id, name, at, source, payload, at FROM (
          SELECT id, 'enrolled' AS name, enrolled_at AS at, 'api' AS source,
                 CAST(NULL AS json) AS payload FROM seed_e
          UNION ALL
          SELECT id, 'joined_group', enrolled_at + interval '3 hours', 'wecom', NULL FROM seed_e
          WHERE pg_temp.pm(id, 16) < 850 AND enrolled_at + interval '3 hours' < :now
          UNION ALL
          SELECT e.id, 'checked_in', e.d1 + (j - 1) * interval '1 day' + interval '9 hours'
                 + pg_temp.pm(e.id, 40 + j) * interval '30 seconds', 'api', NULL
          FROM seed_e e, generate_series(1, e.n_ci) AS j
          UNION ALL
          SELECT e.id, 'homework_submitted',
                 e.d1 + (j - 1) * interval '1 day' + interval '20 hours'
                 + pg_temp.pm(e.id, 50 + j) * interval '10 seconds', 'api', NULL
          FROM seed_e e, generate_series(1, e.n_hw) AS j
          UNION ALL
          SELECT id, 'attended_live', d1 + interval '20 hours', 'api', NULL FROM seed_e
          WHERE span >= 1 AND pg_temp.pm(id, 17) < 600
          UNION ALL
          SELECT id, 'replied', replied_at, 'console',
                 json_build_object('text', (CAST(:messages AS text[]))[1 + pg_temp.pm(id, 18) % 5],
                                   'enrollment_id', id, 'cohort_id', cohort_id)
          FROM seed_e WHERE replied_at IS NOT NULL
          UNION ALL
          SELECT id, 'paid', goal_at, 'api',
                 json_build_object('course', course_key, 'amount', price)
          FROM seed_e WHERE goal_at IS NOT NULL
        ) ev
        ORDER BY at, id
        """,
        now=now,
        messages=list(MESSAGES),
    )
    steps.run(
        "tasks (replies owed)",
        connection,
        """
        INSERT INTO tasks (delivery_id, cohort_id, enrollment_id, advisor_id, step_key, script,
          voice, due_at, status, outcome_reason, created_at, done_at)
        SELECT NULL, cohort_id, id, advisor_id, 'reply',
          name || ' · ' || to_char(replied_at AT TIME ZONE :tz, 'MM-DD HH24\\:MI') || E'\\n> '
            || (CAST(:messages AS text[]))[1 + pg_temp.pm(id, 18) % 5],
          false, due, status, CASE WHEN status = 'skipped' THEN 'learner asked for a break' END,
          replied_at,
          CASE WHEN status IN ('sent', 'skipped')
               THEN least(replied_at + (pm % 180) * interval '1 minute', :now) END
        FROM (
          SELECT e.*, l.name, e.replied_at + :sla AS due, pg_temp.pm(e.id, 19) AS pm,
            CASE
              WHEN e.replied_at + :sla >= :now THEN
                CASE WHEN pg_temp.pm(e.id, 19) < 400 THEN 'sent' ELSE 'open' END
              WHEN e.replied_at + :sla < CAST(:now AS timestamptz) - interval '1 day' THEN
                CASE WHEN pg_temp.pm(e.id, 19) < 950 THEN 'sent'
                     WHEN pg_temp.pm(e.id, 19) < 970 THEN 'skipped' ELSE 'open' END
              ELSE CASE WHEN pg_temp.pm(e.id, 19) < 700 THEN 'sent'
                        WHEN pg_temp.pm(e.id, 19) < 720 THEN 'skipped' ELSE 'open' END
            END AS status
          FROM seed_e e JOIN learners l ON l.id = e.id
          WHERE e.replied_at IS NOT NULL
        ) r
        ORDER BY replied_at, id
        """,
        now=now,
        sla=TASK_SLA,
        tz=str(tz),
        messages=list(MESSAGES),
    )
    steps.run(
        "points",
        connection,
        """
        INSERT INTO points_entries (enrollment_id, delta, reason, event_id, created_at)
        SELECT enrollment_id, CASE name WHEN 'checked_in' THEN 10 ELSE 20 END, name, id,
               occurred_at
        FROM learner_events WHERE name IN ('checked_in', 'homework_submitted')
        ORDER BY id
        """,
    )
    steps.run(
        "tags",
        connection,
        """
        INSERT INTO tags (learner_id, name, "group", source, created_at)
        SELECT id, grp || ':' || val, grp, source, at FROM (
          SELECT id, 'goal' AS grp,
                 (CAST(:goals AS text[]))[1 + pg_temp.pm(id, 22) % :goal_count] AS val,
                 'survey' AS source, enrolled_at + interval '1 hour' AS at
          FROM seed_e WHERE pg_temp.pm(id, 21) < 700 AND enrolled_at + interval '1 hour' < :now
          UNION ALL
          SELECT id, 'level', (CAST(:levels AS text[]))[1 + pg_temp.pm(id, 24) % 3], 'survey',
                 enrolled_at + interval '1 hour'
          FROM seed_e WHERE pg_temp.pm(id, 23) < 450 AND enrolled_at + interval '1 hour' < :now
          UNION ALL
          SELECT id, 'intent', (ARRAY['A', 'B', 'C'])[1 + pg_temp.pm(id, 26) % 3], 'rule',
                 d1 + interval '2 days 21 hours'
          FROM seed_e WHERE span >= 3 AND pg_temp.pm(id, 25) < 200
          UNION ALL
          SELECT id, 'activity',
                 CASE WHEN pg_temp.pm(id, 28) < 500 THEN 'daily' ELSE 'silent' END, 'event',
                 d1 + interval '1 day 22 hours'
          FROM seed_e WHERE span >= 2 AND pg_temp.pm(id, 29) < 300
        ) t
        ORDER BY at, id
        """,
        now=now,
        goals=list(GOALS),
        goal_count=len(GOALS),
        levels=list(LEVELS),
    )
    steps.run(
        "offers",
        connection,
        """
        INSERT INTO offers (enrollment_id, course_key, reason, score, personalised, price,
          opens_at, closes_at, status, created_at, updated_at)
        SELECT id, course_key, 'goal tag → ' || course_key, 0.5 + pg_temp.pm(id, 34) / 2000.0,
          true, price, d1 + interval '4 days 21 hours', d1 + interval '7 days 12 hours',
          CASE WHEN goal_at IS NOT NULL THEN 'converted' ELSE 'closed' END,
          d1 + interval '4 days 21 hours', coalesce(goal_at, d1 + interval '7 days 12 hours')
        FROM seed_e
        WHERE phase = 'past' AND (goal_at IS NOT NULL OR pg_temp.pm(id, 35) < 700)
        ORDER BY d1, id
        """,
    )
    steps.run(
        "conversions",
        connection,
        """
        INSERT INTO conversions (enrollment_id, cohort_id, advisor_id, offer_id, course_key,
          amount, paid_at, event_id, step_key)
        SELECT e.id, e.cohort_id, e.advisor_id, o.id, e.course_key, e.price, e.goal_at, ev.id,
               'recommend'
        FROM seed_e e
        JOIN learner_events ev ON ev.enrollment_id = e.id AND ev.name = 'paid'
        LEFT JOIN offers o ON o.enrollment_id = e.id
        ORDER BY e.goal_at, e.id
        """,
    )


def sample_enrollment(advisor_id: int, k: int, enrollments: int, advisors: int) -> int | None:
    """Return the ``k``-th enrollment of an advisor (the seed's assignment), None past the end."""
    number = advisor_id + k * advisors
    return number if number <= enrollments else None
