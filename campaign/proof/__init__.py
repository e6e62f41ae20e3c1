"""Proof at scale: harnesses that run the real engine's processes and check what they did.

- :mod:`campaign.proof.chaos`: dispatchers and workers drain a cohort into counting sinks while
  the harness kills them, restarts Redis and cuts their database connections; then every row
  and every receipt is checked (``campaign bench chaos``, ``tests/chaos``).
- :mod:`campaign.proof.camp`: the journeys and learners a run drains, and how each row must end.
- :mod:`campaign.proof.database`: a fresh, migrated PostgreSQL schema (or SQLite file) per run.
- :mod:`campaign.proof.fleet`: the engine's processes and a Redis server that can be killed and
  started again on the same port.
- :mod:`campaign.proof.sink`: a webhook receiver that counts every request and de-duplicates by
  idempotency key, as a real receiver does.
- :mod:`campaign.proof.schedule`: when the chaos strikes; which worker takes which queue.
- :mod:`campaign.proof.checks`: the checks, pure functions of what a run observed.
- :mod:`campaign.proof.result`: the result of a run, as JSON and as a report.

Nothing here runs at import time; the modules import no test framework.
"""
