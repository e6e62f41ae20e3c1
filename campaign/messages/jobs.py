"""RQ job entry points. They take ids only and are safe to run twice (rows carry the state)."""

from __future__ import annotations

from campaign.messages.runtime import get_runtime
from campaign.messages.sending import send_batch


def send_batch_job(ids: list[int], token: str) -> dict[str, int]:
    """Send a claimed batch; return how many rows ended in each outcome.

    The job keeps one connection for all its transactions: taking it from the pool for each
    of them cost a liveness ping (a round trip) each time, a twentieth of a worker's time. A
    connection cut mid-job fails the job; its rows come back with their lease.
    """
    runtime = get_runtime()
    engine = runtime.sessions.kw["bind"]
    with engine.connect() as connection:
        session = runtime.sessions(bind=connection)
        try:
            result = send_batch(
                session,
                ids,
                token,
                clock=runtime.clock,
                adapters=runtime.adapters,
                settings=runtime.send,
            )
        finally:
            session.close()
    return result.outcomes
