"""What a worker or dispatcher process needs, built once from the app: sessions, clock, channels.

RQ runs ``send_batch_job`` by its dotted path with only ids as arguments; the job finds
everything else here. A worker process builds its runtime at start-up; a job run anywhere
without one (a test's SimpleWorker, a one-off) builds it from ``create_app()`` on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from campaign.clock import Clock, clock_from_config
from campaign.journeys.spec import Channel
from campaign.messages.channels.base import ChannelAdapter
from campaign.messages.channels.registry import build_channels
from campaign.messages.settings import SendSettings

if TYPE_CHECKING:
    from flask import Flask


@dataclass(frozen=True)
class DispatchSettings:
    tick: float = 1.0  # seconds between passes when nothing was due
    limit: int = 5000  # rows claimed per pass
    job_size: int = 500  # rows per RQ job
    lease: timedelta = timedelta(seconds=30)  # a claim not sent by then is taken back
    max_queued_jobs: int = 8  # no claim for a channel whose queue holds this many batches


@dataclass
class Runtime:
    sessions: sessionmaker[Session]
    clock: Clock
    adapters: dict[Channel, ChannelAdapter]
    send: SendSettings
    dispatch: DispatchSettings
    config: dict[str, Any]

    @property
    def idempotent_channels(self) -> set[Channel]:
        """Channels whose far side de-duplicates: a send cut off mid-way may be retried."""
        return {
            channel
            for channel, adapter in self.adapters.items()
            if getattr(adapter, "idempotent", False)
        } | {Channel.ADVISOR_TASK}  # a task is created in the same transaction as "sent"


_RUNTIME: Runtime | None = None


def build_runtime(app: Flask) -> Runtime:
    """Read the app's configuration into a runtime (channels are configured here, once)."""
    from campaign.db import database
    from campaign.unsubscribe import unsubscribe_url

    config = app.config
    clock = clock_from_config(config)
    base_url = str(config.get("BASE_URL") or "").rstrip("/")
    link_maker: Callable[[int], str] | None = None
    if base_url:
        secret = str(config["SECRET_KEY"])

        def link_maker(learner_id: int) -> str:
            return unsubscribe_url(base_url, secret, learner_id)

    send = SendSettings(
        send_lease=real_span(clock, float(config.get("SEND_LEASE_SECONDS", 60))),
        max_attempts=int(config.get("SEND_MAX_ATTEMPTS", 5)),
        backoff=real_span(clock, float(config.get("SEND_BACKOFF_SECONDS", 30))),
        task_deadline=timedelta(minutes=float(config.get("TASK_DEADLINE_MINUTES", 120))),
        wecom_quota=int(config["WECOM_MASS_SEND_QUOTA"])
        if config.get("WECOM_MASS_SEND_QUOTA")
        else None,
        wecom_quota_period=str(config.get("WECOM_MASS_SEND_PERIOD", "month")),
        links=dict(config.get("LINKS") or {}),
        unsubscribe_url=link_maker,
    )
    dispatch = DispatchSettings(
        tick=float(config.get("DISPATCH_TICK_SECONDS", 1.0)),
        limit=int(config.get("DISPATCH_LIMIT", 5000)),
        job_size=int(config.get("DISPATCH_JOB_SIZE", 500)),
        lease=real_span(clock, float(config.get("CLAIM_LEASE_SECONDS", 30))),
        max_queued_jobs=int(config.get("DISPATCH_MAX_QUEUED_JOBS", 8)),
    )
    return Runtime(
        sessions=database(app).sessionmaker,
        clock=clock,
        adapters=build_channels(config, clock=clock),
        send=send,
        dispatch=dispatch,
        config=dict(config),
    )


def real_span(clock: Clock, seconds: float) -> timedelta:
    """Return how much time passes on ``clock`` while ``seconds`` pass in real time.

    Leases and retry backoff bound real work (a process that died, a server that needs a
    moment), but they are stamped and compared on the engine's clock. On a demo's warped clock
    (speed 2400) a 30 s lease taken literally would run out in 12 ms, while the send it guards
    is still under way: rows would be taken back mid-send and sent twice.
    """
    real_per_second = clock.sleep_seconds(timedelta(seconds=1))
    if real_per_second <= 0:  # a frozen clock (tests): time moves only when told to
        return timedelta(seconds=seconds)
    return timedelta(seconds=seconds / real_per_second)


def set_runtime(runtime: Runtime | None) -> None:
    """Install the runtime jobs in this process use (workers call this at start-up)."""
    global _RUNTIME
    _RUNTIME = runtime


def get_runtime() -> Runtime:
    """Return this process's runtime, building it from ``create_app()`` if none was set."""
    global _RUNTIME
    if _RUNTIME is None:
        from campaign import create_app

        _RUNTIME = build_runtime(create_app())
    return _RUNTIME
