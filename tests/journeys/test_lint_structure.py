"""Lint finds structural mistakes and says where: file:line:column, with a way to fix them."""

from __future__ import annotations

from campaign.journeys.findings import Finding, Severity
from campaign.journeys.lint import lint_text
from tests.journeys.conftest import BASE, journey, position, step


def found(text: str, code: str) -> list[Finding]:
    """Lint ``text`` as ``camp.yaml`` and return the findings with ``code``."""
    return [f for f in lint_text(text, "camp.yaml").findings if f.code == code]


def only_at(text: str, code: str, needle: str, nth: int = 1) -> Finding:
    """Assert exactly one ``code`` finding, at ``needle``'s position, and return it."""
    findings = found(text, code)
    assert len(findings) == 1, findings
    finding = findings[0]
    assert (finding.file, finding.line, finding.column) == (
        "camp.yaml",
        *position(text, needle, nth),
    )
    return finding


def test_issue_sample_lints_clean(sample_text: str) -> None:
    result = lint_text(sample_text, "sample.yaml")
    assert result.findings == []
    assert result.spec is not None
    assert [s.key for s in result.spec.steps] == [
        "welcome",
        "homework-reminder",
        "recommend",
        "graduation-thanks",
    ]


def test_yaml_syntax_error_is_located() -> None:
    text = journey(step()) + "  - key: [unclosed\n"
    finding = found(text, "yaml-syntax")[0]
    assert finding.severity is Severity.ERROR
    assert finding.line == text.count("\n") + 1
    assert "YAML syntax" in finding.message


def test_tab_indentation_gets_a_hint() -> None:
    text = "journey: x\n\ttitle: y\n"
    finding = found(text, "yaml-syntax")[0]
    assert finding.line == 2
    assert "spaces" in finding.message


def test_unknown_key_suggests_the_right_one() -> None:
    text = journey(step().replace("channel:", "chanel:"))
    finding = only_at(text, "unknown-key", "chanel")
    assert "did you mean 'channel'?" in finding.message


def test_unknown_top_level_key() -> None:
    text = journey(step()).replace("days: 7", "days: 7\nquiet_hour: {start: '21:00', end: '08:00'}")
    assert "did you mean 'quiet_hours'?" in only_at(text, "unknown-key", "quiet_hour").message


def test_missing_required_keys_are_named() -> None:
    text = "journey: x\ntitle: y\nsteps: []\n"
    messages = [f.message for f in found(text, "missing-key")]
    assert "the journey needs 'timezone'" in messages
    assert "the journey needs 'days'" in messages


def test_wrong_type_says_what_was_expected() -> None:
    text = journey(step()).replace("days: 7", "days: seven")
    finding = only_at(text, "wrong-type", "seven")
    assert "whole number" in finding.message


def test_number_out_of_range() -> None:
    text = journey(step() + "    priority: 300\n")
    assert "0 to 100" in only_at(text, "out-of-range", "300").message


def test_duplicate_yaml_key_is_reported_not_silently_overwritten() -> None:
    text = journey(step()).replace("days: 7", "days: 7\ndays: 8")
    finding = only_at(text, "duplicate-key", "days", 2)
    assert "first on line 4" in finding.message


def test_bad_clock_time_says_the_range() -> None:
    text = journey(step(at="D3 25:00"))
    finding = only_at(text, "bad-time", '"D3 25:00"')
    assert "hour 25" in finding.message and "00 to 23" in finding.message


def test_d0_does_not_exist() -> None:
    text = journey(step(at="D0 10:00"))
    assert "D-1" in only_at(text, "bad-time", '"D0 10:00"').message


def test_unreadable_camp_time_shows_the_form() -> None:
    text = journey(step(at="day 3 at 9"))
    assert "D3 21:00" in only_at(text, "bad-time", '"day 3 at 9"').message


def test_offer_closing_before_it_opens() -> None:
    text = journey(step()).replace('closes: "D8 23:59"', 'closes: "D4 23:59"')
    assert "before it opens" in only_at(text, "bad-time", '"D4 23:59"').message


def test_bad_duration() -> None:
    text = journey(step() + "    expires_after: 2 hours\n")
    assert "30m" in only_at(text, "bad-duration", "2 hours").message


