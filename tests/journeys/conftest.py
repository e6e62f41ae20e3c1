"""Helpers for journey-language tests: a small valid journey and position lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

BASE = """\
journey: mini-camp
title: Mini camp
timezone: Asia/Shanghai
days: 7
milestones:
  awards: {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
offer: {opens: "D5 20:00", closes: "D8 23:59"}
steps:
"""

STEP = """\
  - key: {key}
    at: "{at}"
    channel: {channel}
    template: "{template}"
"""


def journey(*steps: str, head: str = BASE) -> str:
    """Return a journey document with ``steps`` (YAML list entries) under ``steps:``."""
    return head + "".join(steps)


def step(
    key: str = "hello",
    at: str = "D1 10:00",
    channel: str = "advisor_task",
    template: str = "hi {{ learner.name }}",
) -> str:
    """Return one simple calendar step as YAML."""
    return STEP.format(key=key, at=at, channel=channel, template=template)


def position(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """Return the 1-based line and column of the ``nth`` occurrence of ``needle``."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


@pytest.fixture
def sample_text() -> str:
    """The issue's sample journey, which must lint clean as written."""
    return (FIXTURES / "sample.yaml").read_text(encoding="utf-8")
