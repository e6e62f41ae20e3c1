"""Message templates render in Jinja's sandbox and fail loudly on missing variables."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from campaign.messages.templates import render, sample_context, unknown_variables


def test_render_fills_the_learner_and_advisor() -> None:
    text = render("{{ learner.name }} 你好,我是 {{ advisor.name }}", sample_context())
    assert text == "小明 你好,我是 王老师"


def test_missing_variable_raises_instead_of_rendering_blank() -> None:
    with pytest.raises(UndefinedError):
        render("{{ learner.nickname }}", {"learner": {"name": "x"}})


def test_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(SecurityError):
        render("{{ learner.__class__.__mro__ }}", {"learner": object()})


def test_unknown_variables_reports_each_once_with_the_known_names() -> None:
    problems = unknown_variables("{{ learner.nmae }}{{ learner.nmae }}{{ cohort.title }}")
    assert [p.name for p in problems] == ["learner.nmae"]
    assert "known:" in problems[0].message


def test_locally_bound_names_are_not_unknown() -> None:
    text = "{% set n = learner.points %}{{ n }}{% for t in learner.tags %}{{ t }}{% endfor %}"
    assert unknown_variables(text) == []


def test_attributes_of_leaf_values_are_not_checked() -> None:
    assert unknown_variables("{{ learner.tags|length }} {{ learner.name.upper() }}") == []
