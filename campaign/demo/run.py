"""Run the demo: seed the camp, start the engine and the console, feed events and print until
the camp is over; then keep the console up for browsing until Ctrl-C (unless ``once``).

One warped clock is shared by every process through its anchor (``CAMPAIGN_CLOCK_ANCHOR``); its
real anchor lies a moment in the future so the dispatcher and the worker are listening before
the first learner signs up. Whatever ends the camp (its end, Ctrl-C, SIGTERM, an engine process
dying) the dispatcher and the worker are stopped, the cohort is closed (so no later dispatcher
sends its leftovers) and the summary is printed; whatever ends the run, the web console is
stopped and the embedded Redis is shut down.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from campaign import migrations
from campaign.db import database, session_scope
from campaign.demo.feeder import Feeder
from campaign.demo.printer import Printer, pad
from campaign.demo.processes import Engine, child_env
from campaign.demo.seeding import SeededCamp, SignIn, seed_camp, seed_users
from campaign.demo.summary import Summary, format_summary, summarize
from campaign.demo.web import bind_listener, start_web, url_of, wait_for_web
from campaign.errors import CampaignError
from campaign.journeys.calendar import zone
from campaign.messages.dispatch import dispatch_once
from campaign.messages.dispatcher import enqueuer
from campaign.messages.planning import spec_of
from campaign.messages.runtime import Runtime, build_runtime
from campaign.models import Cohort, CohortState, Delivery, DeliveryStatus
from campaign.redis_server import connect, resolve

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("campaign.demo")

STARTUP_LEAD = 2.5  # real seconds between starting the processes and the virtual start
LOOP_SECONDS = 0.05  # how often the demo feeds events and prints (real seconds)
END_CHECK_SECONDS = 0.5  # how often, once the camp is over, it checks for rows still due
IDLE_CHECK_SECONDS = 0.5  # how often, while the console stays up after the camp, it checks it
WEB = "web"  # the web console's process name: it outlives the camp
LEASE_REAL_SECONDS = 30.0  # claim and send leases, in real seconds (see _engine_settings)
LINKS = {
    "group": "https://example.com/join/python-camp",
    "homework": "https://example.com/python-camp/today",
    "live": "https://example.com/live/python-camp",
}
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)


@dataclass(frozen=True)
class DemoOptions:
    """What ``campaign demo`` was asked for."""

    journey: Path
    learners: int = 300
    speed: float = 2880.0
    seed: int = 1
    workers: int = 1
    port: int = 5000  # the console's port on 127.0.0.1 (the next free one if taken)
    once: bool = False  # exit when the camp is over instead of keeping the console up
    # The dispatcher's pause between passes, in real seconds: at 2880x, 0.05 s is 2.4 virtual
    # minutes, small against the journey's 30-minute windows; sign-ups do not wait for it (the
    # feeder claims right after enrolling), and a shorter tick only takes CPU from the worker.
    tick: float = 0.05


@dataclass
class DemoResult:
    """What a run did, for the command's exit status and for tests."""

    cohort_id: int
    summary: Summary
    messages: int  # lines printed for messages that went out
    tasks: int  # lines printed for advisor tasks
    interrupted: bool
    outbox: Path
    url: str = ""  # the web console's
    signins: tuple[SignIn, ...] = ()


class DemoError(CampaignError):
    """The demo cannot run (the database is not migrated, the journey has errors...)."""


def _engine_settings(app: Flask, options: DemoOptions, outbox: Path, anchor: str) -> dict[str, Any]:
    """Return the settings every process of the run shares.

    The engine measures leases on its clock, which is warped here: a 30 s lease at speed 2880
    would end after 10 real milliseconds and the sweeper would take back rows still queued.
    The leases are set to 30 real seconds' worth of virtual time instead.
    """
    channels: dict[str, object] = {"log": {"path": str(outbox), "logger": False}}
    channels |= {name: "log" for name in ("wecom", "sms", "email", "webhook")}
    return {
        "DATABASE_URL": app.config["DATABASE_URL"],
        "CLOCK_SPEED": options.speed,
        "CLOCK_ANCHOR": anchor,
        "DISPATCH_TICK_SECONDS": options.tick,
        "CLAIM_LEASE_SECONDS": LEASE_REAL_SECONDS * options.speed,
        "SEND_LEASE_SECONDS": 2 * LEASE_REAL_SECONDS * options.speed,
        "CHANNELS": channels,
        "LINKS": LINKS,
    }


@contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """Make SIGTERM act like Ctrl-C, so both end the demo the same way (and clean up)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _shielded() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while cleaning up, so a second Ctrl-C cannot leave a process."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check_database(app: Flask) -> None:
    """Refuse to run on a database that is not migrated to the newest revision."""
    url = str(app.config["DATABASE_URL"])
    if migrations.current_revision(url) != migrations.head_revision():
        raise DemoError(
            f"the database {migrations.display_url(url)} is not migrated to the newest "
            "revision; run 'campaign db upgrade' first (make demo does)"
        )


def run_demo(app: Flask, options: DemoOptions, write: Callable[[str], None]) -> DemoResult:
    """Run the demo camp end to end on ``app``'s database and print it with ``write``."""
    check_database(app)
    with _stop_signals_raise():  # from here on, SIGTERM unwinds like Ctrl-C: Redis is stopped
        listener = bind_listener(options.port)  # before seeding: a busy machine fails first
        embedded = None
        try:
            url, embedded = resolve(app.config, app.instance_path)
            with session_scope(app) as session:
                camp = seed_camp(
                    session,
                    options.journey,
                    start=datetime.now(UTC),
                    learners=options.learners,
                    seed=options.seed,
                )
                signins = seed_users(session)
            web = Web(listener, tuple(signins), url_of(listener))
            return _run_camp(app, options, camp, web, url, embedded is not None, write)
        finally:
            listener.close()
            if embedded is not None:
                with _shielded():
                    embedded.stop()


@dataclass(frozen=True)
class Web:
    """The console of the run: its bound socket (handed to gunicorn) and who may sign in."""

    listener: socket.socket
    signins: tuple[SignIn, ...]
    url: str


def _run_camp(
    app: Flask,
    options: DemoOptions,
    camp: SeededCamp,
    web: Web,
    redis_url: str,
    embedded: bool,
    write: Callable[[str], None],
) -> DemoResult:
    demo_dir = Path(app.instance_path) / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    outbox = demo_dir / f"outbox-c{camp.cohort_id}.jsonl"
    real_anchor = datetime.now(UTC) + timedelta(seconds=STARTUP_LEAD)
    anchor = f"{real_anchor.isoformat()}|{camp.start.isoformat()}"
    settings = _engine_settings(app, options, outbox, anchor)
    env = child_env(
        {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v
            for k, v in settings.items()
        }
        | {"REDIS_URL": redis_url, "INSTANCE_PATH": app.instance_path}
    )
    from campaign import create_app

    demo_app = create_app(settings | {"REDIS_URL": redis_url}, instance_path=app.instance_path)
    runtime = build_runtime(demo_app)
    _intro(camp, options, redis_url, embedded, demo_app, outbox, write)
    engine = Engine()
    interrupted = False
    feeder = printer = None
    try:
        try:
            engine.start(env, demo_dir, workers=options.workers)
            engine.add(start_web(env, demo_dir, web.listener))
            web.listener.close()  # gunicorn has its own copy of the socket
            redis = connect(redis_url)
            engine.wait_for_workers(redis)
            wait_for_web(web.url, engine.check)
            time.sleep(max((real_anchor - datetime.now(UTC)).total_seconds(), 0.0))
            pids = ", ".join(f"{p.name} {p.pid}" for p in engine.processes)
            write(f"engine: {pids} (logs in {demo_dir})")
            _console(web, write)
            feeder, printer = _feeder_and_printer(runtime, camp, redis, outbox, write)
            _loop(runtime, engine, feeder, printer, camp)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            with _shielded():
                engine.stop(keep=(WEB,))  # the console outlives the camp
        with _shielded():
            now = runtime.clock.now()
            if printer is not None:
                printer.poll(now)
            sessions = database(demo_app).sessionmaker
            with sessions() as session:
                summary = summarize(session, camp.cohort_id, now=now)
                cohort = session.get(Cohort, camp.cohort_id)
                if cohort is not None:
                    cohort.state = CohortState.CLOSED
                session.commit()
            for line in format_summary(summary, interrupted=interrupted):
                write(line)
            write(f"cohort {camp.cohort_id} closed; messages are in {outbox}")
            database(demo_app).engine.dispose()
        if not interrupted and not options.once:
            try:
                _browse(engine, web, write)
            except KeyboardInterrupt:
                write("stopping the web console")
    finally:
        with _shielded():
            engine.stop()
    return DemoResult(
        camp.cohort_id,
        summary,
        printer.messages if printer else 0,
        printer.tasks if printer else 0,
        interrupted,
        outbox,
        web.url,
        web.signins,
    )


