"""RQ job entry points. They take ids only and are safe to run twice (rows carry the state)."""

from __future__ import annotations

from campaign.messages.runtime import get_runtime
from campaign.messages.sending import send_batch


def send_batch_job(ids: list[int], token: str) -> dict[str, int]:
    """Send a claimed batch; return how many rows ended in each outcome."""
    runtime = get_runtime()
    session = runtime.sessions()
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
