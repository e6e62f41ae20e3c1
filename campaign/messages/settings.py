"""Settings of the send worker, read once from the app config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class SendSettings:
    """Knobs of the send worker (from the app config)."""

    send_lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)  # doubled per attempt, with jitter
    task_deadline: timedelta = timedelta(hours=2)  # advisor_task SLA when the step gives none
    wecom_quota: int | None = None  # WeCom mass sends per customer per period (a tenant setting)
    wecom_quota_period: str = "month"  # day, week or month
    links: Mapping[str, str] = field(default_factory=dict)
    unsubscribe_url: Callable[[int], str] | None = None  # learner id -> one-click link
