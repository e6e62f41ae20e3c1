"""Errors a user can cause and fix; the message says what is wrong and how to put it right.

Services raise them; the CLI prints the message and exits 1, the API will answer 4xx with it.
Anything else escaping a service is a bug, not a user error.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class CampaignError(Exception):
    """The base of every user-fixable error; ``str(error)`` is the message to show."""


class NotFound(CampaignError):
    """Something named by the user (a journey key, a version) does not exist."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    close = get_close_matches(name, list(candidates), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