def test_unknown_timezone_suggests_a_close_name() -> None:
    text = journey(step()).replace("Asia/Shanghai", "Asia/Shangai")
    assert "Asia/Shanghai" in only_at(text, "unknown-timezone", "Asia/Shangai").message


def test_unknown_channel_suggests_a_close_one() -> None:
    text = journey(step(channel="advisor-task"))
    finding = only_at(text, "bad-value", "advisor-task")
    assert "did you mean 'advisor_task'?" in finding.message


def test_duplicate_step_keys() -> None:
    text = journey(step(key="same"), step(key="same", at="D2 10:00"))
    assert "step 1" in only_at(text, "duplicate-step", "same", 2).message


def test_step_key_must_be_a_slug() -> None:
    text = journey(step(key="Say Hello"))
    assert "lowercase" in only_at(text, "bad-value", "Say Hello").message


def test_reference_to_missing_milestone() -> None:
    text = journey(
        "  - key: thanks\n    at: {after: gradution, offset: 30m}\n    channel: log\n"
        "    template: hi\n"
    )
    finding = only_at(text, "unknown-milestone", "gradution")
    assert "did you mean 'graduation'?" in finding.message


def test_reference_to_missing_course_in_step_and_offer() -> None:
    text = journey(step() + "    course: web-scrapping\n")
    only_at(text, "unknown-course", "web-scrapping")
    text = journey(step()).replace('closes: "D8 23:59"', 'closes: "D8 23:59", courses: [nope]')
    only_at(text, "unknown-course", "[nope]")


def test_reference_to_missing_step_in_outcome_condition() -> None:
    text = journey(step() + "    when: {outcome: {step: recomend, is: sent}}\n")
    only_at(text, "unknown-step", "recomend")


def test_step_needs_exactly_one_of_at_and_on() -> None:
    both = journey(step() + "    on: enrolled\n")
    assert "not both" in found(both, "step-timing")[0].message
    neither = journey("  - key: x\n    channel: log\n    template: hi\n")
    assert "has neither" in found(neither, "step-timing")[0].message
    delay = journey(step() + "    delay: 1h\n")
    only_at(delay, "step-timing", "delay")


def test_step_needs_exactly_one_text() -> None:
    text = journey(step() + "    variants: [{template: a}]\n")
    assert "not both" in found(text, "step-text")[0].message


def test_advisor_only_keys_on_other_channels() -> None:
    text = journey(step(channel="sms") + "    deadline: 1h\n")
    assert "advisor_task" in only_at(text, "advisor-only", "deadline").message


def test_condition_with_two_kinds_needs_all_or_any() -> None:
    text = journey(step() + "    when: {tag: 'goal:excel', points: {gte: 3}}\n")
    assert "all:" in found(text, "bad-condition")[0].message


def test_unknown_condition_kind_and_bad_state() -> None:
    text = journey(step() + "    when: {tagg: 'goal:excel'}\n")
    assert "did you mean 'tag'?" in only_at(text, "unknown-key", "tagg").message
    text = journey(step() + "    when: {state: activ}\n")
    assert "did you mean 'active'?" in only_at(text, "bad-value", "activ").message


def test_many_mistakes_are_all_reported_in_one_run() -> None:
    text = journey(
        step(at="D3 25:00", channel="smss"), step(key="b", template="{{ learner.nmae }}")
    )
    codes = {f.code for f in lint_text(text, "camp.yaml").findings}
    assert {"bad-time", "bad-value", "template-variable"} <= codes


def test_conditions_build_the_tree() -> None:
    text = journey(
        step()
        + "    when:\n      all:\n        - {not: {event: homework_submitted, within: today}}\n"
        "        - {any: [{tag: 'goal:*'}, {points: {gte: 10}}]}\n"
        "        - {event: checked_in, within: 48h, min_count: 2}\n"
        "        - {state: [active, graduated]}\n"
    )
    result = lint_text(text, "camp.yaml")
    assert result.findings == []
    assert result.spec is not None
    condition = result.spec.steps[0].when
    assert type(condition).__name__ == "AllOf"


def test_base_journey_is_clean() -> None:
    assert lint_text(journey(step()), "camp.yaml").findings == []
    assert BASE.startswith("journey:")