def _console(web: Web, write: Callable[[str], None]) -> None:
    """Print where the console is and who can sign in (the same accounts on every run)."""
    write(f"console: {web.url}  (gunicorn on 127.0.0.1; Ctrl-C stops the demo)")
    rows = [("sign in as", "password", "role", "")]
    for one in web.signins:
        password = one.password or "(kept)"  # an existing account: its own password
        rows.append((one.username, password, str(one.role), one.name))
    widths = [max(len(row[column]) for row in rows) + 3 for column in range(3)]
    for row in rows:
        line = "".join(pad(cell, width) for cell, width in zip(row, widths, strict=False))
        write(f"  {line}{row[3]}".rstrip())


def _browse(engine: Engine, web: Web, write: Callable[[str], None]) -> None:
    """Keep the console up after the camp until Ctrl-C or SIGTERM (or the server dies)."""
    write(f"\n── camp finished; the console is still at {web.url} (Ctrl-C to stop) ──")
    while True:
        engine.check()
        time.sleep(IDLE_CHECK_SECONDS)


def _intro(
    camp: SeededCamp,
    options: DemoOptions,
    redis_url: str,
    embedded: bool,
    app: Flask,
    outbox: Path,
    write: Callable[[str], None],
) -> None:
    day = 86400 / options.speed
    write(f"Campaign demo: {camp.title}")
    write(
        f"  journey {options.journey}: lint clean ({camp.lint_warnings} warning(s)), "
        f"published as version {camp.version}"
    )
    write(
        f"  cohort {camp.cohort_id}: D1 is {camp.starts_on:%Y-%m-%d} ({camp.timezone}); "
        f"{camp.learners} learners sign up over the prep days; advisors "
        f"{', '.join(camp.advisors.values())}"
    )
    write(
        f"  clock: {options.speed:g}x, one camp day = {day:.1f} s; "
        f"database {migrations.display_url(str(app.config['DATABASE_URL']))}; "
        f"Redis {redis_url}{' (embedded)' if embedded else ''}"
    )
    write(f"  messages go to the log channel: {outbox}")


def _feeder_and_printer(
    runtime: Runtime, camp: SeededCamp, redis: Any, outbox: Path, write: Callable[[str], None]
) -> tuple[Feeder, Printer]:
    enqueue = enqueuer(redis)

    def dispatch_now() -> None:
        """Claim and queue right after a sign-up: the welcome has 20 virtual seconds.

        Only the claim (no sweep: the dispatcher process sweeps), to keep the path short.
        """
        settings = runtime.dispatch
        try:
            with runtime.sessions() as session:
                dispatch_once(
                    session,
                    now=runtime.clock.now(),
                    limit=settings.limit,
                    lease=settings.lease,
                    job_size=settings.job_size,
                    enqueue=enqueue,
                )
        except Exception:  # the dispatcher process will claim it on its next tick anyway
            log.exception("the feeder's dispatch pass failed")

    with runtime.sessions() as session:
        cohort = session.get(Cohort, camp.cohort_id)
        assert cohort is not None
        spec = spec_of(cohort.version)
    triggers = frozenset(s.on.event for s in spec.steps if s.on is not None)
    feeder = Feeder(
        runtime.sessions,
        runtime.clock,
        camp.cohort_id,
        camp.actions,
        triggers=triggers,
        after_write=dispatch_now,
    )

    def status() -> str:
        return (
            f"enrolled {feeder.stats.enrolled}/{camp.learners}, "
            f"paid {feeder.stats.events['paid']}, opted out {feeder.stats.events['opted_out']}"
        )

    return feeder, Printer(write, runtime.sessions, camp, outbox, status)


def _loop(
    runtime: Runtime, engine: Engine, feeder: Feeder, printer: Printer, camp: SeededCamp
) -> None:
    """Feed and print until the camp is over and nothing due by the hard end is left."""
    next_end_check = 0.0
    announced = False
    while True:
        engine.check()
        feeder.step()
        now = runtime.clock.now()
        printer.poll(now)
        if now >= camp.end_at and time.monotonic() >= next_end_check:
            if not announced:
                local = camp.end_at.astimezone(zone(camp.timezone))
                printer.write(
                    f"\n── the camp is over (D{camp.days + 2} {local:%H:%M}); "
                    "waiting for the last sends due on learners' own clocks ──"
                )
                announced = True
            if now >= camp.hard_end_at or _nothing_left(runtime, camp):
                return
            next_end_check = time.monotonic() + END_CHECK_SECONDS
        time.sleep(LOOP_SECONDS)


def _nothing_left(runtime: Runtime, camp: SeededCamp) -> bool:
    """Tell whether no row of the cohort is still open and due before the hard end."""
    with runtime.sessions() as session:
        left = session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.cohort_id == camp.cohort_id,
                Delivery.status.in_(OPEN),
                Delivery.due_at <= camp.hard_end_at,
            )
        )
    return not left
