"""The RQ queues: one per channel, so a slow channel never holds up another."""

from __future__ import annotations

import enum

from redis import Redis
from rq import Queue

from campaign.journeys.spec import Channel


class QueueName(enum.StrEnum):
    ADVISOR_TASK = "campaign:advisor_task"
    WECOM = "campaign:wecom"
    EMAIL = "campaign:email"
    SMS = "campaign:sms"
    WEBHOOK = "campaign:webhook"
    LOG = "campaign:log"

    @classmethod
    def for_channel(cls, channel: Channel) -> QueueName:
        """Return the queue a channel's batches go on."""
        return cls[channel.name]


SEND_JOB = "campaign.messages.jobs.send_batch_job"


def queue(name: QueueName, connection: Redis) -> Queue:
    """Return the RQ queue ``name`` on ``connection``."""
    return Queue(str(name), connection=connection)
